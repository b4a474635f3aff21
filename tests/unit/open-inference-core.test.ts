import { describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE, WIDTH } from "../../shared/input/features";
import type { ModelInfo } from "../../shared/inference/model";
import { toTensor } from "../../shared/inference/predictor";
import { parseInferenceRequest } from "../../shared/open-inference/request";
import {
  asErrorObject,
  inferenceResponse,
  modelConfig,
  modelMetadata,
  selectOutputs,
  serverMetadata,
} from "../../shared/open-inference/responses";
import {
  ErrorResponseSchema,
  InferenceRequestSchema,
  InferenceResponseSchema,
  ModelMetadataSchema,
  ServerMetadataSchema,
  type RequestInput,
} from "../../shared/open-inference/schemas";
import { decodeInputs } from "../../shared/open-inference/tensors";
import { encodeInferenceResponse } from "../../shared/open-inference/responses";
import { INFERENCE_HEADER, joinBody } from "../../shared/open-inference/binary";
import { problemResponse } from "../../shared/http/problems";
import { officialComponents, officialErrors } from "../support/open-inference-official";
import { openApiDocument } from "../../shared/docs/openapi";
import { parseConfig } from "../../shared/ops/config";

const OTHER = { ...SEED_HOUSE, MedInc: 3.1, HouseAge: 12, Latitude: 34.05, Longitude: -118.25 };
const ROWS = [SEED_HOUSE, OTHER];
const row = (h: Record<string, number>) => FEATURES.map((f) => h[f]!);

const matrix = (over: Partial<RequestInput> = {}): RequestInput => ({
  name: "input",
  datatype: "FP32",
  shape: [2, WIDTH],
  data: ROWS.flatMap(row),
  ...over,
});
const perFeature = (over: Record<string, Partial<RequestInput>> = {}): RequestInput[] =>
  FEATURES.map((f) => ({ name: f, datatype: "FP64", shape: [2], data: ROWS.map((h) => h[f]), ...over[f] }));

const JSON_OUT = { name: "house_value", binary: false };
const INFO: ModelInfo = {
  name: "california-housing-gbdt",
  version: "1.0.0",
  sha256: "x",
  source: "file:model/model.onnx",
  card: { onnx: { input: { name: "input" }, output: { name: "house_value" } } },
  engine: "compiled-trees",
  cacheNamespace: "1.0.0:x",
};

function decodeError(inputs: RequestInput[], maxBatch = 100): { code: string; detail: string } {
  const r = decodeInputs(inputs, maxBatch);
  if (r.ok) throw new Error("expected a failure");
  return r.failure;
}

describe("decoding the two input layouts", () => {
  const expected = toTensor(ROWS);

  it("takes one FP32 [N, 8] tensor with flat data", () => {
    const r = decodeInputs([matrix()], 100);
    expect(r).toEqual({ ok: true, value: { tensor: expected, rows: 2 } });
  });

  it("takes the same tensor with data nested in its shape, and as FP64", () => {
    const r = decodeInputs([matrix({ datatype: "FP64", data: ROWS.map(row) })], 100);
    expect(r).toEqual({ ok: true, value: { tensor: expected, rows: 2 } });
  });

  it("takes eight per-feature tensors, [N] or [N, 1], in any order", () => {
    expect(decodeInputs(perFeature(), 100)).toEqual({ ok: true, value: { tensor: expected, rows: 2 } });
    const column = perFeature().map((i) => ({ ...i, shape: [2, 1], data: (i.data as number[]).map((v) => [v]) }));
    expect(decodeInputs(column.reverse(), 100)).toEqual({ ok: true, value: { tensor: expected, rows: 2 } });
  });

  it("takes integer datatypes for per-feature tensors holding integers", () => {
    const r = decodeInputs(perFeature({ HouseAge: { datatype: "INT64" }, Population: { datatype: "INT32" } }), 100);
    expect(r.ok).toBe(true);
  });
});

