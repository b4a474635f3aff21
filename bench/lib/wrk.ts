/**
 * wrk (Debian package `wrk`, C, epoll) as the load generator of bench/bench.ts: unlike autocannon it
 * saturates a bare node:http server on one core from another single core. The request bodies come from
 * bench/lib/load.lua, which reads the hold-out rows from a Lua data file written here at bench start.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { coreBusySeconds, type Pinning } from "./pinning";
import { cpuSeconds } from "./procs";

export const LOAD_SCRIPT = resolve("bench/lib/load.lua");

/** wrk's version line, or throws naming the Debian package to install. */
export function requireWrk(): string {
  const r = spawnSync("wrk", ["-v"], { encoding: "utf8" });
  const text = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.error || !/wrk/i.test(text)) {
    throw new Error(
      "the bench needs wrk, the HTTP load generator: install the Debian package `wrk` (sudo apt-get install -y wrk)",
    );
  }
  return text.split("\n")[0]!.trim();
}

const POP = FEATURES.indexOf("Population");
/** Columns of model/data/cal_housing.data: longitude, latitude, housingMedianAge, totalRooms, totalBedrooms, population, households, medianIncome, medianHouseValue. */
function featuresFromRaw(c: number[]): number[] {
  const [lon, lat, age, rooms, bedrooms, pop, households, income] = c as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return [income, age, rooms / households, bedrooms / households, pop, pop / households, lat, lon];
}

/**
 * Writes the Lua data file of load.lua: every hold-out row of model/reference/holdout.json as
 * { JSON before Population's value, Population, JSON after it }, plus SEED_BODY (the all-hits body).
 * Each row is checked against its source row in model/data/cal_housing.data (holdout.indices), so the
 * bench sends real rows of the data set, and Population must be a positive integer (the per-request
 * shift keeps it one). Returns the number of rows.
 */
export function writeRowsFile(path: string): number {
  const holdout = JSON.parse(readFileSync(resolve("model/reference/holdout.json"), "utf8")) as {
    indices: number[];
    X: number[][];
  };
  const raw = readFileSync(resolve("model/data/cal_housing.data"), "utf8").trim().split("\n");
  const lines: string[] = [`SEED_BODY = [==[${JSON.stringify(SEED_HOUSE)}]==]`, "return {"];
  holdout.X.forEach((x, i) => {
    const source = raw[holdout.indices[i]!]?.split(",").map(Number);
    if (!source) throw new Error(`hold-out row ${i}: index ${holdout.indices[i]} not in model/data`);
    const expected = featuresFromRaw(source);
    expected.forEach((v, k) => {
      if (Math.abs(v - x[k]!) > 1e-4 * Math.max(1, Math.abs(v))) {
        throw new Error(`hold-out row ${i}, ${FEATURES[k]}: ${x[k]} but model/data gives ${v}`);
      }
    });
    if (!Number.isInteger(x[POP]) || x[POP]! <= 0) throw new Error(`hold-out row ${i}: Population ${x[POP]}`);
    const parts = FEATURES.map((f, k) => `"${f}":${JSON.stringify(x[k])}`);
    const before = `{${parts.slice(0, POP).join(",")},"Population":`;
    const after = `,${parts.slice(POP + 1).join(",")}}`;
    lines.push(`{[==[${before}]==],${x[POP]},[==[${after}]==]},`);
  });
  lines.push("}");
  writeFileSync(path, lines.join("\n") + "\n");
  return holdout.X.length;
}

export type WrkKind = "predict-unique" | "predict-hit" | "bulk" | "mixed" | "health";

