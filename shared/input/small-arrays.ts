/**
 * V8 keeps a typed array of at most this many bytes inside its own object, with no ArrayBuffer until one is asked
 * for; making it then (a view, `.buffer`, `subarray`) costs ~0.3 µs, more than copying a /predict row's eight values
 * (BENCHMARKS.md, Round 5). Code on the per-request path copies arrays this small instead of viewing them.
 */
export const ON_HEAP_BYTES = 64;

/**
 * `n` values of `from` (at `at`) into `into` (at `to`): one by one when `from` is that small (a `subarray` of it
 * would first give it an ArrayBuffer), else as a view set in one copy.
 */
export function copyValues(from: Float32Array, at: number, into: Float32Array, to: number, n: number): void {
  if (from.byteLength <= ON_HEAP_BYTES) for (let k = 0; k < n; k++) into[to + k] = from[at + k]!;
  else into.set(from.subarray(at, at + n), to);
}
