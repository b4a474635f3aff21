import { problemResponse } from "../http/problems";
import type { CoreRequest, CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { toTensor } from "../inference/predictor";
import { WIDTH } from "../input/features";
import { scanHouse, scanHouses } from "../input/house-bytes-scanner";
import { packBulk } from "../input/house-object-packer";
import { HouseSchema } from "../input/schemas";
import { parseJson, validate, validateBulk } from "../input/validation";
import { parsePredictionOptions } from "../input/prediction-options";
import { answerPrediction } from "./prediction-detail";

/**
 * POST /predict and POST /bulk_predict: body bytes → tensor (fast scan, else JSON.parse + zod) → predictor, plus
 * `?detail=true&level=…` (shared/input/prediction-options.ts) for intervals (./prediction-detail.ts).
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
    return predictResponse(tensor, 1, options.value, false);
  }

  async function predictMany(req: CoreRequest): Promise<CoreResponse> {
    const options = parsePredictionOptions(req.query);
    if (!options.ok) return problemResponse(options.failure);
    const bytes = await readJsonBytes(req);
    if (!bytes.ok) return problemResponse(bytes.failure);
    const scanned = scanHouses(bytes.value, config.MAX_BATCH);
    if (scanned) return predictResponse(scanned.tensor, scanned.rows, options.value, true);
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
    return predictResponse(packed.tensor, packed.rows, options.value, true);
  }

  return [
    { name: "predict", method: "POST", route: "/predict", apiKey: true, rateLimited: true, handler: predictOne },
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

function tooManyHouses(count: number, max: number): CoreResponse {
  return problemResponse({
    code: "payload_too_large",
    detail: `houses has ${count} items; the limit is ${max} (MAX_BATCH)`,
    errors: [{ path: "houses", message: `must contain at most ${max} items`, received: `array(${count})` }],
  });
}
