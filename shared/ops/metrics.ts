import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Label values of one update, as the call sites pass them to prom-client. */
type LabelValues<L extends string> = Partial<Record<L, string | number>>;

/**
 * The per-request metric updates, in plain numbers. prom-client validates the labels, builds a sorted string key
 * and allocates for every inc()/observe(): ~2 µs and a share of the GC of each /predict (bench/profile.ts). Here a
 * series is found through nested Maps keyed by its label values (nothing built per update) and counted in
 * numbers; prom-client's metric receives the counts when it is collected, i.e. when /metrics is scraped, so the
 * exposition is the same.
 */
class SeriesTable<C extends { labels: Record<string, string> }> {
  readonly all: C[] = [];
  private readonly root = new Map<unknown, unknown>();
  private single: C | undefined;

  constructor(
    private readonly names: readonly string[],
    private readonly make: (labels: Record<string, string>) => C,
  ) {}

  get(values: Partial<Record<string, string | number>> | undefined): C {
    const names = this.names;
    if (names.length === 0) return (this.single ??= this.add({}));
    if (values === undefined) throw new Error(`Missing labels ${names.join(", ")}`);
    let node = this.root;
    for (let i = 0; i < names.length - 1; i++) {
      const v = values[names[i]!];
      let next = node.get(v) as Map<unknown, unknown> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    }
    const last = values[names[names.length - 1]!];
    let cell = node.get(last) as C | undefined;
    if (!cell) node.set(last, (cell = this.add(values)));
    return cell;
  }

  private add(values: Partial<Record<string, string | number>>): C {
    // Checked once per series, as prom-client checks every update: the label names must be the metric's own.
    for (const k of Object.keys(values)) {
      if (!this.names.includes(k)) throw new Error(`Added label "${k}" is not included in initial labelset`);
    }
    const labels: Record<string, string> = {};
    for (const n of this.names) if (values[n] !== undefined) labels[n] = String(values[n]);
    const cell = this.make(labels);
    this.all.push(cell);
    return cell;
  }
}

function checkValue(v: number): void {
  if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
}

/** A counter whose increments are plain additions, handed to prom-client when it is collected. */
function fastCounter<L extends string>(real: Counter<L>, labelNames: readonly L[]) {
  const table = new SeriesTable(labelNames, (labels) => ({ labels, pending: 0, shown: false }));
  const flush = () => {
    for (const s of table.all) {
      // A series counted only by zero increments is shown too, with 0, as prom-client shows it.
      if (s.pending === 0 && s.shown) continue;
      real.inc(s.labels as LabelValues<L>, s.pending);
      s.pending = 0;
      s.shown = true;
    }
  };
  return {
    flush,
    inc(labels?: LabelValues<L> | number, value?: number): void {
      const byLabels = typeof labels === "object";
      const n = (byLabels ? value : labels) ?? 1;
      checkValue(n);
      if (n < 0) throw new Error("It is not possible to decrease a counter");
      table.get(byLabels ? labels : undefined).pending += n;
    },
  };
}

/** prom-client's per-series histogram state (read at collection; see the test that pins the exposition). */
interface HistogramEntry {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** A histogram whose observations are counted per bucket in typed arrays, merged into prom-client when collected. */
function fastHistogram<L extends string>(real: Histogram<L>, buckets: readonly number[], labelNames: readonly L[]) {
  const table = new SeriesTable(labelNames, (labels) => ({
    labels,
    counts: new Float64Array(buckets.length),
    sum: 0,
    count: 0,
  }));
  const internal = real as unknown as { hashMap: Record<string, HistogramEntry>; zero(l: LabelValues<L>): void };
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);
  const entryOf = (labels: Record<string, string>): HistogramEntry => {
    let e = Object.values(internal.hashMap).find((x) => same(x.labels, labels));
    if (!e) {
      internal.zero(labels as LabelValues<L>);
      e = Object.values(internal.hashMap).find((x) => same(x.labels, labels))!;
    }
    return e;
  };
  const flush = () => {
    for (const s of table.all) {
      if (s.count === 0) continue;
      const e = entryOf(s.labels);
      for (let i = 0; i < buckets.length; i++) e.bucketValues[buckets[i]!]! += s.counts[i]!;
      e.sum += s.sum;
      e.count += s.count;
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  };
  return {
    flush,
    observe(labels: LabelValues<L> | number, value?: number): void {
      const byLabels = typeof labels === "object";
      const v = byLabels ? value! : labels;
      checkValue(v);
      const s = table.get(byLabels ? labels : undefined);
      // The bucket of the first upper bound ≥ v, as prom-client's findBound; above the last one only count and sum.
      let i = 0;
      while (i < buckets.length && v > buckets[i]!) i++;
      if (i < buckets.length) s.counts[i]!++;
      s.sum += v;
      s.count++;
    },
  };
}

/** The service's Prometheus metrics, on a registry of its own (no global state shared with libraries). */
export function createMetrics() {
  const registry = new Registry();
  let inflightRowsNow = (): number => 0;
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  // The metrics updated on every request: plain numbers, handed to prom-client when it collects them.
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
  return {
    registry,
    requests: hotCounter("http_requests_total", "HTTP requests by route and status", ["route", "method", "status"]),
    latency: histogram(
      "http_request_duration_seconds",
      "HTTP request latency by route",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ["route"],
    ),
    predictionRows: hotCounter("predictions_rows_total", "Rows predicted, by where the value came from", ["source"]),
    batchSize: histogram(
      "prediction_batch_size",
      "Rows per prediction request",
      [1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000],
    ),
    modelRuns: histogram(
      "model_run_rows",
      "Rows per ONNX run (after micro-batching and chunking)",
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    ),
    cacheHits: hotCounter("cache_hits_total", "Rows served from the cache, by tier", ["tier"]),
    cacheMisses: hotCounter("cache_misses_total", "Rows not found in the cache"),
    cacheErrors: counter(
      "cache_errors_total",
      "Failed cache calls (errors, timeouts, open circuit), by backend and operation",
      ["backend", "op", "reason"],
    ),
    cacheCircuit: gauge("cache_circuit_open", "1 while the cache backend's circuit breaker is open", ["backend"]),
    modelInfo: gauge("model_info", "The model served (value 1)", ["name", "version", "source"]),
    inflightRows: new Gauge({
      name: "inflight_rows",
      help: "Rows of prediction work in progress",
      registers,
      // Read at scrape time rather than set twice per request.
      collect() {
        this.set(inflightRowsNow());
      },
    }),
    rateLimit: counter(
      "rate_limit_decisions_total",
      "Rate limit decisions (failed_open: the limiter backend failed and the request was let through)",
      ["result"],
    ),
    rejected: counter("requests_rejected_total", "Requests refused before any work, by reason", ["reason"]),
    /** Where inflight_rows reads its value when scraped. */
    readInflightRowsFrom(fn: () => number): void {
      inflightRowsNow = fn;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
