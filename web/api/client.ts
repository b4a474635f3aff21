/**
 * The page's way to the API: openapi-fetch over the types generated from /openapi.json (schema.d.ts), plus
 * what a well-behaved client does around each call: the API key from the tab's session storage (asked for
 * when a 401 comes back, never put in the URL) and waiting out Retry-After on 429 and 503.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { askForApiKey, storedApiKey } from "./api-key";
import { retryAfterSeconds } from "./retry-after";
import { intervalLevels, type IntervalLevels } from "../../shared/input/interval-levels";

export type House = components["schemas"]["House"];
export type Problem = components["schemas"]["Problem"];
export type PredictDetail = components["schemas"]["PredictDetailResponse"];

export const client = createClient<paths>({ baseUrl: location.origin });

client.use({
  onRequest({ request }) {
    const key = storedApiKey();
    if (key) request.headers.set("X-API-Key", key);
    return request;
  },
});

/** How many times one call is repeated after a 429/503, and the longest Retry-After the page waits out. */
const MAX_RETRIES = 5;
const LONGEST_WAIT_S = 120;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs an API call, repeating it when the service asks to wait (429/503 with Retry-After, within limits) or
 * when it wants an API key the person then gives. `notify` tells the page what is happening while it waits.
 */
export async function send<R extends { response: Response }>(
  call: () => Promise<R>,
  notify: (message: string) => void,
): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    const result = await call();
    const { status, headers } = result.response;
    if (status === 401) {
      const refused = storedApiKey() !== undefined;
      if (await askForApiKey(refused)) continue;
      return result;
    }
    if ((status === 429 || status === 503) && attempt < MAX_RETRIES) {
      const wait = retryAfterSeconds(headers.get("retry-after"));
      if (wait > LONGEST_WAIT_S) return result;
      const why = status === 429 ? "Rate limit reached" : "The service is busy or still loading the model";
      notify(`${why}; retrying in ${wait} s (as the service asked).`);
      await sleep(wait * 1000);
      continue;
    }
    return result;
  }
}

/** Best-effort text of a failed call for the page: the problem's detail, or the status line. */
export function describeFailure(error: unknown, response: Response): string {
  const detail = (error as Partial<Problem> | undefined)?.detail;
  return typeof detail === "string" ? detail : `The service answered ${response.status} ${response.statusText}`.trim();
}

/** The bulk endpoint's batch limit, published as `maxItems` of `houses` in the OpenAPI document. */
export async function maxBatch(notify: (message: string) => void): Promise<number | undefined> {
  const { response } = await send(async () => ({ response: await fetch("/openapi.json") }), notify);
  if (!response.ok) return undefined;
  const doc = (await response.json()) as {
    components?: { schemas?: { BulkRequest?: { properties?: { houses?: { maxItems?: unknown } } } } };
  };
  const max = doc.components?.schemas?.BulkRequest?.properties?.houses?.maxItems;
  return typeof max === "number" && Number.isInteger(max) && max > 0 ? max : undefined;
}

export interface FeatureInfo {
  name: string;
  unit: string;
  description: string;
  min: number;
  max: number;
}

export interface ModelCard {
  features: FeatureInfo[];
  /** Undefined for a model without intervals: the page then asks for plain predictions. */
  intervals: IntervalLevels | undefined;
}

/** What the page uses of the served model's card (GET /model); undefined when it could not be loaded. */
export async function modelCard(notify: (message: string) => void): Promise<ModelCard | undefined> {
  const { data } = await send(() => client.GET("/model"), notify);
  if (!data) return undefined;
  const card = data.card as Record<string, unknown> & { features?: unknown };
  const features = Array.isArray(card.features)
    ? card.features.filter(
        (f): f is FeatureInfo =>
          typeof f === "object" && f !== null && typeof f.name === "string" && typeof f.min === "number",
      )
    : [];
  return { features, intervals: intervalLevels(card) };
}
