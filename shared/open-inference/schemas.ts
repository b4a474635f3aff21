import { z } from "zod";

/**
 * The Open Inference Protocol's (the "V2 protocol") REST payloads, stated from the protocol's component
 * schemas (kserve/open-inference-protocol, specification/protocol/open_inference_rest.yaml and
 * inference_rest.md): the same field names, types and required fields. Each carries the official component
 * name as its OpenAPI id, so the service's own document shows them under the names clients know.
 * These validate requests, type the handlers and feed the OpenAPI document; tests check every /v2 response
 * against them and against the official file.
 */

/** `$parameters`: zero or more name/value pairs, each value a string, number or boolean. */
export const ParametersSchema = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .meta({ id: "parameters", description: "Name/value pairs; each value a string, number or boolean" });

type TensorData = (number | string | boolean | TensorData)[];

/** `$tensor_data`: the elements in row-major order, flat or nested in the tensor's own shape. */
export const TensorDataSchema: z.ZodType<TensorData> = z
  .lazy(() => z.array(z.union([z.number(), z.string(), z.boolean(), TensorDataSchema])))
  .meta({ id: "tensor_data", description: "Tensor elements in row-major order, flat or nested" });

const ShapeSchema = z
  .array(z.number().int().min(0))
  .meta({ description: "The tensor's dimensions; the first is the batch (rows)" });
const DatatypeSchema = z.string().meta({ description: "Element type: FP32, FP64, INT64, BOOL, BYTES, …" });

/** `$metadata_tensor`: a tensor a model takes or gives; -1 marks a variable dimension. */
export const MetadataTensorSchema = z
  .object({
    name: z.string(),
    datatype: DatatypeSchema,
    shape: z.array(z.number().int().min(-1)).meta({ description: "-1 marks a variable-size dimension" }),
  })
  .meta({ id: "metadata_tensor" });
export type MetadataTensor = z.infer<typeof MetadataTensorSchema>;

/** `$metadata_server_response` (GET /v2). */
export const ServerMetadataSchema = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .meta({ id: "metadata_server_response" });
export type ServerMetadata = z.infer<typeof ServerMetadataSchema>;

/** `$metadata_model_response` (GET /v2/models/{name}[/versions/{version}]). */
export const ModelMetadataSchema = z
  .object({
    name: z.string(),
    versions: z.array(z.string()).optional(),
    platform: z.string(),
    inputs: z.array(MetadataTensorSchema).optional(),
    outputs: z.array(MetadataTensorSchema).optional(),
    properties: z.record(z.string(), z.string()).optional(),
  })
  .meta({ id: "metadata_model_response" });
export type ModelMetadata = z.infer<typeof ModelMetadataSchema>;

/** A tensor with its data: the protocol states request inputs and response outputs with the same fields. */
const tensorWithData = () =>
  z.object({
    name: z.string(),
    shape: ShapeSchema,
    datatype: DatatypeSchema,
    parameters: ParametersSchema.optional(),
    data: TensorDataSchema,
  });

/** `$request_input`: one input tensor of an inference request. */
export const RequestInputSchema = tensorWithData().meta({ id: "request_input" });

/** `$request_output`: an output the client wants back. */
export const RequestOutputSchema = z
  .object({ name: z.string(), parameters: ParametersSchema.optional() })
  .meta({ id: "request_output" });

/** `$inference_request` (POST …/infer). */
export const InferenceRequestSchema = z
  .object({
    id: z.string().optional().meta({ description: "Echoed in the response" }),
    parameters: ParametersSchema.optional(),
    inputs: z.array(RequestInputSchema),
    outputs: z.array(RequestOutputSchema).optional().meta({ description: "Which outputs to return (default: all)" }),
  })
  .meta({ id: "inference_request" });
export type InferenceRequest = z.infer<typeof InferenceRequestSchema>;

/**
 * The request as the service parses it: the documented schema with each tensor's `data` left as an array
 * of anything, so a 10,000-row tensor is not walked element by element by zod; the tensor decoder checks
 * every element itself and names the tensor and index of the first bad one. `data` may be absent when the
 * tensor travels as binary data after the JSON (`parameters.binary_data_size`, Triton's extension).
 */
export const InferenceRequestEnvelopeSchema = InferenceRequestSchema.extend({
  inputs: z.array(RequestInputSchema.extend({ data: z.array(z.unknown()).optional() })).min(1),
});
export type InferenceRequestEnvelope = z.infer<typeof InferenceRequestEnvelopeSchema>;
/** An input with its elements in hand (from JSON or from the binary part). */
export type RequestInput = InferenceRequestEnvelope["inputs"][number] & { data: unknown[] };
export type RequestOutput = z.infer<typeof RequestOutputSchema>;

/** `$response_output`: one output tensor of an inference response. */
export const ResponseOutputSchema = tensorWithData().meta({ id: "response_output" });
export type ResponseOutput = z.infer<typeof ResponseOutputSchema>;

/** `$inference_response`. */
export const InferenceResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string().optional(),
    id: z.string().optional().meta({ description: "The request's id, when it had one" }),
    parameters: ParametersSchema.optional(),
    outputs: z.array(ResponseOutputSchema),
  })
  .meta({ id: "inference_response" });
export type InferenceResponse = z.infer<typeof InferenceResponseSchema>;

/**
 * `$inference_error_response` (and the identical server and model metadata error objects): the body of
 * every non-2xx answer under /v2.
 */
export const ErrorResponseSchema = z
  .object({ error: z.string().meta({ description: "What went wrong, naming the tensor or field at fault" }) })
  .meta({ id: "inference_error_response" });
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;

/** `$live_server_response` (GET /v2/health/live). */
export const ServerLiveSchema = z.object({ live: z.boolean() }).meta({ id: "live_server_response" });

/**
 * `$ready_server_response` (GET /v2/health/ready). The prose specification prints its field as `live`
 * (a slip in the text); KServe and MLServer answer `ready`. Both are sent, so either reading works.
 */
export const ServerReadySchema = z
  .object({ ready: z.boolean(), live: z.boolean() })
  .meta({ id: "ready_server_response" });

/** `$ready_model_response` (GET /v2/models/{name}[/versions/{version}]/ready). */
export const ModelReadySchema = z.object({ name: z.string(), ready: z.boolean() }).meta({ id: "ready_model_response" });

/**
 * Triton's model configuration extension (GET …/config): the subset perf_analyzer reads to learn the batch
 * dimension and the tensors. Not part of the protocol proper; advertised as `model_configuration`.
 */
export const ModelConfigSchema = z
  .object({
    name: z.string(),
    platform: z.string(),
    max_batch_size: z.number().int(),
    input: z.array(z.object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()) })),
    output: z.array(z.object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()) })),
    dynamic_batching: z.object({}).optional(),
  })
  .meta({ id: "model_config" });
export type ModelConfig = z.infer<typeof ModelConfigSchema>;
