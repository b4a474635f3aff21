/**
 * Soak test of the built standalone server: capacity first, then a long run at a fraction of it.
 *
 *   npm run soak                              (SOAK_SECONDS=300 by default)
 *   SOAK_SECONDS=60 SOAK_FRACTION=0.7 npm run soak
 *
 * Processes (loopback only): the server under test (`node dist/server/main.js`, LOG_LEVEL=warn) and a
 * load generator, this same file run as a child with `--load <spec>` (autocannon), so load generation
 * never shares the server's event loop. The workload is mixed and never repeats an input: per 10
 * requests, 9 /predict of one unique house and 1 /bulk_predict of 20 unique houses (cache misses
 * throughout; the in-process LRU fills up and evicts).
 *
 *   1. capacity: SOAK_CAPACITY_SECONDS (15 s) unthrottled with 32 connections → requests/s;
 *   2. soak: SOAK_SECONDS at SOAK_FRACTION (0.7) of that rate (autocannon overallRate), with
 *      per-10-s windows of requests, errors and p50/p99/max latency, and the server's RSS
 *      (/proc/<pid>/status VmRSS) sampled at each window's end.
 *
 * Verdicts: errors = 0 (socket errors, timeouts and non-2xx); p99 stable (max/min of the post-warm-up
 * windows ≤ 2); RSS growth < 10 % between the mean of the first 60 s after warm-up and the mean of the
 * last 60 s (single samples swing with GC; they are reported too). Warm-up lasts SOAK_WARMUP_SECONDS
 * (30 s) or until the rows sent could have filled the LRU cache (CACHE_MAX_ENTRIES, the service's
 * default unless set), whichever is later, so a cache still filling up is not counted as a leak.
 *
 * Prints a table and writes bench/results/soak.json. Exit code 1 when a verdict fails.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../shared/ops/config";
import { FEATURES } from "../shared/input/features";
import { spawnServer, waitReady } from "./lib/procs";

const HOST = "127.0.0.1";
const WINDOW_S = 10;
const BULK_ROWS = 20;
const RECONNECT_EVERY = 5_000;

// ---------------------------------------------------------------------------------------------------
// Load generator (child process)
// ---------------------------------------------------------------------------------------------------

interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  /** Requests per second over all connections; 0 = as fast as possible. */
  rate: number;
  /** First unique row number (distinct per phase, so no phase hits another's cache entries). */
  firstRow: number;
}

interface WindowStats {
  /** Seconds since the load started, at the window's end. */
  t: number;
  requests: number;
  rows: number;
  errors: number;
  non2xx: number;
  p50: number;
  p99: number;
  max: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** The last, shorter window (after the load stopped mid-window). */
  partial?: boolean;
}

type LoadMessage = { type: "window"; window: WindowStats } | { type: "done"; totalS: number };

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Row n as JSON text: every row distinct (Population = 1 + n, an integer exact in float32 below 2^24). */
function row(n: number): string {
  const v: Record<string, number> = {
    MedInc: 0.5 + (n % 1500) / 100,
    HouseAge: 1 + (n % 52),
    AveRooms: 3 + (n % 700) / 100,
    AveBedrms: 1 + (n % 40) / 100,
    Population: 1 + n,
    AveOccup: 1.5 + (n % 300) / 100,
    Latitude: 32.5 + (n % 950) / 100,
    Longitude: -124.3 + (n % 1000) / 100,
  };
  return `{${FEATURES.map((f) => `"${f}":${v[f]}`).join(",")}}`;
}

interface AutocannonInstance {
  on(event: "response", fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: "reqError", fn: (err: Error) => void): void;
  stop(): void;
  then: PromiseLike<unknown>["then"];
}

