import type { PredictionCache } from "../cache";
import type { RowBatch } from "../cache/row-table";
import { WIDTH } from "../input/features";
import { fail, ok, type Result } from "../http/core";
import type { Metrics } from "../ops/metrics";
import type { ModelInfo } from "./model";
import type { Predictor } from "./predictor";
import { SingleFlight } from "./single-flight";
import { INTERVAL_INPUT_WIDTH, type IntervalModel, type IntervalModels } from "./interval-model";
import { copyValues } from "../input/small-arrays";

export interface IntervalOutcome {
  low: number[];
  high: number[];
  /** Rows whose interval came from the cache, joined a run in flight, or was computed here. */
  hits: number;
  collapsed: number;
  computed: number;
}

export interface IntervalPredictorOptions {
  models: IntervalModels;
  /** The point predictor: interval rows count against the same MAX_INFLIGHT_ROWS bound as points. */
  bound: Pick<Predictor, "reserve" | "release">;
  cache: PredictionCache;
  metrics: Metrics;
}

/**
 * Intervals for rows whose points are known, the way Predictor serves points: per-row cache (namespaced per level
 * and bound, beside the model's point values), identical rows in flight computed once, one micro-batched run of
 * the interval graph for the rest. A run yields every level, so requests for different levels can share it.
 */
export class IntervalPredictor {
  private readonly flight = new SingleFlight();

  constructor(private readonly opts: IntervalPredictorOptions) {}

  /** Intervals at `level` for the rows of `batch` (as the point predictor keyed them) whose points are `points`. */
  async intervals(
    info: ModelInfo,
    batch: RowBatch,
    points: readonly number[],
    level: number,
  ): Promise<Result<IntervalOutcome>> {
    const reserved = this.opts.bound.reserve(batch.rows);
    if (!reserved.ok) return reserved;
    try {
      return await this.serve(info, batch, points, level);
    } finally {
      this.opts.bound.release(batch.rows);
    }
  }

  private async serve(
    info: ModelInfo,
    batch: RowBatch,
    points: readonly number[],
    level: number,
  ): Promise<Result<IntervalOutcome>> {
    const n = batch.rows;
    const got = await this.opts.models.get(info);
    if (!got.ok) return got;
    const model = got.value;
    const k = model.levels.indexOf(level);
    if (k < 0) return fail("model_unavailable", `The interval model has no level ${level}`);
    const { cache, metrics } = this.opts;
    const namespace = `${info.cacheNamespace}/interval-${level}`;
    const [lows, highs] = await Promise.all([
      cache.lookup(`${namespace}-low`, batch, { uncounted: true }),
      cache.lookup(`${namespace}-high`, batch, { uncounted: true }),
    ]);
    const low = lows.values;
    const high = highs.values;
    const missing = (i: number) => low[i] === undefined || high[i] === undefined;
    let hits = 0;
    for (let i = 0; i < n; i++) if (!missing(i)) hits++;
    const { computed, collapsed } = await this.fill(info, model, batch, points, missing, { low, high, k });
    const rows = { low: [] as number[], high: [] as number[] };
    for (const i of computed) {
      rows.low.push(low[i]!);
      rows.high.push(high[i]!);
    }
    cache.store(`${namespace}-low`, batch, computed, rows.low);
    cache.store(`${namespace}-high`, batch, computed, rows.high);
    if (hits > 0) metrics.intervalRows.inc({ source: "cache" }, hits);
    if (collapsed > 0) metrics.intervalRows.inc({ source: "collapsed" }, collapsed);
    if (computed.length > 0) metrics.intervalRows.inc({ source: "model" }, computed.length);
    return ok({ low: low as number[], high: high as number[], hits, collapsed, computed: computed.length });
  }

  /** Fills `into` for the `missing` rows: joins runs in flight for the same rows, runs the graph on the rest. */
  private async fill(
    info: ModelInfo,
    model: IntervalModel,
    batch: RowBatch,
    points: readonly number[],
    missing: (i: number) => boolean,
    into: { low: (number | undefined)[]; high: (number | undefined)[]; k: number },
  ): Promise<{ computed: number[]; collapsed: number }> {
    const namespace = `${info.cacheNamespace}/interval`;
    const L = model.levels.length;
    const { joined, compute, run } = this.flight.claim(batch, namespace, missing);
    const take = (out: Float32Array, at: number, i: number) => {
      into.low[i] = out[at * 2 * L + into.k]!;
      into.high[i] = out[at * 2 * L + L + into.k]!;
    };
    if (run) {
      const input = new Float32Array(compute.length * INTERVAL_INPUT_WIDTH);
      compute.forEach((i, j) => {
        copyValues(batch.tensor, i * WIDTH, input, j * INTERVAL_INPUT_WIDTH, WIDTH);
        input[j * INTERVAL_INPUT_WIDTH + WIDTH] = points[i]!;
      });
      await this.flight.settle(
        batch,
        run,
        compute,
        () => model.infer(input, compute.length),
        (out) => compute.forEach((i, j) => take(out, j, i)),
      );
    }
    for (const j of joined) take(await j.run.done, j.at, j.index);
    return { computed: compute, collapsed: joined.length };
  }
}
