import { fail, ok, type Result } from "../http/core";

/**
 * Triton's binary tensor data extension (triton-inference-server/server docs/protocol/extension_binary_data.md):
 * the JSON request or response is followed in the same body by raw tensors, little-endian, row-major, in the
 * order of the tensors in the JSON; `Inference-Header-Content-Length` gives the JSON's length and a tensor's
 * `parameters.binary_data_size` its byte count. Triton's clients and perf_analyzer send tensors this way by
 * default. Only the numeric types this model can take are decoded.
 */
export const INFERENCE_HEADER = "inference-header-content-length";

const ELEMENT_BYTES: Record<string, number> = {
  INT8: 1,
  UINT8: 1,
  INT16: 2,
  UINT16: 2,
  INT32: 4,
  UINT32: 4,
  FP32: 4,
  INT64: 8,
  UINT64: 8,
  FP64: 8,
};

/** The body split at the header's length: the JSON part and the binary part after it (empty without the header). */
export function splitBody(
  bytes: Uint8Array,
  header: string | undefined,
): Result<{ json: Uint8Array; binary: Uint8Array }> {
  if (header === undefined || header.trim() === "") return ok({ json: bytes, binary: new Uint8Array(0) });
  const n = Number(header);
  if (!/^\d+$/.test(header.trim()) || !Number.isSafeInteger(n) || n > bytes.length) {
    return fail(
      "bad_request",
      `Inference-Header-Content-Length ${JSON.stringify(header.slice(0, 40))} is not a byte count within the body's ${bytes.length} bytes`,
    );
  }
  return ok({ json: bytes.subarray(0, n), binary: bytes.subarray(n) });
}

/** A tensor as the JSON part declares it; `data` is absent when its elements travel as binary. */
export interface BinaryCapableInput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, string | number | boolean> | undefined;
  data?: unknown[] | undefined;
}

/**
 * Gives every input its `data`: the JSON array it carried, or its elements read from the binary part (in
 * input order, `binary_data_size` bytes each). Every byte of the binary part must belong to a tensor.
 */
export function attachBinaryData<T extends BinaryCapableInput>(
  inputs: readonly T[],
  binary: Uint8Array,
): Result<(T & { data: unknown[] })[]> {
  let offset = 0;
  const out: (T & { data: unknown[] })[] = [];
  for (const input of inputs) {
    const size = input.parameters?.binary_data_size;
    const where = `input ${JSON.stringify(input.name)}`;
    if (size === undefined) {
      if (!input.data) return fail("bad_request", `${where}: data is required (or binary_data_size with binary data)`);
      out.push(input as T & { data: unknown[] });
      continue;
    }
    if (input.data) return fail("bad_request", `${where}: has both data and binary_data_size; send one`);
    const read = readTensor(input, size, binary, offset);
    if (!read.ok) return read;
    offset += size as number;
    out.push({ ...input, data: read.value });
  }
  if (offset !== binary.length) {
    return fail(
      "bad_request",
      `the body has ${binary.length - offset} bytes of binary data that no input's binary_data_size accounts for`,
    );
  }
  return ok(out);
}

function readTensor(input: BinaryCapableInput, size: unknown, binary: Uint8Array, offset: number): Result<number[]> {
  const where = `input ${JSON.stringify(input.name)}`;
  const width = ELEMENT_BYTES[input.datatype];
  if (width === undefined)
    return fail("bad_request", `${where}: datatype ${input.datatype} is not supported as binary data`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    return fail("bad_request", `${where}: binary_data_size must be a byte count, got ${JSON.stringify(size)}`);
  }
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (size !== count * width) {
    return fail(
      "bad_request",
      `${where}: binary_data_size is ${size} bytes but shape [${input.shape.join(", ")}] of ${input.datatype} needs ${count * width}`,
    );
  }
  if (offset + size > binary.length) {
    return fail(
      "bad_request",
      `${where}: needs ${size} bytes of binary data but only ${binary.length - offset} remain`,
    );
  }
  const view = new DataView(binary.buffer, binary.byteOffset + offset, size);
  const values = new Array<number>(count);
  for (let i = 0; i < count; i++) values[i] = readElement(view, i * width, input.datatype);
  return ok(values);
}

function readElement(view: DataView, at: number, datatype: string): number {
  switch (datatype) {
    case "FP32":
      return view.getFloat32(at, true);
    case "FP64":
      return view.getFloat64(at, true);
    case "INT8":
      return view.getInt8(at);
    case "UINT8":
      return view.getUint8(at);
    case "INT16":
      return view.getInt16(at, true);
    case "UINT16":
      return view.getUint16(at, true);
    case "INT32":
      return view.getInt32(at, true);
    case "UINT32":
      return view.getUint32(at, true);
    case "INT64":
      return Number(view.getBigInt64(at, true));
    default:
      return Number(view.getBigUint64(at, true));
  }
}

/** FP32 values as little-endian bytes, the binary form of an output. */
export function fp32Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

/** The JSON part followed by the binary parts; the length of the JSON part goes in Inference-Header-Content-Length. */
export function joinBody(json: string, parts: readonly Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const head = new TextEncoder().encode(json);
  const body = new Uint8Array(head.length + parts.reduce((n, p) => n + p.length, 0));
  body.set(head, 0);
  let at = head.length;
  for (const p of parts) {
    body.set(p, at);
    at += p.length;
  }
  return { body, headerLength: head.length };
}
