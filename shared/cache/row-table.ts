import { randomBytes } from "node:crypto";
import { WIDTH } from "../input/features";
import { ON_HEAP_BYTES } from "../input/small-arrays";

/** Words (float32 bit patterns) per row: one per feature. */
export const ROW_WORDS = WIDTH;

/**
 * Rows of a float32 [n, 8] tensor as the model sees them, with a hash of each row's exact bits.
 * Built once per request; the cache and the single-flight map both work from it.
 */
export interface RowBatch {
  readonly tensor: Float32Array;
  /** The same bits as uint32 words (a view, or for a small tensor a copy): equality of rows is equality of these. */
  readonly words: Uint32Array;
  readonly rows: number;
  readonly hashes: Uint32Array;
}

/** A process-wide random seed, so nobody can precompute rows that collide into one cache set. */
const SEED = randomBytes(4).readUInt32LE(0);

/** murmur3 (32-bit) of one row's eight words. */
export function hashRow(words: Uint32Array, at: number, seed = SEED): number {
  let h = seed;
  for (let k = 0; k < ROW_WORDS; k++) {
    let k1 = Math.imul(words[at + k]!, 0xcc9e2d51);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, 0x1b873593);
    h ^= k1;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= ROW_WORDS * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const BITS = new Float32Array(ON_HEAP_BYTES / 4);
const BITS_WORDS = new Uint32Array(BITS.buffer);

/** The tensor's first `n` values as uint32 bit patterns: a view of a big tensor, a copy of a small one. */
function wordsOf(tensor: Float32Array, n: number): Uint32Array {
  // As the view would: a tensor shorter than its rows is refused, never padded with another request's words.
  if (n > tensor.length) throw new RangeError(`${n} values asked of a tensor of ${tensor.length}`);
  if (tensor.byteLength > ON_HEAP_BYTES) return new Uint32Array(tensor.buffer, tensor.byteOffset, n);
  // set() between two Float32Arrays copies bytes (every NaN payload kept); reading them back as words is exact.
  BITS.set(tensor);
  const words = new Uint32Array(n);
  for (let k = 0; k < n; k++) words[k] = BITS_WORDS[k]!;
  return words;
}

export function rowBatch(tensor: Float32Array, rows: number): RowBatch {
  const words = wordsOf(tensor, rows * ROW_WORDS);
  const hashes = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) hashes[r] = hashRow(words, r * ROW_WORDS);
  return { tensor, words, rows, hashes };
}

/** True when row `a` of `wa` and row `b` of `wb` have the same bits. */
export function sameRow(wa: Uint32Array, a: number, wb: Uint32Array, b: number): boolean {
  const x = a * ROW_WORDS;
  const y = b * ROW_WORDS;
  for (let k = 0; k < ROW_WORDS; k++) if (wa[x + k] !== wb[y + k]) return false;
  return true;
}

/**
 * The in-process prediction cache: row bits → model output, in flat typed arrays.
 *
 * Why not a Map or lru-cache: per entry they hold a key string (the row's base64) and list nodes, so a
 * 1,000-row bulk creates 1,000 strings that live until evicted; filling and evicting them cost ≈ 1 µs a
 * row and kept old-space GC busy (BENCHMARKS.md). Here an entry is 32 bytes of key, a value and an LRU
 * stamp in preallocated arrays: no allocation per lookup or fill, and a fixed footprint.
 *
 * Layout: `ways`-way set-associative. A row's hash picks a set; within the set the least recently used
 * entry is evicted. That is LRU per set, which approximates a global LRU closely at 8 ways; capacity is
 * `maxEntries` rounded up to a multiple of `ways`.
 */
export class RowTable {
  readonly capacity: number;
  private readonly sets: number;
  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  private readonly values: Float64Array;
  /** 0 = empty; otherwise the clock at the last use (float64: exact far beyond any process's life). */
  private readonly stamps: Float64Array;
  private clock = 0;
  private count = 0;

  constructor(
    maxEntries: number,
    private readonly ways = 8,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError(`maxEntries must be ≥ 1, got ${maxEntries}`);
    this.sets = Math.ceil(maxEntries / ways);
    this.capacity = this.sets * ways;
    this.keys = new Uint32Array(this.capacity * ROW_WORDS);
    this.hashes = new Uint32Array(this.capacity);
    this.values = new Float64Array(this.capacity);
    this.stamps = new Float64Array(this.capacity);
  }

  get size(): number {
    return this.count;
  }

  private find(words: Uint32Array, row: number, hash: number): number {
    const base = (hash % this.sets) * this.ways;
    for (let i = base; i < base + this.ways; i++) {
      if (this.stamps[i] !== 0 && this.hashes[i] === hash && sameRow(this.keys, i, words, row)) return i;
    }
    return -1;
  }

  /** The value stored for row `row` of `words` (whose hash is `hash`), or undefined. */
  get(words: Uint32Array, row: number, hash: number): number | undefined {
    const i = this.find(words, row, hash);
    if (i < 0) return undefined;
    this.stamps[i] = ++this.clock;
    return this.values[i];
  }

  set(words: Uint32Array, row: number, hash: number, value: number): void {
    let i = this.find(words, row, hash);
    if (i < 0) {
      const base = (hash % this.sets) * this.ways;
      i = base;
      for (let j = base; j < base + this.ways; j++) {
        if (this.stamps[j] === 0) {
          i = j;
          break;
        }
        if (this.stamps[j]! < this.stamps[i]!) i = j;
      }
      if (this.stamps[i] === 0) this.count++;
      for (let k = 0, src = row * ROW_WORDS, dst = i * ROW_WORDS; k < ROW_WORDS; k++)
        this.keys[dst + k] = words[src + k]!;
      this.hashes[i] = hash;
    }
    this.values[i] = value;
    this.stamps[i] = ++this.clock;
  }

  clear(): void {
    this.stamps.fill(0);
    this.count = 0;
  }
}
