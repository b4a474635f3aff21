import { fail, ok, type Result } from "../http";
import type { IntervalOutcome, IntervalPredictor } from "../inference/interval-predictor";
import { countOutOfRange, featureRanges, outOfRangeFeatures, type FeatureRanges } from "../input/out-of-range";
import { FEATURES } from "../features";
import type { Metrics } from "../metrics";
import type { ModelInfo } from "../model";

/** Counts the rows outside the card's training ranges (every prediction, plain or detailed: one pass, no allocation). */
export function countRanges(metrics: Metrics, info: ModelInfo, tensor: Float32Array, rows: number): void {
  const ranges = featureRanges(info.card);
  if (!ranges) return;
  const counts = countOutOfRange(tensor, rows, ranges);
  if (counts.rows === 0) return;
  metrics.rowsOutOfRange.inc(counts.rows);
  for (let c = 0; c < FEATURES.length; c++) {
    const n = counts.perFeature[c]!;
    if (n > 0) metrics.outOfRange.inc({ feature: FEATURES[c]! }, n);
  }
}

interface Interval {
  level: number;
  low: number;
  high: number;
}
interface RowDetail {
  interval: Interval;
  out_of_range: string[];
}

export interface DetailContext {
  intervals: IntervalPredictor;
  info: ModelInfo;
}

/** The detail of every row at `level` (one the card lists), in input order. */
export async function rowDetails(
  ctx: DetailContext,
  level: number,
  tensor: Float32Array,
  points: readonly number[],
  rows: number,
): Promise<Result<RowDetail[]>> {
  const got: Result<IntervalOutcome> = await ctx.intervals.intervals(ctx.info, tensor, points, rows, level);
  if (!got.ok) return got;
  const ranges: FeatureRanges | undefined = featureRanges(ctx.info.card);
  if (!ranges) return fail("model_unavailable", "The model card lists no training ranges");
  const { low, high } = got.value;
  const details: RowDetail[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    details[i] = {
      interval: { level, low: low[i]!, high: high[i]! },
      out_of_range: outOfRangeFeatures(tensor, i, ranges),
    };
  }
  return ok(details);
}

/** `POST /predict?detail=true` (and GET): the point, its interval, the features out of range, the model version. */
export function singleDetailBody(value: number, d: RowDetail, info: ModelInfo): unknown {
  return { house_value: value, interval: d.interval, out_of_range: d.out_of_range, model_version: info.version };
}

/** `POST /bulk_predict?detail=true`: the points as today, then one detail per row in input order. */
export function bulkDetailBody(values: readonly number[], details: RowDetail[], info: ModelInfo): unknown {
  return { house_values: values, details, model_version: info.version };
}
