import { cacheStatus } from "../routes/prediction-detail";
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

/** 503 while the model is not loaded, with the holder's reason (loading, or why it cannot load). */
const unavailable = (reason: string | undefined): Result<never> =>
  fail("model_unavailable", `The model is not available: ${reason ?? "the model is loading"}`);

/** The loaded model if the path names it (and, on the versioned routes, its version); 404 otherwise. */
function served(info: ModelInfo, ref: ModelRef): Result<ModelInfo> {
  const quote = JSON.stringify;
  if (ref.name !== info.name) {
    return fail("not_found", `model ${quote(ref.name)} is not served here; this server has ${quote(info.name)}`);
  }
  if (ref.version !== undefined && ref.version !== info.version) {
    const has = `it has ${quote(info.version)}`;
    return fail("not_found", `version ${quote(ref.version)} of model ${quote(info.name)} is not served here; ${has}`);
  }
  return ok(info);
}

export function openInferenceHandlers(deps: OpenInferenceDeps) {
  /** The model as it is now: probes and metadata answer at once, they never wait for a load. */
  function current(ref?: ModelRef): Result<ModelInfo> {
    deps.holder.get(); // starts the load on first use
    const state = deps.holder.state;
    if (state.state !== "ready") return unavailable(state.reason);
    return ref ? served(state.info, ref) : ok(state.info);
  }
  const answer = (r: Result<ModelInfo>, body: (info: ModelInfo) => unknown): CoreResponse =>
    r.ok ? jsonResponse(200, body(r.value)) : problemResponse(r.failure);

  return {
    serverMetadata: async (): Promise<CoreResponse> => jsonResponse(200, serverMetadata(deps.serverVersion)),
    live: async (): Promise<CoreResponse> => jsonResponse(200, { live: true }),
    ready: async () => answer(current(), () => ({ ready: true, live: true })),
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
  const model = served(loaded.value.info, ref);
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
