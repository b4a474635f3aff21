/**
 * End-to-end benchmark of the standalone server against ceilings measured in the same run, on the same
 * core (issue 16). Processes, all on loopback:
 *
 *   - the server under test: `node <production flags> dist/server/main.js` from a snapshot of the bundle
 *     just built, fresh per run, pinned to one core (`taskset -c <last core>`);
 *   - the HTTP ceiling: bench/ceiling-server.ts (bare node:http, fixed answers of the service's size),
 *     pinned to the same core;
 *   - the model ceiling: the engine the server runs (MODEL_ENGINE: the compiled trees by default), one
 *     thread, in a child process pinned to the same core (bench/lib/model-ceiling.ts); onnxruntime-node
 *     with the service's session options is measured beside it and reported, not used as the ceiling;
 *   - the load generator: wrk (Debian package `wrk`) with bench/lib/load.lua, pinned to another core
 *     with the bench itself; for the latency target, a paced generator of our own (bench/lib/paced.ts),
 *     three runs on fresh servers (one with --quick), the median p99 the figure and every run reported.
 *
 * On a machine with one usable core nothing is pinned (the output says so). Each row reports req/s,
 * rows/s, the ratio to its ceiling, the server's CPU per request ((utime + stime) / requests from
 * /proc/<pid>/stat) and its CPU utilisation. Writes bench/results/bench.json.
 *
 *   npm run bench                      (full: 3 ceiling/service pairs of 6 s for the targets, ≈ 5 min)
 *   npm run bench -- --quick           (1 pair of 3 s per workload, ≈ 1.5 min)
 *   npm run bench -- --server-env KEY=VALUE   (extra env for the server under test, repeatable)
 *   npm run bench -- --only predict_unique,predict_hit   (just those throughput workloads; "paced": the paced runs)
 *   npm run bench -- --quiet-wait 5    (wait at most 5 s for a quiet machine before each run; default 60 s, quick 5 s)
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";
import { SEED_BODY } from "./lib/bodies";
import { envFromPairs } from "./lib/env-args";
import type { ModelCeiling } from "./lib/model-ceiling";
import type { EngineChoice, EngineName } from "../shared/inference/engines/engine";
import { requestsOf, type PacedResult, type PacedSpec } from "./lib/paced";
import { summariseSlices } from "./lib/paced-windows";
import { choosePinning, pinSelf, type Pinning } from "./lib/pinning";
import {
  HOST,
  freePort,
  ownsListeningPort,
  pinServersWith,
  request,
  rssSampler,
  threadCpuSampler,
  snapshotBuild,
  spawnScript,
  spawnServer,
  waitQuiet,
  waitReady,
  type Proc,
} from "./lib/procs";
import { measurePackageSizes } from "./lib/package-size";
import { figure, report, us, type Pair, type ServiceRun, type Workload } from "./lib/report";
import { fmtMB, fmtMs, fmtNum, median } from "./lib/stats";
import { cpuWindow, requireWrk, rowsPerRequest, runWrk, writeRowsFile, type WrkRun, type WrkSpec } from "./lib/wrk";
import { MAX_ROWS_PER_RUN } from "../shared/inference/model";

const QUICK = process.argv.includes("--quick");
const argAfter = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i === -1 ? undefined : process.argv[i + 1];
};
/** `--server-env KEY=VALUE` (repeatable): extra environment for the server under test. */
const SERVER_ENV = envFromPairs(
  process.argv.flatMap((a, i) => (a === "--server-env" ? [process.argv[i + 1] ?? ""] : [])),
  "--server-env",
);
const ONLY = argAfter("--only")?.split(",");
/** MODEL_ENGINE as the server under test gets it: the model ceiling opens its engine the same way. */
const ENGINE_CHOICE = (SERVER_ENV.MODEL_ENGINE ?? "auto") as EngineChoice;
const COMMAND = ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
const S = QUICK
  ? {
      durationS: 3,
      pairs: 1,
      warmupS: 1,
      coldRuns: 3,
      rounds: 3,
      roundMs: 200,
      pacedS: 4,
      pacedRuns: 1,
      calibrateS: 2,
      healthS: 3,
      quietS: 5,
    }
  : {
      durationS: 6,
      pairs: 3,
      warmupS: 2,
      coldRuns: 5,
      rounds: 5,
      roundMs: 400,
      pacedS: 10,
      pacedRuns: 3,
      calibrateS: 3,
      healthS: 8,
      quietS: 60,
    };
