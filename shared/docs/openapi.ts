import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import type { Config } from "../ops/config";
import {
  AppIdentifierSchema,
  BulkRequestSchema,
  BulkResponseSchema,
  CelsiusResponseSchema,
  FahrenheitQuerySchema,
  HealthSchema,
  HelloQuerySchema,
  HelloResponseSchema,
  HouseSchema,
  LegacyErrorSchema,
  PredictResponseSchema,
  ProblemSchema,
} from "../input/schemas";

const problem = (description: string): ResponseConfig => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});

const PREDICTION_ERRORS: Record<number, ResponseConfig> = {
  400: problem("Malformed JSON, invalid UTF-8 or an empty body"),
  413: problem("Body over MAX_BODY_BYTES or more houses than MAX_BATCH"),
  415: problem("Content-Type is not application/json"),
  422: problem("A field failed validation; `errors` lists every failing field with its path and value"),
  429: problem("Rate limit exceeded; see Retry-After"),
  503: problem("Model not loaded yet, or the server is overloaded; see Retry-After"),
};

const cacheStatusHeader = z.string().meta({
  description:
    'RFC 9211 Cache-Status, e.g. `house-price; hit` or `house-price; fwd=partial; stored; detail="hits=3 ..."`',
});

/** POST /predict and POST /bulk_predict (shared/routes/predictions.ts). */
function predictionPaths(registry: OpenAPIRegistry, config: Config): void {
  registry.registerPath({
    method: "post",
    path: "/predict",
    summary: "Predict one house's median value",
    description: "Returns the predicted median house value in units of $100,000.",
    request: { body: { required: true, content: { "application/json": { schema: HouseSchema } } } },
    responses: {
      200: {
        description: "The prediction",
        headers: z.object({ "Cache-Status": cacheStatusHeader }),
        content: { "application/json": { schema: PredictResponseSchema } },
      },
      ...PREDICTION_ERRORS,
    },
  });
  registry.registerPath({
    method: "post",
    path: "/bulk_predict",
    summary: "Predict many houses in one call",
    description: `1 to ${config.MAX_BATCH} houses (MAX_BATCH); values come back in input order, each identical to /predict's.`,
    request: { body: { required: true, content: { "application/json": { schema: BulkRequestSchema } } } },
    responses: {
      200: {
        description: "One value per house, in input order",
        headers: z.object({ "Cache-Status": cacheStatusHeader }),
        content: { "application/json": { schema: BulkResponseSchema } },
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
    summary: "Which replica answered",
    responses: {
      200: { description: "The replica's id", content: { "application/json": { schema: AppIdentifierSchema } } },
    },
  });
}

/** /health, /model and /metrics (shared/routes/operations.ts). */
function operationPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "get",
    path: "/health",
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
    summary: "The served model's card (metrics, feature ranges, sha256) and where it was loaded from",
    responses: {
      200: {
        description: "Model card",
        content: {
          "application/json": {
            schema: z.object({ source: z.string(), card: z.record(z.string(), z.unknown()) }),
          },
        },
      },
      503: problem("Model not loaded yet"),
    },
  });
  registry.registerPath({
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics",
    responses: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } } },
  });
}

/**
 * The OpenAPI 3.1 document for a configuration (limits such as MAX_BATCH appear in it), generated from the zod
 * schemas that validate requests. The service builds it once, on the first request for it. A route family
 * documents its paths in a function of its own here.
 */
export function openApiDocument(config: Config): string {
  const registry = new OpenAPIRegistry();
  // Schemas carrying a `.meta({ id })` become named components wherever they are referenced.
  predictionPaths(registry, config);
  seedUtilityPaths(registry);
  operationPaths(registry);
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "House price inference API",
      version: "1.0.0",
      description:
        "California Housing price model (gradient-boosted trees, ONNX). Values are in units of $100,000. " +
        "Unknown routes answer 404 `{error, app_identifier}`; every response carries `X-App-Identifier`.",
    },
  });
  return JSON.stringify(doc);
}
