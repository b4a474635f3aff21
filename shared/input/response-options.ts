import type { FieldError } from "./schemas";

/**
 * Query parameters that shape a prediction's answer rather than describe the house. The GET /predict grammar
 * reserves exactly these names (anything else that is not a feature is refused), and their canonical form
 * goes into the ETag, so two requests share an edge-cache entry only when their answers are identical.
 *
 * `detail=true` adds the prediction interval at `level` (shared/input/prediction-options.ts resolves the level
 * against the model card; shared/routes/prediction-detail.ts answers it).
 */
export interface ResponseOptions {
  /** `detail=true` asks for the prediction's detail (its interval); default false. */
  detail: boolean;
  /** Coverage of the interval, strictly between 0 and 1 (e.g. 0.9); absent = the model's default. */
  level?: number;
}

/** JSON's number grammar (RFC 8259): no sign but minus, no leading zeros, no hex, no blanks, no bare dot. */
export const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

type OptionParser = (raw: string, into: ResponseOptions) => string | undefined;

/** One parser per reserved name: writes the value into the options, or answers the error message. */
const OPTION_PARSERS: Record<keyof ResponseOptions, OptionParser> = {
  detail: (raw, into) => {
    if (raw !== "true" && raw !== "false") return "must be true or false";
    into.detail = raw === "true";
    return undefined;
  },
  level: (raw, into) => {
    const v = JSON_NUMBER.test(raw) ? Number(raw) : NaN;
    if (!(v > 0 && v < 1)) return "must be a number greater than 0 and less than 1, e.g. 0.9";
    into.level = v;
    return undefined;
  },
};

/** The reserved names, in a fixed order (the ETag's canonical form follows it). */
export const RESPONSE_OPTION_NAMES = Object.keys(OPTION_PARSERS) as (keyof ResponseOptions)[];

export function isResponseOption(name: string): name is keyof ResponseOptions {
  return Object.hasOwn(OPTION_PARSERS, name);
}

/** Parses one reserved parameter (already known to appear once) into `into`; a FieldError when it is bad. */
export function parseResponseOption(
  name: keyof ResponseOptions,
  raw: string,
  into: ResponseOptions,
): FieldError | undefined {
  if (raw === "") return { path: name, message: "must not be empty", received: raw };
  const message = OPTION_PARSERS[name](raw, into);
  return message === undefined ? undefined : { path: name, message, received: raw.slice(0, 100) };
}

export const defaultResponseOptions = (): ResponseOptions => ({ detail: false });

/**
 * The options in a canonical text form for the ETag: every name in a fixed order with its parsed value, so
 * `level=0.90` and `level=0.9` (same answer) give one ETag, and adding an option changes no existing tag.
 */
export function responseOptionsKey(o: ResponseOptions): string {
  return RESPONSE_OPTION_NAMES.map((n) => `${n}=${o[n] === undefined ? "" : String(o[n])}`).join("&");
}
