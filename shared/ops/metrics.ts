import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { fastCounter, fastHistogram } from "./fast-metrics";
import { FEATURES } from "../input/features";
import { registerRuntimeMetrics } from "./runtime-metrics";

/** A gauge whose value is read when Prometheus scrapes, from a function handed over later (`readFrom`). */
function scrapedGauge(registers: Registry[], name: string, help: string) {
  let read = (): number => 0;
  const gauge = new Gauge({
    name,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
  return { gauge, readFrom: (fn: () => number): void => void (read = fn) };
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000];
const RUN_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/** The kinds of metric the service registers, all on `registers`. */
function metricKinds(registers: Registry[]) {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  // The metrics updated on every request: plain numbers, handed to prom-client when /metrics is scraped
  // (shared/ops/fast-metrics.ts says why).
  const hotCounter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => {
    let fast: ReturnType<typeof fastCounter<L>> | undefined = undefined;
    const real = new Counter<L>({ name, help, labelNames, registers, collect: () => fast?.flush() });
    return (fast = fastCounter(real, labelNames));
  };
  const histogram = <L extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ) => {
    let fast: ReturnType<typeof fastHistogram<L>> | undefined = undefined;
    const real = new Histogram<L>({ name, help, buckets, labelNames, registers, collect: () => fast?.flush() });
    return (fast = fastHistogram(real, buckets, labelNames));
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  return { counter, hotCounter, histogram, gauge };
}

/**
 * The service's Prometheus metrics, on a registry of its own (no global state shared with libraries).
 * `gcDuration`: also nodejs_gc_duration_seconds (METRICS_GC_DURATION; runtime-metrics.ts says what it costs).
 */
export function createMetrics(opts: { gcDuration?: boolean } = {}) {
  const registry = new Registry();
  registerRuntimeMetrics(registry, { gcDuration: opts.gcDuration ?? false });
  const registers = [registry];
  // Read at scrape time rather than set on every request.
  const inflight = scrapedGauge(registers, "inflight_rows", "Rows of prediction work in progress");
  const bodyBytes = scrapedGauge(
    registers,
    "request_body_bytes_held",
    "Bytes of request bodies held in memory, counted against MAX_INFLIGHT_BODY_BYTES",
  );
  const ready = scrapedGauge(
    registers,
    "model_ready",
    "1 once this process has its model loaded (GET /health answers 200), else 0",
  );
  const { counter, hotCounter, histogram, gauge } = metricKinds(registers);
  return {
    registry,
    requests: hotCounter("http_requests_total", "HTTP requests by route and status", ["route", "method", "status"]),
    latency: histogram("http_request_duration_seconds", "HTTP request latency by route", LATENCY_BUCKETS, ["route"]),
    predictionRows: hotCounter("predictions_rows_total", "Rows predicted, by where the value came from", ["source"]),
    batchSize: histogram("prediction_batch_size", "Rows per prediction request", BATCH_BUCKETS),
    modelRuns: histogram("model_run_rows", "Rows per model run (after micro-batching and chunking)", RUN_BUCKETS),
    cacheHits: hotCounter("cache_hits_total", "Rows served from the cache, by tier", ["tier"]),
    cacheMisses: hotCounter("cache_misses_total", "Rows not found in the cache"),
    cacheErrors: counter(
      "cache_errors_total",
      "Failed cache calls (errors, timeouts, open circuit), by backend and operation",
      ["backend", "op", "reason"],
    ),
    cacheCalls: hotCounter(
      "cache_calls_total",
      "Calls to the shared cache backend, by backend and operation (what cache_errors_total is a share of)",
      ["backend", "op"],
    ),
    cacheCircuit: gauge("cache_circuit_open", "1 while the cache backend's circuit breaker is open", ["backend"]),
    modelInfo: gauge("model_info", "The model served (value 1) and the engine that runs it", [
      "name",
      "version",
      "source",
      "engine",
    ]),
    rateLimit: hotCounter(
      "rate_limit_decisions_total",
      "Rate limit decisions (failed_open: the limiter backend failed and the request was let through)",
      ["result"],
    ),
    rejected: counter("requests_rejected_total", "Requests refused before any work, by reason", ["reason"]),
    outOfRange: hotCounter(
      "input_out_of_range_total",
      "Predicted rows with this feature outside the model card's training range",
      ["feature"],
    ),
    rowsOutOfRange: hotCounter(
      "input_rows_out_of_range_total",
      "Predicted rows with at least one feature outside the model card's training range",
    ),
    intervalRows: hotCounter(
      "interval_rows_total",
      "Prediction intervals served (detail=true), by where they came from",
      ["source"],
    ),
    /** Where inflight_rows reads its value when scraped. */
    readInflightRowsFrom: inflight.readFrom,
    /** Where request_body_bytes_held reads its value when scraped. */
    readBodyBytesHeldFrom: bodyBytes.readFrom,
    /** Where model_ready reads its value when scraped. */
    readModelReadyFrom: (fn: () => boolean): void => ready.readFrom(() => (fn() ? 1 : 0)),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** What the service serves, for zeroSeries. */
export interface SeriesShape {
  /** Every endpoint; the rate-limited ones (predictions, seed utilities) get their status series. */
  endpoints: readonly { route: string; method: string; rateLimited?: boolean }[];
  /** Name of the shared cache backend (redis, upstash), if any. */
  sharedBackend?: string;
  /** Whether a rate limiter runs. */
  rateLimited: boolean;
}

/** Statuses whose shares the alerts and panels compute: served, limited, failed, refused. */
const STATUSES = ["200", "429", "500", "503"] as const;

/**
 * Creates at 0 the series that the alerts (monitoring/alerts/rules.yaml) and the dashboard's ratios divide
 * or sum, so that a healthy or idle service shows 0 instead of "no data" (an absent numerator makes a ratio
 * absent, not 0). Counters only ever grow from here; nothing is reset.
 */
export function zeroSeries(m: Metrics, shape: SeriesShape): void {
  for (const e of shape.endpoints) {
    m.latency.zero({ route: e.route });
    if (e.rateLimited) for (const status of STATUSES) m.requests.inc({ route: e.route, method: e.method, status }, 0);
  }
  for (const source of ["cache", "collapsed", "model"]) m.predictionRows.inc({ source }, 0);
  m.cacheHits.inc({ tier: "memory" }, 0);
  // Drift: a rate over them exists before the first out-of-range row arrives.
  for (const feature of FEATURES) m.outOfRange.inc({ feature }, 0);
  m.rowsOutOfRange.inc(0);
  m.rejected.inc({ reason: "overloaded" }, 0);
  m.rejected.inc({ reason: "unauthorized" }, 0);
  const backend = shape.sharedBackend;
  if (backend) {
    m.cacheHits.inc({ tier: backend }, 0);
    for (const op of ["get", "set"]) {
      m.cacheCalls.inc({ backend, op }, 0);
      for (const reason of ["error", "timeout", "circuit_open"]) m.cacheErrors.inc({ backend, op, reason }, 0);
    }
  }
  if (shape.rateLimited) for (const result of ["allowed", "limited", "failed_open"]) m.rateLimit.inc({ result }, 0);
}
