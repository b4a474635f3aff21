import { z } from "zod";
import { fail, ok, type Result } from "../http/core";
import { HouseSchema, type FieldError, type House } from "./schemas";
import { packHouse } from "./house-object-packer";
import { FEATURES } from "./features";
import { nextTurn } from "../inference/turn-taking";

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Which media types a JSON endpoint accepts; a missing Content-Type is read as JSON for old clients. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === "application/json" || header === undefined || header.trim() === "") return true;
  const [type = "", ...params] = header.split(";").map((p) => p.trim().toLowerCase());
  if (type !== "application/json" && !(type.startsWith("application/") && type.endsWith("+json"))) return false;
  // JSON is UTF-8 (RFC 8259); a body declared in another charset would be misread, so it is refused.
  const charset = params
    .find((p) => p.startsWith("charset="))
    ?.slice(8)
    .replace(/"/g, "");
  return charset === undefined || charset === "utf-8" || charset === "utf8";
}

/** Decodes strict UTF-8 and parses JSON; every failure is a 400 that says what was wrong. */
export function parseJson(bytes: Uint8Array): Result<unknown> {
  if (bytes.length === 0) return fail("bad_request", "The request body is empty; send a JSON object");
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail("bad_request", "The request body is not valid UTF-8");
  }
  try {
    return ok(JSON.parse(text));
  } catch (err) {
    // V8's message names the position, e.g. "Unexpected token N in JSON at position 10".
    const why = err instanceof Error ? err.message : "invalid JSON";
    return fail("bad_request", `The request body is not valid JSON: ${why.slice(0, 200)}`);
  }
}

/** `["houses", 3, "MedInc"]` → `houses[3].MedInc`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(body)" : out;
}

/** A JSON-safe, bounded rendering of what the client sent at a path. */
export function describeReceived(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "string") return value.length > 100 ? `${value.slice(0, 100)}… (${value.length} chars)` : value;
  if (typeof value === "boolean" || value === null) return value;
  if (Array.isArray(value)) return `array(${value.length})`;
  return "object";
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number" && !Number.isFinite(v)) return "non-finite number";
  return typeof v;
}

/** zod's name of an expected type, in words ("an array", "an integer"; numbers must also be finite). */
function expectedType(expected: string): string {
  const words: Record<string, string> = { number: "finite number", int: "integer" };
  const noun = words[expected] ?? expected;
  return `${/^[aeiou]/.test(noun) ? "an" : "a"} ${noun}`;
}

