/**
 * The deployable folder, dist/package/ (`npm run package`; scripts/package.mjs), built as a new user would build
 * it: in a copy of the repository that also holds secrets (azd's .azure/<env>/.env, .env, local.settings.json,
 * Azurite's data folder), an extra model beside model.onnx, and files no build should read. Then:
 *   - what it holds, its size against the budget (and the README's figures), and that no secret, test,
 *     TypeScript source or dev tool is in it;
 *   - a bare copy (no node_modules above it, empty environment) serves /health, /predict, /docs and its assets,
 *     and its Functions entry registers every function;
 *   - azd's zip rules (tests/deploy/azd-zip.ts, from azd's source) applied to it keep what runs: that copy starts.
 */
import { execFileSync, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { SEED_HOUSE } from "../../shared/input/features";
import { BlobServiceClient } from "@azure/storage-blob";
import { startAzurite } from "../support/azurite";
import { testService } from "../support/hosts";
import { SKIP_REDIS, startRedis } from "../support/redis-server";
import { startBuiltServer } from "../support/server-process";
import { azdZipEntries, projectFuncignoreExcludesNodeModules } from "./azd-zip";
import { ROOT, dashboardMetrics, read } from "./helpers";
import { NODE_ENV_VARS, NODE_FLAGS } from "../../server/node-flags";

const MIB = 1024 * 1024;
const BUDGET = { bytes: 60 * MIB, files: 300 };
const ARCH = process.arch === "arm64" ? "arm64" : "x64";
const MARKER = `secret-marker-${randomUUID()}`;
/** Metrics the dashboard reads from outside the service (kube-state-metrics, Prometheus itself). */
const EXTERNAL_METRICS = new Set(["kube_deployment_status_replicas_available", "kube_deployment_spec_replicas", "up"]);
/** Repository paths never copied into the build copy (a developer's real secrets, caches, outputs). */
const NOT_COPIED = new Set([
  "node_modules",
  "dist",
  ".git",
  ".azure",
  ".azurite",
  ".env",
  "local.settings.json",
  ".tmp",
]);

/** Every file under dir: relative path (with /) and size. */
function files(dir: string): { rel: string; size: number }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const abs = path.join(e.parentPath, e.name);
      return { rel: path.relative(dir, abs).split(path.sep).join("/"), size: statSync(abs).size };
    });
}

/** Seeds the build copy with what must never ship. */
function seedForbidden(src: string): void {
  const put = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    writeFileSync(path.join(src, rel), text);
  };
  put(".azure/x/.env", `API_KEYS="${MARKER}"\nUPSTASH_REDIS_REST_TOKEN="${MARKER}"\n`);
  put(".azure/config.json", `{"defaultEnvironment":"x","marker":"${MARKER}"}\n`);
  put(".env", `METRICS_TOKEN=${MARKER}\n`);
  put(".env.local", `METRICS_TOKEN=${MARKER}\n`);
  put("local.settings.json", JSON.stringify({ IsEncrypted: false, Values: { API_KEYS: MARKER } }));
  put(".azurite/__azurite_db_blob__.json", JSON.stringify({ marker: MARKER }));
  put(".azurite/__blobstorage__/0a1b2c", MARKER);
  // Sources and tests are compiled into bundles only as far as the entries import them; none is copied.
  put("tests/zz-marker.test.ts", `export const marker = "${MARKER}";\n`);
  put("shared/zz-unused.ts", `export const marker = "${MARKER}";\n`);
  put("tools/zz-marker.ts", `export const marker = "${MARKER}";\n`);
}

