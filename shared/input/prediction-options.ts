import { fail, ok, type Result } from "../http/core";
import type { FieldError } from "./schemas";
import { validationFailure } from "./validation";
import type { IntervalLevels } from "./interval-levels";
import {
  defaultResponseOptions,
  parseResponseOption,
  RESPONSE_OPTION_NAMES,
  type ResponseOptions,
} from "./response-options";

/**
 * The response options of a POST prediction (`?detail=true&level=0.9`), read from its query string with the
 * same parser GET /predict uses for them (parseResponseOption). Other query parameters are not ours to judge
 * on a POST (Azure Functions' `code`, cache busters): they are ignored, as they always were.
 */
export function parsePredictionOptions(query: URLSearchParams): Result<ResponseOptions> {
  const options = defaultResponseOptions();
  const errors: FieldError[] = [];
  for (const name of RESPONSE_OPTION_NAMES) {
    const values = query.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1) {
      errors.push({ path: name, message: "must appear only once", received: values.slice(0, 5) });
      continue;
    }
    const bad = parseResponseOption(name, values[0]!, options);
    if (bad) errors.push(bad);
  }
  return errors.length === 0 ? ok(options) : validationFailure(errors, errors.length);
}

/**
 * The level a detail request gets: the one asked for when the card lists it, the card's default when none was
 * asked for; a level the card does not list (or a model without intervals) is a 422 naming `level` (`detail`).
 */
export function resolveLevel(options: ResponseOptions, offered: IntervalLevels | undefined): Result<number> {
  if (!offered) {
    return fail("validation", "detail this model offers no prediction intervals", {
      errors: [
        { path: "detail", message: "is not available: the model card lists no interval levels", received: true },
      ],
    });
  }
  if (options.level === undefined) return ok(offered.defaultLevel);
  if (offered.levels.includes(options.level)) return ok(options.level);
  const message = `must be one of ${offered.levels.join(", ")} (the levels of the model card)`;
  return fail("validation", `level ${message}`, { errors: [{ path: "level", message, received: options.level }] });
}
