/**
 * The production artifact, built as the Dockerfile builds it but without Docker: `npm run build` in a copy of
 * the Docker build context (the repository less .dockerignore), then a clean directory with dist/, the model, package.json, package-lock.json and .npmrc, `npm ci --omit=dev`,
 * onnxruntime-node pruned to this platform, `node dist/server/main.js` started there and exercised over HTTP,
 * then SIGTERM must end it with exit code 0.
 *
 * Skipped only with SKIP_ARTIFACT_TEST=1 (it needs `npm ci`, which may take a minute).
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../../shared/input/features";
import { startBuiltServer } from "../support/server-process";
import { ROOT, dashboardMetrics, dockerignore } from "./helpers";
import { NODE_ENV_VARS, NODE_FLAGS } from "../../server/node-flags";

const SKIP = process.env.SKIP_ARTIFACT_TEST === "1";
const EXTERNAL_METRICS = new Set(["kube_deployment_status_replicas_available", "kube_deployment_spec_replicas", "up"]);

const duKiB = (p: string) => Number(execFileSync("du", ["-sk", p], { encoding: "utf8" }).split(/\s+/)[0]);
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** Same pruning as the Dockerfile: keep bin/napi-v*\/linux/<arch> of onnxruntime-node only. */
function pruneOnnxruntime(nodeModules: string): void {
  const bin = path.join(nodeModules, "onnxruntime-node", "bin");
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  for (const napi of readdirSync(bin)) {
    for (const platform of readdirSync(path.join(bin, napi))) {
      if (platform !== "linux") rmSync(path.join(bin, napi, platform), { recursive: true, force: true });
    }
    for (const a of readdirSync(path.join(bin, napi, "linux"))) {
      if (a !== arch) rmSync(path.join(bin, napi, "linux", a), { recursive: true, force: true });
    }
    if (!existsSync(path.join(bin, napi, "linux", arch, "onnxruntime_binding.node")))
      throw new Error(`pruned away ${napi}/linux/${arch}`);
  }
}

describe.skipIf(SKIP)("production artifact (as in the container image)", () => {
  let dir = "";
  let buildDir = "";
  let server: ChildProcess | undefined;
  let output = (): string => "";
  let base = "";
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, "scripts", "build.mjs"))) {
      throw new Error(
        "scripts/build.mjs is missing: `npm run build` must write dist/server/main.js and dist/functions/index.js",
      );
    }
    // Build stage: the Docker build context (the repository less .dockerignore) in a directory of its own, so
    // the build neither sees ignored files nor touches the repository's dist/.
    buildDir = mkdtempSync(path.join(os.tmpdir(), "house-price-build-"));
    const ignored = dockerignore(readFileSync(path.join(ROOT, ".dockerignore"), "utf8"));
    cpSync(ROOT, buildDir, {
      recursive: true,
      filter: (src) => {
        const r = path.relative(ROOT, src).split(path.sep).join("/");
        return r === "" || !ignored(r);
      },
    });
    symlinkSync(path.join(ROOT, "node_modules"), path.join(buildDir, "node_modules"), "dir");
    execFileSync("npm", ["run", "build"], { cwd: buildDir, stdio: "pipe", timeout: 180_000 });
    for (const f of ["dist/server/main.js", "dist/functions/index.js"]) {
      expect(existsSync(path.join(buildDir, f)), f).toBe(true);
    }

    // Runtime stage.
    dir = mkdtempSync(path.join(os.tmpdir(), "house-price-artifact-"));
    cpSync(path.join(buildDir, "dist"), path.join(dir, "dist"), { recursive: true });
    for (const f of ["model/model.onnx", "model/model.json", "package.json", "package-lock.json", ".npmrc"]) {
      cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
    }
    execFileSync("npm", ["ci", "--omit=dev", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"], {
      cwd: dir,
      stdio: "pipe",
      timeout: 300_000,
      env: { ...process.env, NODE_ENV: "production" },
    });
    const before = duKiB(path.join(dir, "node_modules"));
    pruneOnnxruntime(path.join(dir, "node_modules"));
    console.log(
      `[artifact] ${dir}: total ${mib(duKiB(dir))}, node_modules ${mib(duKiB(path.join(dir, "node_modules")))} ` +
        `(${mib(before)} before pruning onnxruntime-node to linux/${process.arch}), dist ${mib(duKiB(path.join(dir, "dist")))}, ` +
        `model ${mib(duKiB(path.join(dir, "model")))}`,
    );

    // A clean environment: only what the container would get (no REDIS_URL, no MODEL_BLOB_URL, ...).
    const started = await startBuiltServer({
      cwd: dir,
      cleanEnv: true,
      env: {
        NODE_ENV: "production",
        // The Dockerfile's ENV: the V8 heap caps and the malloc setting (server/node-flags.ts).
        NODE_OPTIONS: NODE_FLAGS.join(" "),
        ...NODE_ENV_VARS,
        LOG_LEVEL: "warn",
        SHUTDOWN_TIMEOUT_MS: "5000",
      },
    });
    server = started.child;
    base = started.url;
    output = started.output;
    exit = started.exited.then(({ code, signal }) => ({ code, signal }));
  }, 600_000);

  afterAll(() => {
    if (server && server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  it("has production dependencies only, and onnxruntime-node for this platform only", () => {
    expect(existsSync(path.join(dir, "node_modules", "onnxruntime-node"))).toBe(true);
    for (const dev of ["vitest", "typescript", "esbuild", "tsx", "eslint"])
      expect(existsSync(path.join(dir, "node_modules", dev)), dev).toBe(false);
    const napi = readdirSync(path.join(dir, "node_modules", "onnxruntime-node", "bin"));
    for (const n of napi)
      expect(readdirSync(path.join(dir, "node_modules", "onnxruntime-node", "bin", n))).toEqual(["linux"]);
  });

  it("answers GET /health with status healthy", async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("healthy");
  });

  it("predicts the seed house", async () => {
    const res = await fetch(`${base}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(SEED_HOUSE),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { house_value: unknown };
    expect(typeof body.house_value).toBe("number");
    expect(Number.isFinite(body.house_value)).toBe(true);
  });

  it("exports every metric the Grafana dashboard queries", async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of dashboardMetrics()) {
      if (!EXTERNAL_METRICS.has(name))
        expect(text, name).toMatch(new RegExp(`^# TYPE ${name.replace(/_(bucket|sum|count)$/, "")} `, "m"));
    }
  });

  it("exits 0 on SIGTERM", async () => {
    server!.kill("SIGTERM");
    const result = await Promise.race([exit!, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 15_000))]);
    expect(result, output()).toEqual({ code: 0, signal: null });
  }, 30_000);
});