/** `--quiet-wait <s>`: how long to wait for a quiet machine before each run (60 s full, 5 s quick). */
const QUIET_WAIT = argAfter("--quiet-wait");
if (QUIET_WAIT !== undefined) S.quietS = Number(QUIET_WAIT);
const RESULTS = resolve("bench/results/bench.json");
/** Other work on the server's core (cores) above which a pair is measured again. */
const NOISY = 0.1;
const RETRIES = QUICK ? 0 : 2;
const TMP = resolve("bench/results/tmp");
/** Fraction of the measured /predict unique capacity the paced run sends. */
const PACED_FRACTION = 0.7;
/** The paced run's p99 target, ms: also where a slice of the run counts as late. */
const PACED_TARGET_MS = 5;

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WORKLOADS: Workload[] = [
  {
    id: "predict_unique",
    name: "/predict unique (32 conns)",
    kind: "predict-unique",
    connections: 32,
    unit: "req/s",
    timeoutS: 10,
    ceiling: "http",
    target: { ratio: 0.4, text: "≥ 0.40× bare node:http" },
  },
  {
    id: "predict_hit",
    name: "/predict cache hit (32 conns)",
    kind: "predict-hit",
    connections: 32,
    unit: "req/s",
    timeoutS: 10,
    ceiling: "http",
    target: { ratio: 0.6, text: "≥ 0.60× bare node:http" },
  },
  {
    id: "bulk_1000",
    name: "/bulk_predict 1,000 unique rows (8 conns)",
    kind: "bulk",
    rows: 1000,
    connections: 8,
    unit: "rows/s",
    timeoutS: 30,
    ceiling: "model-1000",
    target: { ratio: 0.8, text: "≥ 0.80× model, 1 thread" },
  },
  {
    id: "bulk_10000",
    name: "/bulk_predict 10,000 unique rows (4 conns)",
    kind: "bulk",
    rows: 10_000,
    connections: 4,
    unit: "rows/s",
    timeoutS: 60,
    ceiling: "model-10000",
  },
  {
    id: "mixed",
    name: "mixed: 90% /predict, 9% bulk 100, 1% bulk 1,000 (32 conns)",
    kind: "mixed",
    connections: 32,
    unit: "req/s",
    timeoutS: 30,
    ceiling: "mixed",
  },
];

let seedCounter = 0;
/**
 * Unique rows of different wrk runs never overlap: each run shifts Population by its own 10,000 (a run
 * uses far fewer than 10,000 cycles of the 4,128 hold-out rows), and every shifted Population stays far
 * below 2^24, where float32 stops representing integers exactly.
 */
const nextSeed = () => ++seedCounter * 10_000;

interface Ctx {
  pin: Pinning;
  rowsFile: string;
}

function wrkSpec(ctx: Ctx, w: Workload, port: number, durationS: number): WrkSpec {
  return {
    url: `http://${HOST}:${port}`,
    kind: w.kind,
    connections: w.connections,
    threads: Math.min(2, w.connections),
    durationS,
    rows: w.rows,
    seed: nextSeed(),
    timeoutS: w.timeoutS,
    rowsFile: ctx.rowsFile,
  };
}

/** Warm-up, then the timed run, against a process that is already up. */
async function warmAndTime(ctx: Ctx, w: Workload, proc: Proc, onStarted?: () => void): Promise<WrkRun> {
  await runWrk(wrkSpec(ctx, w, proc.port, S.warmupS), ctx.pin);
  return runWrk(wrkSpec(ctx, w, proc.port, S.durationS), ctx.pin, proc.pid, onStarted);
}

