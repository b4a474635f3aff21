import { version as SERVER_VERSION } from "../../package.json";
import { JSON_BODY, type MediaTypes } from "../http/body-admission";
import type { CoreRequest, CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import type { ErrorFormat } from "../http/pipeline";
import { openInferenceHandlers, type ModelRef } from "../open-inference/handlers";
import { asErrorObject } from "../open-inference/responses";

/** Every non-2xx answer under /v2 is the protocol's `{"error": "..."}` (service.ts hands this to the pipeline). */
export const OPEN_INFERENCE_ERRORS: ErrorFormat = { prefix: "/v2", format: asErrorObject };

/** Inference bodies: JSON, or JSON followed by binary tensors (Triton's extension) as application/octet-stream. */
const INFER_BODY: MediaTypes = {
  accepts: (type) =>
    JSON_BODY.accepts(type) || type?.split(";")[0]?.trim().toLowerCase() === "application/octet-stream",
  expected: "application/json or application/octet-stream",
};

const MODEL = "/v2/models/{name}";
const VERSIONED = "/v2/models/{name}/versions/{version}";

/** The model a /v2/models route names, from the router's path parameters. */
const modelRef = (req: CoreRequest): ModelRef => ({ name: req.params?.name ?? "", version: req.params?.version });

/**
 * The Open Inference Protocol's REST endpoints (GET /v2, health, model metadata, ready, config, POST infer),
 * each model route once plain and once with `/versions/{version}` (the protocol's optional segment; Azure
 * Functions routes have no optional literal segments). Inference goes through the service's one predictor and
 * needs the API key and a rate-limit token like /predict; health and metadata need neither.
 */
export function openInferenceRoutes(ctx: ServiceContext): Endpoint[] {
  const h = openInferenceHandlers({
    holder: ctx.holder,
    predictor: ctx.predictor,
    maxBatch: ctx.config.MAX_BATCH,
    // GET /v2 reports the service's own version (package.json's; esbuild inlines just that field).
    serverVersion: SERVER_VERSION,
    readBody: (req) => ctx.readBodyBytes(req, INFER_BODY),
  });
  const perModel = (
    suffix: string,
    name: string,
    method: Endpoint["method"],
    run: (req: CoreRequest, ref: ModelRef) => Promise<CoreResponse>,
    access: Pick<Endpoint, "apiKey" | "rateLimited"> = {},
  ): Endpoint[] => [
    { name, method, route: MODEL + suffix, ...access, handler: (req) => run(req, modelRef(req)) },
    {
      name: `${name}_version`,
      method,
      route: VERSIONED + suffix,
      ...access,
      handler: (req) => run(req, modelRef(req)),
    },
  ];

  return [
    { name: "v2_server_metadata", method: "GET", route: "/v2", handler: h.serverMetadata },
    { name: "v2_health_live", method: "GET", route: "/v2/health/live", handler: h.live },
    { name: "v2_health_ready", method: "GET", route: "/v2/health/ready", handler: h.ready },
    ...perModel("", "v2_model_metadata", "GET", (_, ref) => h.modelMetadata(ref)),
    ...perModel("/ready", "v2_model_ready", "GET", (_, ref) => h.modelReady(ref)),
    ...perModel("/config", "v2_model_config", "GET", (_, ref) => h.modelConfig(ref)),
    ...perModel("/infer", "v2_infer", "POST", h.infer, { apiKey: true, rateLimited: true }),
  ];
}
