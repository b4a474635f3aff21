import { describe, expect, it } from "vitest";
import { GapHistogram } from "../../bench/lib/stats";

describe("GapHistogram (the paced generator's loop gaps)", () => {
  it("reports percentiles at the upper edge of their 1 µs bucket, never below the true value", () => {
    const h = new GapHistogram();
    for (let i = 0; i < 1000; i++) h.push(i / 1000);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.p50).toBeGreaterThanOrEqual(0.499);
    expect(s.p50).toBeLessThanOrEqual(0.501);
    expect(s.p99).toBeGreaterThanOrEqual(0.989);
    expect(s.max).toBe(1);
  });

  it("takes the tail's percentiles and maximum from the gaps beyond its span, exactly", () => {
    const h = new GapHistogram(10);
    for (let i = 0; i < 97; i++) h.push(0.001);
    [15, 30, 50].forEach((ms) => h.push(ms));
    const s = h.summary();
    expect(s.p99).toBe(30);
    expect(s.max).toBe(50);
  });

  it("says nothing (NaN) when it counted nothing", () => {
    const s = new GapHistogram().summary();
    expect([s.p50, s.p99, s.max, s.mean].every(Number.isNaN)).toBe(true);
  });
});