/** A fresh server under test, warm-up and timed run (RSS sampled every 100 ms throughout), then /metrics. */
async function onService(ctx: Ctx, w: Workload, withMetrics: boolean): Promise<ServiceRun> {
  const server = await spawnServer(SERVER_ENV);
  try {
    await waitReady(server, "GET", "/health");
    const rss = rssSampler(server.pid, 100);
    const run = await warmAndTime(ctx, w, server);
    rss.stop();
    alive(server);
    const out: ServiceRun = { ...run, peakRss: rss.peak() };
    if (withMetrics) out.metrics = (await request(server.port, "GET", "/metrics")).body;
    return out;
  } finally {
    await server.stop();
  }
}

/** Fails loudly, with the server's stderr, if it died during a run. */
function alive(p: Proc): void {
  const { exitCode, signalCode } = p.child;
  if (exitCode !== null || signalCode !== null) {
    throw new Error(`server ${p.pid} died during the run (exit ${exitCode}, signal ${signalCode}): ${p.stderr()}`);
  }
}

const bundles = new Map<string, Promise<string>>();

/**
 * Bundles a bench script to plain JS under bench/results/tmp, once per bench run: the model ceiling and the paced
 * generator run a dozen times (next to each bulk pair, per paced run) from the same sources.
 */
function bundle(entry: string, name: string): Promise<string> {
  let built = bundles.get(name);
  if (!built) {
    mkdirSync(TMP, { recursive: true });
    const out = resolve(TMP, name);
    built = build({
      entryPoints: [resolve(entry)],
      outfile: out,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      external: ["onnxruntime-node"],
      logLevel: "warning",
    }).then(() => out);
    bundles.set(name, built);
  }
  return built;
}

let pacedGeneratorBuilt: Promise<Record<string, string>> | undefined;

/**
 * The paced runs' generator, once per bench run: bench/lib/paced-generator.c compiled with the machine's C compiler
 * (the environment that hands it to bench/lib/paced.ts), or, without one, paced.ts's own Node loop, and the log says
 * so. The C loop does not stall as a Node event loop does (BENCHMARKS.md, Round 5).
 */
function pacedGenerator(): Promise<Record<string, string>> {
  pacedGeneratorBuilt ??= new Promise((done) => {
    mkdirSync(TMP, { recursive: true });
    const binary = resolve(TMP, "paced-generator");
    const source = resolve("bench/lib/paced-generator.c");
    execFile("cc", ["-O2", "-o", binary, source, "-lm"], (err, _out, stderr) => {
      if (!err)
        return done({ BENCH_PACED_GENERATOR: binary, BENCH_PACED_REQUESTS: resolve(TMP, "paced-requests.bin") });
      log(
        `paced generator: Node (bench/lib/paced-generator.c did not compile: ${err.message.split("\n")[0]} ${stderr})`,
      );
      done({ BENCH_PACED_GENERATOR: "", BENCH_PACED_REQUESTS: "" }); // empty: never a value left in the shell
    });
  });
  return pacedGeneratorBuilt;
}

