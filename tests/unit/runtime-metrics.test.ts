import { Registry, collectDefaultMetrics } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../shared/ops/metrics";
import { DEFAULT_METRICS_BUT_GC } from "../../shared/ops/runtime-metrics";
import { metricSum } from "../support/metrics";

const GC = "nodejs_gc_duration_seconds";

/** Allocates ~`mb` MB of short-lived objects: young-generation collections (scavenges) follow. */
function churn(mb: number): number {
  let kept = 0;
  for (let i = 0; i < mb * 20_000; i++) kept += [i, { i }, `x${i}`].length;
  return kept;
}

/** prom-client's collectDefaultMetrics() on a registry of its own: name → [type, help]. */
async function promClientDefaults() {
  const reference = new Registry();
  collectDefaultMetrics({ register: reference });
  const out = new Map((await reference.getMetricsAsJSON()).map((m) => [m.name, [m.type, m.help]]));
  reference.clear();
  return out;
}

async function described(registry: Registry) {
  return new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, [m.type, m.help]]));
}

describe("runtime metrics", () => {
  it("has every metric of prom-client's collectDefaultMetrics under the same name, type and help, but GC durations", async () => {
    const theirs = await promClientDefaults();
    const ours = await described(createMetrics().registry);
    expect(theirs.size).toBeGreaterThan(10);
    expect(theirs.has(GC)).toBe(true);
    for (const [name, what] of theirs) if (name !== GC) expect(ours.get(name), name).toEqual(what);
    expect(ours.has(GC)).toBe(false);
  });

  it("adds prom-client's nodejs_gc_duration_seconds when asked, counting this process's collections", async () => {
    const theirs = await promClientDefaults();
    const m = createMetrics({ gcDuration: true });
    expect((await described(m.registry)).get(GC)).toEqual(theirs.get(GC));
    churn(32);
    // perf_hooks hands "gc" entries over in later turns of the event loop (its check phase), so it is polled.
    const minorCount = async () => metricSum(await m.registry.metrics(), `${GC}_count{kind="minor"}`);
    const deadline = Date.now() + 5000;
    while ((await minorCount()) === 0 && Date.now() < deadline) await new Promise((done) => setImmediate(done));
    expect(await minorCount()).toBeGreaterThan(0);
  });

  it("registers prom-client's default metric modules but gc, and an upgrade that adds one is noticed", () => {
    const expected = collectDefaultMetrics.metricsList.filter((name) => name !== "gc");
    expect(Object.keys(DEFAULT_METRICS_BUT_GC).sort()).toEqual([...expected].sort());
  });
});
