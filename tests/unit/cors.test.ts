import { describe, expect, it } from "vitest";
import {
  CORS_ALLOWED_HEADERS,
  CORS_EXPOSED_HEADERS,
  createCorsPolicy,
  parseAllowedOrigins,
} from "../../shared/http/cors";
import type { CoreResponse } from "../../shared/http/core";
import { parseConfig } from "../../shared/ops/config";

const APP = "https://app.example.org";
const policy = createCorsPolicy([APP, "http://localhost:5173"])!;
const preflight = (origin: string | undefined, method = "OPTIONS", requested: string | null = "GET") =>
  policy.preflight({ method, headers: { origin, "access-control-request-method": requested ?? undefined } }, [
    "GET",
    "POST",
  ]);
const plain = (): CoreResponse => ({ status: 200, headers: { "content-type": "application/json" }, body: "{}" });

describe("CORS_ALLOWED_ORIGINS", () => {
  it("reads comma-separated exact origins, ignoring blanks", () => {
    expect(parseAllowedOrigins(` ${APP} ,,http://localhost:5173`)).toEqual({
      origins: [APP, "http://localhost:5173"],
    });
    expect(parseAllowedOrigins("")).toEqual({ origins: [] });
    expect(parseAllowedOrigins(undefined)).toEqual({ origins: [] });
  });

  it.each([
    "https://app.example.org/",
    "https://app.example.org/path",
    "*",
    "app.example.org",
    "HTTPS://App.example.org",
    "ftp://x.org",
    "https://x.org:443",
  ])("refuses %j, saying what an origin looks like", (entry) => {
    const r = parseAllowedOrigins(`${APP},${entry}`);
    expect("error" in r && r.error).toContain(JSON.stringify(entry));
  });

  it("is off (no policy at all) when empty", () => expect(createCorsPolicy([])).toBeUndefined());

  it("is read by the config, which refuses a bad entry at start and names the key", () => {
    expect(parseConfig({}).CORS_ALLOWED_ORIGINS).toEqual([]);
    expect(parseConfig({ CORS_ALLOWED_ORIGINS: `${APP}, http://127.0.0.1:8080` }).CORS_ALLOWED_ORIGINS).toEqual([
      APP,
      "http://127.0.0.1:8080",
    ]);
    expect(() => parseConfig({ CORS_ALLOWED_ORIGINS: "https://app.example.org/" })).toThrow(
      /CORS_ALLOWED_ORIGINS.*did you mean https:\/\/app\.example\.org\?/,
    );
  });
});

describe("CORS preflight", () => {
  it("answers an allowed origin with 204, the route's methods, the request headers and a max age", () => {
    const res = preflight(APP)!;
    expect(res.status).toBe(204);
    expect(res.body).toBe("");
    expect(res.headers).toMatchObject({
      "access-control-allow-origin": APP,
      "access-control-allow-methods": "GET, POST, HEAD",
      "access-control-allow-headers": CORS_ALLOWED_HEADERS,
      "access-control-max-age": "7200",
    });
    expect(res.headers.vary).toMatch(/^Origin, /);
    for (const h of ["Content-Type", "X-API-Key", "Authorization", "If-None-Match"]) {
      expect(CORS_ALLOWED_HEADERS).toContain(h);
    }
  });

  it("leaves other origins, plain OPTIONS and other methods to the router (no CORS headers)", () => {
    expect(preflight("https://evil.example")).toBeUndefined();
    expect(preflight("https://app.example.org.evil.example")).toBeUndefined();
    expect(preflight("null")).toBeUndefined();
    expect(preflight(undefined)).toBeUndefined();
    expect(preflight(APP, "OPTIONS", null)).toBeUndefined();
    expect(preflight(APP, "GET")).toBeUndefined();
  });
});

describe("CORS on actual responses", () => {
  it("gives an allowed origin its own origin back, the exposed headers and Vary: Origin", () => {
    const res = plain();
    policy.decorate({ headers: { origin: APP } }, res);
    expect(res.headers).toMatchObject({
      "access-control-allow-origin": APP,
      "access-control-expose-headers": CORS_EXPOSED_HEADERS,
      vary: "Origin",
    });
    for (const h of ["Cache-Status", "ETag", "X-App-Identifier", "RateLimit-Remaining", "Retry-After"]) {
      expect(CORS_EXPOSED_HEADERS).toContain(h);
    }
  });

  it("gives any other origin (or none) no CORS headers, but still Vary: Origin", () => {
    for (const origin of ["https://evil.example", undefined]) {
      const res = plain();
      policy.decorate({ headers: { origin } }, res);
      expect(res.headers["access-control-allow-origin"]).toBeUndefined();
      expect(res.headers["access-control-expose-headers"]).toBeUndefined();
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("adds Origin to an existing Vary once", () => {
    const res = plain();
    res.headers.vary = "Accept-Encoding";
    policy.decorate({ headers: { origin: APP } }, res);
    policy.decorate({ headers: { origin: APP } }, res);
    expect(res.headers.vary).toBe("Accept-Encoding, Origin");
  });
});