/** Runs a bundled script to completion (under `prefix`) and parses the JSON line it prints. */
function runJsonChild<T>(prefix: string[], script: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<T>((res, rej) => {
    const [cmd, ...pre] = [...prefix, process.execPath];
    const child = spawn(cmd!, [...pre, script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.once("error", rej);
    child.once("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0 || (!line.startsWith("{") && !line.startsWith("["))) {
        return rej(new Error(`${script} exited with ${code}: ${out}`));
      }
      res(JSON.parse(line) as T);
    });
  });
}

async function quiet(): Promise<number> {
  let warned = false;
  return waitQuiet(0.25, S.quietS * 1000, (busy) => {
    if (!warned) log(`  machine busy (${busy.toFixed(2)} cores used by other processes): waiting up to ${S.quietS} s`);
    warned = true;
  });
}

const MODEL_CASES = [
  { batch: 1 },
  { batch: 1000 },
  { batch: 1000, chunk: MAX_ROWS_PER_RUN },
  { batch: 10_000 },
  { batch: 10_000, chunk: MAX_ROWS_PER_RUN },
];

/** The model ceiling of one engine (every case, or the ones given), in a child process on the server's core. */
async function modelCeiling(ctx: Ctx, engine: EngineChoice, cases = MODEL_CASES): Promise<ModelCeiling[]> {
  const script = await bundle("bench/lib/model-ceiling.ts", "model-ceiling.js");
  await quiet();
  const spec = JSON.stringify({ cases, engine, rounds: S.rounds, roundMs: S.roundMs });
  return runJsonChild<ModelCeiling[]>(ctx.pin.server, script, [], { BENCH_MODEL_CEILING: spec });
}

async function coldStarts(): Promise<{ runs_ms: number[]; median_ms: number; rss_after_first_predict: number[] }> {
  const runs: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < S.coldRuns; i++) {
    await quiet();
    const port = await freePort();
    const t0 = performance.now();
    const server = await spawnServer(SERVER_ENV, port);
    let ms: number | undefined;
    try {
      for (;;) {
        if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
        const r = await request(port, "POST", "/predict", SEED_BODY, 5000).catch(() => undefined); // refused: not up yet
        if (r?.status === 200) {
          ms = performance.now() - t0;
          if (!ownsListeningPort(server.pid, port)) throw new Error(`port ${port} answered by another process`);
          break;
        }
        if (performance.now() - t0 > 20_000) throw new Error("no successful /predict within 20 s");
        await sleep(5);
      }
      const s = rssSampler(server.pid);
      rss.push(s.peak());
      s.stop();
    } finally {
      await server.stop();
    }
    runs.push(Number(ms.toFixed(1)));
    log(`cold start ${i + 1}/${S.coldRuns}: ${ms.toFixed(0)} ms`);
  }
  return { runs_ms: runs, median_ms: median(runs), rss_after_first_predict: rss };
}

interface Ceilings {
  model: ModelCeiling[];
  bare: Proc;
  headers?: Proc;
}

function modelAt(model: ModelCeiling[], batch: number, chunked = false): ModelCeiling {
  return model.find((m) => m.batch === batch && m.runRows < batch === chunked)!;
}

/** The ceiling's figure for a workload: the bare server's, the model's, or both costs in series (mixed). */
function ceilingValue(w: Workload, model: ModelCeiling[], http?: WrkRun): number {
  if (w.ceiling === "model-1000") return modelAt(model, 1000).rowsPerS;
  if (w.ceiling === "model-10000") return modelAt(model, 10_000).rowsPerS;
  const reqs = http!.reqPerS;
  if (w.ceiling === "http") return w.unit === "rows/s" ? http!.rowsPerS : reqs;
  // Per request on one core: the bare server's time plus the model's time (batch 1,000) for its rows.
  return 1 / (1 / reqs + rowsPerRequest("mixed") / modelAt(model, 1000).rowsPerS);
}

/**
 * The ceiling's CPU per request of this workload, µs: the bare server's own (from /proc, same load), or the
 * model's time for the request's rows (one thread busy throughout, so time = CPU), or both in series (mixed).
 */
function ceilingCpuPerReq(w: Workload, model: ModelCeiling[], http?: WrkRun): number | undefined {
  const modelUsPerRow = 1e6 / modelAt(model, w.ceiling === "model-10000" ? 10_000 : 1000).rowsPerS;
  if (w.ceiling === "model-1000" || w.ceiling === "model-10000") return modelUsPerRow * (w.rows ?? 1);
  const httpUs = http?.cpuPerReqUs;
  if (httpUs === undefined) return undefined;
  return w.ceiling === "http" ? httpUs : httpUs + rowsPerRequest("mixed") * modelUsPerRow;
}

const ceilingNames = (engine: EngineName): Record<Workload["ceiling"], string> => ({
  http: "bare node:http, same core, same load",
  "model-1000": `model (${engine}), batch 1,000, 1 thread, same core`,
  "model-10000": `model (${engine}), batch 10,000, 1 thread, same core`,
  mixed: "bare node:http (same mix) + model (batch 1,000) time, in series, same core",
});

/** Two rates as one, by their mean time per unit (a run before and one after a service run). */
const timeMean = (a: number, b: number) => 2 / (1 / a + 1 / b);

/** The bare server's runs before and after a service run, as one: mean time per request (and row), summed counts. */
function bracketedRun(before: WrkRun, after: WrkRun): WrkRun {
  const mean = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : (a + b) / 2);
  return {
    ...before,
    durationS: before.durationS + after.durationS,
    requests: before.requests + after.requests,
    rows: before.rows + after.rows,
    reqPerS: timeMean(before.reqPerS, after.reqPerS),
    rowsPerS: timeMean(before.rowsPerS, after.rowsPerS),
    non2xx: before.non2xx + after.non2xx,
    errors: before.errors + after.errors,
    cpu: mean(before.cpu, after.cpu),
    cpuPerReqUs: mean(before.cpuPerReqUs, after.cpuPerReqUs),
    serverCoreBusy: mean(before.serverCoreBusy, after.serverCoreBusy),
    loadCoreBusy: mean(before.loadCoreBusy, after.loadCoreBusy),
    otherOnServerCore: Math.max(before.otherOnServerCore ?? 0, after.otherOnServerCore ?? 0),
  };
}

