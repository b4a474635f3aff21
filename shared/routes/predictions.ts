import { problemResponse } from "../http/problems";
import { jsonResponse, type CoreRequest, type CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { toTensor, type PredictOutcome } from "../inference/predictor";
import { BIG_ROWS, nextTurn } from "../inference/turn-taking";
import { WIDTH } from "../input/features";
import { scanHouse, scanHouses } from "../input/house-bytes-scanner";
import { packBulk } from "../input/house-object-packer";
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

/** POST /predict and POST /bulk_predict: body bytes → tensor (fast scan, else JSON.parse + zod) → predictor. */
export function predictionRoutes(ctx: ServiceContext): Endpoint[] {
  const { config, predictor, readJsonBytes } = ctx;

  async function predictResponse(
    tensor: Float32Array,
    rows: number,
    shape: (values: number[]) => unknown,
  ): Promise<CoreResponse> {
    const result = await predictor.predict(tensor, rows);
    if (!result.ok) return problemResponse(result.failure);
    if (rows >= BIG_ROWS) await nextTurn();
    return jsonResponse(200, shape(result.value.values), { "cache-status": cacheStatus(result.value) });
  }

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
