import type { OpenAPIRegistry, ResponseConfig, RouteConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import {
  ErrorResponseSchema,
  InferenceRequestSchema,
  InferenceResponseSchema,
  ModelConfigSchema,
  ModelMetadataSchema,
  ModelReadySchema,
  ServerLiveSchema,
  ServerMetadataSchema,
  ServerReadySchema,
} from "../open-inference/schemas";

const error = (description: string): ResponseConfig => ({
  description,
  content: { "application/json": { schema: ErrorResponseSchema } },
});
const json = (description: string, schema: z.ZodType): ResponseConfig => ({
  description,
  content: { "application/json": { schema } },
});

const NAME = z.string().meta({ description: "The model card's name", example: "california-housing-gbdt" });
const VERSION = z.string().meta({ description: "The model card's version", example: "1.0.0" });
const TAG = ["Open Inference Protocol (v2)"];

type ModelRoute = Omit<RouteConfig, "path" | "request" | "operationId"> & { operationId: string };

/**
 * The model routes, once without and once with `/versions/{version}` (the protocol's optional segment); the
 * second's operationId gets `AtVersion`, so generated clients name both.
 */
function modelPaths(registry: OpenAPIRegistry, suffix: string, route: ModelRoute): void {
  const body = route.method === "post" ? { body: infer } : {};
  registry.registerPath({
    ...route,
    path: `/v2/models/{name}${suffix}`,
    request: { params: z.object({ name: NAME }), ...body },
  });
  registry.registerPath({
    ...route,
    operationId: `${route.operationId}AtVersion`,
    path: `/v2/models/{name}/versions/{version}${suffix}`,
    request: { params: z.object({ name: NAME, version: VERSION }), ...body },
  });
}

const infer = {
  required: true,
  content: {
    "application/json": { schema: InferenceRequestSchema },
    "application/octet-stream": {
      schema: z.string().meta({
        format: "binary",
        description:
          "Triton's binary tensor data extension: the JSON request (Inference-Header-Content-Length bytes) followed by the tensors' bytes",
      }),
    },
  },
};

/** The server-level routes: metadata, liveness, readiness (open: the platform's probes call them). */
function serverPaths(registry: OpenAPIRegistry, unavailable: ResponseConfig): void {
  registry.registerPath({
    method: "get",
    path: "/v2",
    operationId: "v2ServerMetadata",
    security: [],
    tags: TAG,
    summary: "Server metadata",
    responses: { 200: json("Name, version and protocol extensions", ServerMetadataSchema) },
  });
  registry.registerPath({
    method: "get",
    path: "/v2/health/live",
    operationId: "v2ServerLive",
    security: [],
    tags: TAG,
    summary: "Server live (liveness probe)",
    responses: { 200: json("The process serves", ServerLiveSchema) },
  });
  registry.registerPath({
    method: "get",
    path: "/v2/health/ready",
    operationId: "v2ServerReady",
    security: [],
    tags: TAG,
    summary: "Server ready (readiness probe): 200 once the model is loaded",
    responses: { 200: json("Ready", ServerReadySchema), 503: unavailable },
  });
}

/**
 * Documents the /v2 routes in the service's OpenAPI document, from the same zod schemas that validate and
 * shape them. `maxBatch` is the configured MAX_BATCH; `inferSecurity` the prediction endpoints' key requirements
 * (health and metadata are open, as the protocol's probes need).
 */
export function registerOpenInferencePaths(
  registry: OpenAPIRegistry,
  maxBatch: number,
  inferSecurity: Record<string, string[]>[],
): void {
  const unavailable = error("The model is loading or cannot be loaded; see Retry-After");
  const unknownModel = error("No model with that name (or version) is served here");
  serverPaths(registry, unavailable);
  modelPaths(registry, "", {
    method: "get",
    operationId: "v2ModelMetadata",
    security: [],
    tags: TAG,
    summary: "Model metadata: inputs and outputs (-1 marks the batch dimension)",
    responses: { 200: json("Model metadata", ModelMetadataSchema), 404: unknownModel, 503: unavailable },
  });
  modelPaths(registry, "/ready", {
    method: "get",
    operationId: "v2ModelReady",
    security: [],
    tags: TAG,
    summary: "Model ready",
    responses: { 200: json("Ready", ModelReadySchema), 404: unknownModel, 503: unavailable },
  });
  modelPaths(registry, "/config", {
    method: "get",
    operationId: "v2ModelConfig",
    security: [],
    tags: TAG,
    summary: "Model configuration (Triton's extension; what perf_analyzer reads)",
    responses: { 200: json("Batch bound and tensors", ModelConfigSchema), 404: unknownModel, 503: unavailable },
  });
  modelPaths(registry, "/infer", {
    method: "post",
    operationId: "v2ModelInfer",
    security: inferSecurity,
    tags: TAG,
    summary: "Inference",
    description:
      `Either one FP32/FP64 tensor of shape [N, 8] (columns in the card's feature order, data flat or nested) or ` +
      `one tensor per feature named as the /predict fields, shape [N] or [N, 1]; 1 to ${maxBatch} rows (MAX_BATCH). ` +
      "The output house_value is FP32 [N, 1], the same values as /bulk_predict. Needs the API key when API_KEYS is set.",
    responses: {
      200: {
        description: "The selected outputs (binary ones after the JSON, as application/octet-stream)",
        headers: z.object({ "Cache-Status": z.string().meta({ description: "How the rows were served (RFC 9211)" }) }),
        content: { "application/json": { schema: InferenceResponseSchema } },
      },
      400: error("A tensor, output or the request is malformed; the message names it"),
      401: error("Missing or invalid API key"),
      404: unknownModel,
      413: error("Body over MAX_BODY_BYTES or more rows than MAX_BATCH"),
      415: error("Content-Type is neither JSON nor application/octet-stream"),
      429: error("Rate limit exceeded; see Retry-After"),
      503: unavailable,
    },
  });
}