/** A model ceiling measured before and after a service run, as one: the mean time per row of the two. */
function bracketed(before: ModelCeiling, after: ModelCeiling): ModelCeiling {
  return {
    ...before,
    msPerBatch: (before.msPerBatch + after.msPerBatch) / 2,
    rowsPerS: timeMean(before.rowsPerS, after.rowsPerS),
    calls: before.calls + after.calls,
    otherCpu: Math.max(before.otherCpu, after.otherCpu),
  };
}

/** One ceiling/service pair, measured again (up to RETRIES) when something else ran on the server's core. */
async function measurePair(ctx: Ctx, w: Workload, c: Ceilings, first: boolean): Promise<Pair> {
  let best: Pair | undefined;
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    if (attempt > 0) log(`  other work on the server's core: ${best!.noise.toFixed(2)} cores; measuring again`);
    await quiet();
    let ceilingBefore: WrkRun | undefined;
    let headers: WrkRun | undefined;
    if (w.ceiling === "http" || w.ceiling === "mixed") {
      ceilingBefore = await warmAndTime(ctx, w, c.bare);
      if (c.headers && first && w.ceiling === "http") headers = await warmAndTime(ctx, w, c.headers);
    }
    // A bulk's ceiling is the model's batch, measured again next to the service run (the VM's speed drifts over the
    // minutes between the start-of-run ceiling and the bulk runs).
    const batch = w.ceiling === "model-1000" ? 1000 : w.ceiling === "model-10000" ? 10_000 : undefined;
    const before = batch ? await modelCeiling(ctx, ENGINE_CHOICE, [{ batch }]) : undefined;
    const service = await onService(ctx, w, w.id === "predict_unique" || w.id === "mixed");
    // Each ceiling again right after the service run, the two taken as one (mean time per request or row): a drift
    // of the VM's speed during the service run then moves the ratio half as much. The bare server is warm by now.
    const ceilingAfter = ceilingBefore
      ? await runWrk(wrkSpec(ctx, w, c.bare.port, S.durationS), ctx.pin, c.bare.pid)
      : undefined;
    const ceiling = ceilingBefore && ceilingAfter ? bracketedRun(ceilingBefore, ceilingAfter) : undefined;
    const after = batch ? await modelCeiling(ctx, ENGINE_CHOICE, [{ batch }]) : undefined;
    const model = before && after ? [bracketed(before[0]!, after[0]!)] : c.model;
    const value = ceilingValue(w, model, ceiling);
    const noise = Math.max(
      batch ? model[0]!.otherCpu : 0,
      ...[ceiling, headers, service].map((r) => r?.otherOnServerCore ?? 0),
    );
    const cpu = ceilingCpuPerReq(w, model, ceiling);
    const cpuRatio = cpu !== undefined && service.cpuPerReqUs ? cpu / service.cpuPerReqUs : undefined;
    const pair = {
      ceiling,
      model: batch ? model[0] : undefined,
      modelBeforeAfter: before && after ? ([before[0]!.rowsPerS, after[0]!.rowsPerS] as [number, number]) : undefined,
      ceilingBeforeAfter:
        ceilingBefore && ceilingAfter ? ([ceilingBefore.reqPerS, ceilingAfter.reqPerS] as [number, number]) : undefined,
      headers,
      service,
      ceilingValue: value,
      ratio: figure(w, service) / value,
      cpuRatio,
      noise,
    };
    if (!best || noise < best.noise) best = pair;
    if (noise <= NOISY) break;
  }
  return best!;
}

