/**
 * V8 heap caps the service runs with, everywhere: `npm start`, the container (Dockerfile `NODE_OPTIONS`),
 * the Function App (`languageWorkers__node__arguments` in Bicep) and the benchmark. A test keeps them equal.
 *
 * Why: without caps V8 grows the young generation to 3 × 16 MiB and defers old-space collection, so RSS
 * under load reached 230–300 MiB for a live heap of ~30 MiB (BENCHMARKS.md, "Memory"). A hard old-space cap
 * is safe only because memory admission bounds what requests can hold: MAX_INFLIGHT_BODY_BYTES, MAX_INFLIGHT_ROWS,
 * MAX_BATCH and the heap-pressure check in shared/http/body-admission.ts (tests/integration/memory.test.ts floods a capped server).
 */
export const NODE_FLAGS = ["--max-semi-space-size=4", "--max-old-space-size=128"] as const;

/**
 * Environment for the same processes (the container sets it with ENV, the Function App as an app setting;
 * `npm start` does not, to stay portable to Windows shells).
 *
 * - MALLOC_ARENA_MAX: glibc otherwise keeps up to 8 × cores malloc arenas, and memory that onnxruntime and Node
 *   free in one is not reused by another: with 2 arenas, peak RSS during 10,000-row bulks fell from ~155 to
 *   ~142 MiB at the same rows/s (BENCHMARKS.md, "Memory").
 * - MALLOC_TRIM_THRESHOLD_: set at all, it turns off glibc's sliding thresholds, which after the first large free
 *   raise the trim threshold up to 64 MiB, so the ~14 MiB onnxruntime frees once its session is built stayed in
 *   the process for good. With 1 MiB, free memory above that at the top of the heap goes back to the system, and
 *   blocks of 128 KiB or more (request bodies, bulk tensors) are mapped and unmapped on their own. Measured: RSS
 *   after session creation 138 → 130 MiB; /predict peak 133–135 → 125–128 MiB; no change in speed.
 */
export const NODE_ENV_VARS = { MALLOC_ARENA_MAX: "2", MALLOC_TRIM_THRESHOLD_: "1048576" } as const;
