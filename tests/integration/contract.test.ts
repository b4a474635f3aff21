import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE, FEATURES } from "../../shared/input/features";
import { createModel } from "../../shared/inference/model";
import { loadFromFile } from "../../shared/inference/model-store";
import { HOSTS, testService, type Host } from "../support/hosts";

const JSON_HEADERS = { "content-type": "application/json" };
const house = (over: Record<string, unknown> = {}) => ({ ...SEED_HOUSE, ...over });
const OTHER = house({ MedInc: 3.1, HouseAge: 12, Latitude: 34.05, Longitude: -118.25 });

/** The model's own output for houses, straight from onnxruntime, to compare the API against. */
async function direct(houses: Record<string, number>[]): Promise<number[]> {
  const loaded = await loadFromFile("model/model.onnx");
  if (!loaded.ok) throw new Error(loaded.error.message);
  const model = await createModel(loaded.artifact);
  const input = Float32Array.from(houses.flatMap((h) => FEATURES.map((f) => h[f]!)));
  const out = Array.from(await model.infer(input, houses.length));
  await model.close();
  return out;
}

let expectedSeed: number;
let expectedOther: number;
beforeAll(async () => {
  [expectedSeed, expectedOther] = (await direct([SEED_HOUSE, OTHER])) as [number, number];
});

