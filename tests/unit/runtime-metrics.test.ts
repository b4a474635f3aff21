import { PerformanceObserver } from "node:perf_hooks";
import { Registry, collectDefaultMetrics } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../shared/ops/metrics";
import { DEFAULT_METRICS_BUT_GC } from "../../shared/ops/runtime-metrics";
import { metricSum } from "../support/metrics";

/** Allocates ~`mb` MB of short-lived objects: young-generation collections (scavenges) follow. */
function churn(mb: number): number {
  let kept = 0;
  for (let i = 0; i < mb * 20_000; i++) kept += [i, { i }, `x${i}`].length;
  return kept;
}

/** Resolves after the event loop's check phase has run twice (where perf_hooks delivers "gc" entries). */
const afterImmediates = () => new Promise<void>((done) => setImmediate(() => setImmediate(done)));

describe("runtime metrics", () => {
  it("has every metric of prom-client's collectDefaultMetrics, with the same name, type and help", async () => {
    const reference = new Registry();
    collectDefaultMetrics({ register: reference });
    const metrics = createMetrics();
    const ours = new Map((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, m]));
    metrics.close();
    const theirs = await reference.getMetricsAsJSON();
    expect(theirs.length).toBeGreaterThan(10);
    for (const m of theirs) {
      expect(ours.get(m.name), m.name).toBeDefined();
      expect([ours.get(m.name)!.type, ours.get(m.name)!.help], m.name).toEqual([m.type, m.help]);
    }
    reference.clear();
  });

  it("registers prom-client's default metric modules but gc, and an upgrade that adds one is noticed", () => {
    const expected = collectDefaultMetrics.metricsList.filter((name) => name !== "gc");
    expect(Object.keys(DEFAULT_METRICS_BUT_GC).sort()).toEqual([...expected].sort());
  });

  it("counts the same garbage collections, by kind and duration, as a gc PerformanceObserver", async () => {
    const seen = new Map<number, { count: number; ms: number }>();
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail: { kind: number } }).detail.kind;
        const s = seen.get(kind) ?? { count: 0, ms: 0 };
        seen.set(kind, { count: s.count + 1, ms: s.ms + e.duration });
      }
    });
    observer.observe({ entryTypes: ["gc"] });
    const m = createMetrics();
    churn(64);
    const text = await m.registry.metrics(); // the scrape reads every record so far
    await afterImmediates();
    observer.disconnect();
    m.close();
    const minor = seen.get(1) ?? { count: 0, ms: 0 }; // perf_hooks.constants.NODE_PERFORMANCE_GC_MINOR
    expect(minor.count).toBeGreaterThan(5);
    const counted = metricSum(text, 'nodejs_gc_duration_seconds_count{kind="minor"}');
    expect(Math.abs(counted - minor.count)).toBeLessThanOrEqual(1);
    const seconds = metricSum(text, 'nodejs_gc_duration_seconds_sum{kind="minor"}');
    expect(seconds * 1000).toBeGreaterThan(minor.ms * 0.8);
    expect(seconds * 1000).toBeLessThan(minor.ms * 1.2 + 1);
  });

  it("stops counting once closed", async () => {
    const m = createMetrics();
    churn(16);
    const before = metricSum(await m.registry.metrics(), "nodejs_gc_duration_seconds_count");
    expect(before).toBeGreaterThan(0);
    m.close();
    churn(16);
    expect(metricSum(await m.registry.metrics(), "nodejs_gc_duration_seconds_count")).toBe(before);
  });
});
