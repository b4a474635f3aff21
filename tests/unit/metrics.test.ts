import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../shared/ops/metrics";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000];

/** The same metrics as plain prom-client ones: what /metrics showed before the per-request updates were deferred. */
function reference() {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: "http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["route", "method", "status"],
      registers,
    }),
    latency: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request latency by route",
      buckets: LATENCY_BUCKETS,
      labelNames: ["route"],
      registers,
    }),
    batchSize: new Histogram({
      name: "prediction_batch_size",
      help: "Rows per prediction request",
      buckets: BATCH_BUCKETS,
      registers,
    }),
    cacheMisses: new Counter({ name: "cache_misses_total", help: "Rows not found in the cache", registers }),
    predictionRows: new Counter({
      name: "predictions_rows_total",
      help: "Rows predicted, by where the value came from",
      labelNames: ["source"],
      registers,
    }),
  };
}

/** The exposition blocks of the named metrics, from a /metrics text. */
function blocks(text: string, names: string[]): string {
  return names
    .map((n) =>
      text
        .split("\n")
        .filter((l) => l.startsWith(n) || l.includes(` ${n} `))
        .join("\n"),
    )
    .join("\n");
}

const NAMES = [
  "http_requests_total",
  "http_request_duration_seconds",
  "prediction_batch_size",
  "cache_misses_total",
  "predictions_rows_total",
];

describe("per-request metrics", () => {
  it("expose what prom-client would for the same updates, across several scrapes", async () => {
    const m = createMetrics();
    const ref = reference();
    let seed = 7;
    const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647) as number;
    const routes = ["/predict", "/bulk_predict", "unmatched", "/health"];
    for (let scrape = 0; scrape < 3; scrape++) {
      for (let i = 0; i < 2000; i++) {
        const route = routes[Math.floor(rand() * routes.length)]!;
        const labels = { route, method: rand() < 0.8 ? "POST" : "GET", status: String(rand() < 0.9 ? 200 : 422) };
        m.requests.inc(labels);
        ref.requests.inc(labels);
        // Latencies on bucket bounds, between them and above the last one.
        const seconds = rand() < 0.1 ? LATENCY_BUCKETS[Math.floor(rand() * LATENCY_BUCKETS.length)]! : rand() * 6;
        m.latency.observe({ route }, seconds);
        ref.latency.observe({ route }, seconds);
        const rows = 1 + Math.floor(rand() * 12_000);
        m.batchSize.observe(rows);
        ref.batchSize.observe(rows);
        m.cacheMisses.inc(rows);
        ref.cacheMisses.inc(rows);
        const source = rand() < 0.5 ? "cache" : "model";
        m.predictionRows.inc({ source }, rows);
        ref.predictionRows.inc({ source }, rows);
      }
      const ours = blocks(await m.registry.metrics(), NAMES);
      const theirs = blocks(await ref.registry.metrics(), NAMES);
      expect(ours).toContain('http_requests_total{route="/predict",method="POST",status="200"}');
      // Every line equal; a _sum may differ in its last digits only (the same values added in another order).
      const sums = /^(\S+_sum\S*) (\S+)$/;
      const [a, b] = [ours.split("\n"), theirs.split("\n")];
      expect(a.length).toBe(b.length);
      a.forEach((line, i) => {
        const [x, y] = [sums.exec(line), sums.exec(b[i]!)];
        if (x && y) {
          expect(x[1]).toBe(y[1]);
          expect(Number(x[2])).toBeCloseTo(Number(y[2]), 9);
        } else expect(line).toBe(b[i]);
      });
    }
  });

  it("refuses what prom-client refuses: unknown labels, a negative increment, a value that is not a number", () => {
    const m = createMetrics();
    expect(() => m.requests.inc({ route: "/x", verb: "GET" } as never)).toThrow(/not included/);
    expect(() => m.cacheMisses.inc(-1)).toThrow(/decrease/);
    expect(() => m.latency.observe({ route: "/x" }, Number.NaN)).toThrow(/not a valid number/);
  });

  it("shows a series as soon as it has been counted, zero increments included", async () => {
    const m = createMetrics();
    m.predictionRows.inc({ source: "collapsed" }, 0);
    expect(await m.registry.metrics()).toContain('predictions_rows_total{source="collapsed"} 0');
  });
});