/** Every throughput workload as ceiling/service pairs; the pair with the median ratio is reported. */
async function throughput(ctx: Ctx, c: Ceilings, workloads: Workload[]) {
  const out: { w: Workload; chosen: Pair; pairs: Pair[] }[] = [];
  for (const w of workloads) {
    const n = w.target ? S.pairs : 1;
    const pairs: Pair[] = [];
    for (let p = 0; p < n; p++) {
      log(`${w.name}${n > 1 ? ` [pair ${p + 1}/${n}]` : ""}`);
      const pair = await measurePair(ctx, w, c, p === 0);
      pairs.push(pair);
      const r = pair.service;
      const beforeAfter = pair.modelBeforeAfter ?? pair.ceilingBeforeAfter;
      log(
        `  service ${fmtNum(figure(w, r))} ${w.unit}, ceiling ${fmtNum(pair.ceilingValue)}` +
          (beforeAfter ? ` (before ${fmtNum(beforeAfter[0])}, after ${fmtNum(beforeAfter[1])})` : "") +
          `, ratio ${pair.ratio.toFixed(3)} ` +
          `(CPU ratio ${pair.cpuRatio?.toFixed(3) ?? "–"}); ` +
          `CPU/req ${us(r.cpuPerReqUs)} (ceiling ${us(pair.ceiling?.cpuPerReqUs)}), server CPU ${r.cpu?.toFixed(2)}, ` +
          `p99 ${fmtMs(r.latency.p99)}, errors ${r.non2xx + r.errors}, peak RSS ${fmtMB(r.peakRss)}, other on its core ${pair.noise.toFixed(2)}`,
      );
    }
    const sorted = [...pairs].sort((a, b) => a.ratio - b.ratio);
    out.push({ w, chosen: sorted[(sorted.length - 1) >> 1]!, pairs });
  }
  return out;
}

/**
 * The paced run: /predict unique at PACED_FRACTION of the capacity measured on the same server right before it
 * (a closed-loop wrk run of S.calibrateS after the warm-up), latency from the intended send. Measured there, not
 * taken from the unique workload's pairs minutes earlier: this VM's speed moves by up to 2× within minutes, and
 * 70 % of a capacity from another minute can be 50 % or 100 % of this one's.
 */
