import { FEATURE_INDEX, WIDTH, type FeatureName } from "./features";
import { packHouse } from "./house-object-packer";
import { fail, ok, type Result } from "../http/core";
import { HouseSchema, type FieldError } from "./schemas";
import { describeReceived, validate, validationFailure } from "./validation";
import {
  defaultResponseOptions,
  isResponseOption,
  JSON_NUMBER,
  parseResponseOption,
  type ResponseOptions,
} from "./response-options";

/** One house read from a query string, ready for the model, with the options that shape the answer. */
export interface QueryHouse {
  /** The eight features as one float32 row, in FEATURES order. */
  tensor: Float32Array;
  options: ResponseOptions;
}

const NONE: ReadonlySet<string> = new Set();
/** Errors listed at most (a long query of junk names is reported, not echoed whole). */
const MAX_REPORTED = 100;

/** What is wrong with a single occurrence of a feature's raw value, or undefined when it reads as a number. */
function grammarError(name: string, raw: string): FieldError | undefined {
  if (raw === "") return { path: name, message: "must not be empty", received: raw };
  if (JSON_NUMBER.test(raw)) return undefined;
  return {
    path: name,
    message: "must be a number written as in JSON (e.g. 8.3252 or 1e-3; no hex, blanks or +)",
    received: describeReceived(raw),
  };
}

/**
 * Reads `GET /predict?MedInc=…&…`: exactly the eight features, each once, each in JSON's number grammar, plus
 * the reserved response options. Anything else (an unknown or repeated name, an empty, hex or padded value)
 * is a 422 naming the parameter; range problems get the very messages `POST /predict` gives (zod decides).
 * `ignored` names parameters that belong to the platform, not to us (Azure Functions' `code`, the function key):
 * allowed once, never read.
 */
export function parseQueryHouse(query: URLSearchParams, ignored: ReadonlySet<string> = NONE): Result<QueryHouse> {
  const errors: FieldError[] = [];
  let total = 0;
  const report = (e: FieldError) => {
    total++;
    if (errors.length < MAX_REPORTED) errors.push(e);
  };
  const house: Partial<Record<FeatureName, number>> = {};
  const options = defaultResponseOptions();
  const seen = new Set<string>();
  for (const [name, raw] of query) {
    if (ignored.has(name) && !seen.has(name)) {
      seen.add(name);
      continue;
    }
    const known = FEATURE_INDEX.has(name) || isResponseOption(name);
    if (!known) {
      const path = name === "" ? "(empty name)" : describeReceived(name);
      report({ path: String(path), message: "is not a known query parameter", received: describeReceived(raw) });
      continue;
    }
    if (seen.has(name)) {
      report({ path: name, message: "must appear only once", received: describeReceived(raw) });
      continue;
    }
    seen.add(name);
    const bad = isResponseOption(name) ? parseResponseOption(name, raw, options) : grammarError(name, raw);
    if (bad) report(bad);
    else if (!isResponseOption(name)) house[name as FeatureName] = Number(raw);
  }
  // Repeats are refused even where the first value was fine: a cache keyed on the raw query must never see two
  // spellings of one question answered differently.
  for (const name of seen) if (errors.some((e) => e.path === name)) delete house[name as FeatureName];

  const tensor = new Float32Array(WIDTH);
  if (total === 0 && packHouse(house, tensor, 0)) return ok({ tensor, options });
  // The rules themselves (missing, finite, bounds) are zod's, worded as for the POST body. Fields with a
  // grammar error above are absent here and would read "is required": those are left out.
  const checked = validate(HouseSchema, house);
  if (!checked.ok) {
    for (const e of checked.failure.errors ?? []) {
      if (!errors.some((g) => g.path === e.path)) report(e);
    }
  }
  if (total === 0) return fail("internal", "query row failed the fast check but passed validation");
  return validationFailure(errors, total);
}
