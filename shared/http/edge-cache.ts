import type { CoreResponse } from "./core";

/**
 * Lifetimes of a public prediction: a minute in browsers (which cannot be purged) and a day at the edge
 * (purged after a model change, docs/DEPLOYMENT.md). Fixed on purpose: the answer for a row only changes with
 * the model, and the model changes only on a rollout.
 */
export const PUBLIC_PREDICTION = "public, max-age=60, s-maxage=86400";
/** With API_KEYS set: no shared cache may keep an answer and hand it to a caller without a key. */
const KEYED_PREDICTION = "private, no-store";

/** The caching headers of a cacheable prediction (200 or 304); every other answer keeps the default no-store. */
export function predictionCacheHeaders(etag: string, keyed: boolean): Record<string, string> {
  return { etag, "cache-control": keyed ? KEYED_PREDICTION : PUBLIC_PREDICTION };
}

/**
 * 304 Not Modified for a matching If-None-Match: no body, and the headers a 200 would carry that a cache
 * needs to refresh its copy (RFC 9110 §15.4.5: ETag and Cache-Control).
 */
export function notModified(cacheHeaders: Record<string, string>): CoreResponse {
  return { status: 304, headers: { ...cacheHeaders }, body: "" };
}
