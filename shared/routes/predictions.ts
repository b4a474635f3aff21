import { createApiKeyCheck } from "../access/api-keys";
import { notModified, predictionCacheHeaders } from "../http/edge-cache";
import { ifNoneMatchMatches, predictionETag } from "../http/etag";
import { problemResponse } from "../http/problems";
import { jsonResponse, type CoreRequest, type CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { toTensor, type PredictOutcome } from "../inference/predictor";
import { BIG_ROWS, nextTurn } from "../inference/turn-taking";
import { WIDTH } from "../input/features";
import { scanHouse, scanHouses } from "../input/house-bytes-scanner";
import { packBulk } from "../input/house-object-packer";
import { parseQueryHouse } from "../input/query-house";
import { responseOptionsKey } from "../input/response-options";
import { HouseSchema } from "../input/schemas";
import { parseJson, validate, validateBulk } from "../input/validation";

/** How a prediction's rows were served, as an RFC 9211 Cache-Status header. */
export function cacheStatus(o: PredictOutcome): string {
  const total = o.values.length;
  if (o.hits === total) return "house-price; hit";
  const detail = `detail="hits=${o.hits} collapsed=${o.collapsed} computed=${o.computed} rows=${total}"`;
  const fwd = o.hits > 0 ? "partial" : "miss";
  return `house-price; fwd=${fwd}${o.computed > 0 ? "; stored" : ""}${o.collapsed > 0 ? "; collapsed" : ""}; ${detail}`;
}

/**
 * POST /predict and POST /bulk_predict: body bytes → tensor (fast scan, else JSON.parse + zod) → predictor.
 * GET /predict: the query → tensor (shared/input/query-house.ts) → the same predictor, answered cacheably.
 */
export function predictionRoutes(ctx: ServiceContext): Endpoint[] {
  const { config, predictor, readJsonBytes } = ctx;
  const predictResponse = answerWith(predictor);

  async function predictOne(req: CoreRequest): Promise<CoreResponse> {
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
    return predictResponse(tensor, 1, (v) => ({ house_value: v[0] }));
  }

  async function predictMany(req: CoreRequest): Promise<CoreResponse> {
    const bytes = await readJsonBytes(req);
    if (!bytes.ok) return problemResponse(bytes.failure);
    const scanned = scanHouses(bytes.value, config.MAX_BATCH);
    if (scanned) return predictResponse(scanned.tensor, scanned.rows, (v) => ({ house_values: v }));
    const body = parseJson(bytes.value);
    if (!body.ok) return problemResponse(body.failure);
    const rows = (body.value as { houses?: unknown } | null)?.houses;
    // Refuse an oversized batch before validating thousands of rows.
    if (Array.isArray(rows) && rows.length > config.MAX_BATCH) return tooManyHouses(rows.length, config.MAX_BATCH);
    let packed = packBulk(body.value);
    if (!packed) {
      const houses = await validateBulk(body.value);
      if (!houses.ok) return problemResponse(houses.failure);
      packed = { tensor: toTensor(houses.value), rows: houses.value.length };
    }
    return predictResponse(packed.tensor, packed.rows, (v) => ({ house_values: v }));
  }

  return [
    { name: "predict", method: "POST", route: "/predict", apiKey: true, rateLimited: true, handler: predictOne },
    {
      name: "predict_query",
      method: "GET",
      route: "/predict",
      apiKey: true,
      rateLimited: true,
      handler: cacheablePrediction(ctx),
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

type PredictResponse = (tensor: Float32Array, rows: number, shape: (v: number[]) => unknown) => Promise<CoreResponse>;

/** Runs the predictor on `rows` rows and shapes a 200 (with Cache-Status), or answers its failure. */
function answerWith(predictor: ServiceContext["predictor"]): PredictResponse {
  return async (tensor, rows, shape) => {
    const result = await predictor.predict(tensor, rows);
    if (!result.ok) return problemResponse(result.failure);
    if (rows >= BIG_ROWS) await nextTurn();
    return jsonResponse(200, shape(result.value.values), { "cache-status": cacheStatus(result.value) });
  };
}

/**
 * GET /predict: the query → one row (shared/input/query-house.ts) → the same predictor as POST /predict, answered
 * with a strong ETag and public caching (private with API keys); a matching If-None-Match gets 304.
 */
function cacheablePrediction({
  config,
  holder,
  predictor,
}: ServiceContext): (req: CoreRequest) => Promise<CoreResponse> {
  const predictResponse = answerWith(predictor);
  // With keys (ours, or Azure Functions' function keys) every answer is private: no shared cache may hand it to
  // a caller without one. A function key may come as `?code=`: the platform checks it, the grammar lets it be.
  const functionKeys = config.FUNCTION_AUTH_LEVEL === "function";
  const keyed = functionKeys || createApiKeyCheck(config.API_KEYS) !== undefined;
  const platformParams = new Set(functionKeys ? ["code"] : []);

  /** The caching headers for this row under the loaded model, or undefined while no model is loaded. */
  function cacheHeadersFor(tensor: Float32Array, optionsKey: string): Record<string, string> | undefined {
    const state = holder.state;
    if (state.state !== "ready") return undefined;
    return predictionCacheHeaders(predictionETag(state.info.sha256, tensor, optionsKey), keyed);
  }

  return async function predictFromQuery(req: CoreRequest): Promise<CoreResponse> {
    const parsed = parseQueryHouse(req.query, platformParams);
    if (!parsed.ok) return problemResponse(parsed.failure);
    const { tensor, options } = parsed.value;
    const optionsKey = responseOptionsKey(options);
    const ifNoneMatch = req.headers["if-none-match"];
    // A revalidation is answered from the model's sha256 alone, without running the model.
    const known = cacheHeadersFor(tensor, optionsKey);
    if (known && ifNoneMatchMatches(ifNoneMatch, known.etag!)) return notModified(known);
    const res = await predictResponse(tensor, 1, (v) => ({ house_value: v[0] }));
    // Errors keep the default no-store; only a 200 (or the 304 below) is cacheable. The model is loaded once
    // per process, so the sha256 read after the prediction is the one that computed it.
    const headers = res.status === 200 ? cacheHeadersFor(tensor, optionsKey) : undefined;
    if (!headers) return res;
    if (ifNoneMatchMatches(ifNoneMatch, headers.etag!)) return notModified(headers);
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