describe("refusing bad tensors with a 400 that names the tensor", () => {
  it.each([
    [
      "a BYTES matrix",
      [matrix({ datatype: "BYTES" })],
      /input "input": datatype BYTES is not supported; send FP32 or FP64/,
    ],
    ["a BOOL feature", perFeature({ Latitude: { datatype: "BOOL" } }), /input "Latitude": datatype BOOL/],
    ["a [2, 7] matrix", [matrix({ shape: [2, 7], data: [] })], /input "input": shape \[2, 7\] is not \[N, 8\]/],
    ["a 3-d matrix", [matrix({ shape: [2, 8, 1] })], /input "input": shape \[2, 8, 1\] is not \[N, 8\]/],
    [
      "too few elements",
      [matrix({ data: row(SEED_HOUSE) })],
      /input "input": data has 8 elements but shape \[2, 8\] needs 16/,
    ],
    [
      "a short nested row",
      [matrix({ data: [row(SEED_HOUSE), [1, 2]] })],
      /input "input": data\[1\] is 2 elements; shape \[2, 8\] needs 8 per row/,
    ],
    ["a zero-row shape", [matrix({ shape: [0, 8], data: [] })], /input "input": shape has 0 rows/],
    [
      "an unknown feature",
      [...perFeature(), { name: "Rooms", datatype: "FP32", shape: [2], data: [1, 2] }],
      /input "Rooms": not a feature of this model/,
    ],
    ["a missing feature", perFeature().filter((i) => i.name !== "AveOccup"), /missing input tensor\(s\) "AveOccup"/],
    ["a repeated feature", [...perFeature(), perFeature()[0]!], /input "MedInc": appears more than once/],
    [
      "features of unequal length",
      perFeature({ Population: { shape: [1], data: [322] } }),
      /input "Population": has 1 rows but input "MedInc" has 2/,
    ],
    [
      "a feature of shape [N, 2]",
      perFeature({ AveRooms: { shape: [1, 2] } }),
      /input "AveRooms": shape \[1, 2\] is not \[N\] or \[N, 1\]/,
    ],
    [
      "a string element",
      perFeature({ MedInc: { data: [1, "2"] } }),
      /input "MedInc": data\[1\] must be a number, got string/,
    ],
    [
      "an out-of-range latitude",
      [matrix({ data: [...row(SEED_HOUSE), ...row({ ...OTHER, Latitude: 91 })] })],
      /input "input": data\[14\] \(Latitude\) must be at most 90, got 91/,
    ],
    [
      "a non-positive income, nested",
      [matrix({ data: [row(SEED_HOUSE), row({ ...OTHER, MedInc: 0 })] })],
      /input "input": data\[1\]\[0\] \(MedInc\) must be greater than 0, got 0/,
    ],
    [
      "a non-finite value",
      perFeature({ Population: { data: [322, Infinity] } }),
      /input "Population": data\[1\] must be a finite number, got Infinity/,
    ],
    [
      "a value beyond FP32",
      perFeature({ Population: { data: [322, 1e39] } }),
      /input "Population": data\[1\] is 1e\+39, which does not fit in FP32/,
    ],
    [
      "a fraction in an INT64 tensor",
      perFeature({ HouseAge: { datatype: "INT64", data: [41, 12.5] } }),
      /input "HouseAge": data\[1\] must be an integer \(INT64\), got 12.5/,
    ],
  ])("%s", (_, inputs, message) => {
    const failure = decodeError(inputs as RequestInput[]);
    expect(failure.code).toBe("bad_request");
    expect(failure.detail).toMatch(message);
  });

  it("answers 413 for more rows than MAX_BATCH, from the shape, before reading data", () => {
    const failure = decodeError([matrix({ shape: [101, 8], data: [] })], 100);
    expect(failure).toEqual({
      code: "payload_too_large",
      detail: 'input "input": 101 rows; the limit is 100 (MAX_BATCH)',
    });
    expect(decodeError(perFeature({ MedInc: { shape: [101] } }), 100).code).toBe("payload_too_large");
  });
});

describe("parsing the request envelope", () => {
  const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

  it("accepts a request the official schema accepts, with id, parameters and outputs", () => {
    const req = {
      id: "42",
      parameters: { binary_data_output: false },
      inputs: [matrix()],
      outputs: [{ name: "house_value" }],
    };
    expect(officialErrors("inference_request", req)).toEqual([]);
    expect(InferenceRequestSchema.safeParse(req).success).toBe(true);
    expect(parseInferenceRequest(bytes(req))).toEqual({ ok: true, value: req });
  });

  it.each([
    [{}, /inputs is required/],
    [{ inputs: [] }, /inputs must contain at least 1 item/],
    [{ inputs: [{ name: "input", datatype: "FP32", data: [] }] }, /inputs\[0\]\.shape is required/],
    [{ inputs: [{ ...matrix(), shape: [-1, 8] }] }, /inputs\[0\]\.shape\[0\] must be at least 0/],
    [{ id: 42, inputs: [matrix()] }, /id must be a string/],
    [{ inputs: { name: "input" } }, /^inputs must be an array, got object$/],
    [[matrix()], /must be an object, got array$/],
    [{ inputs: [{ ...matrix(), shape: [1.5, 8] }] }, /^inputs\[0\]\.shape\[0\] must be an integer, got number$/],
    ["{", /not valid JSON/],
  ])("refuses %j with a 400 naming the field", (body, message) => {
    const r = parseInferenceRequest(bytes(body));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.failure.code).toBe("bad_request");
      expect(r.failure.detail).toMatch(message);
    }
  });
});

