import type { Registry } from "prom-client";
// prom-client's default metrics, one module each: what collectDefaultMetrics() registers, but for its gc.js.
import eventLoopLag from "prom-client/lib/metrics/eventLoopLag";
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
import { gcDurationHistogram } from "./gc-duration";

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
 * with `nodejs_gc_duration_seconds` from gc-duration.ts (it says why). close() stops the GC feed.
 */
export function registerRuntimeMetrics(registry: Registry): { close(): void } {
  // collectDefaultMetrics' own default for the event-loop lag histogram's resolution, ms.
  const config = { register: registry, eventLoopMonitoringPrecision: 10 };
  for (const register of Object.values(DEFAULT_METRICS_BUT_GC)) register(registry, config);
  return gcDurationHistogram([registry]);
}
