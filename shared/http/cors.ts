import type { CoreRequest, CoreResponse } from "./core";

/**
 * CORS for browser apps on other origins (CORS_ALLOWED_ORIGINS), answered by the core so both hosts behave
 * alike; the Function App's platform CORS stays off, since it would take precedence and cannot expose headers.
 * Credentials (cookies) are never involved: keys travel in X-API-Key or Authorization, which a page sets itself.
 */
export interface CorsPolicy {
  /**
   * The answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
   * origin on a route served with `methods`; undefined for anything else, which then routes as usual.
   */
  preflight(req: Pick<CoreRequest, "method" | "headers">, methods: readonly string[]): CoreResponse | undefined;
  /** Adds the CORS headers for the request's origin (if allowed) and `Vary: Origin` to a response. */
  decorate(req: Pick<CoreRequest, "headers">, res: CoreResponse): void;
}

/** Request headers a cross-origin caller may send: JSON bodies, both key headers and revalidation. */
export const CORS_ALLOWED_HEADERS = "Content-Type, X-API-Key, Authorization, If-None-Match";
/** Response headers a cross-origin caller may read besides the safelisted ones. */
export const CORS_EXPOSED_HEADERS =
  "Cache-Status, ETag, X-App-Identifier, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After";
/** How long a browser may reuse a preflight: Chromium caps it at 2 hours, so more would not be honoured. */
const CORS_MAX_AGE_SECONDS = 7200;

/**
 * Splits CORS_ALLOWED_ORIGINS into exact origins (`https://app.example.org`, `http://localhost:5173`).
 * Answers the list, or a message naming the first entry that is not a bare origin (a path, a trailing slash,
 * a wildcard or upper case would never equal what a browser sends in `Origin`).
 */
export function parseAllowedOrigins(csv: string | undefined): { origins: string[] } | { error: string } {
  const origins: string[] = [];
  for (const entry of (csv ?? "").split(",").map((s) => s.trim())) {
    if (entry === "") continue;
    let canonical: string | undefined;
    try {
      const url = new URL(entry);
      if (url.protocol === "http:" || url.protocol === "https:") canonical = url.origin;
    } catch {
      canonical = undefined;
    }
    if (canonical !== entry) {
      return {
        error: `${JSON.stringify(entry)} is not an exact origin (scheme://host[:port], lower case, no path or slash${
          canonical ? `; did you mean ${canonical}?` : ""
        })`,
      };
    }
    origins.push(entry);
  }
  return { origins };
}

/** Appends `value` to a response's Vary header unless it is already listed. */
function addVary(res: CoreResponse, value: string): void {
  const current = res.headers["vary"];
  if (!current) res.headers["vary"] = value;
  else if (!current.split(",").some((v) => v.trim().toLowerCase() === value.toLowerCase())) {
    res.headers["vary"] = `${current}, ${value}`;
  }
}

/** The policy for a list of exact origins, or undefined when the list is empty (no CORS headers at all). */
export function createCorsPolicy(origins: readonly string[]): CorsPolicy | undefined {
  if (origins.length === 0) return undefined;
  const allowed = new Set(origins);
  const allowedOrigin = (headers: CoreRequest["headers"]): string | undefined => {
    const origin = headers["origin"];
    return origin !== undefined && allowed.has(origin) ? origin : undefined;
  };
  return {
    preflight(req, methods) {
      if (req.method !== "OPTIONS" || !req.headers["access-control-request-method"]) return undefined;
      const origin = allowedOrigin(req.headers);
      if (!origin) return undefined;
      const withHead = methods.includes("GET") && !methods.includes("HEAD") ? [...methods, "HEAD"] : methods;
      return {
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": withHead.join(", "),
          "access-control-allow-headers": CORS_ALLOWED_HEADERS,
          "access-control-max-age": String(CORS_MAX_AGE_SECONDS),
          vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        },
        body: "",
      };
    },
    decorate(req, res) {
      // Every answer varies by Origin once CORS is on, even one without CORS headers: a cache must not hand
      // an answer made for one origin (or for none) to another.
      addVary(res, "Origin");
      const origin = allowedOrigin(req.headers);
      if (!origin) return;
      res.headers["access-control-allow-origin"] = origin;
      res.headers["access-control-expose-headers"] = CORS_EXPOSED_HEADERS;
    },
  };
}
