import { describe, expect, it } from "vitest";
import type { Endpoint } from "../../shared/http/endpoint";
import { createRouter } from "../../shared/http/router";

const endpoint = (method: Endpoint["method"], route: string): Endpoint => ({
  name: `${method} ${route}`,
  method,
  route,
  handler: async () => ({ status: 200, headers: {}, body: "" }),
});

const predict = endpoint("POST", "/predict");
const asset = endpoint("GET", "/docs/{asset}");
const infer = endpoint("POST", "/v2/models/{name}/infer");
const ready = endpoint("GET", "/v2/models/{name}/ready");
const app = endpoint("GET", "/app/{*path}");
const router = createRouter([predict, asset, infer, ready, app]);

describe("the route table", () => {
  it("matches exact routes case-insensitively and ignores one trailing slash", () => {
    for (const path of ["/predict", "/PREDICT", "/Predict/"]) {
      expect(router.match("POST", path)).toMatchObject({ kind: "endpoint", endpoint: predict, params: {} });
    }
  });

  it("answers 405 with the allowed methods for a known path, 404 for an unknown one", () => {
    expect(router.match("GET", "/predict")).toEqual({
      kind: "method_not_allowed",
      route: "/predict",
      allow: "POST",
      path: "/predict",
    });
    expect(router.match("GET", "/nope")).toEqual({ kind: "not_found" });
    expect(router.match("GET", "/")).toEqual({ kind: "not_found" });
  });

  it("serves HEAD with the GET endpoint", () => {
    expect(router.match("HEAD", "/docs/swagger-ui.css")).toMatchObject({ kind: "endpoint", endpoint: asset });
  });

  it("reads one segment per {param}, with the path's own case", () => {
    expect(router.match("POST", "/v2/models/House-Price/infer")).toMatchObject({
      endpoint: infer,
      params: { name: "House-Price" },
    });
    expect(router.match("GET", "/V2/Models/m/READY")).toMatchObject({ endpoint: ready, params: { name: "m" } });
    expect(router.match("POST", "/v2/models/a/b/infer")).toEqual({ kind: "not_found" });
    expect(router.match("POST", "/v2/models//infer")).toEqual({ kind: "not_found" });
  });

  it("percent-decodes a one-segment {param} (OIP clients quote the model name); a malformed escape stays as sent", () => {
    expect(router.match("GET", "/v2/models/house%2Dprice%20v2/ready")).toMatchObject({
      endpoint: ready,
      params: { name: "house-price v2" },
    });
    expect(router.match("GET", "/v2/models/a%2Fb/ready")).toMatchObject({ endpoint: ready, params: { name: "a/b" } });
    expect(router.match("GET", "/v2/models/%E0%A4%A/ready")).toMatchObject({ params: { name: "%E0%A4%A" } });
    expect(router.params(infer, "/v2/models/m%31/infer")).toEqual({ name: "m1" });
    // The rest of a path stays as sent: the static files judge it as it came.
    expect(router.match("GET", "/app/a%2e%2e/x%20y.js")).toMatchObject({ params: { path: "a%2e%2e/x%20y.js" } });
  });

  it("gives {*param} the rest of the path, slashes included", () => {
    expect(router.match("GET", "/app/js/main.js")).toMatchObject({ endpoint: app, params: { path: "js/main.js" } });
    expect(router.match("POST", "/app/x")).toMatchObject({ kind: "method_not_allowed", allow: "GET" });
  });

  it("takes regex characters in routes literally", () => {
    const dotted = createRouter([endpoint("GET", "/files.v1/{name}")]);
    expect(dotted.match("GET", "/files.v1/a").kind).toBe("endpoint");
    expect(dotted.match("GET", "/filesxv1/a").kind).toBe("not_found");
  });

  it("finds an endpoint's parameters for a host that routed by itself (Azure Functions)", () => {
    expect(router.params(infer, "/v2/models/m1/infer")).toEqual({ name: "m1" });
    expect(router.params(predict, "/predict")).toEqual({});
  });
});
