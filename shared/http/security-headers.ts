/**
 * Added to every response unless the endpoint set its own (the docs page sets its CSP and caching): the OWASP
 * set for JSON APIs. The one table for both hosts: the core's responses (finish.ts) and the answers the
 * standalone server writes itself (400/408/431 parse errors, a crash; server/http.ts). HSTS belongs to the TLS
 * terminator (Front Door, ingress), not here.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
});

const ENTRIES = Object.entries(SECURITY_HEADERS);

/** Adds each security header the response does not set itself; returns the same object. */
export function addSecurityHeaders(headers: Record<string, string>): Record<string, string> {
  for (const [k, v] of ENTRIES) if (!(k in headers)) headers[k] = v;
  return headers;
}
