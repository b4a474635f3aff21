import { createHash } from "node:crypto";

/**
 * A strong ETag for one prediction: a hash of the model's sha256, the row exactly as the model sees it (its
 * float32 bits, so `8.3252` and `8.32520` share a tag while values that differ as float32 do not) and the
 * canonical response options. The same inputs always give byte-identical JSON, which is what a strong
 * validator promises; a new model changes every tag.
 */
export function predictionETag(modelSha256: string, row: Float32Array, optionsKey: string): string {
  const h = createHash("sha256");
  h.update(modelSha256);
  h.update("\0");
  h.update(new Uint8Array(row.buffer, row.byteOffset, row.byteLength));
  h.update("\0");
  h.update(optionsKey);
  // 128 bits of the digest, base64url: collision-safe for any realistic number of rows, and short.
  return `"${h.digest("base64url").slice(0, 22)}"`;
}

/**
 * Whether an If-None-Match header matches `etag` (RFC 9110 §13.1.2): `*`, or any listed entity tag equal to it
 * under the weak comparison (a `W/` prefix is ignored). Malformed members simply do not match.
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === "*") return true;
  const opaque = etag.startsWith("W/") ? etag.slice(2) : etag;
  for (const m of value.matchAll(/(?:W\/)?("[^"]*")/g)) if (m[1] === opaque) return true;
  return false;
}
