import { fail, ok, type Result } from "../http/core";
import { parseJson, validate } from "../input/validation";
import { attachBinaryData, splitBody } from "./binary";
import { InferenceRequestEnvelopeSchema, type InferenceRequestEnvelope, type RequestInput } from "./schemas";

/** A parsed inference request: every input with its elements, from the JSON or from the binary part. */
export type ParsedInferenceRequest = Omit<InferenceRequestEnvelope, "inputs"> & { inputs: RequestInput[] };

/**
 * Parses an inference request's body: the JSON part (all of it, or the first `Inference-Header-Content-Length`
 * bytes), its envelope (id, parameters, inputs with name, shape, datatype; outputs) checked by zod, then
 * each input's elements from its JSON `data` or the binary part. The elements themselves are left to the
 * tensor decoder. The protocol answers bad input with 400, so a validation failure keeps zod's message
 * (`inputs[0].shape is required`) under that status.
 */
export function parseInferenceRequest(
  bytes: Uint8Array,
  inferenceHeaderLength?: string,
): Result<ParsedInferenceRequest> {
  const parts = splitBody(bytes, inferenceHeaderLength);
  if (!parts.ok) return parts;
  const body = parseJson(parts.value.json);
  if (!body.ok) return body;
  const request = validate(InferenceRequestEnvelopeSchema, body.value);
  if (!request.ok) return fail("bad_request", request.failure.detail);
  const inputs = attachBinaryData(request.value.inputs, parts.value.binary);
  if (!inputs.ok) return inputs;
  return ok({ ...request.value, inputs: inputs.value });
}
