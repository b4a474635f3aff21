/** The tables, targets and bench/results/bench.json of bench/bench.ts. */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname } from "node:path";
import type { ModelCeiling } from "./model-ceiling";
import type { measurePackageSizes } from "./package-size";
import type { PacedResult } from "./paced";
import type { PacedSliceSummary } from "./paced-windows";
import type { Pinning } from "./pinning";
import { fmtMB, fmtMs, fmtNum, markdownTable } from "./stats";
import type { WrkKind, WrkRun } from "./wrk";

const MB = 1024 * 1024;

export interface Workload {
  id: string;
  name: string;
  kind: WrkKind;
  connections: number;
  rows?: number;
  unit: "req/s" | "rows/s";
  timeoutS: number;
  /** Which ceiling the figure is divided by. */
  ceiling: "http" | "model-1000" | "model-10000" | "mixed";
  target?: { ratio: number; text: string };
}

export interface ServiceRun extends WrkRun {
  peakRss: number;
  metrics?: string;
}

export interface Pair {
  /** The bare node:http runs before and after the service run, as one (absent for the bulks, whose ceiling is the model). */
  ceiling?: WrkRun;
  /** The bulks' ceiling: the model's batch, measured before and after this pair's service run (mean time per row). */
  model?: ModelCeiling;
  /** The bulks' model ceiling before and after the service run, rows/s. */
  modelBeforeAfter?: [number, number];
  /** The bare server's req/s before and after the service run (`ceiling` is the two as one). */
  ceilingBeforeAfter?: [number, number];
  /** The bare server sending the service's header block (full runs; a diagnostic). */
  headers?: WrkRun;
  service: ServiceRun;
  ceilingValue: number;
  ratio: number;
  /**
   * The ceiling's CPU per request ÷ the service's: what the ratio would be if both had their core to themselves.
   * A cross-check of `ratio` on a machine where other work takes part of the server's core.
   */
  cpuRatio?: number;
  /** Other work on the server's core during the pair (max over its runs, cores). */
  noise: number;
}

export interface ReportInput {
  started: number;
  command: string;
  quick: boolean;
  settings: Record<string, number>;
  serverEnv: Record<string, string>;
  pin: Pinning;
  wrkVersion: string;
  holdoutRows: number;
  bundleSha: string;
  gitCommit: string;
  model: ModelCeiling[];
  /** The engine of the model ceiling (the one the server runs). */
  modelEngine: string;
  /** The same cases in onnxruntime-node when the server runs another engine: reported, not a ceiling. */
  modelOnnxruntime?: ModelCeiling[];
  cold?: { runs_ms: number[]; median_ms: number; rss_after_first_predict: number[] };
  results: { w: Workload; chosen: Pair; pairs: Pair[] }[];
  /** The paced run with the median p99 of `pacedRuns` (each on a fresh server). */
  paced?: PacedRun;
  pacedRuns: PacedRun[];
  pacedFraction: number;
  /** The paced p99 target, ms (bench.ts PACED_TARGET_MS). */
  pacedTargetMs: number;
  health?: { idle: WrkRun; loaded: WrkRun; bulk: WrkRun; peakRss: number };
  ceilingRss: number;
  sizes?: ReturnType<typeof measurePackageSizes>;
  resultsPath: string;
  ceilingName: Record<Workload["ceiling"], string>;
}

export const figure = (w: Workload, r: WrkRun) => (w.unit === "rows/s" ? r.rowsPerS : r.reqPerS);

/** Non-cumulative buckets of a Prometheus histogram from /metrics text. */
function histogram(text: string, name: string) {
  let prev = 0;
  const buckets: { le: string; count: number }[] = [];
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, "gm"))) {
    buckets.push({ le: m[1]!, count: Number(m[2]) - prev });
    prev = Number(m[2]);
  }
  const sum = Number(new RegExp(`^${name}_sum (\\S+)`, "m").exec(text)?.[1] ?? NaN);
  const count = Number(new RegExp(`^${name}_count (\\S+)`, "m").exec(text)?.[1] ?? NaN);
  return { buckets: buckets.filter((b) => b.count > 0), sum, count, mean: sum / count };
}