/** Node on PATH sees no node_modules in `dir` or above it. */
function noNodeModulesAbove(dir: string): boolean {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "node_modules"))) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** The function names the Functions entry in `dir` registers (@azure/functions test mode names them). */
function registeredFunctions(dir: string, main: string): string[] {
  const run = spawnSync(process.execPath, ["-e", `require("./${main}"); setTimeout(() => process.exit(0), 300)`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent" },
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return [...(run.stdout + run.stderr).matchAll(/register function "([^"]+)"/g)].map((m) => m[1]!);
}

async function exercise(base: string): Promise<void> {
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
  expect(((await health.json()) as { status: string }).status).toBe("healthy");
  const predict = await fetch(`${base}/predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(SEED_HOUSE),
  });
  expect(predict.status).toBe(200);
  expect(Number.isFinite(((await predict.json()) as { house_value: number }).house_value)).toBe(true);
}

describe("the deployable package (dist/package)", () => {
  let src = "";
  let pkg = "";
  let bare = "";
  let azd = "";
  const servers: ChildProcess[] = [];

  beforeAll(() => {
    src = mkdtempSync(path.join(os.tmpdir(), "house-price-src-"));
    cpSync(ROOT, src, {
      recursive: true,
      filter: (from) => {
        const rel = path.relative(ROOT, from).split(path.sep)[0] ?? "";
        return !NOT_COPIED.has(rel) && !rel.startsWith(".env");
      },
    });
    symlinkSync(path.join(ROOT, "node_modules"), path.join(src, "node_modules"), "dir");
    seedForbidden(src);
    // A second model beside model.onnx: the package carries every model and card, not a fixed list.
    cpSync(path.join(src, "model", "model.onnx"), path.join(src, "model", "zz-extra.onnx"));
    writeFileSync(path.join(src, "model", "zz-extra.json"), JSON.stringify({ name: "zz-extra" }));
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: src, stdio: "pipe", timeout: 300_000 });
    pkg = path.join(src, "dist", "package");

    // A bare copy: a fresh temp folder, nothing above it.
    bare = path.join(mkdtempSync(path.join(os.tmpdir(), "house-price-bare-")), "app");
    cpSync(pkg, bare, { recursive: true });
    // What azd would upload: its zip rules applied to the folder, extracted elsewhere.
    azd = path.join(mkdtempSync(path.join(os.tmpdir(), "house-price-azd-")), "wwwroot");
    for (const rel of azdZipEntries(pkg, { remoteBuild: false })) {
      mkdirSync(path.dirname(path.join(azd, rel)), { recursive: true });
      cpSync(path.join(pkg, rel), path.join(azd, rel));
    }
  }, 600_000);

  afterAll(() => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill("SIGKILL");
    for (const d of [src, path.dirname(bare), path.dirname(azd)]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("holds the bundles, the vendor bundles, onnxruntime for linux/<arch> only, the models, static files and manifests", () => {
    const allowed = [
      /^server\/main\.js$/,
      /^functions\/index\.js$/,
      /^vendor\/[a-z0-9-]+\.js$/,
      /^model\/[^/]+\.(onnx|json)$/,
      /^static\/.+/,
      /^(host\.json|package\.json|\.funcignore|THIRD-PARTY-NOTICES\.txt)$/,
      new RegExp(
        `^node_modules/onnxruntime-node/(package\\.json|LICENSE|dist/[^/]+\\.js|bin/napi-v\\d+/linux/${ARCH}/[^/]+)$`,
      ),
      /^node_modules\/onnxruntime-common\/(package\.json|LICENSE|dist\/cjs\/[^/]+\.(js|json))$/,
    ];
    const unexpected = files(pkg)
      .map((f) => f.rel)
      .filter((rel) => !allowed.some((re) => re.test(rel)));
    expect(unexpected).toEqual([]);
    for (const f of ["model/model.onnx", "model/model.json", "model/zz-extra.onnx", "model/zz-extra.json"])
      expect(existsSync(path.join(pkg, f)), f).toBe(true);
    expect(existsSync(path.join(pkg, "static", "swagger-ui", "swagger-ui-bundle.js"))).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8")) as Record<string, unknown>;
    expect(manifest.main).toBe("functions/index.js");
    expect(manifest.dependencies).toBeUndefined();
    expect(readFileSync(path.join(pkg, "host.json"), "utf8")).toBe(read("host.json"));
    // The licences of what esbuild inlined travel with it.
    const notices = readFileSync(path.join(pkg, "THIRD-PARTY-NOTICES.txt"), "utf8");
    for (const dep of ["zod", "prom-client", "@azure/functions", "redis", "@azure/identity"])
      expect(notices, dep).toMatch(new RegExp(`^${dep.replace("/", "\\/")}@\\d`, "m"));
  });

  it("fits the budget (60 MiB, 300 files) and the README states its size", () => {
    // The repository's own build, without the seeded extra model.
    const own = files(path.join(ROOT, "dist", "package"));
    const bytes = own.reduce((s, f) => s + f.size, 0);
    console.log(`[package] dist/package: ${(bytes / MIB).toFixed(1)} MiB in ${own.length} files (linux/${ARCH})`);
    expect(bytes).toBeLessThanOrEqual(BUDGET.bytes);
    expect(own.length).toBeLessThanOrEqual(BUDGET.files);
    const stated = /`dist\/package\/`: ([\d.]+) MiB in (\d+) files/.exec(read("README.md"));
    expect(stated, "README.md states `dist/package/`: <n> MiB in <n> files").not.toBeNull();
    expect(Math.abs(Number(stated![1]) - bytes / MIB)).toBeLessThanOrEqual(1);
    expect(Math.abs(Number(stated![2]) - own.length)).toBeLessThanOrEqual(10);
  });

  it("ships no secret, test, TypeScript source, source map or dev tool", () => {
    const all = files(pkg);
    const leaked = all.filter((f) => readFileSync(path.join(pkg, f.rel)).includes(MARKER)).map((f) => f.rel);
    expect(leaked).toEqual([]);
    const forbidden = /(^|\/)(\.azure|\.azurite|\.env[^/]*|local\.settings\.json|tests?|__tests__)(\/|$)|\.(ts|map)$/;
    expect(all.map((f) => f.rel).filter((rel) => forbidden.test(rel))).toEqual([]);
    expect(readdirSync(path.join(pkg, "node_modules")).sort()).toEqual(["onnxruntime-common", "onnxruntime-node"]);
  });

  it("runs from a bare copy as the container runs it: /health, /predict, /docs, /app, intervals, /metrics, SIGTERM", async () => {
    expect(noNodeModulesAbove(bare)).toBe(true);
    // The Dockerfile's ENV: production, the V8 heap caps and the malloc setting (server/node-flags.ts).
    const env = { NODE_ENV: "production", NODE_OPTIONS: NODE_FLAGS.join(" "), ...NODE_ENV_VARS, LOG_LEVEL: "warn" };
    const server = await startBuiltServer({ cwd: bare, script: "server/main.js", cleanEnv: true, env });
    servers.push(server.child);
    await exercise(server.url);
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      const res = await fetch(`${server.url}${asset}`);
      expect(res.status, asset).toBe(200);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    const openapi = await fetch(`${server.url}/openapi.json`);
    expect(openapi.status).toBe(200);
    // The /app page the build wrote to dist/static, precompressed (nothing from web/ or node_modules at run time).
    const app = await fetch(`${server.url}/app`);
    expect(app.status).toBe(200);
    expect(await app.text()).toContain('<script src="/app/app.js" defer></script>');
    for (const asset of ["app.js", "app.css", "holdout-points.json"]) {
      const res = await fetch(`${server.url}/app/${asset}`, { headers: { "accept-encoding": "br" } });
      expect(res.status, asset).toBe(200);
      expect(res.headers.get("content-encoding"), asset).toBe("br");
    }
    // The interval model ships beside the point model: a detail request answers from the package alone.
    const detail = await fetch(`${server.url}/predict?detail=true`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(SEED_HOUSE),
    });
    expect(detail.status).toBe(200);
    const answer = (await detail.json()) as { house_value: number; interval: { low: number; high: number } };
    expect(answer.interval.low).toBeLessThanOrEqual(answer.house_value);
    expect(answer.interval.high).toBeGreaterThanOrEqual(answer.house_value);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of dashboardMetrics().filter((m) => !EXTERNAL_METRICS.has(m)))
      expect(metrics, name).toMatch(new RegExp(`^# TYPE ${name.replace(/_(bucket|sum|count)$/, "")} `, "m"));
    server.child.kill("SIGTERM");
    expect(await server.exited, server.output()).toMatchObject({ code: 0, signal: null });
  }, 60_000);

  it("loads its optional backends from vendor/: the model from Blob Storage (Azurite), cache and limits on redis-server", async () => {
    const az = await startAzurite();
    const redis = SKIP_REDIS ? undefined : await startRedis();
    try {
      const models = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient("models");
      await models.createIfNotExists();
      for (const f of ["model.onnx", "model.json"])
        await models.getBlockBlobClient(`v1/${f}`).uploadData(readFileSync(path.join(ROOT, "model", f)));
      const env: Record<string, string> = {
        LOG_LEVEL: "warn",
        MODEL_BLOB_URL: az.blobUrl("models", "v1/model.onnx"),
        AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
        ...(redis ? { REDIS_URL: redis.url, RATE_LIMIT_REQUESTS: "1000" } : {}),
      };
      const server = await startBuiltServer({ cwd: bare, script: "server/main.js", cleanEnv: true, env });
      servers.push(server.child);
      const health = (await (await fetch(`${server.url}/health`)).json()) as {
        model: { source: string };
        cache: { backend: string };
      };
      expect(health.model.source).toMatch(
        /^blob:http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/models\/v1\/model\.onnx$/,
      );
      await exercise(server.url);
      if (redis) {
        expect(health.cache.backend).toBe("redis");
        await exercise(server.url);
        expect((await redis.keys()).length).toBeGreaterThan(0);
      }
      server.child.kill("SIGTERM");
      await server.exited;
    } finally {
      await redis?.stop();
      await az.dispose();
    }
  }, 90_000);

  it.each([
    ["redis.js", "createClient"],
    ["upstash-redis.js", "Redis"],
    ["upstash-ratelimit.js", "Ratelimit"],
    ["rate-limiter-flexible.js", "RateLimiterRedis"],
    ["azure-storage-blob.js", "BlobServiceClient"],
    ["azure-identity.js", "DefaultAzureCredential"],
  ])("vendor/%s exports %s", (file, name) => {
    const run = spawnSync(process.execPath, ["-p", `typeof require("./vendor/${file}").${name}`], {
      cwd: bare,
      env: { PATH: process.env.PATH ?? "" },
      encoding: "utf8",
    });
    expect(run.stdout.trim(), run.stderr).toBe("function");
  });

  it("its Functions entry (package.json main) loads from the bare copy and registers every function", () => {
    const service = testService();
    try {
      expect(registeredFunctions(bare, "functions/index.js")).toEqual([
        ...service.endpoints.map((e) => e.name),
        "not_found",
      ]);
    } finally {
      void service.close();
    }
  });

  it("survives azd's zip rules (its own .funcignore keeps node_modules) and the result starts", async () => {
    const zipped = azdZipEntries(pkg, { remoteBuild: false });
    expect(zipped).toContain(`node_modules/onnxruntime-node/bin/napi-v6/linux/${ARCH}/onnxruntime_binding.node`);
    expect(zipped).not.toContain(".funcignore");
    expect(zipped.length).toBe(files(pkg).length - 1);
    expect(registeredFunctions(azd, "functions/index.js")).toContain("not_found");
    const server = await startBuiltServer({
      cwd: azd,
      script: "server/main.js",
      cleanEnv: true,
      env: { LOG_LEVEL: "warn" },
    });
    servers.push(server.child);
    await exercise(server.url);
    server.child.kill("SIGTERM");
  }, 60_000);

  it("needs its .funcignore: without one azd drops node_modules (unless remoteBuild is false)", () => {
    const withoutIgnore = mkdtempSync(path.join(os.tmpdir(), "house-price-noignore-"));
    try {
      cpSync(pkg, withoutIgnore, { recursive: true, filter: (f) => path.basename(f) !== ".funcignore" });
      expect(azdZipEntries(withoutIgnore).some((f) => f.startsWith("node_modules/"))).toBe(false);
      expect(azdZipEntries(withoutIgnore, { remoteBuild: false }).some((f) => f.startsWith("node_modules/"))).toBe(
        true,
      );
    } finally {
      rmSync(withoutIgnore, { recursive: true, force: true });
    }
  });

  it("packages the linux/arm64 binding alone with --arch=arm64", () => {
    const out = mkdtempSync(path.join(os.tmpdir(), "house-price-arm64-"));
    try {
      execFileSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `const { writePackage } = await import("./scripts/package.mjs");
           await writePackage({ out: ${JSON.stringify(out)}, staticDir: "dist/static", arch: "arm64" });`,
        ],
        { cwd: src, stdio: "pipe", timeout: 120_000 },
      );
      const bins = files(path.join(out, "node_modules", "onnxruntime-node", "bin")).map((f) => f.rel);
      expect(bins.length).toBeGreaterThan(0);
      for (const b of bins) expect(b).toMatch(/^napi-v\d+\/linux\/arm64\//);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("azd and Core Tools settings around the package", () => {
  it("azure.yaml deploys dist/package as built (remoteBuild false) and has a hook for posix and windows", () => {
    const azdConfig = parseYaml(read("azure.yaml")) as {
      services: Record<string, Record<string, unknown>>;
      hooks: Record<string, Record<string, { shell: string; run: string }>>;
    };
    expect(azdConfig.services.api).toMatchObject({
      project: ".",
      language: "ts",
      host: "function",
      dist: "dist/package",
      remoteBuild: false,
    });
    const hook = azdConfig.hooks.postprovision!;
    expect(hook.posix).toMatchObject({ shell: "sh", run: expect.stringContaining("node scripts/upload-model.mjs") });
    expect(hook.windows).toMatchObject({
      shell: "pwsh",
      run: expect.stringContaining("node scripts/upload-model.mjs"),
    });
    // azd's node build step is `npm run build`: it must write the package.
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
    expect(scripts.build).toBe("node scripts/build.mjs");
    expect(scripts.package).toBe(scripts.build);
  });

  it("the project's .funcignore leaves node_modules in (azd refuses remoteBuild: false otherwise) and secrets out", () => {
    expect(projectFuncignoreExcludesNodeModules(ROOT)).toBe(false);
    const entries = new Set(
      read(".funcignore")
        .split("\n")
        .map((l) => l.trim()),
    );
    for (const secret of [".azure", ".azurite", ".env", ".env.*", "local.settings.json"])
      expect(entries.has(secret), secret).toBe(true);
  });

  it("git ignores the same secrets, so azd's .azure/<env>/.env or a .env is never committed by `git add .`", () => {
    const entries = new Set(
      read(".gitignore")
        .split("\n")
        .map((l) => l.trim().replace(/\/$/, "")),
    );
    for (const secret of [".azure", ".azurite", ".env", ".env.*", "local.settings.json"])
      expect(entries.has(secret), secret).toBe(true);
  });
});

describe("scripts/upload-model.mjs (azd's postprovision hook on every OS, and the no-azd path)", () => {
  // The Azure CLI cannot run here: a stand-in `az` on PATH records its arguments and fails its first two calls,
  // as uploads do while a new role assignment propagates.
  it("uploads every model and card to <version>/ and current/, retrying failed uploads", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "house-price-upload-"));
    try {
      const log = path.join(dir, "calls.log");
      const fakeAz = path.join(dir, "az");
      writeFileSync(fakeAz, `#!/bin/sh\necho "$*" >> "${log}"\nn=$(wc -l < "${log}")\n[ "$n" -gt 2 ] || exit 1\n`, {
        mode: 0o755,
      });
      const run = spawnSync(process.execPath, ["scripts/upload-model.mjs"], {
        cwd: ROOT,
        env: {
          PATH: `${dir}${path.delimiter}${process.env.PATH ?? ""}`,
          MODEL_STORAGE_ACCOUNT: "stmdtest",
          MODEL_CONTAINER: "models",
          UPLOAD_RETRY_SECONDS: "0",
        },
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(run.status, run.stderr).toBe(0);
      const calls = readFileSync(log, "utf8").trim().split("\n");
      const version = (JSON.parse(read("model", "model.json")) as { version: string }).version;
      const models = readdirSync(path.join(ROOT, "model")).filter((f) => /\.(onnx|json)$/.test(f));
      const uploaded = new Set(calls.slice(2).map((c) => /--name (\S+)/.exec(c)![1]));
      for (const dest of [`house-price/${version}`, "house-price/current"])
        for (const f of models) expect(uploaded.has(`${dest}/${f}`), `${dest}/${f}`).toBe(true);
      expect(calls.length).toBe(2 * models.length + 2);
      for (const c of calls)
        expect(c).toMatch(/^storage blob upload --auth-mode login .*--account-name stmdtest --container-name models /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses to run without the storage account and container", () => {
    const run = spawnSync(process.execPath, ["scripts/upload-model.mjs"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "" },
      encoding: "utf8",
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/MODEL_STORAGE_ACCOUNT and MODEL_CONTAINER/);
  });
});
