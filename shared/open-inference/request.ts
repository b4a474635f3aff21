import { fail, ok, type Result } from "../http";
import { parseJson, validate } from "../validation";
import { InferenceRequestEnvelopeSchema, type InferenceRequestEnvelope } from "./schemas";

/**
 * Parses an inference request's JSON body: the envelope (id, parameters, inputs with name, shape, datatype,
 * data; outputs) checked by zod, the tensor elements left to the decoder. The protocol answers bad input
 * with 400, so a validation failure keeps zod's message (`inputs[0].shape is required`) under that status.
 */
export function parseInferenceRequest(bytes: Uint8Array): Result<InferenceRequestEnvelope> {
  const body = parseJson(bytes);
  if (!body.ok) return body;
  const request = validate(InferenceRequestEnvelopeSchema, body.value);
  if (request.ok) return ok(request.value);
  return fail("bad_request", request.failure.detail);
}