export interface WrkSpec {
  url: string;
  kind: WrkKind;
  connections: number;
  threads: number;
  durationS: number;
  /** Rows per bulk request. */
  rows?: number;
  /** Population shift of this run's unique rows (distinct per run; see load.lua). */
  seed: number;
  timeoutS: number;
  rowsFile: string;
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** One wrk run, with the CPU the target process and each core used meanwhile. */
export interface WrkRun {
  kind: WrkKind;
  connections: number;
  durationS: number;
  requests: number;
  rows: number;
  reqPerS: number;
  rowsPerS: number;
  /** HTTP status > 399 (wrk's count). */
  non2xx: number;
  /** Connect, read and write errors and timeouts. */
  errors: number;
  /** Latency in ms, from wrk's histogram (closed loop: from send to response of each request). */
  latency: Latency;
  /** Cores the target used over the run (1 = one core busy throughout). */
  cpu?: number;
  /** Target CPU time per completed request, µs: (utime + stime delta) / requests. */
  cpuPerReqUs?: number;
  /** Busy fraction of the server's and the load generator's cores (everything on them). */
  serverCoreBusy?: number;
  loadCoreBusy?: number;
  /** What else ran on the server's core: its busy fraction minus the target's CPU. */
  otherOnServerCore?: number;
}

interface WrkOut {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
}

/** Rows one request of the kind carries (the mixed load: 90 × 1 + 9 × 100 + 1 × 1,000 per 100). */
export function rowsPerRequest(kind: WrkKind, rows = 1): number {
  if (kind === "bulk") return rows;
  if (kind === "mixed") return (90 + 900 + 1000) / 100;
  return kind === "health" ? 0 : 1;
}

/**
 * Runs wrk once (on the load generator's core) and measures the target process `pid` and the cores
 * from /proc across the run. onStarted fires once wrk is running (for a probe that must overlap it).
 */
export function runWrk(spec: WrkSpec, pin: Pinning, pid?: number, onStarted?: () => void): Promise<WrkRun> {
  const args = [
    `-t${spec.threads}`,
    `-c${spec.connections}`,
    `-d${spec.durationS}s`,
    `--timeout`,
    `${spec.timeoutS}s`,
    "-s",
    LOAD_SCRIPT,
    spec.url,
  ];
  const [cmd, ...pre] = [...pin.load, "wrk"];
  const env = {
    ...process.env,
    BENCH_KIND: spec.kind,
    BENCH_ROWS: String(spec.rows ?? 1),
    BENCH_SEED: String(spec.seed),
    BENCH_THREADS: String(spec.threads),
    BENCH_ROWS_FILE: spec.rowsFile,
  };
  return new Promise((res, rej) => {
    const window = cpuWindow(pid, pin);
    const child = spawn(cmd!, [...pre, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.once("spawn", () => onStarted?.());
    child.once("error", rej);
    child.once("exit", (code) => {
      const used = window.stop();
      const line = out
        .trim()
        .split("\n")
        .reverse()
        .find((l) => l.startsWith("{"));
      if (code !== 0 || !line) return rej(new Error(`wrk exited with ${code}: ${err || out}`));
      const w = JSON.parse(line) as WrkOut;
      const durationS = w.duration_us / 1e6;
      const rows = w.requests * rowsPerRequest(spec.kind, spec.rows);
      const ms = (us: number) => Number((us / 1000).toFixed(3));
      const { cpuSecs, cpu, serverCoreBusy, loadCoreBusy, otherOnServerCore } = used;
      res({
        kind: spec.kind,
        connections: spec.connections,
        durationS: Number(durationS.toFixed(3)),
        requests: w.requests,
        rows,
        reqPerS: w.requests / durationS,
        rowsPerS: rows / durationS,
        non2xx: w.errors.status,
        errors: w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout,
        latency: {
          p50: ms(w.latency_us.p50),
          p90: ms(w.latency_us.p90),
          p99: ms(w.latency_us.p99),
          p999: ms(w.latency_us.p999),
          max: ms(w.latency_us.max),
          mean: ms(w.latency_us.mean),
        },
        cpu,
        cpuPerReqUs: cpuSecs === undefined || w.requests === 0 ? undefined : (cpuSecs / w.requests) * 1e6,
        serverCoreBusy,
        loadCoreBusy,
        otherOnServerCore,
      });
    });
  });
}

/**
 * CPU over a stretch of wall time: the server's own (utime + stime of `pid`, all threads) and the busy share of the
 * server's and the load generator's cores, from /proc. stop() ends the window: seconds and shares of one core.
 */
export function cpuWindow(pid: number | undefined, pin: Pinning) {
  const cpu0 = pid === undefined ? undefined : cpuSeconds(pid);
  const cores0 = coreBusySeconds();
  const t0 = performance.now();
  return {
    stop() {
      const wall = (performance.now() - t0) / 1000;
      const cpu1 = pid === undefined ? undefined : cpuSeconds(pid);
      const cores1 = coreBusySeconds();
      const busy = (core?: number) =>
        core === undefined ? undefined : ((cores1.get(core) ?? 0) - (cores0.get(core) ?? 0)) / wall;
      const cpuSecs = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
      const cpu = cpuSecs === undefined ? undefined : cpuSecs / wall;
      const serverCoreBusy = busy(pin.serverCore);
      const otherOnServerCore = serverCoreBusy !== undefined && cpu !== undefined ? serverCoreBusy - cpu : undefined;
      return { wall, cpuSecs, cpu, serverCoreBusy, loadCoreBusy: busy(pin.loadCore), otherOnServerCore };
    },
  };
}
