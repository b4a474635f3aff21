import { createHash, timingSafeEqual } from "node:crypto";
import { presentedApiKey } from "../rate-limit";

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * A checker for API_KEYS (comma-separated), or undefined when none are configured. Keys are compared
 * as SHA-256 digests with timingSafeEqual, against every configured key without an early exit, so
 * neither a key's length nor its prefix leaks through timing. Answers the presented key's digest when it
 * matches (the rate limiter identifies the client by it), else undefined.
 */
export function createApiKeyCheck(
  keysCsv: string | undefined,
): ((headers: Record<string, string | undefined>) => Buffer | undefined) | undefined {
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
