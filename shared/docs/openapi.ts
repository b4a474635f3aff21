import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import type { Config } from "../ops/config";
import { registerOpenInferencePaths } from "./open-inference-paths";
import {
  AppIdentifierSchema,
  BulkDetailResponseSchema,
  BulkRequestSchema,
  BulkResponseSchema,
  CelsiusResponseSchema,
  FahrenheitQuerySchema,
  HealthSchema,
  ModelEngineSchema,
  HelloQuerySchema,
  HelloResponseSchema,
  HouseSchema,
  LegacyErrorSchema,
  PredictDetailResponseSchema,
  PredictionOptionsQuerySchema,
  PredictResponseSchema,
  ProblemSchema,
} from "../input/schemas";

/** Security requirements as configured (Requirement[] of the OpenAPI security field). */
type Requirement = Record<string, string[]>;
const KEYS: Requirement[] = [{ apiKey: [] }, { bearer: [] }];

const problem = (description: string): ResponseConfig => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});

const PREDICTION_ERRORS: Record<number, ResponseConfig> = {
  400: problem("Malformed JSON, invalid UTF-8 or an empty body"),
  401: problem("API_KEYS is set and the request carries no valid key (X-API-Key or Authorization: Bearer)"),
  413: problem("Body over MAX_BODY_BYTES or more houses than MAX_BATCH"),
  415: problem("Content-Type is not application/json"),
  422: problem(
    "A field failed validation, or `detail`/`level` is not allowed (a level the model card does not list); " +
      "`errors` lists every failing field with its path and value",
  ),
  429: problem("Rate limit exceeded; see Retry-After"),
  503: problem("Model not loaded yet, or the server is overloaded; see Retry-After"),
};

const cachingHeaders = z.object({
  ETag: z.string().meta({ description: "Strong validator: the model's sha256, the row's float32 bits, the options" }),
  "Cache-Control": z.string().meta({
    description: "`public, max-age=60, s-maxage=86400`; `private, no-store` when API_KEYS is set",
  }),
});

const cacheStatusHeader = z.string().meta({
  description:
    'RFC 9211 Cache-Status, e.g. `house-price; hit` or `house-price; fwd=partial; stored; detail="hits=3 ..."`',
});

/** GET /predict (shared/routes/predictions.ts): the cacheable form of POST /predict. */
function predictQueryPath(registry: OpenAPIRegistry, security: Requirement[]): void {
  registry.registerPath({
    method: "get",
    path: "/predict",
    operationId: "predictHouseFromQuery",
    security,
    summary: "Predict one house's median value, cacheable (CDN, browser)",
    description:
      "The eight features as query parameters, each once, written as JSON numbers (no hex, blanks or empty " +
      "values); any other parameter is refused. The same validation and answer as POST /predict, plus caching " +
      "headers and 304 Not Modified on a matching If-None-Match. With `detail=true` also a calibrated prediction " +
      "interval at `level` and the features outside the training range, exactly as on the POST.",
    request: {
      query: z.object(HouseSchema.shape).extend(PredictionOptionsQuerySchema.shape),
      headers: z.object({
        "If-None-Match": z.string().optional().meta({ description: "An ETag from an earlier answer" }),
      }),
    },
    responses: {
      200: {
        description: "The prediction (`PredictDetailResponse` with `?detail=true`)",
        headers: cachingHeaders.extend({ "Cache-Status": cacheStatusHeader }),
        content: { "application/json": { schema: z.union([PredictResponseSchema, PredictDetailResponseSchema]) } },
      },
      304: { description: "Not modified: If-None-Match matches the current ETag", headers: cachingHeaders },
      401: PREDICTION_ERRORS[401]!,
      422: problem(
        "A parameter is unknown, repeated, not a JSON number, missing or out of range, or `level` is not one of the " +
          "model card's levels; `errors` names it",
      ),
      429: PREDICTION_ERRORS[429]!,
      503: PREDICTION_ERRORS[503]!,
    },
  });
}

/** POST /predict and POST /bulk_predict (shared/routes/predictions.ts). */
function predictionPaths(registry: OpenAPIRegistry, config: Config, security: Requirement[]): void {
  registry.registerPath({
    method: "post",
    path: "/predict",
    operationId: "predictHouse",
    security,
    summary: "Predict one house's median value",
    description:
      "Returns the predicted median house value in units of $100,000. With `?detail=true` also a calibrated " +
      "prediction interval at `level` and the features outside the training range.",
    request: {
      query: PredictionOptionsQuerySchema,
      body: { required: true, content: { "application/json": { schema: HouseSchema } } },
    },
    responses: {
      200: {
        description: "The prediction (`PredictDetailResponse` with `?detail=true`)",
        headers: z.object({ "Cache-Status": cacheStatusHeader }),
        content: { "application/json": { schema: z.union([PredictResponseSchema, PredictDetailResponseSchema]) } },
      },
      ...PREDICTION_ERRORS,
    },
  });
  registry.registerPath({
    method: "post",
    path: "/bulk_predict",
    operationId: "predictHouses",
    security,
    summary: "Predict many houses in one call",
    description: `1 to ${config.MAX_BATCH} houses (MAX_BATCH); values come back in input order, each identical to /predict's.`,
    request: {
      query: PredictionOptionsQuerySchema,
      body: { required: true, content: { "application/json": { schema: BulkRequestSchema } } },
    },
    responses: {
      200: {
        description: "One value per house, in input order (with `?detail=true`, one detail per house too)",
        headers: z.object({ "Cache-Status": cacheStatusHeader }),
        content: { "application/json": { schema: z.union([BulkResponseSchema, BulkDetailResponseSchema]) } },
      },
      ...PREDICTION_ERRORS,
    },
  });
}

