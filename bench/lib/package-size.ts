/**
 * Sizes of what gets deployed: the esbuild bundles, and dist/package/ (scripts/package.mjs), the one folder both
 * hosts deploy: unpacked bytes and files, and its zip as azd makes it for the Function App (the folder less its
 * .funcignore file; `zip -qr`, deflate level 6, or a `tar czf` estimate when zip is missing).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PackageSizes {
  bundles: Record<string, number>;
  deploy?: {
    method: string;
    /** Unpacked bytes of the package's files. */
    unpackedBytes: number;
    files: number;
    zipBytes: number;
    nodeModulesBytes: number;
    onnxruntimeBytes: number;
  };
  error?: string;
}

export function dirBytes(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let sum = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isSymbolicLink()) continue;
    sum += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return sum;
}

function hasZip(): boolean {
  try {
    execFileSync("zip", ["-v"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** `dist` is the build to measure (the bench's snapshot of dist/). */
export function measurePackageSizes(dist: string): PackageSizes {
  const bundles: Record<string, number> = {};
  for (const f of ["server/main.js", "functions/index.js", "package/server/main.js", "package/functions/index.js"])
    bundles[`dist/${f}`] = statSync(join(dist, f)).size;
  const result: PackageSizes = { bundles };
  const pkg = join(dist, "package");
  const tmp = mkdtempSync(join(tmpdir(), "house-price-zip-"));
  try {
    const zip = hasZip();
    const out = join(tmp, zip ? "package.zip" : "package.tgz");
    if (zip) execFileSync("zip", ["-qr", out, ".", "-x", ".funcignore"], { cwd: pkg });
    else execFileSync("tar", ["czf", out, "--exclude=./.funcignore", "."], { cwd: pkg });
    result.deploy = {
      method: zip ? "zip -qr (deflate) of dist/package less .funcignore" : "tar czf estimate of dist/package",
      unpackedBytes: dirBytes(pkg),
      files: readdirSync(pkg, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length,
      zipBytes: statSync(out).size,
      nodeModulesBytes: dirBytes(join(pkg, "node_modules")),
      onnxruntimeBytes: dirBytes(join(pkg, "node_modules", "onnxruntime-node")),
    };
  } catch (err) {
    result.error = err instanceof Error ? err.message.slice(0, 500) : String(err);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return result;
}