const n = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(d)));

/** The JSON form of a wrk run (no /metrics text). */
function runJson(r: WrkRun | undefined) {
  if (!r) return null;
  const { metrics: _m, ...rest } = r as ServiceRun;
  return {
    ...rest,
    reqPerS: n(r.reqPerS, 1),
    rowsPerS: n(r.rowsPerS, 1),
    cpu: n(r.cpu),
    cpuPerReqUs: n(r.cpuPerReqUs, 2),
    serverCoreBusy: n(r.serverCoreBusy),
    loadCoreBusy: n(r.loadCoreBusy),
    otherOnServerCore: n(r.otherOnServerCore),
  };
}

// Three decimals: 0.596× must not print as a passing 0.60×.
const x = (v: number) => `${v < 10 ? v.toFixed(3) : v.toFixed(1)}×`;
export const us = (v: number | undefined) =>
  v === undefined ? "–" : v >= 1000 ? `${fmtNum(v / 1000)} ms` : `${v.toFixed(1)} µs`;
const cores = (v: number | undefined) => (v === undefined ? "–" : Math.max(0, v).toFixed(2));

interface Target {
  name: string;
  target: string;
  value: string;
  pass: boolean;
}

const HEADER = [
  "workload",
  "req/s",
  "rows/s",
  "ceiling",
  "ratio",
  "CPU ratio",
  "CPU/req service",
  "CPU/req ceiling",
  "server CPU",
  "p50",
  "p99",
  "errors",
  "peak RSS",
  "target",
  "pass",
];

/** The main table's rows for the throughput workloads, and their targets. */
function throughputRows(input: ReportInput, targets: Target[]): string[][] {
  return input.results.map(({ w, chosen, pairs }) => {
    const r = chosen.service;
    const errors = pairs.reduce((k, p) => k + p.service.non2xx + p.service.errors, 0);
    const ratios = pairs.map((p) => p.ratio).sort((a, b) => a - b);
    const spread = ratios.length > 1 ? ` (${ratios[0]!.toFixed(2)}–${ratios[ratios.length - 1]!.toFixed(2)})` : "";
    const peak = Math.max(...pairs.map((p) => p.service.peakRss));
    // Both ratios must meet the target: a ceiling slowed by other work inflates the req/s ratio (and the CPU
    // ratio is the one a disturbed run cannot inflate); on a quiet machine the two agree.
    const worst = Math.min(chosen.ratio, chosen.cpuRatio ?? chosen.ratio);
    const pass = w.target ? worst >= w.target.ratio && errors === 0 : undefined;
    if (w.target && pass !== undefined) {
      targets.push({ name: w.name, target: w.target.text, value: `${x(chosen.ratio)}${spread}`, pass });
    }
    return [
      w.name,
      fmtNum(r.reqPerS),
      fmtNum(r.rowsPerS),
      `${fmtNum(chosen.ceilingValue)} ${w.unit}`,
      `${x(chosen.ratio)}${spread}`,
      chosen.cpuRatio === undefined ? "–" : x(chosen.cpuRatio),
      us(r.cpuPerReqUs),
      us(chosen.ceiling?.cpuPerReqUs),
      cores(r.cpu),
      fmtMs(r.latency.p50),
      fmtMs(r.latency.p99),
      String(errors),
      fmtMB(peak),
      w.target?.text ?? "–",
      pass === undefined ? "–" : pass ? "PASS" : "FAIL",
    ];
  });
}

type PacedRun = {
  result: PacedResult;
  /** The closed-loop capacity measured on the same server right before, req/s (the rate is a fraction of it). */
  capacity: number;
  /**
   * The same measurement right after the paced run. Well below `capacity`, the VM was slower during the run than
   * when its rate was set, and the run may have been past the server's capacity, not at 70 % of it.
   */
  capacityAfter: number;
  slices?: PacedSliceSummary;
  peakRss: number;
  cpu: number;
  cpuPerReqUs: number;
  otherOnServerCore?: number;
};