describe("responses", () => {
  it("server and model metadata validate against the zod schemas and the official ones", () => {
    const server = serverMetadata("1.0.0");
    expect(ServerMetadataSchema.parse(server)).toEqual(server);
    expect(officialErrors("metadata_server_response", server)).toEqual([]);
    const model = modelMetadata(INFO);
    expect(ModelMetadataSchema.parse(model)).toEqual(model);
    expect(officialErrors("metadata_model_response", model)).toEqual([]);
    expect(model.inputs).toEqual([{ name: "input", datatype: "FP32", shape: [-1, 8] }]);
    expect(model.outputs).toEqual([{ name: "house_value", datatype: "FP32", shape: [-1, 1] }]);
    expect(modelConfig(INFO, 500)).toMatchObject({ max_batch_size: 500, input: [{ name: "input", dims: [8] }] });
  });

  it("an inference response echoes the id and shapes the output [N, 1]", () => {
    const res = inferenceResponse(INFO, [JSON_OUT], [4.5, 2.25], "req-1");
    expect(res).toEqual({
      model_name: "california-housing-gbdt",
      model_version: "1.0.0",
      id: "req-1",
      outputs: [{ name: "house_value", datatype: "FP32", shape: [2, 1], data: [4.5, 2.25] }],
    });
    expect(InferenceResponseSchema.parse(res)).toEqual(res);
    expect(officialErrors("inference_response", res)).toEqual([]);
    expect(inferenceResponse(INFO, [JSON_OUT], [1], undefined)).not.toHaveProperty("id");
  });

  it("honours the outputs selection, refuses unknown outputs and reads the binary_data flags", () => {
    expect(selectOutputs(INFO, undefined, undefined)).toEqual({ ok: true, value: [JSON_OUT] });
    expect(selectOutputs(INFO, [], undefined)).toEqual({ ok: true, value: [JSON_OUT] });
    expect(selectOutputs(INFO, [{ name: "house_value", parameters: { binary_data: false } }], undefined)).toEqual({
      ok: true,
      value: [JSON_OUT],
    });
    const unknown = selectOutputs(INFO, [{ name: "price" }], undefined);
    expect(unknown.ok || unknown.failure.detail).toMatch(
      /output "price" is not produced by this model; it has house_value/,
    );
    const binary = { name: "house_value", binary: true };
    expect(selectOutputs(INFO, undefined, { binary_data_output: true })).toEqual({ ok: true, value: [binary] });
    // The output's own flag overrides the request's.
    expect(
      selectOutputs(INFO, [{ name: "house_value", parameters: { binary_data: false } }], { binary_data_output: true }),
    ).toEqual({ ok: true, value: [JSON_OUT] });
  });

  it("turns any error answer into the protocol's error object, keeping its headers", () => {
    const res = asErrorObject(problemResponse({ code: "model_unavailable", detail: "The model is loading" }));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(res.body as string);
    expect(body).toEqual({ error: "The model is loading" });
    expect(ErrorResponseSchema.parse(body)).toEqual(body);
    expect(officialErrors("inference_error_response", body)).toEqual([]);
    const legacy = asErrorObject({
      status: 404,
      headers: {},
      body: JSON.stringify({ error: "API not found.", app_identifier: "x" }),
    });
    expect(JSON.parse(legacy.body as string)).toEqual({ error: "API not found." });
  });

  it("the official validator is not a rubber stamp", () => {
    expect(officialErrors("inference_response", { outputs: [] })).not.toEqual([]);
    expect(officialErrors("metadata_model_response", { name: "m", platform: "p", extra: 1 })).not.toEqual([]);
    expect(officialErrors("inference_error_response", { error: 1 })).not.toEqual([]);
  });
});