async function paced(ctx: Ctx) {
  const script = await bundle("bench/lib/paced.ts", "paced.js");
  const generator = await pacedGenerator();
  await quiet();
  const server = await spawnServer(SERVER_ENV);
  try {
    await waitReady(server, "GET", "/health");
    // The same closed-loop wrk warm-up every throughput run gets, so the paced run meets a JIT-compiled server:
    // paced from a cold start, the first second's backlog (a cold server below 70 % of its warm capacity) was
    // still draining when the timed window opened, and the window measured the warm-up.
    const unique = WORKLOADS.find((w) => w.id === "predict_unique")!;
    await runWrk(wrkSpec(ctx, unique, server.port, S.warmupS), ctx.pin);
    // Closed-loop capacity, measured before the paced run and again after it (whether the VM's speed held).
    const measureCapacity = async () =>
      (await runWrk(wrkSpec(ctx, unique, server.port, S.calibrateS), ctx.pin)).reqPerS;
    const capacity = await measureCapacity();
    // Peak RSS of the paced part only (the warm-up is the unique workload, reported on its own row).
    const rss = rssSampler(server.pid, 100);
    const spec: PacedSpec = {
      host: HOST,
      port: server.port,
      connections: 32,
      rate: Math.max(1, Math.round(capacity * PACED_FRACTION)),
      warmupS: S.warmupS,
      durationS: S.pacedS,
      seed: nextSeed(),
    };
    // Server CPU over the whole paced run (warm-up included) and the requests it answered in it.
    const window = cpuWindow(server.pid, ctx.pin);
    const threadCpu = threadCpuSampler(server.pid, 50);
    const result = await runJsonChild<PacedResult>(ctx.pin.load, script, [JSON.stringify(spec)], generator);
    const samples = threadCpu.stop();
    const used = window.stop();
    const sent = requestsOf(spec);
    rss.stop();
    alive(server);
    const capacityAfter = await measureCapacity(); // report.ts pacedRunText reads the two
    return {
      result,
      capacity,
      capacityAfter,
      slices: summariseSlices(result.windows, samples, PACED_TARGET_MS),
      peakRss: rss.peak(),
      cpu: used.cpu ?? NaN,
      cpuPerReqUs: ((used.cpuSecs ?? NaN) / sent) * 1e6,
      otherOnServerCore: used.otherOnServerCore,
    };
  } finally {
    await server.stop();
  }
}

/**
 * Like the throughput targets' pairs: S.pacedRuns paced runs on fresh servers, each at PACED_FRACTION of its own
 * server's capacity; the run with the median p99 is the figure, all are reported.
 */
async function pacedRunsOf(ctx: Ctx) {
  const pacedRuns: Awaited<ReturnType<typeof paced>>[] = [];
  for (let i = 0; i < S.pacedRuns; i++) {
    log(
      `paced /predict unique at ${PACED_FRACTION * 100} % of the capacity measured first [run ${i + 1}/${S.pacedRuns}]`,
    );
    const run = await paced(ctx);
    pacedRuns.push(run);
    const l = run.result.latency;
    log(
      `  ${fmtNum(run.result.rate)} req/s (capacity ${fmtNum(run.capacity)}, after ${fmtNum(run.capacityAfter)}): p50 ${fmtMs(l.p50)}, p99 ${fmtMs(l.p99)}, ` +
        `max ${fmtMs(l.max)}; send lag p99 ${fmtMs(run.result.sendLag.p99)}`,
    );
  }
  const byP99 = [...pacedRuns].sort((a, b) => a.result.latency.p99 - b.result.latency.p99);
  return { pacedRuns, pacedRun: byP99[Math.floor((byP99.length - 1) / 2)] };
}

