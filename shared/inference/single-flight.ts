import { sameRow, type RowBatch } from "../cache/row-table";

/** One model run that other requests can join: one promise for all its rows, not one per row. */
export class InflightRun {
  readonly done: Promise<Float32Array>;
  resolve!: (out: Float32Array) => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined);
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

interface Slot {
  run: InflightRun;
  at: number;
  words: Uint32Array;
  row: number;
  namespace: string;
}

/**
 * Single-flight by row: identical rows (same float32 bits, same namespace) in flight are computed once, across
 * requests and endpoints. Keyed by the row hash of the cache's RowBatch, confirmed against the row's bits. The
 * point predictor and the interval predictor each keep one.
 */
export class SingleFlight {
  private readonly slots = new Map<number, Slot>();

  /** Rows `missing(i)` says need computing are joined to a run in flight for the same row, or claimed for a new one. */
  claim(batch: RowBatch, namespace: string, missing: (i: number) => boolean): Claim {
    const claim: Claim = { joined: [], compute: [], run: undefined };
    for (let i = 0; i < batch.rows; i++) {
      if (!missing(i)) continue;
      const hash = batch.hashes[i]!;
      const pending = this.slots.get(hash);
      if (pending && pending.namespace === namespace && sameRow(pending.words, pending.row, batch.words, i)) {
        claim.joined.push({ index: i, run: pending.run, at: pending.at });
        continue;
      }
      const run = (claim.run ??= new InflightRun());
      // A different row with the same hash (rare) is computed here without taking over the slot.
      if (!pending) this.slots.set(hash, { run, at: claim.compute.length, words: batch.words, row: i, namespace });
      claim.compute.push(i);
    }
    return claim;
  }

  /**
   * Computes a claim's rows (`run`, `compute`): `infer` gives the run's output, which settles the run for whoever joined it, then `then`
   * uses it; the claimed slots are freed whatever happens (a failed run fails its joiners too).
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
      await then(out);
    } catch (err) {
      run.reject(err);
      throw err;
    } finally {
      for (const i of compute) {
        const hash = batch.hashes[i]!;
        if (this.slots.get(hash)?.run === run) this.slots.delete(hash);
      }
    }
  }
}