function messageFor(issue: z.core.$ZodIssue, received: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      if (received === undefined) return "is required";
      return `must be ${expectedType(issue.expected)}, got ${typeName(received)}`;
    case "too_small":
      if (issue.origin === "array") return `must contain at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === "string") return "must not be empty";
      return issue.inclusive
        ? `must be at least ${String(issue.minimum)}`
        : `must be greater than ${String(issue.minimum)}`;
    case "too_big":
      if (issue.origin === "array") return `must contain at most ${String(issue.maximum)} item(s)`;
      return issue.inclusive
        ? `must be at most ${String(issue.maximum)}`
        : `must be less than ${String(issue.maximum)}`;
    case "unrecognized_keys":
      return `unknown field(s): ${issue.keys.join(", ")}`;
    default:
      return issue.message;
  }
}

/** Validates with a zod schema; a failure lists every failing field with its path, a message and the value. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root = ""): Result<z.infer<S>> {
  const flood = keyFlood(schema, input, root);
  if (flood) return flood;
  const parsed = schema.safeParse(input);
  if (parsed.success) return ok(parsed.data);
  const errors: FieldError[] = [];
  let total = 0;
  for (const issue of parsed.error.issues) {
    if (issue.code === "unrecognized_keys") {
      total += issue.keys.length;
      const parent = valueAt(input, issue.path);
      for (const key of issue.keys) {
        if (errors.length >= MAX_REPORTED) break;
        errors.push({
          path: prefix(root, formatPath([...issue.path, key])),
          message: "is not a known field",
          received: describeReceived(valueAt(parent, [key])),
        });
      }
      continue;
    }
    total++;
    if (errors.length >= MAX_REPORTED) continue;
    const received = valueAt(input, issue.path);
    const err: FieldError = { path: prefix(root, formatPath(issue.path)), message: messageFor(issue, received) };
    const shown = describeReceived(received);
    if (shown !== undefined) err.received = shown;
    errors.push(err);
  }
  return validationFailure(errors, total);
}

const keySets = new WeakMap<z.ZodObject, Set<string>>();
/** The keys a schema allows, computed once per schema (validateBulk asks again for every failing row). */
function knownKeys(schema: z.ZodObject): Set<string> {
  let known = keySets.get(schema);
  if (!known) keySets.set(schema, (known = new Set(Object.keys(schema.shape))));
  return known;
}

/**
 * An object with far more keys than its schema allows (a 4 MB body can carry 400,000 of them) is
 * reported from one pass over its keys, without handing it to zod, so it cannot hold the event loop.
 */
function keyFlood(schema: z.ZodType, input: unknown, root: string): Result<never> | undefined {
  if (!(schema instanceof z.ZodObject) || typeof input !== "object" || input === null || Array.isArray(input)) {
    return undefined;
  }
  const known = knownKeys(schema);
  let count = 0;
  for (const _ in input) if (++count > known.size + MAX_REPORTED) break;
  if (count <= known.size + MAX_REPORTED) return undefined;
  const errors: FieldError[] = [];
  let total = 0;
  for (const key in input) {
    if (known.has(key)) continue;
    total++;
    if (errors.length < MAX_REPORTED) {
      errors.push({
        path: prefix(root, formatPath([key])),
        message: "is not a known field",
        received: describeReceived((input as Record<string, unknown>)[key]),
      });
    }
  }
  return validationFailure(errors, total);
}

const MAX_REPORTED = 100;

export function validationFailure(errors: FieldError[], total: number): Result<never> {
  const first = errors[0];
  const detail =
    total === 1 && first
      ? `${first.path} ${first.message}`
      : `${total} problems found; the first: ${first?.path} ${first?.message}`;
  return fail("validation", detail, { errors: errors.slice(0, MAX_REPORTED) });
}

/** The bulk body without its rows: the rows are validated separately, in slices. */
const BulkEnvelopeSchema = z.strictObject({ houses: z.array(z.unknown()).min(1) });

/**
 * Validates a /bulk_predict body like `BulkRequestSchema` (the documented schema: same rules, same
 * paths), but row by row in slices with the event loop yielding between them, so validating 10,000
 * houses never holds the loop for more than a slice. Reports every failing field (the first 100 listed).
 */
export async function validateBulk(input: unknown, sliceRows = 1000): Promise<Result<House[]>> {
  const envelope = validate(BulkEnvelopeSchema, input);
  const errors: FieldError[] = envelope.ok ? [] : [...(envelope.failure.errors ?? [])];
  let total = errors.length;
  const rows = (input as { houses?: unknown } | null)?.houses;
  if (!Array.isArray(rows)) return validationFailure(errors, total);
  const out = new Array<House>(rows.length);
  const scratch = new Float32Array(FEATURES.length);
  for (let start = 0; start < rows.length; start += sliceRows) {
    if (start > 0) await nextTurn();
    const end = Math.min(rows.length, start + sliceRows);
    for (let i = start; i < end; i++) {
      if (packHouse(rows[i], scratch, 0)) {
        out[i] = rows[i] as House;
        continue;
      }
      const row = validate(HouseSchema, rows[i], `houses[${i}]`);
      if (row.ok) {
        out[i] = row.value;
        continue;
      }
      const rowErrors = row.failure.errors ?? [];
      total += Math.max(1, rowErrors.length);
      if (errors.length < MAX_REPORTED) errors.push(...rowErrors.slice(0, MAX_REPORTED - errors.length));
    }
  }
  return total > 0 ? validationFailure(errors, total) : ok(out);
}

function prefix(root: string, path: string): string {
  if (!root) return path;
  if (path === "(body)") return root;
  return path.startsWith("[") ? root + path : `${root}.${path}`;
}
