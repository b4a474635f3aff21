import { sameRow, type RowBatch } from "../cache/row-table";

/**
 * One model run that other requests can join: one promise for all its rows, not one per row. The promise is made
 * only when a request joins (`done`): most runs are of rows nobody else is asking for, and a promise, its two
 * settle functions and the handler that keeps an unjoined failure from being "unhandled" were four allocations
 * per cache miss.
 */
export class InflightRun {
  private settled?: { out: Float32Array } | { err: unknown };
  private promise?: Promise<Float32Array>;
  private settle?: { resolve: (out: Float32Array) => void; reject: (err: unknown) => void };

  /** The run's output, for a request that joined it. */
  get done(): Promise<Float32Array> {
    if (!this.promise) {
      const s = this.settled;
      if (s) this.promise = "out" in s ? Promise.resolve(s.out) : Promise.reject(s.err);
      else this.promise = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    }
    return this.promise;
  }

  /** The first settlement wins, as with a promise: a failure after the output arrived changes nothing for joiners. */
  resolve(out: Float32Array): void {
    if (this.settled) return;
    this.settled = { out };
    this.settle?.resolve(out);
  }

  reject(err: unknown): void {
    if (this.settled) return;
    this.settled = { err };
    this.settle?.reject(err);
  }
}

/** Rows of one request split by who computes them: joined to another request's run, or computed by `run`. */
export interface Claim {
  /** Row `index` of this request is row `at` of `run`'s output. */
  joined: { index: number; run: InflightRun; at: number }[];
  /** Rows this request computes, in the order of its run's output. */
  compute: number[];
  /** This request's run; undefined when it computes nothing. */
  run: InflightRun | undefined;
}

/** The slots' fields, one array each (slot i is index i of every array); a slot is empty when its run is. */
interface Columns {
  hashes: Uint32Array;
  runs: (InflightRun | undefined)[];
  ats: Int32Array;
  rows: Int32Array;
  words: (Uint32Array | undefined)[];
  namespaces: (string | undefined)[];
}

function columns(capacity: number): Columns {
  return {
    hashes: new Uint32Array(capacity),
    runs: new Array<InflightRun | undefined>(capacity).fill(undefined),
    ats: new Int32Array(capacity),
    rows: new Int32Array(capacity),
    words: new Array<Uint32Array | undefined>(capacity).fill(undefined),
    namespaces: new Array<string | undefined>(capacity).fill(undefined),
  };
}

/**
 * Single-flight by row: identical rows (same float32 bits, same namespace) in flight are computed once, across
 * requests and endpoints. Keyed by the row hash of the cache's RowBatch, confirmed against the row's bits. The
 * point predictor and the interval predictor each keep one.
 *
 * The slots are an open-addressing table (linear probing, backward-shift deletion) in preallocated arrays, not a
 * Map: a Map whose entries are all added and deleted within a request rebuilt its table as it grew and shrank,
 * and those tables, held by a long-lived Map, were promoted to the old generation (a major GC every ~1.4 s at
 * 18k req/s, the stalls behind the paced p99 in BENCHMARKS.md).
 */
export class SingleFlight {
  private mask: number;
  private c: Columns;
  private count = 0;
  private grewAt = 0;

  /**
   * `initial`: slots to start with, a power of two (the probe sequence masks the hash). A table grown for a burst
   * (a big bulk's rows) goes back to `initial` when it is empty and has not grown for `resetAfterMs`: not at every
   * drain, which under steady bulk traffic would rebuild it for every request.
   */
  constructor(
    private readonly initial = 1024,
    private readonly resetAfterMs = 10_000,
  ) {
    if (!(initial > 0 && (initial & (initial - 1)) === 0))
      throw new RangeError(`capacity must be a power of two, got ${initial}`);
    this.mask = initial - 1;
    this.c = columns(initial);
  }

  /** Rows in flight that others can join. */
  get size(): number {
    return this.count;
  }

  /** The slot holding `hash`, or -1. */
  private find(hash: number): number {
    const { runs, hashes } = this.c;
    for (let i = hash & this.mask; runs[i] !== undefined; i = (i + 1) & this.mask) {
      if (hashes[i] === hash) return i;
    }
    return -1;
  }

