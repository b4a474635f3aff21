import type { Endpoint } from "../app";
import type { CoreRequest, CoreResponse, Result } from "../http";
import type { ModelHolder } from "../model";
import type { Predictor } from "../predictor";
import type { Config } from "../config";
import { openInferenceHandlers, type ModelRef } from "../open-inference/handlers";

import { version as SERVER_VERSION } from "../../package.json";

export interface OpenInferenceContext {
  config: Config;
  holder: ModelHolder;
  predictor: Predictor;
  readBody(req: CoreRequest): Promise<Result<Uint8Array>>;
}

const MODEL = "/v2/models/{name}";
const VERSIONED = "/v2/models/{name}/versions/{version}";

/** `{name}` and `{version}` of a /v2/models route, read from the request's path (original case). */
function modelRef(route: string, path: string): ModelRef {
  const want = route.split("/");
  const got = path.split("/");
  const ref: ModelRef = { name: "" };
  want.forEach((seg, i) => {
    const value = decodeURIComponent(got[i] ?? "");
    if (seg === "{name}") ref.name = value;
    if (seg === "{version}") ref.version = value;
  });
  return ref;
}

/**
 * The Open Inference Protocol's REST endpoints (GET /v2, health, model metadata, ready, config, POST infer),
 * each model route once plain and once with `/versions/{version}`. Inference goes through the service's one
 * predictor and needs the API key and a rate-limit token like /predict; health and metadata need neither.
 */
export function openInferenceRoutes(ctx: OpenInferenceContext): Endpoint[] {
  const h = openInferenceHandlers({
    holder: ctx.holder,
    predictor: ctx.predictor,
    maxBatch: ctx.config.MAX_BATCH,
    // GET /v2 reports the service's own version (package.json's; esbuild inlines just that field).
    serverVersion: SERVER_VERSION,
    readBody: ctx.readBody,
  });
  const perModel = (
    suffix: string,
    name: string,
    method: Endpoint["method"],
    run: (req: CoreRequest, ref: ModelRef) => Promise<CoreResponse>,
    access: Pick<Endpoint, "apiKey" | "rateLimited"> = {},
  ): Endpoint[] =>
    [
      [MODEL + suffix, name],
      [VERSIONED + suffix, `${name}_version`],
    ].map(([route, fn]) => ({
      name: fn!,
      method,
      route: route!,
      ...access,
      handler: (req: CoreRequest) => run(req, modelRef(route!, req.path)),
    }));

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
