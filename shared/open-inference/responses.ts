import { FEATURES, WIDTH } from "../input/features";
import { fail, ok, type CoreResponse, type Result } from "../http/core";
import type { ModelInfo } from "../inference/model";
import { fp32Bytes, INFERENCE_HEADER, joinBody } from "./binary";
import type {
  ErrorResponse,
  InferenceResponse,
  ModelConfig,
  ModelMetadata,
  RequestOutput,
  ResponseOutput,
  ServerMetadata,
} from "./schemas";

/** How this server names itself in GET /v2. */
const SERVER_NAME = "house-price-inference";

/**
 * Protocol extensions this server speaks, as GET /v2 lists them, under Triton's names: binary tensor data
 * (binary.ts) and the model configuration (GET …/config, which perf_analyzer reads to learn the batch dimension).
 */
const EXTENSIONS = ["binary_tensor_data", "model_configuration"] as const;

/** The platform name the protocol defines for an ONNX model (run here by the compiled engine or ONNX Runtime, same bits). */
export const PLATFORM = "onnx_onnxv1";

/** The element type of the model's input and output. */
const FP32 = "FP32";

/** The model's tensor names, from its card (`onnx.input.name`, `onnx.output.name`). */
function tensorNames(info: ModelInfo): { input: string; output: string } {
  const onnx = info.card.onnx as { input?: { name?: unknown }; output?: { name?: unknown } } | undefined;
  const name = (v: unknown, fallback: string) => (typeof v === "string" && v !== "" ? v : fallback);
  return { input: name(onnx?.input?.name, "input"), output: name(onnx?.output?.name, "house_value") };
}

export function serverMetadata(version: string): ServerMetadata {
  return { name: SERVER_NAME, version, extensions: [...EXTENSIONS] };
}

/**
 * Model metadata: the model's own input ([-1, 8] FP32, columns in FEATURES order) and output ([-1, 1]).
 * The per-feature layout is listed under `properties`, the one place the protocol leaves for such notes.
 */
export function modelMetadata(info: ModelInfo): ModelMetadata {
  const names = tensorNames(info);
  return {
    name: info.name,
    versions: [info.version],
    platform: PLATFORM,
    inputs: [{ name: names.input, datatype: FP32, shape: [-1, WIDTH] }],
    outputs: [{ name: names.output, datatype: FP32, shape: [-1, 1] }],
    properties: {
      columns: FEATURES.join(","),
      per_feature_inputs: `or one tensor per column, named as the column, shape [-1] or [-1, 1]`,
    },
  };
}

/** Triton's model configuration for this model: batched on the first dimension, up to MAX_BATCH rows. */
export function modelConfig(info: ModelInfo, maxBatch: number): ModelConfig {
  const names = tensorNames(info);
  return {
    name: info.name,
    platform: "onnxruntime_onnx",
    max_batch_size: maxBatch,
    input: [{ name: names.input, data_type: "TYPE_FP32", dims: [WIDTH] }],
    output: [{ name: names.output, data_type: "TYPE_FP32", dims: [1] }],
    dynamic_batching: {},
  };
}

/** An output the client asked for, and whether it wants it as binary data (Triton's extension). */
export interface SelectedOutput {
  name: string;
  binary: boolean;
}

/**
 * The outputs a request asked for (none listed, or an empty list: all of them), checked before any work:
 * an unknown name is a 400. An output comes back as binary data when its `binary_data` parameter says so,
 * or else the request's `binary_data_output` does.
 */
export function selectOutputs(
  info: ModelInfo,
  requested: readonly RequestOutput[] | undefined,
  parameters: Record<string, unknown> | undefined,
): Result<SelectedOutput[]> {
  const { output } = tensorNames(info);
  const binaryAll = parameters?.binary_data_output === true;
  const wanted: RequestOutput[] = requested && requested.length > 0 ? [...requested] : [{ name: output }];
  const selected: SelectedOutput[] = [];
  for (const o of wanted) {
    if (o.name !== output) {
      return fail("bad_request", `output ${JSON.stringify(o.name)} is not produced by this model; it has ${output}`);
    }
    const binary = o.parameters?.binary_data;
    if (binary !== undefined && typeof binary !== "boolean") {
      return fail("bad_request", `output ${JSON.stringify(o.name)}: parameter binary_data must be true or false`);
    }
    if (!selected.some((s) => s.name === o.name)) selected.push({ name: o.name, binary: binary ?? binaryAll });
  }
  return ok(selected);
}

/** The inference response object: each selected output, FP32 [N, 1], the values in row order (JSON outputs). */
export function inferenceResponse(
  info: ModelInfo,
  outputs: readonly SelectedOutput[],
  values: readonly number[],
  id: string | undefined,
): InferenceResponse {
  const res: InferenceResponse = {
    model_name: info.name,
    model_version: info.version,
    outputs: outputs.map((o) => {
      const tensor = { name: o.name, datatype: FP32, shape: [values.length, 1] };
      // A binary output has no `data`: its bytes follow the JSON (the extension's one departure from the schema).
      if (o.binary)
        return { ...tensor, parameters: { binary_data_size: values.length * 4 } } as unknown as ResponseOutput;
      return { ...tensor, data: values as number[] };
    }),
  };
  if (id !== undefined) res.id = id;
  return res;
}

/**
 * The response body and its headers: plain JSON, or (when an output is binary) the JSON followed by the
 * binary outputs with Inference-Header-Content-Length, as Triton answers.
 */
export function encodeInferenceResponse(
  res: InferenceResponse,
  outputs: readonly SelectedOutput[],
  values: readonly number[],
): { body: string | Uint8Array; headers: Record<string, string> } {
  const json = JSON.stringify(res);
  const binary = outputs.filter((o) => o.binary);
  if (binary.length === 0) return { body: json, headers: { "content-type": "application/json" } };
  const bytes = fp32Bytes(values);
  const joined = joinBody(
    json,
    binary.map(() => bytes),
  );
  return {
    body: joined.body,
    headers: { "content-type": "application/octet-stream", [INFERENCE_HEADER]: String(joined.headerLength) },
  };
}

/**
 * The protocol's error object for any non-2xx answer the service built (problem+json from a handler, the
 * guard or the router, or the legacy `{error, app_identifier}`): `{"error": detail}`, headers such as
 * Retry-After, WWW-Authenticate and Allow kept. The one place /v2 errors take their shape.
 */
export function asErrorObject(res: CoreResponse): CoreResponse {
  if (res.status < 400) return res;
  const body: ErrorResponse = { error: errorText(res) };
  return {
    status: res.status,
    headers: { ...res.headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

function errorText(res: CoreResponse): string {
  try {
    const parsed = JSON.parse(typeof res.body === "string" ? res.body : new TextDecoder().decode(res.body)) as {
      detail?: unknown;
      error?: unknown;
      title?: unknown;
    };
    const text = parsed.detail ?? parsed.error ?? parsed.title;
    if (typeof text === "string" && text !== "") return text;
  } catch {
    // Not JSON: fall through to the status.
  }
  return `HTTP ${res.status}`;
}