describe("Triton's binary tensor data extension", () => {
  /** A request in the extension's layout: the JSON header, then the raw parts (the service's own joinBody lays it out). */
  function binaryBody(header: unknown, ...parts: ArrayBufferView[]): { bytes: Uint8Array; length: string } {
    const chunks = parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    const { body, headerLength } = joinBody(JSON.stringify(header), chunks);
    return { bytes: body, length: String(headerLength) };
  }
  const values = Float32Array.from(ROWS.flatMap(row));

  it("reads an FP32 [N, 8] tensor from the bytes after the JSON, the same rows as JSON data", () => {
    const { bytes, length } = binaryBody(
      { inputs: [{ name: "input", datatype: "FP32", shape: [2, 8], parameters: { binary_data_size: 64 } }] },
      values,
    );
    const parsed = parseInferenceRequest(bytes, length);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(decodeInputs(parsed.value.inputs, 100)).toEqual({ ok: true, value: { tensor: toTensor(ROWS), rows: 2 } });
  });

  it("reads per-feature tensors of mixed types, binary and JSON, in input order", () => {
    const inputs = perFeature().map((i) => ({ ...i, data: undefined as unknown as unknown[] }));
    const parts: ArrayBufferView[] = [];
    inputs.forEach((input, c) => {
      if (input.name === "HouseAge") {
        input.datatype = "INT64";
        parts.push(BigInt64Array.from(ROWS.map((h) => BigInt(h.HouseAge))));
      } else if (c % 2 === 0) {
        input.datatype = "FP64";
        parts.push(Float64Array.from(ROWS.map((h) => h[input.name as keyof typeof h])));
      } else {
        input.data = ROWS.map((h) => h[input.name as keyof typeof h]);
        return;
      }
      input.parameters = { binary_data_size: parts.at(-1)!.byteLength };
      delete (input as { data?: unknown }).data;
    });
    const { bytes, length } = binaryBody({ inputs }, ...parts);
    const parsed = parseInferenceRequest(bytes, length);
    expect(parsed.ok || parsed.failure).toBe(true);
    if (parsed.ok)
      expect(decodeInputs(parsed.value.inputs, 100)).toEqual({ ok: true, value: { tensor: toTensor(ROWS), rows: 2 } });
  });

  it.each([
    [
      "a size that does not match the shape",
      60,
      undefined,
      /input "input": binary_data_size is 60 bytes but shape \[2, 8\] of FP32 needs 64/,
    ],
    [
      "bytes nobody declared",
      64,
      new Uint8Array(4),
      /4 bytes of binary data that no input's binary_data_size accounts for/,
    ],
    [
      "a header longer than the body",
      64,
      undefined,
      /Inference-Header-Content-Length "9999" is not a byte count/,
      "9999",
    ],
  ])("refuses %s", (_, size, extra, message, header?: string) => {
    const parts: ArrayBufferView[] = [values.subarray(0, (size as number) / 4)];
    if (extra) parts.push(extra as Uint8Array);
    const { bytes, length } = binaryBody(
      { inputs: [{ name: "input", datatype: "FP32", shape: [2, 8], parameters: { binary_data_size: size } }] },
      ...parts,
    );
    const parsed = parseInferenceRequest(bytes, header ?? length);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.failure.detail).toMatch(message as RegExp);
  });

  it("refuses an input with neither data nor binary_data_size", () => {
    const parsed = parseInferenceRequest(
      new TextEncoder().encode(JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 8] }] })),
    );
    expect(parsed.ok || parsed.failure.detail).toMatch(/input "input": data is required/);
  });

  it("answers a binary output as JSON then little-endian FP32, with Inference-Header-Content-Length", () => {
    const out = [{ name: "house_value", binary: true }];
    const res = inferenceResponse(INFO, out, [4.5, 2.25], "7");
    const { body, headers } = encodeInferenceResponse(res, out, [4.5, 2.25]);
    expect(headers["content-type"]).toBe("application/octet-stream");
    const n = Number(headers[INFERENCE_HEADER]);
    const bytes = body as Uint8Array;
    const head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n)));
    expect(head.outputs).toEqual([
      { name: "house_value", datatype: "FP32", shape: [2, 1], parameters: { binary_data_size: 8 } },
    ]);
    expect(Array.from(new Float32Array(bytes.slice(n).buffer))).toEqual([4.5, 2.25]);
  });
});

describe("the project's statement of the protocol", () => {
  type Schema = {
    type?: string;
    properties?: Record<string, Schema>;
    required?: string[];
    $ref?: string;
    items?: Schema;
  };
  const ours = (JSON.parse(openApiDocument(parseConfig({}))) as { components: { schemas: Record<string, Schema> } })
    .components.schemas;
  const official = officialComponents() as Record<string, Schema>;
  const typeOf = (s: Schema | undefined): string | undefined =>
    s?.$ref ? s.$ref.split("/").at(-1) : s?.type === "array" ? `array of ${typeOf(s.items)}` : s?.type;

  it.each([
    "metadata_server_response",
    "metadata_model_response",
    "metadata_tensor",
    "inference_request",
    "request_input",
    "request_output",
    "response_output",
    "inference_response",
    "inference_error_response",
  ])("%s in the service's OpenAPI document has the official fields, types and required fields", (name) => {
    const mine = ours[name]!;
    const theirs = official[name]!;
    expect(mine, name).toBeDefined();
    expect(Object.keys(mine.properties ?? {}).sort()).toEqual(Object.keys(theirs.properties ?? {}).sort());
    // The official file leaves inference_error_response.error optional; the prose's object always has it, and so
    // does every answer here (its metadata error objects require it too). Everything else matches exactly.
    const required = name === "inference_error_response" ? ["error"] : (theirs.required ?? []);
    expect([...(mine.required ?? [])].sort()).toEqual([...required].sort());
    for (const [field, schema] of Object.entries(theirs.properties ?? {})) {
      expect(typeOf(mine.properties![field]), `${name}.${field}`).toBe(typeOf(schema));
    }
  });
});