describe.each(["standalone", "functions"] as const)("the %s host", (kind) => {
  let host: Host;
  const post = (path: string, body: unknown, headers = JSON_HEADERS) =>
    host.send("POST", path, { body: typeof body === "string" ? body : JSON.stringify(body), headers });

  beforeAll(async () => {
    host = await HOSTS[kind](testService({ MAX_BATCH: "50", MAX_BODY_BYTES: "65536" }));
    await host.service.holder.load();
  });
  afterAll(() => host.close());

  describe("seed lab cases", () => {
    it("greets by name", async () => {
      const r = await host.send("GET", "/hello?name=Ada");
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ message: "hello Ada" });
    });

    it("rejects hello without a name with 422 naming the field", async () => {
      for (const q of ["/hello", "/hello?name="]) {
        const r = await host.send("GET", q);
        expect(r.status).toBe(422);
        expect(r.headers.get("content-type")).toBe("application/problem+json");
        expect(r.json().errors[0].path).toBe("name");
      }
    });

    it("answers / with the 404 JSON", async () => {
      const r = await host.send("GET", "/");
      expect(r.status).toBe(404);
      expect(r.json()).toEqual({ error: "API not found.", app_identifier: host.service.instanceId });
    });

    it("answers an unknown route with the 404 JSON", async () => {
      const r = await host.send("POST", "/no/such/route", { body: "{}", headers: JSON_HEADERS });
      expect(r.status).toBe(404);
      expect(r.json().error).toBe("API not found.");
    });

    it("serves the interactive docs and their assets itself", async () => {
      const page = await host.send("GET", "/docs");
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      expect(page.text).toContain('<div id="swagger-ui">');
      expect(page.text).not.toMatch(/https?:\/\//);
      const js = await host.send("GET", "/docs/swagger-ui-bundle.js");
      expect(js.status).toBe(200);
      expect(js.text.length).toBeGreaterThan(100_000);
      expect((await host.send("GET", "/docs/init.js")).text).toContain("/openapi.json");
      expect((await host.send("GET", "/docs/../package.json")).status).toBe(404);
    });

    it("publishes an OpenAPI 3.1 document with the seed house and every error response", async () => {
      const r = await host.send("GET", "/openapi.json");
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("application/json");
      const doc = r.json();
      expect(doc.openapi).toBe("3.1.0");
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(["/predict", "/bulk_predict", "/hello", "/health", "/metrics"]),
      );
      expect(doc.components.schemas.House.example).toEqual(SEED_HOUSE);
      expect(doc.components.schemas.House.required).toEqual([...FEATURES]);
      expect(doc.components.schemas.House.additionalProperties).toBe(false);
      expect(Object.keys(doc.paths["/predict"].post.responses).sort()).toEqual(
        ["200", "400", "401", "413", "415", "422", "429", "503"].sort(),
      );
    });

    it("predicts the seed house exactly as the model does", async () => {
      const r = await post("/predict", SEED_HOUSE);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ house_value: expectedSeed });
    });

    it("rejects a negative MedInc with 422 naming the field and value", async () => {
      const r = await post("/predict", house({ MedInc: -1 }));
      expect(r.status).toBe(422);
      expect(r.json().errors).toEqual([{ path: "MedInc", message: "must be greater than 0", received: -1 }]);
    });

    it("rejects wrong formats with 422 listing every failing field", async () => {
      const r = await post("/predict", house({ HouseAge: "forty", Latitude: null, Longitude: 200 }));
      expect(r.status).toBe(422);
      expect(r.json().errors.map((e: { path: string }) => e.path)).toEqual(["HouseAge", "Latitude", "Longitude"]);
      expect(r.json().errors[0].received).toBe("forty");
    });

    it("predicts a bulk of two houses in input order, equal to /predict", async () => {
      const r = await post("/bulk_predict", { houses: [SEED_HOUSE, OTHER] });
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ house_values: [expectedSeed, expectedOther] });
      const single = await post("/predict", OTHER);
      expect(single.json().house_value).toBe(expectedOther);
    });

    it("rejects a bulk with a negative value with 422 and the row's path", async () => {
      const r = await post("/bulk_predict", { houses: [SEED_HOUSE, house({ Population: -5 })] });
      expect(r.status).toBe(422);
      expect(r.json().errors).toEqual([
        { path: "houses[1].Population", message: "must be greater than 0", received: -5 },
      ]);
    });

    it("lists every failing field of a bulk, across rows and the envelope", async () => {
      const houses = [house({ MedInc: 0 }), SEED_HOUSE, house({ Latitude: 91, HouseAge: "x" })];
      const r = await post("/bulk_predict", { houses, extra: true });
      expect(r.status).toBe(422);
      expect(r.json().errors.map((e: { path: string }) => e.path)).toEqual([
        "extra",
        "houses[0].MedInc",
        "houses[2].HouseAge",
        "houses[2].Latitude",
      ]);
      expect(r.json().detail).toBe("4 problems found; the first: extra is not a known field");
    });

    it("rejects a bulk with wrong formats with 422", async () => {
      for (const body of [
        { houses: "x" },
        { houses: [] },
        { houses: [1, 2] },
        [SEED_HOUSE],
        { house: [SEED_HOUSE] },
        null,
      ]) {
        const r = await post("/bulk_predict", body);
        expect(r.status, JSON.stringify(body)).toBe(422);
        expect(r.json().errors.length).toBeGreaterThan(0);
      }
    });
  });

  describe("bad input gets a clear 4xx", () => {
    it("rejects a missing field and an unknown field by name", async () => {
      const { MedInc: _drop, ...missing } = SEED_HOUSE;
      const r1 = await post("/predict", missing);
      expect(r1.status).toBe(422);
      expect(r1.json().errors).toEqual([{ path: "MedInc", message: "is required" }]);
      const r2 = await post("/predict", house({ Extra: 1 }));
      expect(r2.status).toBe(422);
      expect(r2.json().errors).toEqual([{ path: "Extra", message: "is not a known field", received: 1 }]);
    });

    it.each([
      ["malformed JSON", '{"MedInc": 8.3,'],
      ["a NaN literal", JSON.stringify(SEED_HOUSE).replace("8.3252", "NaN")],
      ["an empty body", ""],
    ])("rejects %s with 400 problem+json", async (_, body) => {
      const r = await post("/predict", body);
      expect(r.status).toBe(400);
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect(r.json().status).toBe(400);
    });

    it("rejects invalid UTF-8 with 400", async () => {
      const bytes = Buffer.concat([
        Buffer.from('{"MedInc": 8.3, "x": "'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}'),
      ]);
      const r = await host.send("POST", "/predict", { body: bytes, headers: JSON_HEADERS });
      expect(r.status).toBe(400);
      expect(r.json().detail).toContain("UTF-8");
    });

    it("rejects a number that overflows to Infinity with 422", async () => {
      const r = await post("/predict", JSON.stringify(SEED_HOUSE).replace("322", "1e999"));
      expect(r.status).toBe(422);
      expect(r.json().errors[0]).toMatchObject({ path: "Population", received: "Infinity" });
    });

    it("rejects deeply nested input without a 5xx", async () => {
      const deep = "[".repeat(100_000) + "]".repeat(100_000);
      const r = await post("/bulk_predict", `{"houses": ${deep}}`);
      expect([400, 413, 422]).toContain(r.status);
    });

    it("rejects a wrong content type with 415", async () => {
      const r = await post("/predict", JSON.stringify(SEED_HOUSE), { "content-type": "text/plain" });
      expect(r.status).toBe(415);
    });

    it("rejects a body over MAX_BODY_BYTES with 413", async () => {
      const r = await post("/bulk_predict", {
        houses: Array.from({ length: 40 }, () => SEED_HOUSE),
        pad: "x".repeat(70_000),
      });
      expect(r.status).toBe(413);
    });

    it("rejects a batch over MAX_BATCH with 413 before validating rows", async () => {
      const r = await post("/bulk_predict", { houses: Array.from({ length: 51 }, () => ({ junk: true })) });
      expect(r.status).toBe(413);
      expect(r.json().errors[0].path).toBe("houses");
    });

    it("accepts exactly MAX_BATCH houses", async () => {
      const r = await post("/bulk_predict", { houses: Array.from({ length: 50 }, () => SEED_HOUSE) });
      expect(r.status).toBe(200);
      expect(r.json().house_values).toEqual(Array.from({ length: 50 }, () => expectedSeed));
    });

    it("rejects a body declared in a charset other than UTF-8 with 415", async () => {
      const r = await post("/predict", JSON.stringify(SEED_HOUSE), {
        "content-type": "application/json; charset=latin1",
      });
      expect(r.status).toBe(415);
      const ok = await post("/predict", JSON.stringify(SEED_HOUSE), {
        "content-type": "application/json; charset=UTF-8",
      });
      expect(ok.status).toBe(200);
    });

    it("reports a flood of unknown keys from one pass, counting them all", async () => {
      const flood: Record<string, number> = { ...SEED_HOUSE };
      for (let i = 0; i < 2000; i++) flood[`k${i}`] = i;
      const r = await post("/predict", flood);
      expect(r.status).toBe(422);
      expect(r.json().errors).toHaveLength(100);
      expect(r.json().errors[0]).toEqual({ path: "k0", message: "is not a known field", received: 0 });
      expect(r.json().detail).toBe("2000 problems found; the first: k0 is not a known field");
    });

    it("matches routes case-insensitively, as Azure Functions does", async () => {
      const r = await post("/PREDICT", SEED_HOUSE);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ house_value: expectedSeed });
    });

    it("answers a wrong method on a known route with 405 and Allow", async () => {
      const r = await host.send("DELETE", "/predict");
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe("POST, GET");
    });
  });

  describe("interview-task endpoints", () => {
    it.each([
      ["212", 100],
      ["32", 0],
      ["-40", -40],
      ["98.6", 37],
    ])("converts %s °F to %s °C", async (f, c) => {
      const r = await host.send("GET", `/api/convert-fahrenheit-to-celsius?fahrenheit=${f}`);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ celsius: c, app_identifier: host.service.instanceId });
    });

    it("converts large and fractional values without overflow", async () => {
      const big = await host.send("GET", "/api/convert-fahrenheit-to-celsius?fahrenheit=1e300");
      expect(big.json().celsius).toBe(((1e300 - 32) * 5) / 9);
      const frac = await host.send("GET", "/api/convert-fahrenheit-to-celsius?fahrenheit=-459.67");
      expect(frac.json().celsius).toBe(-273.15);
    });

    it.each(["", "abc", "12abc", "Infinity", "0x10", "1e999", "1e308"])("rejects fahrenheit=%j with 400", async (f) => {
      const r = await host.send("GET", `/api/convert-fahrenheit-to-celsius?fahrenheit=${f}`);
      expect(r.status).toBe(400);
      expect(r.json()).toEqual({ error: expect.any(String), app_identifier: host.service.instanceId });
    });

    it("rejects a missing fahrenheit with 400", async () => {
      const r = await host.send("GET", "/api/convert-fahrenheit-to-celsius");
      expect(r.status).toBe(400);
    });

    it("reports the replica's id in the body and in a header of every response", async () => {
      const r = await host.send("GET", "/api/healthcheck");
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ app_identifier: host.service.instanceId });
      expect(r.headers.get("x-app-identifier")).toBe(host.service.instanceId);
      expect(host.service.instanceId).toMatch(/^[0-9a-f-]{36}$/);
      expect((await host.send("GET", "/nope")).headers.get("x-app-identifier")).toBe(host.service.instanceId);
    });
  });

  describe("health, cache and metrics", () => {
    it("reports healthy with the model, instance and cache backend", async () => {
      const r = await host.send("GET", "/health");
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({
        status: "healthy",
        instance_id: host.service.instanceId,
        model: {
          name: "california-housing-gbdt",
          version: expect.any(String),
          source: "file:model/model.onnx",
          engine: "compiled-trees",
        },
        cache: { backend: "memory", status: "ok" },
      });
    });

    it("serves the model card with its source", async () => {
      const r = await host.send("GET", "/model");
      expect(r.status).toBe(200);
      const card = JSON.parse(readFileSync("model/model.json", "utf8"));
      expect(r.json()).toEqual({ source: "file:model/model.onnx", engine: "compiled-trees", card });
    });

    it("serves a repeated prediction from the cache with Cache-Status hit", async () => {
      const h = house({ MedInc: 5.4321 });
      const first = await post("/predict", h);
      expect(first.headers.get("cache-status")).toContain("fwd=miss");
      const second = await post("/predict", h);
      expect(second.headers.get("cache-status")).toMatch(/^house-price; hit/);
      expect(second.json()).toEqual(first.json());
    });

    it("reuses rows computed in an earlier batch and reports the partial hit", async () => {
      const a = house({ MedInc: 6.1 });
      const b = house({ MedInc: 6.2 });
      await post("/bulk_predict", { houses: [a] });
      const r = await post("/bulk_predict", { houses: [a, b] });
      expect(r.headers.get("cache-status")).toContain("fwd=partial");
      expect(r.headers.get("cache-status")).toContain("hits=1");
    });

    it("exposes Prometheus metrics for requests, latency, rows, batches, cache and model", async () => {
      await post("/predict", SEED_HOUSE);
      const r = await host.send("GET", "/metrics");
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("text/plain");
      for (const m of [
        'http_requests_total{route="/predict",method="POST",status="200"}',
        "http_request_duration_seconds_bucket",
        'predictions_rows_total{source="model"}',
        "prediction_batch_size_bucket",
        'cache_hits_total{tier="memory"}',
        "cache_misses_total",
        'model_info{name="california-housing-gbdt"',
      ]) {
        expect(r.text).toContain(m);
      }
    });

    it("sets security headers on every response", async () => {
      const r = await post("/predict", SEED_HOUSE);
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("cache-control")).toBe("no-store");
    });
  });
});

describe.each(["standalone", "functions"] as const)("the %s host without a model", (kind) => {
  let host: Host;
  beforeAll(async () => {
    host = await HOSTS[kind](testService({ MODEL_PATH: "no/such/model.onnx", MODEL_STORE_TIMEOUT_MS: "200" }));
  });
  afterAll(() => host.close());

  it("reports 503 on /health with the reason and 503 problem+json on predictions", async () => {
    const predict = await host.send("POST", "/predict", { body: JSON.stringify(SEED_HOUSE), headers: JSON_HEADERS });
    expect(predict.status).toBe(503);
    expect(predict.headers.get("content-type")).toBe("application/problem+json");
    expect(predict.headers.get("retry-after")).toBe("5");
    const health = await host.send("GET", "/health");
    expect(health.status).toBe(503);
    expect(health.json()).toMatchObject({ status: "unavailable", reason: expect.stringContaining("not_found") });
    expect(health.text).not.toContain(process.cwd());
  });
});
