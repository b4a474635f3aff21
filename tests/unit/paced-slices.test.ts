import { describe, expect, it } from "vitest";
import { summariseSlices } from "../../bench/lib/paced-windows";

/** CPU samples (every 50 ms) of a main thread busy `busy(t)` of each ms, starting at epoch ms `start`. */
function samples(start: number, ms: number, busy: (t: number) => number) {
  const out: { epochMs: number; ns: number }[] = [];
  let ns = 0;
  for (let t = 0; t <= ms; t += 50) {
    out.push({ epochMs: start + t, ns });
    for (let k = t; k < t + 50; k++) ns += busy(k) * 1e6;
  }
  return out;
}

describe("the paced run's slices", () => {
  const start = 1_000_000;
  // Four 250 ms slices, 1,000 responses each: the first two at half a core, the last two saturated and late.
  const windows = {
    startEpochMs: start,
    ms: 250,
    done: [1000, 1000, 1000, 1000],
    worstMs: [1.2, 3, 40, 9],
    generatorGapMs: [0.1, 4, 0.2, 3],
  };
  const cpu = samples(start, 1000, (t) => (t < 500 ? 0.5 : 1));

  it("counts the slices with a request over the target as late, and those where the generator stalled", () => {
    expect(summariseSlices(windows, cpu, 5)?.late).toBe(2);
    expect(summariseSlices(windows, cpu, 5)?.lateWithGeneratorStall).toBe(1); // the slice on time with a stall is not
    expect(summariseSlices(windows, cpu, 50)?.late).toBe(0);
  });

  it("gives the busy share and CPU per response of the slices on time and late apart", () => {
    const s = summariseSlices(windows, cpu, 5)!;
    expect(s.busyOnTime).toBeCloseTo(0.5, 3);
    expect(s.busyLate).toBeCloseTo(1, 3);
    expect(s.cpuPerResponseOnTimeUs).toBeCloseTo(125, 1); // 125 ms of CPU over 1,000 responses
    expect(s.cpuPerResponseLateUs).toBeCloseTo(250, 1);
    expect(s.cpuPerResponseRangeUs![0]).toBeCloseTo(125, 1);
    expect(s.cpuPerResponseRangeUs![1]).toBeCloseTo(250, 1);
  });

  it("interpolates CPU between samples that do not fall on slice edges", () => {
    const offset = samples(start - 20, 1040, (t) => (t < 520 ? 0.5 : 1));
    const s = summariseSlices(windows, offset, 5)!;
    // The sample spanning the switch at 500 ms is averaged linearly: within 0.05 of the true shares.
    expect(s.busyOnTime).toBeCloseTo(0.5, 1);
    expect(s.busyLate).toBeCloseTo(1, 1);
  });

  it("leaves the late slices' figures undefined when none was late (the report prints a dash)", () => {
    const s = summariseSlices(windows, cpu, 50)!;
    expect(s.late).toBe(0);
    expect(s.busyLate).toBeUndefined();
    expect(s.cpuPerResponseLateUs).toBeUndefined();
    expect(s.busyOnTime).toBeCloseTo(0.75, 2); // median of 0.5, 0.5, 1, 1
  });

  it("has nothing to say without two CPU samples", () => {
    expect(summariseSlices(windows, cpu.slice(0, 1), 5)).toBeUndefined();
  });
});
