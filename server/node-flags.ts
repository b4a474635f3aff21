/**
 * V8 heap caps the service runs with, everywhere: `npm start`, the container (Dockerfile `NODE_OPTIONS`),
 * the Function App (`languageWorkers__node__arguments` in Bicep) and the benchmark. A test keeps them equal.
 *
 * Why: without caps V8 grows the young generation to 3 × 16 MiB and defers old-space collection, so RSS
 * under load reached 230–300 MiB for a live heap of ~30 MiB (BENCHMARKS.md, "Memory"). A hard old-space cap
 * is safe only because memory admission bounds what requests can hold: MAX_INFLIGHT_BODY_BYTES, MAX_INFLIGHT_ROWS,
 * MAX_BATCH and the heap-pressure check in shared/app.ts (tests/memory.test.ts floods a capped server).
 */
export const NODE_FLAGS = ["--max-semi-space-size=4", "--max-old-space-size=128"] as const;
