import type { PredictionCache } from "../cache";
import { FEATURES, WIDTH } from "../input/features";
import { fail, ok, type Result } from "../http/core";
import type { Metrics } from "../ops/metrics";
import type { Model, ModelHolder } from "./model";
import { rowBatch, type RowBatch } from "../cache/row-table";
import { SingleFlight, type InflightRun } from "./single-flight";
import type { House } from "../input/schemas";
import { BIG_ROWS, nextTurn } from "./turn-taking";
import { countOutOfRange, featureRanges } from "../input/out-of-range";
import { copyValues } from "../input/small-arrays";
import type { ModelInfo } from "./model";

export interface PredictOutcome {
  values: number[];
  /** Rows served from the cache. */
  hits: number;
  /** Rows that joined an identical computation already in flight. */
  collapsed: number;
  /** Rows computed by this request. */
  computed: number;
  /** The rows as the cache keyed them (hashed once; a detail request looks its intervals up by them too). */
  batch: RowBatch;
}

export interface PredictorOptions {
  holder: Pick<ModelHolder, "get" | "load" | "state">;
  cache: PredictionCache;
  metrics: Metrics;
  /** Bound on rows in progress across requests; 0 = unbounded. */
  maxInflightRows: number;
  /** How long a request waits for a model that is still loading. */
  loadWaitMs: number;
}

const CACHE_SOURCE = { source: "cache" } as const;
const MODEL_SOURCE = { source: "model" } as const;
/** reserve()'s success: one frozen value rather than a fresh one per request. */
const RESERVED: Result<void> = Object.freeze(ok(undefined));

/** Packs houses into the model's float32 [n, 8] layout, in FEATURES order. */
export function toTensor(rows: readonly House[]): Float32Array {
  const out = new Float32Array(rows.length * WIDTH);
  for (let r = 0; r < rows.length; r++) {
    const h = rows[r]!;
    for (let c = 0; c < WIDTH; c++) out[r * WIDTH + c] = h[FEATURES[c]!];
  }
  return out;
}

/**
 * Predicts rows: per-row cache lookup, identical rows in flight computed once (single-flight,
 * across requests and endpoints), one batched model run for the rest, cache fill.
 */
export class Predictor {
  /**
   * Rows being computed, by row hash → the run computing them, the row's position in its output, the
   * row itself and the model namespace (a hash match is confirmed on both before joining).
   */
  private readonly flight = new SingleFlight();
  private inflightRows = 0;

  constructor(private readonly opts: PredictorOptions) {
    opts.metrics.readInflightRowsFrom(() => this.inflightRows);
  }

