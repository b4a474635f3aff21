/**
 * V8 heap caps the service runs with, everywhere: `npm start`, the container (Dockerfile `NODE_OPTIONS`),
 * the Function App (`languageWorkers__node__arguments` in Bicep) and the benchmark. A test keeps them equal.
 *
 * Why: without caps V8 grows the young generation to 3 × 16 MiB and defers old-space collection, so RSS
 * under load reached 230–300 MiB for a live heap of ~30 MiB (BENCHMARKS.md, "Memory"). A hard old-space cap
 * is safe only because memory admission bounds what requests can hold: MAX_INFLIGHT_BODY_BYTES, MAX_INFLIGHT_ROWS,
 * MAX_BATCH and the heap-pressure check in shared/http/body-admission.ts (tests/memory.test.ts floods a capped server).
 */
export const NODE_FLAGS = ["--max-semi-space-size=4", "--max-old-space-size=128"] as const;

/**
 * Environment for the same processes (the container sets it with ENV, the Function App as an app setting;
 * `npm start` does not, to stay portable to Windows shells). glibc otherwise keeps up to 8 × cores malloc
 * arenas, and memory that onnxruntime and Node free in one is not reused by another: with 2 arenas, peak RSS
 * during 10,000-row bulks fell from ~155 to ~142 MiB at the same rows/s (BENCHMARKS.md, "Memory").
 */
export const NODE_ENV_VARS = { MALLOC_ARENA_MAX: "2" } as const;
