import { GCProfiler } from "node:v8";
import { Histogram, type Registry } from "prom-client";

/**
 * `nodejs_gc_duration_seconds`, as prom-client's default metric defines it (lib/metrics/gc.js: name, help, buckets,
 * `kind` label), fed by `v8.GCProfiler` instead of a perf_hooks "gc" PerformanceObserver.
 *
 * Why: Node 20 builds every "gc" performance entry with deprecated accessors (DEP0152) made by `util.deprecate`,
 * whose `setPrototypeOf` allocates hidden classes, and those live in V8's old space: ~7 KB of old space per GC,
 * i.e. per 4 MiB allocated. Under load that was 0.7 MB/s, about half of the service's old-space growth, and so half
 * of its Mark-Compacts, whose marking threads take the server's core for tens of ms (BENCHMARKS.md, Round 6).
 * GCProfiler records each GC natively; its records are read here once a second and at every scrape.
 */
const NAME = "nodejs_gc_duration_seconds";
const HELP = "Garbage collection duration by kind, one of major, minor, incremental or weakcb.";
const BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

/** GCProfiler's `gcType` (node's names of V8's GCType) → prom-client's `kind` label. */
const KINDS: Readonly<Record<string, string>> = {
  Scavenge: "minor",
  MinorMarkCompact: "minor",
  MinorMarkSweep: "minor",
  MarkSweepCompact: "major",
  IncrementalMarking: "incremental",
  ProcessWeakCallbacks: "weakcb",
};

/**
 * How often the records are read when nobody scrapes. GCProfiler keeps them as JSON in native memory until stop()
 * (~3 KB per GC, ~150 GCs a second under load), so reading them is also what bounds that memory; a second's worth
 * parses in about a millisecond.
 */
const READ_EVERY_MS = 1000;

type GcRecord = { gcType: string; cost: number };
type Sink = (records: readonly GcRecord[]) => void;

/** One profiler for the process, however many registries (services, tests) report it. */
const sinks = new Set<Sink>();
let profiler: GCProfiler | undefined;
let timer: NodeJS.Timeout | undefined;

/** Hands the records since the last read to every histogram and starts a new profiler for the next ones. */
function readRecords(): void {
  if (!profiler) return;
  const records = profiler.stop()?.statistics ?? [];
  profiler = new GCProfiler();
  profiler.start();
  if (records.length > 0) for (const sink of sinks) sink(records);
}

function subscribe(sink: Sink): void {
  sinks.add(sink);
  if (profiler) return;
  profiler = new GCProfiler();
  profiler.start();
  timer = setInterval(readRecords, READ_EVERY_MS).unref(); // never what keeps the process alive
}

function unsubscribe(sink: Sink): void {
  if (!sinks.delete(sink) || sinks.size > 0) return;
  clearInterval(timer);
  profiler?.stop();
  profiler = timer = undefined;
}

/** Registers the histogram on `registers`; close() stops feeding it (the last close stops the profiler). */
export function gcDurationHistogram(registers: Registry[]): { close(): void } {
  const histogram = new Histogram({
    name: NAME,
    help: HELP,
    buckets: BUCKETS,
    labelNames: ["kind"],
    registers,
    collect: readRecords, // a scrape sees every GC up to now
  });
  const byKind = new Map(Object.values(KINDS).map((kind) => [kind, histogram.labels({ kind })]));
  const sink: Sink = (records) => {
    for (const r of records) byKind.get(KINDS[r.gcType] ?? "")?.observe(r.cost / 1e6); // cost: µs
  };
  subscribe(sink);
  return { close: () => unsubscribe(sink) };
}
