import { notModified, predictionCacheHeaders } from "../http/edge-cache";
import { ifNoneMatchMatches, predictionETag } from "../http/etag";
import { problemResponse } from "../http/problems";
import type { CoreRequest, CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { toTensor } from "../inference/predictor";
import { WIDTH } from "../input/features";
import { scanHouse, scanHouses } from "../input/house-bytes-scanner";
import { packBulk } from "../input/house-object-packer";
import { parseQueryHouse } from "../input/query-house";
import { responseOptionsKey, type ResponseOptions } from "../input/response-options";
import { HouseSchema } from "../input/schemas";
import { parseJson, validate, validateBulk } from "../input/validation";
import { parsePredictionOptions, resolveLevel } from "../input/prediction-options";
import { intervalLevels } from "../input/interval-levels";
import { answerPrediction, type PredictResponse } from "./prediction-detail";

/**
 * POST /predict and POST /bulk_predict: body bytes → tensor (fast scan, else JSON.parse + zod) → predictor, plus
 * `?detail=true&level=…` (shared/input/prediction-options.ts) for intervals (./prediction-detail.ts).
 * GET /predict: the query → tensor (shared/input/query-house.ts) → the same predictor, answered cacheably.
 */
export function predictionRoutes(ctx: ServiceContext): Endpoint[] {
  const { config, readJsonBytes } = ctx;
  const predictResponse = answerPrediction(ctx);

  async function predictOne(req: CoreRequest): Promise<CoreResponse> {
    const options = parsePredictionOptions(req.query);
    if (!options.ok) return problemResponse(options.failure);
    const bytes = await readJsonBytes(req);
    if (!bytes.ok) return problemResponse(bytes.failure);
    const tensor = new Float32Array(WIDTH);
    // Fast path: the bytes straight into the tensor. Anything it does not vouch for is parsed and checked
    // again below, so the answer (and every error message) is the slow path's.
    if (!scanHouse(bytes.value, tensor, 0)) {
      const body = parseJson(bytes.value);
      if (!body.ok) return problemResponse(body.failure);
      // zod decides, and says exactly what is wrong.
      const house = validate(HouseSchema, body.value);
      if (!house.ok) return problemResponse(house.failure);
      tensor.set(toTensor([house.value]));
    }
    // Awaited rather than returned: an async function returning a promise settles through a thenable job.
    return await predictResponse(tensor, 1, options.value, false);
  }

  async function predictMany(req: CoreRequest): Promise<CoreResponse> {
    const options = parsePredictionOptions(req.query);
    if (!options.ok) return problemResponse(options.failure);
    const packed = await bulkRows(req);
    if (!("tensor" in packed)) return packed;
    return await predictResponse(packed.tensor, packed.rows, options.value, true);
  }

  /**
   * A bulk body as a tensor (fast scan, else JSON.parse + zod), or the answer that refuses it. Its own function so
   * that nothing refers to the body once it is packed: a 10,000-row body (1.7 MB) is garbage while its rows wait
   * for the model, instead of living in the handler's suspended frame until the answer is sent.
   */
  async function bulkRows(req: CoreRequest): Promise<{ tensor: Float32Array; rows: number } | CoreResponse> {
    const bytes = await readJsonBytes(req);
    if (!bytes.ok) return problemResponse(bytes.failure);
    const scanned = scanHouses(bytes.value, config.MAX_BATCH);
    if (scanned) return scanned;
    const body = parseJson(bytes.value);
    if (!body.ok) return problemResponse(body.failure);
    const rows = (body.value as { houses?: unknown } | null)?.houses;
    // Refuse an oversized batch before validating thousands of rows.
    if (Array.isArray(rows) && rows.length > config.MAX_BATCH) return tooManyHouses(rows.length, config.MAX_BATCH);
    const packed = packBulk(body.value);
    if (packed) return packed;
    const houses = await validateBulk(body.value);
    if (!houses.ok) return problemResponse(houses.failure);
    return { tensor: toTensor(houses.value), rows: houses.value.length };
  }

  return [
    { name: "predict", method: "POST", route: "/predict", apiKey: true, rateLimited: true, handler: predictOne },
    {
      name: "predict_query",
      method: "GET",
      route: "/predict",
      apiKey: true,
      rateLimited: true,
      handler: cacheablePrediction(ctx, predictResponse),
    },
    {
      name: "bulk_predict",
      method: "POST",
      route: "/bulk_predict",
      apiKey: true,
      rateLimited: true,
      handler: predictMany,
    },
  ];
}

/**
 * GET /predict: the query → one row (shared/input/query-house.ts) → the same predictor as POST /predict, answered
 * with a strong ETag and public caching (private with API keys); a matching If-None-Match gets 304.
 */
function cacheablePrediction(
  ctx: ServiceContext,
  predictResponse: PredictResponse,
): (req: CoreRequest) => Promise<CoreResponse> {
  const { config, holder } = ctx;
  // With keys (ours, or Azure Functions' function keys) every answer is private: no shared cache may hand it to
  // a caller without one. A function key may come as `?code=`: the platform checks it, the grammar lets it be.
  const functionKeys = config.FUNCTION_AUTH_LEVEL === "function";
  const keyed = functionKeys || ctx.apiKeyCheck !== undefined;
  const platformParams = new Set(functionKeys ? ["code"] : []);

  /**
   * The caching headers for this row under the loaded model, or undefined while no model is loaded. The ETag
   * hashes what decides the body: the point model, the row and, for a detail answer, the interval model's
   * sha256 and the level actually served (an absent level and the card's default share one tag; a plain answer
   * ignores `level`).
   */
  function cacheHeadersFor(tensor: Float32Array, options: ResponseOptions): Record<string, string> | undefined {
    const state = holder.state;
    if (state.state !== "ready") return undefined;
    const card = state.info.card as { intervals?: { sha256?: unknown } };
    let key = responseOptionsKey({ detail: false });
    if (options.detail) {
      const level = resolveLevel(options, intervalLevels(state.info.card));
      key = `${responseOptionsKey({ detail: true, level: level.ok ? level.value : options.level })}&intervals=${String(card.intervals?.sha256 ?? "")}`;
    }
    return predictionCacheHeaders(predictionETag(state.info.sha256, tensor, key), keyed);
  }

  return async function predictFromQuery(req: CoreRequest): Promise<CoreResponse> {
    const parsed = parseQueryHouse(req.query, platformParams);
    if (!parsed.ok) return problemResponse(parsed.failure);
    const { tensor, options } = parsed.value;
    const ifNoneMatch = req.headers["if-none-match"];
    // A revalidation is answered from the model's sha256 alone, without running the model.
    const known = cacheHeadersFor(tensor, options);
    if (known && ifNoneMatchMatches(ifNoneMatch, known.etag!)) return notModified(known);
    const res = await predictResponse(tensor, 1, options, false);
    // Errors keep the default no-store; only a 200 (or the 304 below) is cacheable. The model is loaded once per
    // process, so the tag computed before the prediction still holds; only a model that finished loading
    // meanwhile needs one computed now (its sha256 is the one that computed the answer).
    const headers = res.status === 200 ? (known ?? cacheHeadersFor(tensor, options)) : undefined;
    if (!headers) return res;
    if (!known && ifNoneMatchMatches(ifNoneMatch, headers.etag!)) return notModified(headers);
    Object.assign(res.headers, headers);
    return res;
  };
}

function tooManyHouses(count: number, max: number): CoreResponse {
  return problemResponse({
    code: "payload_too_large",
    detail: `houses has ${count} items; the limit is ${max} (MAX_BATCH)`,
    errors: [{ path: "houses", message: `must contain at most ${max} items`, received: `array(${count})` }],
  });
}