async function runLoad(spec: LoadSpec): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- autocannon ships no types
  const autocannon = require("autocannon") as (opts: object) => AutocannonInstance;
  let next = spec.firstRow;
  let slot = 0;
  const json = { "content-type": "application/json" };
  type Req = { method?: string; path?: string; headers?: Record<string, string>; body?: string };
  const setupRequest = (req: Req): Req => {
    const bulk = slot++ % 10 === 9;
    if (bulk) {
      const rows = new Array<string>(BULK_ROWS);
      for (let i = 0; i < BULK_ROWS; i++) rows[i] = row(next++);
      return { ...req, method: "POST", path: "/bulk_predict", headers: json, body: `{"houses":[${rows.join(",")}]}` };
    }
    return { ...req, method: "POST", path: "/predict", headers: json, body: row(next++) };
  };

  let lat = new Float64Array(1 << 16);
  let n = 0;
  let requests = 0;
  let rows = 0;
  let errors = 0;
  let non2xx = 0;
  let statuses: Record<string, number> = {};
  const t0 = performance.now();
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    // The server closes a connection after its 10,000th request; autocannon ignores Connection: close
    // (and before eaac51e Node answered further requests with bare 503s), so connections reconnect
    // every 5,000 requests, as a client honouring the header would.
    reconnectRate: RECONNECT_EVERY,
    duration: spec.durationS,
    timeout: 10,
    ...(spec.rate > 0 ? { overallRate: spec.rate } : {}),
    requests: [{ setupRequest }],
  });
  // Hard bounds besides autocannon's duration (its `amount` would override the duration): count and time.
  const maxRequests = Math.ceil((spec.rate > 0 ? spec.rate : 50_000) * spec.durationS * 1.2);
  let sent = 0;
  const backstop = setTimeout(() => instance.stop(), (spec.durationS + 10) * 1000);
  instance.on("response", (_client, status, _bytes, ms) => {
    requests++;
    if (++sent === maxRequests) instance.stop();
    if (status < 200 || status >= 300) non2xx++;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (n === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
    }
    lat[n++] = ms;
  });
  instance.on("reqError", () => errors++);
  // Rows are counted from what was sent: 1 per /predict, BULK_ROWS per bulk (1 in 10).
  const flush = (partial = false) => {
    const sorted = lat.slice(0, n).sort();
    rows = Math.round(requests * (0.9 + 0.1 * BULK_ROWS));
    const window: WindowStats = {
      t: Number(((performance.now() - t0) / 1000).toFixed(1)),
      requests,
      rows,
      errors,
      non2xx,
      p50: Number(percentile(sorted, 50).toFixed(2)),
      p99: Number(percentile(sorted, 99).toFixed(2)),
      max: Number((n ? sorted[n - 1]! : NaN).toFixed(2)),
      statuses,
      ...(partial ? { partial } : {}),
    };
    if (process.connected) process.send?.({ type: "window", window } satisfies LoadMessage);
    n = 0;
    requests = 0;
    errors = 0;
    non2xx = 0;
    statuses = {};
  };
  const timer = setInterval(() => flush(), WINDOW_S * 1000);
  await instance;
  clearInterval(timer);
  clearTimeout(backstop);
  if (requests > 0 || errors > 0) flush(true);
  if (process.connected)
    process.send?.({ type: "done", totalS: (performance.now() - t0) / 1000 } satisfies LoadMessage);
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

const num = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};

function rssMB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN; // the process has gone
  }
}

/** The server's own view of trouble: in-flight rows, rejections, responses by status. */
async function metricsSnapshot(url: string): Promise<string[]> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text
      .split("\n")
      .filter((l) => /^(inflight_rows|requests_rejected_total|http_requests_total\{route="\/(bulk_)?predict")/.test(l));
  } catch (err) {
    return [`/metrics failed: ${String(err)}`];
  }
}

/** The server as the other benches run it (production V8 flags, bench/lib/procs.ts), ready to serve. */
async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const server = await spawnServer(env);
  try {
    await waitReady(server, "GET", "/health", undefined, 30_000);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { child: server.child, url: `http://${HOST}:${server.port}` };
}

/** Runs the load generator as a child; onWindow sees each 10-s window as it closes. */
function load(spec: LoadSpec, onWindow: (w: WindowStats) => void): Promise<{ windows: WindowStats[]; totalS: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(__dirname, "soak.ts"), "--load", JSON.stringify(spec)],
      {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    const windows: WindowStats[] = [];
    let totalS = 0;
    // Backstop: the child must finish within its duration plus a margin.
    const kill = setTimeout(() => child.kill("SIGKILL"), (spec.durationS + 60) * 1000);
    child.on("message", (m: LoadMessage) => {
      if (m.type === "window") {
        windows.push(m.window);
        onWindow(m.window);
      } else totalS = m.totalS;
    });
    child.once("exit", (code) => {
      clearTimeout(kill);
      if (code === 0) resolve({ windows, totalS });
      else reject(new Error(`the load generator exited with ${code}`));
    });
  });
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

