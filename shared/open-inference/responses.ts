import { FEATURES, WIDTH } from "../features";
import { fail, ok, type CoreResponse, type Result } from "../http";
import type { ModelInfo } from "../model";
import type {
  ErrorResponse,
  InferenceResponse,
  ModelConfig,
  ModelMetadata,
  RequestOutput,
  ServerMetadata,
} from "./schemas";

/** How this server names itself in GET /v2. */
export const SERVER_NAME = "house-price-inference";

/**
 * Protocol extensions this server speaks, as GET /v2 lists them. `model_configuration` is Triton's
 * GET …/config, which perf_analyzer reads to learn the batch dimension.
 */
export const EXTENSIONS = ["model_configuration"] as const;

/** The platform name the protocol defines for an ONNX model run by ONNX Runtime. */
export const PLATFORM = "onnx_onnxv1";

/** The element type of the model's input and output. */
const FP32 = "FP32";

/** The model's tensor names, from its card (`onnx.input.name`, `onnx.output.name`). */
export function tensorNames(info: ModelInfo): { input: string; output: string } {
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

/**
 * The outputs a request asked for (none listed, or an empty list: all of them), checked before any work:
 * an unknown name or a binary output (Triton's binary-data extension, not spoken here) is a 400.
 */
export function selectOutputs(
  info: ModelInfo,
  requested: readonly RequestOutput[] | undefined,
  parameters: Record<string, unknown> | undefined,
): Result<string[]> {
  const { output } = tensorNames(info);
  const binaryAll = parameters?.binary_data_output === true;
  const wanted = requested && requested.length > 0 ? requested : [{ name: output }];
  for (const o of wanted) {
    if (o.name !== output) {
      return fail("bad_request", `output ${JSON.stringify(o.name)} is not produced by this model; it has ${output}`);
    }
    const binary = (o as RequestOutput).parameters?.binary_data ?? binaryAll;
    if (binary === true) {
      return fail(
        "bad_request",
        `output ${JSON.stringify(o.name)}: binary_data is not supported; ask for JSON ` +
          "(perf_analyzer: --output-tensor-format=json)",
      );
    }
  }
  return ok([...new Set(wanted.map((o) => o.name))]);
}

/** The inference response: each selected output, FP32 [N, 1], the values in row order. */
export function inferenceResponse(
  info: ModelInfo,
  outputs: readonly string[],
  values: readonly number[],
  id: string | undefined,
): InferenceResponse {
  const res: InferenceResponse = {
    model_name: info.name,
    model_version: info.version,
    outputs: outputs.map((name) => ({ name, datatype: FP32, shape: [values.length, 1], data: values as number[] })),
  };
  if (id !== undefined) res.id = id;
  return res;
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