/**
 * "1.40 ms (capacity 30,836 → 31,020)": a paced run's p99 and the closed-loop capacity before and after it, with a
 * note when the capacity after fell below SLOWED_BELOW of the one before (the rate was then above 70 % of it).
 */
function pacedRunText(r: PacedRun): string {
  const after = r.capacityAfter;
  const slowed =
    after < SLOWED_BELOW * r.capacity ? `, ${Math.round((100 * after) / r.capacity)} %: the VM slowed` : "";
  return `${fmtMs(r.result.latency.p99)} (capacity ${fmtNum(r.capacity)} → ${fmtNum(after)}${slowed})`;
}

/** A capacity after the paced run below this share of the one before it says the run was not at 70 % of it. */
const SLOWED_BELOW = 0.85;

/** "2.86 ms (2.01–75.8)": the median run's p99 and the range over all runs, when there were several. */
function pacedP99(input: ReportInput): string {
  const p99s = input.pacedRuns.map((r) => r.result.latency.p99);
  const own = fmtMs(input.paced!.result.latency.p99);
  return p99s.length > 1 ? `${own} (${fmtMs(Math.min(...p99s))}–${fmtMs(Math.max(...p99s))})` : own;
}

/** Rows of the paced run, /health, cold start and RSS, with their targets. */
function otherRows(input: ReportInput, targets: Target[]): string[][] {
  const rows: string[][] = [];
  const dash = (k: number) => new Array<string>(k).fill("–");
  const p = input.paced;
  if (p) {
    const r = p.result;
    const pass = r.latency.p99 <= input.pacedTargetMs && r.errors + r.non2xx === 0;
    targets.push({ name: "paced /predict p99", target: `≤ ${input.pacedTargetMs} ms`, value: pacedP99(input), pass });
    rows.push([
      `paced /predict unique at ${input.pacedFraction * 100} % of capacity (${fmtNum(r.rate)} of ${fmtNum(p.capacity)} req/s, 32 conns)`,
      fmtNum(r.achievedPerS),
      fmtNum(r.achievedPerS),
      ...dash(3),
      us(p.cpuPerReqUs),
      "–",
      cores(p.cpu),
      fmtMs(r.latency.p50),
      pacedP99(input),
      String(r.errors + r.non2xx),
      fmtMB(p.peakRss),
      `p99 ≤ ${input.pacedTargetMs} ms (from intended send)`,
      pass ? "PASS" : "FAIL",
    ]);
  }
  const h = input.health;
  if (h) {
    const pass = h.loaded.latency.p99 <= 20 && h.loaded.non2xx + h.loaded.errors === 0;
    targets.push({
      name: "/health during 10,000-row bulks",
      target: "p99 ≤ 20 ms",
      value: fmtMs(h.loaded.latency.p99),
      pass,
    });
    const hr = (name: string, r: WrkRun, rss?: number, t?: string, ok?: boolean, cpu = r.cpu) => [
      name,
      fmtNum(r.reqPerS),
      "–",
      "–",
      "–",
      "–",
      us(r.cpuPerReqUs),
      "–",
      cores(cpu),
      fmtMs(r.latency.p50),
      fmtMs(r.latency.p99),
      String(r.non2xx + r.errors),
      fmtMB(rss),
      t ?? "–",
      ok === undefined ? "–" : ok ? "PASS" : "FAIL",
    ];
    rows.push(hr("/health idle (1 conn)", h.idle));
    rows.push(
      hr(
        `/health during 10,000-row bulks (bulks ${fmtNum(h.bulk.rowsPerS)} rows/s)`,
        h.loaded,
        h.peakRss,
        "p99 ≤ 20 ms",
        pass,
        // The server's CPU during the bulks' run, which the probe ran inside.
        h.bulk.cpu,
      ),
    );
  }
  const c = input.cold;
  if (c) {
    const pass = c.median_ms <= 600;
    targets.push({ name: "cold start", target: "≤ 0.6 s", value: fmtMs(c.median_ms), pass });
    const name = `cold start: spawn → first 200 /predict (median of ${c.runs_ms.length})`;
    rows.push([
      name,
      ...dash(8),
      fmtMs(c.median_ms),
      fmtMs(Math.max(...c.runs_ms)),
      "–",
      fmtMB(Math.max(...c.rss_after_first_predict)),
      "≤ 0.6 s",
      pass ? "PASS" : "FAIL",
    ]);
  }
  const peak = peakRss(input);
  const pass = peak <= 150 * MB;
  targets.push({ name: "peak RSS, every plain workload", target: "≤ 150 MiB", value: fmtMB(peak), pass });
  rows.push(["peak RSS, every workload above", ...dash(11), fmtMB(peak), "≤ 150 MiB", pass ? "PASS" : "FAIL"]);
  return rows;
}

