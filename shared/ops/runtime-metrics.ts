import type { Registry } from "prom-client";
// prom-client's default metrics, one module each: what collectDefaultMetrics() registers.
import eventLoopLag from "prom-client/lib/metrics/eventLoopLag";
import gc from "prom-client/lib/metrics/gc";
import heapSizeAndUsed from "prom-client/lib/metrics/heapSizeAndUsed";
import heapSpacesSizeAndUsed from "prom-client/lib/metrics/heapSpacesSizeAndUsed";
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap";
import processCpuTotal from "prom-client/lib/metrics/processCpuTotal";
import processHandles from "prom-client/lib/metrics/processHandles";
import processMaxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors";
import processOpenFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors";
import processRequests from "prom-client/lib/metrics/processRequests";
import processResources from "prom-client/lib/metrics/processResources";
import processStartTime from "prom-client/lib/metrics/processStartTime";
import version from "prom-client/lib/metrics/version";

/**
 * prom-client's default metrics but gc, keyed as its `collectDefaultMetrics.metricsList` names them (a unit test
 * holds the two lists together, so an upgrade that adds one is noticed). processResources only where prom-client
 * registers it too.
 */
export const DEFAULT_METRICS_BUT_GC = {
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  eventLoopLag,
  ...(typeof process.getActiveResourcesInfo === "function" ? { processResources } : {}),
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
};

/**
 * The Node.js runtime metrics every prom-client user knows, under the same names: collectDefaultMetrics()'s set,
 * with `nodejs_gc_duration_seconds` only when asked for (METRICS_GC_DURATION).
 *
 * Why not by default: prom-client times GCs with a perf_hooks "gc" PerformanceObserver, and Node.js before 25
 * gives every "gc" entry deprecated accessors (DEP0152) defined with fresh closures, so each entry gets hidden
 * classes of its own, and those live in V8's old space: ~7 KB of old space per GC, a GC per ~4 MiB allocated. Under
 * load that was ~20 bytes of old-space growth per /predict, half of the service's, and so half of its
 * Mark-Compacts, whose marking threads take the server's core for tens of ms (BENCHMARKS.md, Round 6).
 */
export function registerRuntimeMetrics(registry: Registry, opts: { gcDuration: boolean }): void {
  // collectDefaultMetrics' own default for the event-loop lag histogram's resolution, ms.
  const config = { register: registry, eventLoopMonitoringPrecision: 10 };
  for (const register of Object.values(DEFAULT_METRICS_BUT_GC)) register(registry, config);
  if (opts.gcDuration) gc(registry, config);
}