async function main(): Promise<void> {
  const soakS = num("SOAK_SECONDS", 300);
  const capacityS = num("SOAK_CAPACITY_SECONDS", 15);
  const fraction = num("SOAK_FRACTION", 0.7);
  const warmupMinS = num("SOAK_WARMUP_SECONDS", 30);
  const connections = num("SOAK_CONNECTIONS", 32);
  // The service's own default unless CACHE_MAX_ENTRIES is set (then passed to the server as well).
  const cacheEntries = num("CACHE_MAX_ENTRIES", parseConfig({}).CACHE_MAX_ENTRIES);
  const command = `SOAK_SECONDS=${soakS} npm run soak`;
  // Other processes on the machine skew every figure: recorded with the results.
  const loadavgAtStart = os.loadavg().map((v) => Number(v.toFixed(2)));

  const { child, url } = await startServer({ CACHE_MAX_ENTRIES: String(cacheEntries) });
  const pid = child.pid!;
  let stopping = false;
  const serverExit = new Promise<number | null>((r) =>
    child.once("exit", (code, signal) => {
      if (!stopping) console.error(`soak: THE SERVER EXITED during the run (code ${code}, signal ${signal})`);
      r(code);
    }),
  );
  try {
    console.log(
      `soak: server pid ${pid} at ${url}; RSS at start ${rssMB(pid).toFixed(1)} MB; ${os.cpus().length} CPUs`,
    );

    // 1. Capacity.
    const cap = await load({ url, connections, durationS: capacityS, rate: 0, firstRow: 0 }, () => undefined);
    const capRequests = cap.windows.reduce((a, w) => a + w.requests, 0);
    const capErrors = cap.windows.reduce((a, w) => a + w.errors + w.non2xx, 0);
    const capacity = capRequests / cap.totalS;
    const rate = Math.max(1, Math.round(capacity * fraction));
    console.log(
      `soak: capacity ${capacity.toFixed(0)} req/s (${capRequests} requests in ${cap.totalS.toFixed(1)} s, ${capErrors} errors); ` +
        `holding ${rate} req/s (${Math.round(fraction * 100)} %) for ${soakS} s`,
    );

    // 2. Soak at a fraction of capacity. Rows of the capacity phase: at most 20,000 req/s × 1.2 × 2.9 rows.
    const firstRow = 2_000_000;
    const samples: { t: number; rssMB: number }[] = [];
    const windows: (WindowStats & { rssMB: number; rps: number; load1: number })[] = [];
    let sentRows = 0;
    let warmupEndsAt: number | undefined;
    let firstTrouble: Promise<{ t: number; metrics: string[] }> | undefined;
    console.log(
      `\n${pad("t (s)", 6)} ${pad("req/s", 7)} ${pad("errors", 6)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("max ms", 8)} ${pad("RSS MB", 7)} ${pad("load1", 6)}`,
    );
    const run = await load({ url, connections, durationS: soakS, rate, firstRow }, (w) => {
      const rss = rssMB(pid);
      samples.push({ t: w.t, rssMB: rss });
      sentRows += w.rows;
      const prevT = windows.length ? windows[windows.length - 1]!.t : 0;
      const rps = w.requests / Math.max(0.001, w.t - prevT);
      const load1 = Number(os.loadavg()[0]!.toFixed(2));
      if (!firstTrouble && w.errors + w.non2xx > 0)
        firstTrouble = metricsSnapshot(url).then((m) => ({ t: w.t, metrics: m }));
      windows.push({ ...w, rssMB: Number(rss.toFixed(1)), rps: Math.round(rps), load1 });
      if (warmupEndsAt === undefined && w.t >= warmupMinS - 0.5 && sentRows >= cacheEntries) warmupEndsAt = w.t;
      console.log(
        `${pad(w.t.toFixed(0), 6)} ${pad(Math.round(rps), 7)} ${pad(w.errors + w.non2xx, 6)} ${pad(w.p50.toFixed(2), 7)} ` +
          `${pad(w.p99.toFixed(2), 7)} ${pad(w.max.toFixed(1), 8)} ${pad(rss.toFixed(1), 7)} ${pad(load1.toFixed(2), 6)}` +
          `${warmupEndsAt === w.t ? "  ← end of warm-up" : ""}${w.partial ? "  (partial window)" : ""}` +
          `${w.non2xx ? `  statuses ${JSON.stringify(w.statuses)}` : ""}`,
      );
    });

    const total = windows.reduce((a, w) => a + w.requests, 0);
    const errors = windows.reduce((a, w) => a + w.errors + w.non2xx, 0);
    // Only whole windows after warm-up count for stability (the last one may be a fragment).
    const steady = windows.filter((w) => warmupEndsAt !== undefined && w.t > warmupEndsAt && !w.partial);
    const p99s = steady.map((w) => w.p99);
    const p99Ratio = p99s.length ? Math.max(...p99s) / Math.min(...p99s) : NaN;
    const rssWarm = windows.find((w) => w.t === warmupEndsAt)?.rssMB ?? NaN;
    const rssEnd = windows.length ? windows[windows.length - 1]!.rssMB : NaN;
    // One RSS sample swings with GC (±20 %); the verdict compares the mean of the first 60 s after
    // warm-up with the mean of the last 60 s.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const k = Math.min(6, Math.floor(steady.length / 2));
    const rssWarmMean = k ? mean(steady.slice(0, k).map((w) => w.rssMB)) : NaN;
    const rssEndMean = k ? mean(steady.slice(-k).map((w) => w.rssMB)) : NaN;
    const growthPct = ((rssEndMean - rssWarmMean) / rssWarmMean) * 100;
    const rssSteady = steady.map((w) => w.rssMB);
    const verdicts = {
      errorsZero: errors === 0,
      p99Stable: Number.isFinite(p99Ratio) && p99Ratio <= 2,
      rssGrowthUnder10Pct: Number.isFinite(growthPct) && growthPct < 10,
      serverAlive: child.exitCode === null,
    };

    const result = {
      command,
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadavgAtStart,
      loadavgAtEnd: os.loadavg().map((v) => Number(v.toFixed(2))),
      config: {
        soakSeconds: soakS,
        capacitySeconds: capacityS,
        fraction,
        connections,
        warmupMinSeconds: warmupMinS,
        cacheMaxEntries: cacheEntries,
        reconnectEvery: RECONNECT_EVERY,
        workload: `per 10 requests: 9 /predict (1 unique row) + 1 /bulk_predict (${BULK_ROWS} unique rows); no input repeats`,
      },
      capacity: {
        requestsPerS: Math.round(capacity),
        requests: capRequests,
        seconds: Number(cap.totalS.toFixed(1)),
        errors: capErrors,
      },
      targetRate: rate,
      totals: {
        requests: total,
        rows: windows.reduce((a, w) => a + w.rows, 0),
        seconds: Number(run.totalS.toFixed(1)),
        achievedRate: Math.round(total / run.totalS),
        errors,
      },
      warmupEndsAtS: warmupEndsAt ?? null,
      p99: { steadyMinMs: Math.min(...p99s), steadyMaxMs: Math.max(...p99s), ratio: Number(p99Ratio.toFixed(2)) },
      rss: {
        firstWindowMB: samples[0]?.rssMB,
        afterWarmupSampleMB: rssWarm,
        endSampleMB: rssEnd,
        windowsAveragedEachSide: k,
        afterWarmupMeanMB: Number(rssWarmMean.toFixed(1)),
        endMeanMB: Number(rssEndMean.toFixed(1)),
        growthPct: Number(growthPct.toFixed(2)),
        steadyMinMB: Math.min(...rssSteady),
        steadyMaxMB: Math.max(...rssSteady),
      },
      verdicts,
      serverMetricsAtFirstError: firstTrouble ? await firstTrouble : null,
      serverMetricsAtEnd: await metricsSnapshot(url),
      windows,
    };
    mkdirSync("bench/results", { recursive: true });
    writeFileSync("bench/results/soak.json", JSON.stringify(result, null, 2) + "\n");

    console.log(`
| Figure | Value |
|---|---|
| Capacity (mixed, unthrottled, ${connections} conns, ${capacityS} s) | ${Math.round(capacity)} req/s |
| Held | ${result.totals.achievedRate} req/s (target ${rate}, ${Math.round(fraction * 100)} %) for ${result.totals.seconds} s |
| Requests / rows | ${total} / ${result.totals.rows} |
| Errors (socket, timeout, non-2xx) | ${errors} ${verdicts.errorsZero ? "✓" : "✗"} |
| p99 per 10-s window after warm-up (${warmupEndsAt ?? "?"} s) | ${result.p99.steadyMinMs}–${result.p99.steadyMaxMs} ms, ratio ${result.p99.ratio} ${verdicts.p99Stable ? "✓" : "✗"} |
| Server RSS, mean of the ${k} windows after warm-up → last ${k} | ${result.rss.afterWarmupMeanMB} → ${result.rss.endMeanMB} MB (${result.rss.growthPct} %) ${verdicts.rssGrowthUnder10Pct ? "✓" : "✗"} |
| Server RSS, single samples: after warm-up → end (min–max after warm-up) | ${rssWarm} → ${rssEnd} MB (${result.rss.steadyMinMB}–${result.rss.steadyMaxMB}) |

wrote bench/results/soak.json`);
    if (!Object.values(verdicts).every(Boolean)) process.exitCode = 1;
  } finally {
    stopping = true;
    child.kill("SIGTERM");
    const code = await Promise.race([serverExit, new Promise((r) => setTimeout(() => r("timeout"), 25_000))]);
    if (code === "timeout") child.kill("SIGKILL");
  }
}

const loadArg = process.argv.indexOf("--load");
if (loadArg !== -1) {
  runLoad(JSON.parse(process.argv[loadArg + 1]!) as LoadSpec).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