/** /health on one connection, idle, then while 4 connections send 10,000-row bulks (the probe inside the bulks' run). */
async function health(ctx: Ctx) {
  const probe: Workload = {
    id: "health",
    name: "/health",
    kind: "health",
    connections: 1,
    unit: "req/s",
    timeoutS: 10,
    ceiling: "http",
  };
  const bulkW = WORKLOADS.find((w) => w.id === "bulk_10000")!;
  await quiet();
  const hs = await spawnServer(SERVER_ENV);
  try {
    await waitReady(hs, "GET", "/health");
    const idle = await runWrk(wrkSpec(ctx, probe, hs.port, S.healthS), ctx.pin, hs.pid);
    const rss = rssSampler(hs.pid);
    await runWrk(wrkSpec(ctx, bulkW, hs.port, S.warmupS), ctx.pin);
    let during: Promise<WrkRun> | undefined;
    // The probe starts 1 s into the bulks' run and ends 2 s before it does.
    const bulks = runWrk(wrkSpec(ctx, bulkW, hs.port, S.healthS + 3), ctx.pin, hs.pid, () => {
      during = sleep(1000).then(() => runWrk(wrkSpec(ctx, probe, hs.port, S.healthS), ctx.pin));
    });
    const bulk = await bulks;
    const loaded = await during!;
    rss.stop();
    alive(hs);
    return { idle, loaded, bulk, peakRss: rss.peak() };
  } finally {
    await hs.stop();
  }
}

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const wrkVersion = requireWrk();
  const pin = choosePinning();
  pinSelf(pin);
  pinServersWith(pin.server);
  log(`${QUICK ? "quick" : "full"} run; ${pin.note}; ${wrkVersion}`);
  const dist = resolve(TMP, "build");
  const serverScript = await snapshotBuild(dist);
  const bundleSha = createHash("sha256").update(readFileSync(serverScript)).digest("hex").slice(0, 12);
  mkdirSync(TMP, { recursive: true });
  const rowsFile = resolve(TMP, "rows.lua");
  const holdoutRows = writeRowsFile(rowsFile);
  const ctx: Ctx = { pin, rowsFile };
  const workloads = WORKLOADS.filter((w) => !ONLY || ONLY.includes(w.id));

  log(`model ceiling (MODEL_ENGINE=${ENGINE_CHOICE}, 1 thread, on the server's core)`);
  const model = await modelCeiling(ctx, ENGINE_CHOICE);
  const engine = model[0]!.engine;
  for (const m of model) log(`  batch ${m.batch} (runs of ${m.runRows}): ${fmtNum(m.rowsPerS)} rows/s`);
  let modelOrt: ModelCeiling[] | undefined;
  if (engine !== "onnxruntime") {
    log("the same model in onnxruntime-node (reported beside it, not a ceiling)");
    modelOrt = await modelCeiling(ctx, "onnxruntime");
    for (const m of modelOrt) log(`  batch ${m.batch} (runs of ${m.runRows}): ${fmtNum(m.rowsPerS)} rows/s`);
  }
  log("cold start");
  const cold = ONLY ? undefined : await coldStarts();

  const ceilingScript = await bundle("bench/ceiling-server.ts", "ceiling-server.js");
  const bare = await spawnScript(ceilingScript);
  await waitReady(bare, "GET", "/health");
  const headers = QUICK ? undefined : await spawnScript(ceilingScript, { CEILING_HEADERS: "service" });
  if (headers) await waitReady(headers, "GET", "/health");
  const ceilingRss = rssSampler(bare.pid);
  let results: Awaited<ReturnType<typeof throughput>>;
  try {
    results = await throughput(ctx, { model, bare, headers }, workloads);
  } finally {
    ceilingRss.stop();
    await bare.stop();
    await headers?.stop();
  }

  // With --only, only when it names them ("paced"): the other ids are throughput workloads.
  const { pacedRuns, pacedRun } =
    !ONLY || ONLY.includes("paced") ? await pacedRunsOf(ctx) : { pacedRuns: [], pacedRun: undefined };
  log("event-loop health");
  const hl = ONLY ? undefined : await health(ctx);

  report({
    started,
    command: COMMAND,
    quick: QUICK,
    settings: S,
    serverEnv: SERVER_ENV,
    pin,
    wrkVersion,
    holdoutRows,
    bundleSha,
    gitCommit: gitCommit(),
    model,
    modelEngine: engine,
    modelOnnxruntime: modelOrt,
    cold,
    results,
    paced: pacedRun,
    pacedRuns,
    pacedFraction: PACED_FRACTION,
    pacedTargetMs: PACED_TARGET_MS,
    health: hl,
    ceilingRss: ceilingRss.peak(),
    sizes: ONLY ? undefined : measurePackageSizes(dist),
    resultsPath: RESULTS,
    ceilingName: ceilingNames(engine),
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
