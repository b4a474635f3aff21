import { fail, jsonResponse, ok, type CoreResponse, type Result } from "../http/core";
import type { ServiceContext } from "../http/endpoint";
import { problemResponse } from "../http/problems";
import type { RowBatch } from "../cache/row-table";
import type { PredictOutcome } from "../inference/predictor";
import { BIG_ROWS, nextTurn } from "../inference/turn-taking";
import { resolveLevel } from "../input/prediction-options";
import { intervalLevels } from "../input/interval-levels";
import type { ResponseOptions } from "../input/response-options";
import type { IntervalOutcome, IntervalPredictor } from "../inference/interval-predictor";
import { featureRanges, outOfRangeFeatures, type FeatureRanges } from "../input/out-of-range";
import type { ModelInfo } from "../inference/model";

/** Answers a prediction of `rows` rows: POST /predict and GET /predict (`bulk` false), POST /bulk_predict. */
export type PredictResponse = (
  tensor: Float32Array,
  rows: number,
  options: ResponseOptions,
  bulk: boolean,
) => Promise<CoreResponse>;

/**
 * Runs the predictor and answers: the plain body (`{house_value}` / `{house_values}`, unchanged by detail), or with
 * `detail=true` the intervals and out-of-range features too. Rows out of range are counted either way, and a level
 * is checked against the card even without detail=true (a level it lacks is a 422 either way); the interval model
 * runs only for detail.
 */
export function answerPrediction(ctx: Pick<ServiceContext, "predictor" | "holder" | "intervals">) {
  const { predictor, holder, intervals } = ctx;
  const answer: PredictResponse = async (tensor, rows, options, bulk) => {
    const result = await predictor.predict(tensor, rows);
    if (!result.ok) return problemResponse(result.failure);
    const info = holder.get()?.info;
    if (rows >= BIG_ROWS) await nextTurn();
    const { values } = result.value;
    const headers = { "content-type": "application/json", "cache-status": cacheStatus(result.value) };
    if (info && (options.detail || options.level !== undefined)) {
      const level = resolveLevel(options, intervalLevels(info.card));
      if (!level.ok) return problemResponse(level.failure);
      if (options.detail) return await detailAnswer({ intervals, info }, level.value, result.value, bulk, headers);
    }
    return { status: 200, headers, body: plainBody(values, bulk) };
  };
  return answer;
}

/**
 * The plain answer's JSON. A single value is written into the text without JSON.stringify walking an object for
 * it, but still printed by JSON.stringify: `${v}` would go through V8's number-to-string cache, which keeps each
 * new number's string until another number takes its slot. Unique predictions made every such string outlive two
 * scavenges and move to old space (~21 bytes per request of old-space growth, a Mark-Compact every few seconds
 * under load: BENCHMARKS.md, Round 6); JSON.stringify prints into its own buffer. NaN and ±∞ print as null.
 */
export function plainBody(values: readonly number[], bulk: boolean): string {
  if (bulk) return JSON.stringify({ house_values: values });
  return `{"house_value":${JSON.stringify(values[0]!)}}`;
}

/** The answer with `detail=true`: each row's interval at `level` and its features outside the training ranges. */
async function detailAnswer(
  ctx: DetailContext,
  level: number,
  outcome: PredictOutcome,
  bulk: boolean,
  headers: Record<string, string>,
): Promise<CoreResponse> {
  const { values } = outcome;
  const info = ctx.info;
  const details = await rowDetails(ctx, level, outcome.batch, values);
  if (!details.ok) return problemResponse(details.failure);
  const body = bulk
    ? bulkDetailBody(values, details.value, info)
    : singleDetailBody(values[0]!, details.value[0]!, info);
  return jsonResponse(200, body, headers);
}

/** How a prediction's rows were served, as an RFC 9211 Cache-Status header. */
export function cacheStatus(o: PredictOutcome): string {
  const total = o.values.length;
  if (o.hits === total) return "house-price; hit";
  // A single /predict row is computed or collapsed: its header is one of two constants, not formatted per request.
  if (total === 1) return o.computed === 1 ? ONE_COMPUTED : ONE_COLLAPSED;
  return formatStatus(o.hits, o.collapsed, o.computed, total);
}

function formatStatus(hits: number, collapsed: number, computed: number, total: number): string {
  const detail = `detail="hits=${hits} collapsed=${collapsed} computed=${computed} rows=${total}"`;
  const fwd = hits > 0 ? "partial" : "miss";
  return `house-price; fwd=${fwd}${computed > 0 ? "; stored" : ""}${collapsed > 0 ? "; collapsed" : ""}; ${detail}`;
}
const ONE_COMPUTED = formatStatus(0, 0, 1, 1);
const ONE_COLLAPSED = formatStatus(0, 1, 0, 1);

interface Interval {
  level: number;
  low: number;
  high: number;
}
interface RowDetail {
  interval: Interval;
  out_of_range: string[];
}

interface DetailContext {
  intervals: IntervalPredictor;
  info: ModelInfo;
}

/** The detail of every row at `level` (one the card lists), in input order. */
async function rowDetails(
  ctx: DetailContext,
  level: number,
  batch: RowBatch,
  points: readonly number[],
): Promise<Result<RowDetail[]>> {
  const got: Result<IntervalOutcome> = await ctx.intervals.intervals(ctx.info, batch, points, level);
  if (!got.ok) return got;
  const { rows, tensor } = batch;
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
function singleDetailBody(value: number, d: RowDetail, info: ModelInfo): unknown {
  return { house_value: value, interval: d.interval, out_of_range: d.out_of_range, model_version: info.version };
}

/** `POST /bulk_predict?detail=true`: the points as today, then one detail per row in input order. */
function bulkDetailBody(values: readonly number[], details: RowDetail[], info: ModelInfo): unknown {
  return { house_values: values, details, model_version: info.version };
}