function peakRss(input: ReportInput): number {
  return Math.max(
    ...input.results.flatMap((r) => r.pairs.map((p) => p.service.peakRss)),
    ...input.pacedRuns.map((r) => r.peakRss),
    input.health?.peakRss ?? 0,
  );
}

/** Every run of the bench: ceilings, service runs, with the CPU of the target and of each core. */
function runsTable(input: ReportInput): string {
  const modelRow = (m: ModelCeiling, tag = ""): string[] => [
    `model, batch ${m.batch.toLocaleString("en-US")}${m.runRows < m.batch ? ` in runs of ${m.runRows}` : ""} (1 thread)${tag}`,
    fmtNum(m.rowsPerS / m.batch),
    fmtNum(m.rowsPerS),
    fmtMs(m.msPerBatch),
    us((m.msPerBatch * 1000) / m.batch),
    "1.00",
    "–",
    "–",
    cores(m.otherCpu),
  ];
  const rows: string[][] = input.model.map((m) => modelRow(m));
  const run = (name: string, r: WrkRun | undefined) => {
    if (!r) return;
    rows.push([
      name,
      fmtNum(r.reqPerS),
      r.rows > 0 ? fmtNum(r.rowsPerS) : "–",
      fmtMs(r.latency.p99),
      us(r.cpuPerReqUs),
      cores(r.cpu),
      cores(r.serverCoreBusy),
      cores(r.loadCoreBusy),
      cores(r.otherOnServerCore),
    ]);
  };
  for (const { w, pairs } of input.results) {
    pairs.forEach((p, i) => {
      const tag = pairs.length > 1 ? ` [pair ${i + 1}]` : "";
      if (p.model) rows.push(modelRow(p.model, `: ${w.name}${tag}`));
      run(`bare node:http: ${w.name}${tag}`, p.ceiling);
      run(`bare node:http + service headers: ${w.name}${tag}`, p.headers);
      run(`service: ${w.name}${tag}`, p.service);
    });
  }
  if (input.health) {
    run("service: /health idle", input.health.idle);
    run("service: /health during bulks", input.health.loaded);
    run("service: 10,000-row bulks during /health", input.health.bulk);
  }
  return markdownTable(
    [
      "run",
      "req/s",
      "rows/s",
      "p99 (ms, per row: ms/batch)",
      "CPU/req",
      "CPU target",
      "server core",
      "load core",
      "other on server core",
    ],
    rows,
  );
}

