/**
 * Cold start of the deployable package against today's build, interleaved in one run:
 *   - build:   `node dist/server/main.js` from the repository (the development bundle: optional backends and
 *              onnxruntime-node resolved from the repository's node_modules, as the container ran it before);
 *   - package: `node server/main.js` in a bare copy of dist/package (every pure-JS dependency inlined);
 *   - package + compile cache: the same with NODE_COMPILE_CACHE (Node >= 22.1), its cache filled by one
 *     discarded start first: what a second start on the same instance sees.
 * Each: spawn -> first 200 from POST /predict (the seed house), polled every 5 ms; production flags
 * (server/node-flags.ts); median of COLD_RUNS (default 5) per variant, variants taking turns in every round.
 *
 *   npm run build && node --import tsx bench/cold-start.ts          (BENCH_NODE=/path/to/node picks the runtime)
 * Writes bench/results/cold-start.json.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { NODE_ENV_VARS, NODE_FLAGS } from "../server/node-flags";
import { SEED_BODY } from "./lib/bodies";
import { freePort, ownsListeningPort, request, waitQuiet } from "./lib/procs";
import { median } from "./lib/stats";

const RUNS = Number(process.env.COLD_RUNS ?? 5);
const NODE = process.env.BENCH_NODE ?? process.execPath;
/** Before each start, wait (up to 60 s) until other processes use less than this many cores. */
const QUIET_CORES = Number(process.env.COLD_QUIET_CORES ?? 0.3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Variant {
  name: string;
  cwd: string;
  script: string;
  env: Record<string, string>;
}

/** Spawn -> first 200 /predict, in ms. */
async function coldStart(v: Variant): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(NODE, [...NODE_FLAGS, v.script], {
    cwd: v.cwd,
    env: {
      PATH: process.env.PATH ?? "",
      ...NODE_ENV_VARS,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      ...v.env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise((r) => child.once("exit", r));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${v.name} exited: ${stderr}`);
      const r = await request(port, "POST", "/predict", SEED_BODY, 5000).catch(() => undefined);
      if (r?.status === 200) {
        const ms = performance.now() - t0;
        if (!ownsListeningPort(child.pid!, port)) throw new Error(`port ${port} answered by another process`);
        return ms;
      }
      if (performance.now() - t0 > 20_000) throw new Error(`${v.name}: no 200 from /predict within 20 s: ${stderr}`);
      await sleep(5);
    }
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, "..");
  const version = execFileSync(
    NODE,
    ["-p", "process.version + ' ' + typeof require('node:module').enableCompileCache"],
    {
      encoding: "utf8",
    },
  ).trim();
  const [nodeVersion, hasCache] = version.split(" ");
  const tmp = mkdtempSync(path.join(os.tmpdir(), "house-price-cold-"));
  const bare = path.join(tmp, "app");
  cpSync(path.join(root, "dist", "package"), bare, { recursive: true });
  const cacheDir = path.join(tmp, "compile-cache");
  mkdirSync(cacheDir);

  const variants: Variant[] = [
    { name: "build (dist/server/main.js + node_modules)", cwd: root, script: "dist/server/main.js", env: {} },
    { name: "package (dist/package/server/main.js)", cwd: bare, script: "server/main.js", env: {} },
  ];
  if (hasCache === "function") {
    const cached = {
      name: "package + NODE_COMPILE_CACHE (warm cache)",
      cwd: bare,
      script: "server/main.js",
      env: { NODE_COMPILE_CACHE: cacheDir },
    };
    await coldStart(cached); // fills the cache
    variants.push(cached);
  }

  const runs = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const v of variants) {
        await waitQuiet(QUIET_CORES, 60_000);
        const ms = await coldStart(v);
        runs.get(v.name)!.push(Number(ms.toFixed(1)));
        console.log(`round ${i + 1}/${RUNS} ${v.name}: ${ms.toFixed(0)} ms`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const buildRuns = runs.get(variants[0]!.name)!;
  const base = median(buildRuns);
  const results = variants.map((v) => {
    const r = runs.get(v.name)!;
    return {
      variant: v.name,
      runs_ms: r,
      median_ms: median(r),
      ratio_to_build: Number((median(r) / base).toFixed(3)),
      // Each round's ratio to the build's start in the same round: steadier on a shared machine.
      round_ratio_median: Number(median(r.map((ms, i) => ms / buildRuns[i]!)).toFixed(3)),
    };
  });
  console.log(`\nnode ${nodeVersion} (${os.cpus().length} cores), median of ${RUNS}:`);
  for (const r of results) {
    const ratios = `${r.ratio_to_build.toFixed(2)}x build; per-round ratio median ${r.round_ratio_median.toFixed(2)}`;
    console.log(`  ${r.variant}: ${r.median_ms.toFixed(0)} ms (${ratios})`);
  }
  mkdirSync(path.join(root, "bench", "results"), { recursive: true });
  writeFileSync(
    path.join(root, "bench", "results", "cold-start.json"),
    `${JSON.stringify({ node: nodeVersion, runs: RUNS, date: new Date().toISOString(), results }, null, 2)}\n`,
  );
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