/** /hello, /api/convert-fahrenheit-to-celsius and /api/healthcheck (shared/routes/seed-utilities.ts). */
function seedUtilityPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "get",
    path: "/hello",
    operationId: "hello",
    security: [],
    summary: "Greeting",
    request: { query: HelloQuerySchema },
    responses: {
      200: { description: "Greeting", content: { "application/json": { schema: HelloResponseSchema } } },
      422: problem("name missing or empty"),
    },
  });
  registry.registerPath({
    method: "get",
    path: "/api/convert-fahrenheit-to-celsius",
    operationId: "convertFahrenheitToCelsius",
    security: [],
    summary: "Convert Fahrenheit to Celsius",
    request: { query: FahrenheitQuerySchema },
    responses: {
      200: { description: "Converted", content: { "application/json": { schema: CelsiusResponseSchema } } },
      400: {
        description: "Missing or non-numeric value",
        content: { "application/json": { schema: LegacyErrorSchema } },
      },
    },
  });
  registry.registerPath({
    method: "get",
    path: "/api/healthcheck",
    operationId: "getReplicaId",
    security: [],
    summary: "Which replica answered",
    responses: {
      200: { description: "The replica's id", content: { "application/json": { schema: AppIdentifierSchema } } },
    },
  });
}

/** /health, /model and /metrics (shared/routes/operations.ts). */
function operationPaths(registry: OpenAPIRegistry, metricsSecurity: Requirement[]): void {
  registry.registerPath({
    method: "get",
    path: "/health",
    operationId: "getHealth",
    security: [],
    summary: "Readiness: 200 once the model is loaded, 503 while it is not",
    responses: {
      200: { description: "Serving", content: { "application/json": { schema: HealthSchema } } },
      503: {
        description: "Model not loaded (reason given)",
        content: { "application/json": { schema: HealthSchema } },
      },
    },
  });
  registry.registerPath({
    method: "get",
    path: "/model",
    operationId: "getModelCard",
    security: [],
    summary: "The served model's card (metrics, feature ranges, sha256) and where it was loaded from",
    responses: {
      200: {
        description: "Model card",
        content: {
          "application/json": {
            schema: z.object({
              source: z.string(),
              engine: ModelEngineSchema,
              card: z.record(z.string(), z.unknown()),
            }),
          },
        },
      },
      503: problem("Model not loaded yet"),
    },
  });
  registry.registerPath({
    method: "get",
    path: "/metrics",
    operationId: "getMetrics",
    security: metricsSecurity,
    summary: "Prometheus metrics",
    responses: {
      200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } },
      401: problem("METRICS_TOKEN is set and Authorization: Bearer <METRICS_TOKEN> is missing or wrong"),
    },
  });
}

/**
 * The OpenAPI 3.1 document for a configuration (limits such as MAX_BATCH appear in it), generated from the zod
 * schemas that validate requests. The service builds it once, on the first request for it. A route family
 * documents its paths in a function of its own here.
 */
export function openApiDocument(config: Config): string {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "apiKey", {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
    description: "One of API_KEYS (prediction endpoints)",
  });
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key as a bearer token (prediction endpoints), or METRICS_TOKEN (/metrics)",
  });
  // Security as configured: with API_KEYS (METRICS_TOKEN) unset a key is optional (the empty requirement `{}`
  // first), so clients generated from this document can still send one to a service that wants it.
  const predictionSecurity: Requirement[] = config.API_KEYS ? KEYS : [{}, ...KEYS];
  const metricsSecurity: Requirement[] = config.METRICS_TOKEN ? [{ bearer: [] }] : [{}, { bearer: [] }];
  // Schemas carrying a `.meta({ id })` become named components wherever they are referenced.
  predictionPaths(registry, config, predictionSecurity);
  predictQueryPath(registry, predictionSecurity);
  seedUtilityPaths(registry);
  operationPaths(registry, metricsSecurity);
  registerOpenInferencePaths(registry, config.MAX_BATCH, predictionSecurity);
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    // Relative: the paths sit at the root of whichever host serves this document (Functions, container, CDN).
    servers: [{ url: "/", description: "The host serving this document" }],
    info: {
      title: "House price inference API",
      version: "1.0.0",
      description:
        "California Housing price model (gradient-boosted trees, ONNX). Values are in units of $100,000. " +
        "Unknown routes answer 404 `{error, app_identifier}`; every response carries `X-App-Identifier`. " +
        "The Open Inference Protocol (v2) is served under /v2, where every error is `{error}`.",
    },
  });
  // MAX_BATCH is a runtime setting the module-level zod schema cannot know: stated on houses as maxItems.
  const bulk = doc.components?.schemas?.BulkRequest as { properties?: Record<string, Record<string, unknown>> };
  const houses = bulk?.properties?.houses;
  if (!houses) throw new Error("BulkRequest.houses missing from the OpenAPI document");
  houses.maxItems = config.MAX_BATCH;
  return JSON.stringify(doc);
}