export function report(input: ReportInput): void {
  const targets: Target[] = [];
  const table = markdownTable(HEADER, [...throughputRows(input, targets), ...otherRows(input, targets)]);
  const runs = runsTable(input);
  const unique = input.results.find((r) => r.w.id === "predict_unique")?.chosen.service;
  const runRows = unique?.metrics ? histogram(unique.metrics, "model_run_rows") : undefined;
  const cpus = os.cpus();
  const machine = {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    total_memory_bytes: os.totalmem(),
    load_average_at_end: os.loadavg(),
    load_generator: `${input.wrkVersion}; paced runs: ${
      input.paced?.result.generator === "c"
        ? "bench/lib/paced-generator.c (via bench/lib/paced.ts)"
        : "bench/lib/paced.ts"
    }`,
    pinning: input.pin.note,
  };
  const output = {
    command: input.command,
    mode: input.quick ? "quick" : "full",
    date: new Date().toISOString(),
    git_commit: input.gitCommit,
    server_bundle: { path: "dist/server/main.js (run from a snapshot copy)", sha256_12: input.bundleSha },
    machine,
    settings: input.settings,
    server_env: input.serverEnv,
    wall_time_s: Math.round((Date.now() - input.started) / 1000),
    holdout_rows: input.holdoutRows,
    targets,
    table_markdown: table,
    runs_markdown: runs,
    model_ceiling: { engine: input.modelEngine, cases: input.model },
    ...(input.modelOnnxruntime ? { model_in_onnxruntime: input.modelOnnxruntime } : {}),
    http_ceiling_peak_rss_bytes: input.ceilingRss,
    workloads: input.results.map(({ w, chosen, pairs }) => ({
      id: w.id,
      name: w.name,
      unit: w.unit,
      figure: n(figure(w, chosen.service), 1),
      ceiling: { name: input.ceilingName[w.ceiling], value: Math.round(chosen.ceilingValue) },
      ratio: n(chosen.ratio),
      cpu_ratio: n(chosen.cpuRatio),
      target: w.target ?? null,
      peak_rss_bytes: Math.max(...pairs.map((p) => p.service.peakRss)),
      service: runJson(chosen.service),
      http_ceiling: runJson(chosen.ceiling),
      pairs: pairs.map((p) => ({
        ratio: n(p.ratio),
        cpu_ratio: n(p.cpuRatio),
        ceiling: n(p.ceilingValue, 1),
        service: runJson(p.service),
        http_ceiling: runJson(p.ceiling),
        http_ceiling_with_service_headers: runJson(p.headers),
        other_on_server_core: n(p.noise),
      })),
    })),
    paced: input.paced
      ? {
          fraction_of_capacity: input.pacedFraction,
          coordinated_omission:
            "latency from each request's intended send time (t0 + i / rate); due requests queue in the generator when every connection is busy, and the wait counts",
          median_of_runs: input.pacedRuns.length,
          ...input.paced,
          all_runs: input.pacedRuns,
        }
      : null,
    health: input.health
      ? {
          idle: runJson(input.health.idle),
          during_bulk_10000: runJson(input.health.loaded),
          bulk_10000_during: runJson(input.health.bulk),
          peak_rss_bytes: input.health.peakRss,
        }
      : null,
    cold_start: input.cold ?? null,
    sizes: input.sizes ?? null,
    micro_batching: runRows ? { note: "model_run_rows from /metrics after /predict unique", ...runRows } : null,
  };
  mkdirSync(dirname(input.resultsPath), { recursive: true });
  writeFileSync(input.resultsPath, JSON.stringify(output, null, 2) + "\n");
  print(input, output.date, table, runs, targets, runRows);
  console.log(`wrote ${input.resultsPath} in ${output.wall_time_s} s`);
}

