import { featureOk } from "../input/house-object-packer";
import { FEATURE_INDEX, FEATURES, WIDTH, type FeatureName } from "../input/features";
import { fail, ok, type Result } from "../http/core";
import { HouseSchema } from "../input/schemas";
import { validate } from "../input/validation";
import type { RequestInput } from "./schemas";

/** The model's rows: float32 [rows, 8] in FEATURES order, the tensor the predictor takes. */
export interface DecodedRows {
  tensor: Float32Array;
  rows: number;
}

/** The element types each layout takes; anything else is refused with the list. */
const MATRIX_TYPES = new Set(["FP32", "FP64"]);
/** Per-feature tensors may also be integers: MLServer's pandas codec sends an int64 column as INT64. */
const INTEGER_TYPES = new Set(["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]);
const FEATURE_TYPES = new Set([...MATRIX_TYPES, ...INTEGER_TYPES]);

const quote = (name: string) => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
const badInput = (name: string, problem: string): Result<never> =>
  fail("bad_request", `input ${quote(name)}: ${problem}`);

/**
 * Decodes the request's inputs into the model's tensor, in either layout clients send:
 * - one FP32/FP64 tensor of shape [N, 8] (any name but a feature's), columns in FEATURES order;
 * - one tensor per feature, named as the API fields, each of shape [N] or [N, 1].
 * Every element is checked against the same rules as /predict (HouseSchema); a failure is a 400 naming the
 * tensor, the element and the rule, and more than `maxBatch` rows is a 413.
 */
export function decodeInputs(inputs: readonly RequestInput[], maxBatch: number): Result<DecodedRows> {
  const named = inputs.length > 1 || inputs.some((i) => FEATURE_INDEX.has(i.name));
  return named ? decodeFeatureTensors(inputs, maxBatch) : decodeMatrix(inputs[0]!, maxBatch);
}

function rowsFromShape(input: RequestInput, maxBatch: number, expected: string): Result<number> {
  const rows = input.shape[0];
  if (rows === undefined) return badInput(input.name, `shape [] has no batch dimension; expected ${expected}`);
  if (rows > maxBatch) {
    return fail("payload_too_large", `input ${quote(input.name)}: ${rows} rows; the limit is ${maxBatch} (MAX_BATCH)`);
  }
  if (rows === 0) return badInput(input.name, "shape has 0 rows; send at least one");
  return ok(rows);
}

function decodeMatrix(input: RequestInput, maxBatch: number): Result<DecodedRows> {
  const expected = `[N, ${WIDTH}] with columns ${FEATURES.join(", ")}`;
  if (!MATRIX_TYPES.has(input.datatype)) {
    return badInput(input.name, `datatype ${input.datatype} is not supported; send FP32 or FP64`);
  }
  const rows = rowsFromShape(input, maxBatch, expected);
  if (!rows.ok) return rows;
  if (input.shape.length !== 2 || input.shape[1] !== WIDTH) {
    return badInput(input.name, `shape [${input.shape.join(", ")}] is not ${expected}`);
  }
  const tensor = new Float32Array(rows.value * WIDTH);
  const filled = fill(input, [rows.value, WIDTH], (k, v) => {
    const problem = elementProblem(k % WIDTH, v, input.datatype);
    if (problem) return `data${position(k, WIDTH, input.data)} (${FEATURES[k % WIDTH]}) ${problem}`;
    tensor[k] = v as number;
    return undefined;
  });
  return filled.ok ? ok({ tensor, rows: rows.value }) : filled;
}

function decodeFeatureTensors(inputs: readonly RequestInput[], maxBatch: number): Result<DecodedRows> {
  const seen = new Map<FeatureName, RequestInput>();
  for (const input of inputs) {
    const c = FEATURE_INDEX.get(input.name);
    if (c === undefined) {
      return badInput(
        input.name,
        `not a feature of this model; send one tensor per feature (${FEATURES.join(", ")}) or one [N, ${WIDTH}] tensor`,
      );
    }
    if (seen.has(FEATURES[c]!)) return badInput(input.name, "appears more than once");
    seen.set(FEATURES[c]!, input);
  }
  const missing = FEATURES.filter((f) => !seen.has(f));
  if (missing.length > 0) {
    return fail("bad_request", `missing input tensor(s) ${missing.map(quote).join(", ")}; every feature is required`);
  }
  let rows = 0;
  for (const f of FEATURES) {
    const input = seen.get(f)!;
    const n = rowsFromShape(input, maxBatch, "[N] or [N, 1]");
    if (!n.ok) return n;
    if (input.shape.length > 2 || (input.shape.length === 2 && input.shape[1] !== 1)) {
      return badInput(f, `shape [${input.shape.join(", ")}] is not [N] or [N, 1]`);
    }
    if (rows === 0) rows = n.value;
    else if (n.value !== rows) {
      return badInput(
        f,
        `has ${n.value} rows but input ${quote(FEATURES[0])} has ${rows}; every feature needs one value per row`,
      );
    }
  }
  const tensor = new Float32Array(rows * WIDTH);
  for (let c = 0; c < WIDTH; c++) {
    const input = seen.get(FEATURES[c]!)!;
    if (!FEATURE_TYPES.has(input.datatype)) {
      return badInput(input.name, `datatype ${input.datatype} is not supported; send FP32, FP64 or an integer type`);
    }
    const filled = fill(input, input.shape, (k, v) => {
      const problem = elementProblem(c, v, input.datatype);
      if (problem) return `data${position(k, input.shape[1] ?? 0, input.data)} ${problem}`;
      tensor[k * WIDTH + c] = v as number;
      return undefined;
    });
    if (!filled.ok) return filled;
  }
  return ok({ tensor, rows });
}

/**
 * Walks a tensor's data, flat (`[a, b, c, d]`) or nested in the tensor's shape (`[[a, b], [c, d]]`), and
 * hands each element with its row-major index to `take`, which answers a problem or undefined.
 */
function fill(
  input: RequestInput,
  shape: readonly number[],
  take: (k: number, v: unknown) => string | undefined,
): Result<undefined> {
  const total = shape.reduce((a, b) => a * b, 1);
  const data = input.data;
  const nested = shape.length > 1 && Array.isArray(data[0]);
  if (!nested) {
    if (data.length !== total) {
      return badInput(input.name, `data has ${data.length} elements but shape [${shape.join(", ")}] needs ${total}`);
    }
    for (let k = 0; k < total; k++) {
      const problem = take(k, data[k]);
      if (problem) return badInput(input.name, problem);
    }
    return ok(undefined);
  }
  // Nested: one level per dimension, each as long as its dimension (here at most [N, W] deep).
  if (data.length !== shape[0]) {
    return badInput(input.name, `data has ${data.length} rows but shape [${shape.join(", ")}] has ${shape[0]}`);
  }
  const width = shape[1]!;
  for (let r = 0; r < data.length; r++) {
    const row = data[r];
    if (!Array.isArray(row) || row.length !== width) {
      const got = Array.isArray(row) ? `${row.length} elements` : "not an array";
      return badInput(input.name, `data[${r}] is ${got}; shape [${shape.join(", ")}] needs ${width} per row`);
    }
    for (let j = 0; j < width; j++) {
      const problem = take(r * width + j, row[j]);
      if (problem) return badInput(input.name, problem);
    }
  }
  return ok(undefined);
}

/** `[k]` for flat data, `[row][column]` for nested data: where the client will find the element. */
function position(k: number, width: number, data: readonly unknown[]): string {
  return width > 0 && Array.isArray(data[0]) ? `[${Math.floor(k / width)}][${k % width}]` : `[${k}]`;
}

/**
 * Why element `v` cannot be feature `c`'s value, or undefined when it can: a number of the declared
 * datatype, finite in float32 (the model's input), and within HouseSchema's rule for the feature.
 */
function elementProblem(c: number, v: unknown, datatype: string): string | undefined {
  if (typeof v !== "number") {
    const kind = v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
    return `must be a number, got ${kind}`;
  }
  if (INTEGER_TYPES.has(datatype) && !Number.isInteger(v)) return `must be an integer (${datatype}), got ${v}`;
  if (featureOk(c, v) && Number.isFinite(Math.fround(v))) return undefined;
  if (!Number.isFinite(v)) return `must be a finite number, got ${v}`;
  if (!Number.isFinite(Math.fround(v))) return `is ${v}, which does not fit in FP32 (the model's input type)`;
  // The rule's own words, from the same zod schema /predict validates with ("x must be greater than 0").
  const rule = validate(HouseSchema.shape[FEATURES[c]!], v, "x");
  return `${rule.ok ? "is not accepted" : rule.failure.detail.slice(2)}, got ${v}`;
}
