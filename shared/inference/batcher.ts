import { WIDTH } from "../input/features";
import { afterTurnIfBig } from "./turn-taking";
import { copyValues } from "../input/small-arrays";

/** Runs a model on a float32 [rows, inputWidth] tensor; the output has `outputWidth` values per row. */
export type RunFn = (input: Float32Array, rows: number) => Promise<Float32Array>;

interface Job {
  input: Float32Array;
  rows: number;
  /** Rows already handed to a run. */
  taken: number;
  /** Rows whose outputs arrived. */
  done: number;
  out: Float32Array;
  resolve: (out: Float32Array) => void;
  reject: (err: unknown) => void;
}

export interface BatcherOptions {
  /** Most rows in one model run: bounds how long one run holds the event loop. */
  maxRows: number;
  /** Values per input row (default WIDTH: the eight features). */
  inputWidth?: number;
  /** Values per output row (default 1: the house value). */
  outputWidth?: number;
  /** Defers a flush; setImmediate lets every request that arrived in this I/O phase join the batch. */
  defer?: (fn: () => void) => void;
  /**
   * Defers the flush that continues a started job (`rows`: the largest started job's size). Default: turn-taking's
   * afterTurnIfBig, so a big job's next chunk waits its turn with the other heavy steps of big requests and an
   * event-loop iteration runs one of them, not a chunk and a step back to back. New jobs never wait for it: their
   * rows go in a run of their own in the next iteration.
   */
  deferContinuation?: (fn: () => void, rows: number) => void;
}

/**
 * A dynamic batcher in the spirit of Triton's: requests queued while the event loop is busy are
 * coalesced into one run of at most `maxRows` rows, and big requests are split into chunks with
 * the event loop yielding between them, so a 10,000-row bulk never starves a single prediction.
 * Tree ensembles score rows independently, so results are identical to unbatched runs.
 */
export class Batcher {
  private queue: Job[] = [];
  /** A flush of new jobs' rows is deferred (`defer`). */
  private scheduledNew = false;
  /** A flush continuing started jobs is deferred (`deferContinuation`). */
  private scheduledNext = false;
  private running = false;
  private readonly defer: (fn: () => void) => void;
  private readonly deferContinuation: (fn: () => void, rows: number) => void;
  private readonly inWidth: number;
  private readonly outWidth: number;

  constructor(
    private readonly run: RunFn,
    private readonly opts: BatcherOptions,
  ) {
    this.defer = opts.defer ?? ((fn) => setImmediate(fn));
    this.deferContinuation = opts.deferContinuation ?? afterTurnIfBig;
    this.inWidth = opts.inputWidth ?? WIDTH;
    this.outWidth = opts.outputWidth ?? 1;
  }

  /** Rows waiting or running. */
  get pendingRows(): number {
    let n = 0;
    for (const j of this.queue) n += j.rows - j.done;
    return n;
  }

  infer(input: Float32Array, rows: number): Promise<Float32Array> {
    if (rows === 0) return Promise.resolve(new Float32Array(0));
    return new Promise((resolve, reject) => {
      this.queue.push({ input, rows, taken: 0, done: 0, out: new Float32Array(rows * this.outWidth), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running) return;
    let fresh = false;
    let started = 0;
    for (const j of this.queue) {
      if (j.taken === 0) fresh = true;
      else started = Math.max(started, j.rows);
    }
    if (fresh && !this.scheduledNew) {
      this.scheduledNew = true;
      this.defer(() => {
        this.scheduledNew = false;
        void this.flush(true);
      });
    } else if (!fresh && started > 0 && !this.scheduledNext) {
      this.scheduledNext = true;
      this.deferContinuation(() => {
        this.scheduledNext = false;
        void this.flush(false);
      }, started);
    }
  }

  /** Picks the rows of the next run (of new jobs only, or of any): small jobs first, so they never wait behind a big one. */
  private pick(newOnly: boolean): { job: Job; from: number; count: number }[] {
    const parts: { job: Job; from: number; count: number }[] = [];
    let budget = this.opts.maxRows;
    const small: Job[] = [];
    const rest: Job[] = [];
    for (const j of this.queue) {
      if (newOnly && j.taken > 0) continue;
      (j.taken === 0 && j.rows <= budget / 4 ? small : rest).push(j);
    }
    for (const job of small.concat(rest)) {
      if (budget === 0) break;
      const count = Math.min(job.rows - job.taken, budget);
      if (count === 0) continue;
      parts.push({ job, from: job.taken, count });
      job.taken += count;
      budget -= count;
    }
    return parts;
  }

  private async flush(newOnly: boolean): Promise<void> {
    if (this.running) return; // the running flush schedules again when it ends
    const parts = this.pick(newOnly);
    if (parts.length === 0) return this.schedule(); // its rows went in another flush
    this.running = true;
    let total = 0;
    for (const p of parts) total += p.count;
    try {
      let input: Float32Array;
      const only = parts[0];
      if (parts.length === 1 && only) {
        // One job's rows (all of them, or the next chunk of a big one) are contiguous: a view, not a copy.
        const w = this.inWidth;
        input =
          only.from === 0 && only.count === only.job.rows
            ? only.job.input
            : only.job.input.subarray(only.from * w, (only.from + only.count) * w);
      } else {
        const w = this.inWidth;
        input = new Float32Array(total * w);
        let offset = 0;
        for (const p of parts) {
          copyValues(p.job.input, p.from * w, input, offset * w, p.count * w);
          offset += p.count;
        }
      }
      const out = await this.run(input, total);
      let offset = 0;
      for (const p of parts) {
        const w = this.outWidth;
        copyValues(out, offset * w, p.job.out, p.from * w, p.count * w);
        offset += p.count;
        p.job.done += p.count;
        if (p.job.done === p.job.rows) {
          this.remove(p.job);
          p.job.resolve(p.job.out);
        }
      }
    } catch (err) {
      for (const p of parts) {
        this.remove(p.job);
        p.job.reject(err);
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  private remove(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
  }
}
