/**
 * V8 keeps a typed array of at most this many bytes inside its own object, with no ArrayBuffer until one is asked
 * for; making it then (a view, `.buffer`, `subarray`) costs ~0.3 µs, more than copying a /predict row's eight values
 * (BENCHMARKS.md, Round 5). Code on the per-request path copies arrays this small instead of viewing them.
 */
export const ON_HEAP_BYTES = 64;