  private put(hash: number, run: InflightRun, at: number, words: Uint32Array, row: number, namespace: string): void {
    // Kept at most half full, so probes stay short; grows (rarely: a few thousand rows in flight) by rehashing.
    if ((this.count + 1) * 2 > this.mask + 1) {
      this.resize((this.mask + 1) * 2);
      this.grewAt = performance.now();
    }
    const c = this.c;
    let i = hash & this.mask;
    while (c.runs[i] !== undefined) i = (i + 1) & this.mask;
    c.hashes[i] = hash;
    c.runs[i] = run;
    c.ats[i] = at;
    c.rows[i] = row;
    c.words[i] = words;
    c.namespaces[i] = namespace;
    this.count++;
  }

  /** Empties slot `i` and moves later entries of its probe chain back, so no lookup stops short of them. */
  private remove(i: number): void {
    const { mask: m, c } = this;
    let hole = i;
    for (let j = (i + 1) & m; c.runs[j] !== undefined; j = (j + 1) & m) {
      const home = c.hashes[j]! & m;
      // Entry j may fill the hole only if its home position is not cyclically inside (hole, j].
      if ((j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j)) {
        c.hashes[hole] = c.hashes[j]!;
        c.runs[hole] = c.runs[j];
        c.ats[hole] = c.ats[j]!;
        c.rows[hole] = c.rows[j]!;
        c.words[hole] = c.words[j];
        c.namespaces[hole] = c.namespaces[j];
        hole = j;
      }
    }
    c.runs[hole] = undefined;
    c.words[hole] = undefined;
    c.namespaces[hole] = undefined;
    this.count--;
    if (this.count === 0) this.resetIfIdle();
  }

  private resetIfIdle(): void {
    if (this.mask + 1 > this.initial && performance.now() - this.grewAt >= this.resetAfterMs) {
      this.mask = this.initial - 1;
      this.c = columns(this.initial);
    }
  }

  private resize(capacity: number): void {
    const old = this.c;
    this.mask = capacity - 1;
    this.c = columns(capacity);
    this.count = 0;
    for (let i = 0; i < old.runs.length; i++) {
      const run = old.runs[i];
      if (run) this.put(old.hashes[i]!, run, old.ats[i]!, old.words[i]!, old.rows[i]!, old.namespaces[i]!);
    }
  }

  /** Rows `missing(i)` says need computing are joined to a run in flight for the same row, or claimed for a new one. */
  claim(batch: RowBatch, namespace: string, missing: (i: number) => boolean): Claim {
    if (this.count === 0) this.resetIfIdle();
    const claim: Claim = { joined: [], compute: [], run: undefined };
    for (let i = 0; i < batch.rows; i++) {
      if (!missing(i)) continue;
      const hash = batch.hashes[i]!;
      const s = this.find(hash);
      const c = this.c;
      if (s >= 0 && c.namespaces[s] === namespace && sameRow(c.words[s]!, c.rows[s]!, batch.words, i)) {
        claim.joined.push({ index: i, run: c.runs[s]!, at: c.ats[s]! });
        continue;
      }
      const run = (claim.run ??= new InflightRun());
      // A different row with the same hash (rare) is computed here without taking over the slot.
      if (s < 0) this.put(hash, run, claim.compute.length, batch.words, i, namespace);
      claim.compute.push(i);
    }
    return claim;
  }

  /**
   * Computes a claim's rows (`run`, `compute`): `infer` gives the run's output, which settles the run for whoever joined it, then `then`
   * uses it (awaited only when it returns a promise); the claimed slots are freed whatever happens (a failed run fails its
   * joiners too).
   */
  async settle(
    batch: RowBatch,
    run: InflightRun,
    compute: readonly number[],
    infer: () => Promise<Float32Array>,
    then: (out: Float32Array) => void | Promise<void>,
  ): Promise<void> {
    try {
      const out = await infer();
      run.resolve(out);
      const after = then(out);
      if (after) await after;
    } catch (err) {
      run.reject(err);
      throw err;
    } finally {
      for (const i of compute) {
        const s = this.find(batch.hashes[i]!);
        if (s >= 0 && this.c.runs[s] === run) this.remove(s);
      }
    }
  }
}
