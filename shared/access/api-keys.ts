import { createHash, timingSafeEqual } from "node:crypto";

/** The API key a request carries: `X-API-Key`, or `Authorization: Bearer <key>`. */
export function presentedApiKey(headers: Record<string, string | undefined>): string | undefined {
  const direct = headers["x-api-key"];
  if (direct) return direct;
  const auth = headers["authorization"];
  if (auth && auth.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim() || undefined;
  return undefined;
}

/** The presented key's SHA-256 digest when it is one of the configured keys, else undefined. */
export type ApiKeyCheck = (headers: Record<string, string | undefined>) => Buffer | undefined;

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * A checker for API_KEYS (comma-separated), or undefined when none are configured. Keys are compared
 * as SHA-256 digests with timingSafeEqual, against every configured key without an early exit, so
 * neither a key's length nor its prefix leaks through timing. Answers the presented key's digest when it
 * matches (the rate limiter identifies the client by it), else undefined.
 */
export function createApiKeyCheck(keysCsv: string | undefined): ApiKeyCheck | undefined {
  const keys = (keysCsv ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean)
    .map(digest);
  if (keys.length === 0) return undefined;
  return (headers) => {
    const presented = presentedApiKey(headers);
    if (!presented) return undefined;
    const d = digest(presented);
    let match = false;
    for (const k of keys) match = timingSafeEqual(k, d) || match;
    return match ? d : undefined;
  };
}
