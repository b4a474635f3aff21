import { cacheStatus } from "../routes/predictions";
import { fail, jsonResponse, ok, type CoreRequest, type CoreResponse, type Result } from "../http/core";
import { problemResponse } from "../http/problems";
import type { ModelHolder, ModelInfo } from "../inference/model";
import type { Predictor } from "../inference/predictor";
import { INFERENCE_HEADER } from "./binary";
import { parseInferenceRequest } from "./request";
import {
  encodeInferenceResponse,
  inferenceResponse,
  modelConfig,
  modelMetadata,
  selectOutputs,
  serverMetadata,
} from "./responses";
import { decodeInputs } from "./tensors";

/** What the /v2 handlers need from the service: the one model holder, the one predictor, the body reader. */
export interface OpenInferenceDeps {
  holder: Pick<ModelHolder, "get" | "state">;
  predictor: Pick<Predictor, "predict" | "readyModel">;
  maxBatch: number;
  serverVersion: string;
  /** Reads a body under the service's limits and memory admission; JSON or application/octet-stream. */
  readBody(req: CoreRequest): Promise<Result<Uint8Array>>;
}

/** The model a /v2/models/... path names: `name` and, on the versioned routes, `version`. */
export interface ModelRef {
  name: string;
  version?: string | undefined;
}

/** The loaded model if the path names it; 404 for another name or version, 503 while it is not loaded. */
function named(info: ModelInfo | undefined, reason: string | undefined, ref: ModelRef): Result<ModelInfo> {
  if (!info) return fail("model_unavailable", `The model is not available: ${reason ?? "the model is loading"}`);
  if (ref.name !== info.name) {
    return fail(
      "not_found",
      `model ${JSON.stringify(ref.name)} is not served here; this server has ${JSON.stringify(info.name)}`,
    );
  }
  if (ref.version !== undefined && ref.version !== info.version) {
    return fail(
      "not_found",
      `version ${JSON.stringify(ref.version)} of model ${JSON.stringify(info.name)} is not served here; it has ${JSON.stringify(info.version)}`,
    );
  }
  return ok(info);
}

export function openInferenceHandlers(deps: OpenInferenceDeps) {
  /** The model as it is now (metadata and probes answer at once; they never wait for a load). */
  function current(ref: ModelRef): Result<ModelInfo> {
    deps.holder.get(); // starts the load on first use
    const state = deps.holder.state;
    return named(
      state.state === "ready" ? state.info : undefined,
      state.state === "ready" ? undefined : state.reason,
      ref,
    );
  }
  const answer = (r: Result<unknown>, body: (info: ModelInfo) => unknown): CoreResponse =>
    r.ok ? jsonResponse(200, body(r.value as ModelInfo)) : problemResponse(r.failure);

  return {
    serverMetadata: async (): Promise<CoreResponse> => jsonResponse(200, serverMetadata(deps.serverVersion)),
    live: async (): Promise<CoreResponse> => jsonResponse(200, { live: true }),
    ready: async (): Promise<CoreResponse> => {
      deps.holder.get();
      const state = deps.holder.state;
      if (state.state === "ready") return jsonResponse(200, { ready: true, live: true });
      return problemResponse({
        code: "model_unavailable",
        detail: `The model is not available: ${state.reason ?? "the model is loading"}`,
      });
    },
    modelMetadata: async (ref: ModelRef) => answer(current(ref), modelMetadata),
    modelReady: async (ref: ModelRef) => answer(current(ref), (info) => ({ name: info.name, ready: true })),
    modelConfig: async (ref: ModelRef) => answer(current(ref), (info) => modelConfig(info, deps.maxBatch)),
    infer: (req: CoreRequest, ref: ModelRef) => infer(deps, req, ref),
  };
}

/**
 * POST …/infer: the model named by the path (waiting for a loading one as /predict does), the body, the
 * outputs asked for, the tensors decoded into the model's rows, then the one predictor (cache, single-flight,
 * micro-batching, limits) and the response in JSON or binary as asked.
 */
async function infer(deps: OpenInferenceDeps, req: CoreRequest, ref: ModelRef): Promise<CoreResponse> {
  const loaded = await deps.predictor.readyModel();
  if (!loaded.ok) return problemResponse(loaded.failure);
  const model = named(loaded.value.info, undefined, ref);
  if (!model.ok) return problemResponse(model.failure);
  const info = model.value;
  const bytes = await deps.readBody(req);
  if (!bytes.ok) return problemResponse(bytes.failure);
  const request = parseInferenceRequest(bytes.value, req.headers[INFERENCE_HEADER]);
  if (!request.ok) return problemResponse(request.failure);
  const outputs = selectOutputs(info, request.value.outputs, request.value.parameters);
  if (!outputs.ok) return problemResponse(outputs.failure);
  const rows = decodeInputs(request.value.inputs, deps.maxBatch);
  if (!rows.ok) return problemResponse(rows.failure);
  const result = await deps.predictor.predict(rows.value.tensor, rows.value.rows);
  if (!result.ok) return problemResponse(result.failure);
  const { values } = result.value;
  const res = inferenceResponse(info, outputs.value, values, request.value.id);
  const { body, headers } = encodeInferenceResponse(res, outputs.value, values);
  return { status: 200, headers: { ...headers, "cache-status": cacheStatus(result.value) }, body };
}
