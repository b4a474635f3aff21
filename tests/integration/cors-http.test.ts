/**
 * CORS_ALLOWED_ORIGINS on both hosts: preflights (which no endpoint declares) reach the core and get 204 for
 * an allowed origin, answers carry the origin's CORS headers and Vary: Origin, other origins get none, and an
 * empty list keeps today's behaviour.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../../shared/input/features";
import { HOSTS, testService, type Host } from "../support/hosts";

const APP = "http://127.0.0.1:5173";
const preflight = (origin: string, method = "POST", headers = "content-type, x-api-key") => ({
  headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers },
});

for (const [name, make] of Object.entries(HOSTS)) {
  describe(`CORS (${name} host)`, () => {
    let host: Host;
    beforeAll(async () => {
      host = await make(
        testService({ CORS_ALLOWED_ORIGINS: `https://app.example.org,${APP}`, RATE_LIMIT_REQUESTS: "100" }),
      );
      await host.service.holder.load();
    });
    afterAll(() => host.close());

    it.each(["/predict", "/bulk_predict", "/health", "/openapi.json", "/PREDICT"])(
      "answers a preflight for %s from an allowed origin with 204 and what it may send",
      async (path) => {
        const r = await host.send("OPTIONS", path, preflight(APP));
        expect(r.status).toBe(204);
        expect(r.text).toBe("");
        expect(r.headers.get("access-control-allow-origin")).toBe(APP);
        expect(r.headers.get("access-control-allow-methods")).toMatch(/GET|POST/);
        expect(r.headers.get("access-control-allow-headers")).toBe(
          "Content-Type, X-API-Key, Authorization, If-None-Match",
        );
        expect(Number(r.headers.get("access-control-max-age"))).toBeGreaterThan(0);
        expect(r.headers.get("vary")).toMatch(/Origin/);
      },
    );

    it("lists the route's own methods in the preflight answer", async () => {
      const predict = await host.send("OPTIONS", "/predict", preflight(APP));
      expect(predict.headers.get("access-control-allow-methods")).toBe("POST, GET, HEAD");
      const bulk = await host.send("OPTIONS", "/bulk_predict", preflight(APP));
      expect(bulk.headers.get("access-control-allow-methods")).toBe("POST");
    });

    it("gives a preflight from another origin no CORS headers (the router answers as without CORS)", async () => {
      const r = await host.send("OPTIONS", "/predict", preflight("https://evil.example"));
      expect(r.status).toBe(405);
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      expect(r.headers.get("access-control-allow-methods")).toBeNull();
      const unknown = await host.send("OPTIONS", "/nowhere", preflight(APP));
      expect(unknown.status).toBe(404);
    });

    it("puts the allowed origin, the exposed headers and Vary: Origin on actual answers, errors included", async () => {
      const ok = await host.send("POST", "/predict", {
        body: JSON.stringify(SEED_HOUSE),
        headers: { "content-type": "application/json", origin: APP },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe(APP);
      const exposed = ok.headers.get("access-control-expose-headers")!;
      for (const h of [
        "Cache-Status",
        "ETag",
        "X-App-Identifier",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-Policy",
        "Retry-After",
      ]) {
        expect(exposed).toContain(h);
      }
      expect(ok.headers.get("vary")).toBe("Origin");
      // A browser app must be able to read a 422's problem details too.
      const bad = await host.send("GET", "/predict?MedInc=x", { headers: { origin: APP } });
      expect(bad.status).toBe(422);
      expect(bad.headers.get("access-control-allow-origin")).toBe(APP);
    });

    it("gives other origins and same-origin calls no CORS headers, but still Vary: Origin", async () => {
      for (const headers of [{ origin: "https://evil.example" }, {}] as Record<string, string>[]) {
        const r = await host.send("GET", "/health", { headers });
        expect(r.status).toBe(200);
        expect(r.headers.get("access-control-allow-origin")).toBeNull();
        expect(r.headers.get("access-control-expose-headers")).toBeNull();
        expect(r.headers.get("vary")).toBe("Origin");
      }
    });
  });

  describe(`without CORS_ALLOWED_ORIGINS (${name} host)`, () => {
    let host: Host;
    beforeAll(async () => {
      host = await make(testService());
    });
    afterAll(() => host.close());

    it("answers no CORS at all, as before: a preflight is a 405, answers carry no Vary", async () => {
      const pre = await host.send("OPTIONS", "/predict", preflight(APP));
      expect(pre.status).toBe(405);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
      const r = await host.send("GET", "/health", { headers: { origin: APP } });
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      expect(r.headers.get("vary")).toBeNull();
    });
  });
}
