import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The service's Prometheus metrics, on a registry of its own (no global state shared with libraries). */
export function createMetrics() {
  const registry = new Registry();
  let inflightRowsNow = (): number => 0;
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
    new Histogram<L>({ name, help, buckets, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  return {
    registry,
    requests: counter("http_requests_total", "HTTP requests by route and status", ["route", "method", "status"]),
    latency: histogram(
      "http_request_duration_seconds",
      "HTTP request latency by route",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ["route"],
    ),
    predictionRows: counter("predictions_rows_total", "Rows predicted, by where the value came from", ["source"]),
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
    cacheHits: counter("cache_hits_total", "Rows served from the cache, by tier", ["tier"]),
    cacheMisses: counter("cache_misses_total", "Rows not found in the cache"),
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
