import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { FEATURES } from "./features";

/** The service's Prometheus metrics, on a registry of its own (no global state shared with libraries). */
export function createMetrics() {
  const registry = new Registry();
  let inflightRowsNow = (): number => 0;
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    requests: new Counter({
      name: "http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["route", "method", "status"] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request latency by route",
      labelNames: ["route"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    predictionRows: new Counter({
      name: "predictions_rows_total",
      help: "Rows predicted, by where the value came from",
      labelNames: ["source"] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "prediction_batch_size",
      help: "Rows per prediction request",
      buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    modelRuns: new Histogram({
      name: "model_run_rows",
      help: "Rows per ONNX run (after micro-batching and chunking)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
      registers: [registry],
    }),
    cacheHits: new Counter({
      name: "cache_hits_total",
      help: "Rows served from the cache, by tier",
      labelNames: ["tier"] as const,
      registers: [registry],
    }),
    cacheMisses: new Counter({
      name: "cache_misses_total",
      help: "Rows not found in the cache",
      registers: [registry],
    }),
    cacheErrors: new Counter({
      name: "cache_errors_total",
      help: "Failed cache calls (errors, timeouts, open circuit), by backend and operation",
      labelNames: ["backend", "op", "reason"] as const,
      registers: [registry],
    }),
    cacheCircuit: new Gauge({
      name: "cache_circuit_open",
      help: "1 while the cache backend's circuit breaker is open",
      labelNames: ["backend"] as const,
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: "model_info",
      help: "The model served (value 1)",
      labelNames: ["name", "version", "source"] as const,
      registers: [registry],
    }),
    inflightRows: new Gauge({
      name: "inflight_rows",
      help: "Rows of prediction work in progress",
      registers: [registry],
      // Read at scrape time rather than set twice per request.
      collect() {
        this.set(inflightRowsNow());
      },
    }),
    rateLimit: new Counter({
      name: "rate_limit_decisions_total",
      help: "Rate limit decisions (failed_open: the limiter backend failed and the request was let through)",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: "requests_rejected_total",
      help: "Requests refused before any work, by reason",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    outOfRange: new Counter({
      name: "input_out_of_range_total",
      help: "Predicted rows with this feature outside the model card's training range",
      labelNames: ["feature"] as const,
      registers: [registry],
    }),
    rowsOutOfRange: new Counter({
      name: "input_rows_out_of_range_total",
      help: "Predicted rows with at least one feature outside the model card's training range",
      registers: [registry],
    }),
    intervalRows: new Counter({
      name: "interval_rows_total",
      help: "Prediction intervals served (detail=true), by where they came from",
      labelNames: ["source"] as const,
      registers: [registry],
    }),
    /** Where inflight_rows reads its value when scraped. */
    readInflightRowsFrom(fn: () => number): void {
      inflightRowsNow = fn;
    },
  };
  // Zero from the start, so a rate over them exists before the first out-of-range row arrives.
  for (const feature of FEATURES) m.outOfRange.inc({ feature }, 0);
  m.rowsOutOfRange.inc(0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