  private async model(): Promise<Result<Model>> {
    // Only called while the model is not ready (predict() takes the ready one itself).
    const { holder, loadWaitMs } = this.opts;
    const state = holder.state;
    if (state.state === "loading" && !state.reason) {
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        holder.load().catch(() => undefined),
        new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), loadWaitMs))),
      ]);
      clearTimeout(timer);
      if (waited) return ok(waited);
    }
    const now = holder.state;
    const reason = now.state === "ready" ? "" : (now.reason ?? "the model is still loading");
    return fail("model_unavailable", `The model is not available: ${reason}`);
  }

  /**
   * The loaded model, after waiting (up to loadWaitMs, as predict() does) for one that is still loading; the
   * failure says why there is none. For routes that must know the model before reading a body (/v2 checks
   * the name and version in the path).
   */
  readyModel(): Promise<Result<Model>> {
    const ready = this.opts.holder.get();
    return ready ? Promise.resolve(ok(ready)) : this.model();
  }

  /**
   * Counts `n` rows of work against MAX_INFLIGHT_ROWS (points here, intervals in IntervalPredictor), or refuses
   * them when they do not fit beside the rows already in progress. Every reservation is given back by release(n).
   */
  reserve(n: number): Result<void> {
    const { metrics, maxInflightRows } = this.opts;
    if (maxInflightRows > 0 && this.inflightRows + n > maxInflightRows && this.inflightRows > 0) {
      metrics.rejected.inc({ reason: "overloaded" });
      return fail("overloaded", `The server has ${this.inflightRows} rows in progress; try again shortly`);
    }
    this.inflightRows += n;
    return RESERVED;
  }

  release(n: number): void {
    this.inflightRows -= n;
  }

  /** Predicts `n` rows packed as float32 [n, 8] in FEATURES order. */
  async predict(tensor: Float32Array, n: number): Promise<Result<PredictOutcome>> {
    const { metrics, cache } = this.opts;
    // Reserved before waiting for a loading model, so waiting requests count against the bound too.
    const reserved = this.reserve(n);
    if (!reserved.ok) return reserved;
    try {
      let model = this.opts.holder.get();
      if (!model) {
        const got = await this.model();
        if (!got.ok) return got;
        model = got.value;
      }
      metrics.batchSize.observe(n);
      if (n >= BIG_ROWS) await nextTurn();
      const namespace = model.info.cacheNamespace;
      const batch = rowBatch(tensor, n);
      const looked = cache.lookup(namespace, batch);
      const { values, hits } = looked instanceof Promise ? await looked : looked;
      if (hits === n) {
        // Every row from the cache: nothing to claim, compute or wait for.
        metrics.predictionRows.inc(CACHE_SOURCE, hits);
        countRanges(metrics, model.info, tensor, n);
        return ok({ values: values as number[], hits, collapsed: 0, computed: 0, batch });
      }

      const { joined, compute, run } = this.flight.claim(batch, namespace, (i) => values[i] === undefined);
      if (run) await this.compute(model, tensor, batch, compute, run, values);
      for (const j of joined) values[j.index] = (await j.run.done)[j.at]!;
      const collapsed = joined.length;

      metrics.predictionRows.inc(CACHE_SOURCE, hits);
      if (collapsed > 0) metrics.predictionRows.inc({ source: "collapsed" }, collapsed);
      if (compute.length > 0) metrics.predictionRows.inc(MODEL_SOURCE, compute.length);
      // Beside predictions_rows_total, so the drift alert's two series count the same rows whoever calls.
      countRanges(metrics, model.info, tensor, n);
      return ok({ values: values as number[], hits, collapsed, computed: compute.length, batch });
    } finally {
      this.release(n);
    }
  }

  /**
   * Runs the model on the claimed rows, settles `run` for whoever joined it, fills `values` and the cache. Not async:
   * settle()'s promise is the answer, without a second one wrapped around it.
   */
  private compute(
    model: Model,
    tensor: Float32Array,
    batch: RowBatch,
    compute: number[],
    run: InflightRun,
    values: (number | undefined)[],
  ): Promise<void> {
    let input = tensor;
    if (compute.length < batch.rows) {
      input = new Float32Array(compute.length * WIDTH);
      for (let j = 0; j < compute.length; j++) copyValues(tensor, compute[j]! * WIDTH, input, j * WIDTH, WIDTH);
    }
    return this.flight.settle(
      batch,
      run,
      compute,
      () => model.infer(input, compute.length),
      // A big run's fill waits its turn; a small one fills at once (no promise, no extra microtask turn).
      (out) =>
        compute.length >= BIG_ROWS
          ? nextTurn().then(() => this.fill(model, batch, compute, out, values))
          : this.fill(model, batch, compute, out, values),
    );
  }

  /** The run's output into the request's answer and the cache. */
  private fill(model: Model, batch: RowBatch, compute: number[], out: Float32Array, values: (number | undefined)[]) {
    for (let j = 0; j < compute.length; j++) values[compute[j]!] = out[j]!;
    this.opts.cache.store(model.info.cacheNamespace, batch, compute, out);
  }
}

/** countRanges' per-feature counts, read before it returns; and each feature's metric labels, built once. */
const RANGE_COUNTS = new Uint32Array(WIDTH);
const FEATURE_LABELS = FEATURES.map((feature) => ({ feature }));

/** Counts the rows outside the card's training ranges (every prediction, plain or detailed: one pass, no allocation). */
function countRanges(metrics: Metrics, info: ModelInfo, tensor: Float32Array, rows: number): void {
  const ranges = featureRanges(info.card);
  if (!ranges) return;
  const counts = countOutOfRange(tensor, rows, ranges, RANGE_COUNTS);
  if (counts.rows === 0) return;
  metrics.rowsOutOfRange.inc(counts.rows);
  for (let c = 0; c < FEATURES.length; c++) {
    const n = counts.perFeature[c]!;
    if (n > 0) metrics.outOfRange.inc(FEATURE_LABELS[c]!, n);
  }
}
