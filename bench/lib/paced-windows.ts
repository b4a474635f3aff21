/**
 * What the server's core did in the slices of a paced run where requests came late: its busy share and CPU time
 * per response in those slices against the others. A server that is late because it has more work per request
 * (a GC, a slow path) shows more CPU per response there; a server whose core was slower for a while (the VM's
 * host running something else) shows the same requests costing more CPU at the same rate, with the core saturated.
 */
import type { PacedWindows } from "./paced";
import { median } from "./stats";

export interface PacedSliceSummary {
  sliceMs: number;
  slices: number;
  /** A slice is late when a request due in it took longer than this, ms (the target). */
  lateOverMs: number;
  /** A generator loop gap over this counts as a stall of the generator, ms. */
  stallOverMs: number;
  /** Slices whose worst latency from the intended send is over lateOverMs. */
  late: number;
  /** Late slices in which the generator itself stalled for over stallOverMs (its loop gap). */
  lateWithGeneratorStall: number;
  /** Median busy share of the server's main thread (1 = a whole core), slices on time / late (undefined: none). */
  busyOnTime?: number;
  busyLate?: number;
  /** Median µs of main-thread CPU per response, slices on time / late (undefined: none). */
  cpuPerResponseOnTimeUs?: number;
  cpuPerResponseLateUs?: number;
  /** The fastest and slowest slices by CPU per response (µs): how much the cost of the same work moved. */
  cpuPerResponseRangeUs?: [number, number];
}

/** A generator loop gap over this many ms counts as a stall of the generator. */
const STALL_OVER_MS = 2;

/** CPU time (ns) at `epochMs`, interpolated between the samples around it. */
function cpuAt(samples: { epochMs: number; ns: number }[], epochMs: number): number {
  let i = samples.findIndex((s) => s.epochMs >= epochMs);
  if (i === -1) i = samples.length - 1;
  if (i === 0) return samples[0]!.ns;
  const [a, b] = [samples[i - 1]!, samples[i]!];
  return a.ns + ((b.ns - a.ns) * (epochMs - a.epochMs)) / Math.max(1e-9, b.epochMs - a.epochMs);
}

export function summariseSlices(
  w: PacedWindows,
  samples: { epochMs: number; ns: number }[],
  lateOverMs: number,
): PacedSliceSummary | undefined {
  if (samples.length < 2) return undefined;
  const onTime: { busy: number; perReq: number }[] = [];
  const late: { busy: number; perReq: number }[] = [];
  let stalled = 0;
  w.done.forEach((done, k) => {
    const start = w.startEpochMs + k * w.ms;
    const ns = cpuAt(samples, start + w.ms) - cpuAt(samples, start);
    const slice = { busy: ns / (w.ms * 1e6), perReq: done > 0 ? ns / 1000 / done : NaN };
    (w.worstMs[k]! > lateOverMs ? late : onTime).push(slice);
    if (w.worstMs[k]! > lateOverMs && (w.generatorGapMs[k] ?? 0) > STALL_OVER_MS) stalled++;
  });
  const perReq = [...onTime, ...late].map((s) => s.perReq).filter(Number.isFinite);
  const mid = (xs: number[]) => (xs.length > 0 ? median(xs) : undefined);
  return {
    sliceMs: w.ms,
    slices: w.done.length,
    lateOverMs,
    stallOverMs: STALL_OVER_MS,
    late: late.length,
    lateWithGeneratorStall: stalled,
    busyOnTime: mid(onTime.map((s) => s.busy)),
    busyLate: mid(late.map((s) => s.busy)),
    cpuPerResponseOnTimeUs: mid(onTime.map((s) => s.perReq).filter(Number.isFinite)),
    cpuPerResponseLateUs: mid(late.map((s) => s.perReq).filter(Number.isFinite)),
    cpuPerResponseRangeUs: perReq.length > 0 ? [Math.min(...perReq), Math.max(...perReq)] : undefined,
  };
}