function print(
  input: ReportInput,
  date: string,
  table: string,
  runs: string,
  targets: Target[],
  runRows: ReturnType<typeof histogram> | undefined,
): void {
  const cpus = os.cpus();
  const s = input.settings;
  console.log(
    `\nhouse-price bench (${input.quick ? "quick" : "full"}): ${cpus.length} × ${cpus[0]?.model ?? "?"}, node ${process.version}, ` +
      `commit ${input.gitCommit}, ${date}, load average ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(" ")}`,
  );
  console.log(
    `${input.pin.note}\nload: ${input.wrkVersion}, unique hold-out rows per request; ${s.warmupS} s warm-up, then ` +
      `${s.pairs} ceiling/service pair(s) of ${s.durationS} s per targeted workload (median ratio, range in brackets)\n`,
  );
  console.log(table);
  console.log(`\nevery run (CPU in cores; 1.00 = one core busy throughout)\n${runs}`);
  if (input.paced) {
    const r = input.paced.result;
    if (input.pacedRuns.length > 1)
      console.log(`\npaced runs (the median p99 is the figure): p99 ${input.pacedRuns.map(pacedRunText).join(", ")}`);
    console.log(
      `\npaced: latency from the intended send time (coordinated omission counted): p50 ${fmtMs(r.latency.p50)}, p99 ${fmtMs(r.latency.p99)}, max ${fmtMs(r.latency.max)}; ` +
        `from the actual send p99 ${fmtMs(r.serviceTime.p99)}; send lag p99 ${fmtMs(r.sendLag.p99)}; server CPU ${cores(input.paced.cpu)}, other work on its core ${cores(input.paced.otherOnServerCore)}; ${r.generator === "c" ? "generator (C)" : "generator (Node)"} loop gap p99 ${fmtMs(r.loopGap.p99)}, max ${fmtMs(r.loopGap.max)}`,
    );
    const sl = input.paced.slices;
    if (sl)
      console.log(
        `paced, by ${sl.sliceMs} ms slice: ${sl.late} of ${sl.slices} late (a request over ${sl.lateOverMs} ms; ${sl.lateWithGeneratorStall} of them with a generator stall over ${sl.stallOverMs} ms); ` +
          `server main thread busy ${cores(sl.busyOnTime)} on time, ${cores(sl.busyLate)} late; CPU per response ${us(sl.cpuPerResponseOnTimeUs)} on time, ${us(sl.cpuPerResponseLateUs)} late` +
          (sl.cpuPerResponseRangeUs
            ? ` (slices ${us(sl.cpuPerResponseRangeUs[0])}–${us(sl.cpuPerResponseRangeUs[1])})`
            : ""),
      );
  }
  if (runRows) {
    console.log(
      `micro-batching, /predict unique: ${fmtNum(runRows.sum)} rows in ${fmtNum(runRows.count)} model runs, mean ${fmtNum(runRows.mean)} rows/run`,
    );
  }
  const d = input.sizes?.deploy;
  if (input.sizes) {
    console.log(
      `bundle dist/server/main.js ${fmtMB(input.sizes.bundles["dist/server/main.js"])}; Function App zip ` +
        (d
          ? `${fmtMB(d.zipBytes)} (dist/package: ${fmtMB(d.unpackedBytes)} in ${d.files} files unpacked)`
          : `unavailable: ${input.sizes.error ?? ""}`),
    );
  }
  const disagree = input.results.filter(
    ({ chosen: c }) => c.cpuRatio !== undefined && Math.abs(c.ratio - c.cpuRatio) > 0.2 * c.cpuRatio,
  );
  if (disagree.length) {
    console.log(
      `\nwarning: ratio and CPU ratio differ by more than 20 % for ${disagree.map((r) => r.w.id).join(", ")}: ` +
        `other work took part of the server's core (column "other on server core"); run again on a quiet machine`,
    );
  }
  const clientBound = input.results.filter(
    ({ chosen: c }) => c.ceiling && (c.ceiling.loadCoreBusy ?? 0) > 0.95 && (c.ceiling.cpu ?? 1) < 0.9,
  );
  if (clientBound.length) {
    console.log(
      `warning: the bare server left its core partly idle while the load generator's core was full for ` +
        `${clientBound.map((r) => r.w.id).join(", ")}: that ceiling may be bound by the load side (other work on its core?)`,
    );
  }
  const failed = targets.filter((t) => !t.pass);
  console.log(
    `\ntargets: ${targets.length - failed.length}/${targets.length} pass` +
      (failed.length ? `; missed: ${failed.map((t) => `${t.name} (${t.value}; target ${t.target})`).join("; ")}` : ""),
  );
}
