/**
 * Sizes of what gets deployed: the esbuild bundles, and the Function App package, i.e. a zip of
 * dist/ + host.json + package.json + model/model.onnx + model/model.json + production node_modules.
 *
 * The production node_modules is installed once in bench/results/tmp/deploy (git-ignored) with
 * `npm ci --omit=dev --ignore-scripts --offline` (from the local npm cache; no network) and reused
 * while package-lock.json is unchanged. The zip is made with `zip -qr` (deflate, level 6), or, when
 * zip is missing, estimated with `tar czf`.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface PackageSizes {
  bundles: Record<string, number>;
  deploy?: {
    method: string;
    /** Unpacked bytes of the package's files. */
    unpackedBytes: number;
    zipBytes: number;
    /** The same zip less what .funcignore excludes (other platforms' onnxruntime binaries, source maps, .ts). */
    zipFuncignoreBytes: number;
    nodeModulesBytes: number;
    onnxruntimeBytes: number;
    reused: boolean;
  };
  error?: string;
}

const TMP = resolve("bench/results/tmp");
const DEPLOY = join(TMP, "deploy");
const ORT_BIN = "node_modules/onnxruntime-node/bin/napi-v6";
/**
 * What .funcignore leaves out of this content (the Function App's packaging honours it): onnxruntime
 * binaries of other platforms, source maps, TypeScript files (zip -x patterns: `*` also matches `/`).
 */
const FUNCIGNORE = [`${ORT_BIN}/darwin/*`, `${ORT_BIN}/win32/*`, `${ORT_BIN}/linux/arm64/*`, "dist/*.map", "*.ts"];
const CONTENT = ["dist", "host.json", "package.json", "model", "node_modules"];

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

function archive(out: string, exclude: string[]): number {
  rmSync(out, { force: true });
  if (hasZip()) {
    execFileSync("zip", ["-qr", out, ...CONTENT, ...(exclude.length ? ["-x", ...exclude] : [])], { cwd: DEPLOY });
  } else {
    const ex = exclude.map((p) => `--exclude=${p.replace(/\/\*$/, "")}`);
    execFileSync("tar", ["czf", out, ...ex, ...CONTENT], { cwd: DEPLOY });
  }
  return statSync(out).size;
}

/** `dist` is the build to measure (the bench's snapshot of dist/). */
export function measurePackageSizes(dist = resolve("dist")): PackageSizes {
  const bundles: Record<string, number> = {};
  for (const f of ["server/main.js", "functions/index.js"]) bundles[`dist/${f}`] = statSync(join(dist, f)).size;
  const result: PackageSizes = { bundles };
  try {
    const lock = readFileSync(resolve("package-lock.json"));
    const pkg = readFileSync(resolve("package.json"));
    const stamp = createHash("sha256").update(lock).update(pkg).digest("hex");
    const stampFile = join(DEPLOY, ".stamp");
    const reused = existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp;
    if (!reused) {
      rmSync(DEPLOY, { recursive: true, force: true });
      mkdirSync(DEPLOY, { recursive: true });
      for (const f of ["package.json", "package-lock.json", ".npmrc"]) cpSync(resolve(f), join(DEPLOY, f));
      // Serialised with other engineers' npm runs; --offline: the local cache only, never the network.
      execFileSync(
        "flock",
        [
          "/tmp/npm.lock",
          "npm",
          "ci",
          "--omit=dev",
          "--ignore-scripts",
          "--offline",
          "--no-audit",
          "--no-fund",
          "--loglevel=error",
        ],
        { cwd: DEPLOY, stdio: ["ignore", "ignore", "pipe"], timeout: 300_000 },
      );
      writeFileSync(stampFile, stamp);
    }
    // The build output and the model are copied fresh on every run.
    for (const f of ["dist", "model"]) rmSync(join(DEPLOY, f), { recursive: true, force: true });
    cpSync(dist, join(DEPLOY, "dist"), { recursive: true });
    mkdirSync(join(DEPLOY, "model"));
    for (const f of ["model/model.onnx", "model/model.json", "host.json", "package.json"]) {
      cpSync(resolve(f), join(DEPLOY, f));
    }
    const zip = hasZip();
    const unpackedBytes = CONTENT.reduce((s, f) => s + dirBytes(join(DEPLOY, f)), 0);
    result.deploy = {
      method: zip
        ? "zip -qr (deflate) of a temp dir with npm ci --omit=dev --ignore-scripts"
        : "tar czf estimate of a temp dir with npm ci --omit=dev --ignore-scripts",
      unpackedBytes,
      zipBytes: archive(join(TMP, zip ? "deploy.zip" : "deploy.tgz"), []),
      zipFuncignoreBytes: archive(join(TMP, zip ? "deploy-funcignore.zip" : "deploy-funcignore.tgz"), FUNCIGNORE),
      nodeModulesBytes: dirBytes(join(DEPLOY, "node_modules")),
      onnxruntimeBytes: dirBytes(join(DEPLOY, "node_modules/onnxruntime-node")),
      reused,
    };
  } catch (err) {
    result.error = err instanceof Error ? err.message.slice(0, 500) : String(err);
  }
  return result;
}
