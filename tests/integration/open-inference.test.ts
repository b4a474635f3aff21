import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import {
  ErrorResponseSchema,
  InferenceResponseSchema,
  ModelConfigSchema,
  ModelMetadataSchema,
  ModelReadySchema,
  ServerLiveSchema,
  ServerMetadataSchema,
  ServerReadySchema,
} from "../../shared/open-inference/schemas";
import { HOSTS, testService, type Host, type Reply } from "../support/hosts";
import { officialErrors, type OfficialComponent } from "../support/open-inference-official";
import { startBuiltServer, type BuiltServer } from "../support/server-process";

const MODEL = "/v2/models/california-housing-gbdt";
const VERSIONED = `${MODEL}/versions/1.0.0`;
const JSON_HEADERS = { "content-type": "application/json" };
type House = Record<(typeof FEATURES)[number], number>;
const HOUSES: House[] = [
  SEED_HOUSE,
  { ...SEED_HOUSE, MedInc: 3.1, HouseAge: 12, Latitude: 34.05, Longitude: -118.25 },
  { ...SEED_HOUSE, MedInc: 5.5, AveRooms: 4.2, Population: 1500, Latitude: 36.7, Longitude: -121.9 },
];
const row = (h: House) => FEATURES.map((f) => h[f]);
const matrixInput = (houses: House[], nested = false) => ({
  name: "input",
  datatype: "FP32",
  shape: [houses.length, FEATURES.length],
  data: nested ? houses.map(row) : houses.flatMap(row),
});
const featureInputs = (houses: House[]) =>
  FEATURES.map((f) => ({ name: f, datatype: "FP64", shape: [houses.length, 1], data: houses.map((h) => [h[f]]) }));

/** The body validated by the project's zod schema and, when the protocol has one, by the official component. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function conforms(r: Reply, schema: z.ZodType, official?: OfficialComponent): any {
  const body = r.json();
  expect(schema.parse(body)).toEqual(body);
  if (official) expect(officialErrors(official, body)).toEqual([]);
  return body;
}
/** A non-2xx /v2 answer: exactly `{"error": "..."}`, JSON, matching `message`. */
function protocolError(r: Reply, status: number, message: RegExp): void {
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toBe("application/json");
  const body = conforms(r, ErrorResponseSchema, "inference_error_response");
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error).toMatch(message);
}

describe.each(["standalone", "functions"] as const)("Open Inference Protocol on the %s host", (kind) => {
  let host: Host;
  let bulkValues: number[];
  const infer = (body: unknown, path = `${MODEL}/infer`, headers: Record<string, string> = JSON_HEADERS) =>
    host.send("POST", path, { body: typeof body === "string" ? body : JSON.stringify(body), headers });

  beforeAll(async () => {
    host = await HOSTS[kind](testService({ MAX_BATCH: "50" }));
    await host.service.holder.load();
    const bulk = await host.send("POST", "/bulk_predict", {
      body: JSON.stringify({ houses: HOUSES }),
      headers: JSON_HEADERS,
    });
    bulkValues = bulk.json().house_values;
    expect(bulkValues).toHaveLength(3);
  });
  afterAll(() => host.close());

  describe("health and metadata", () => {
    it("GET /v2 names the server and its extensions", async () => {
      const r = await host.send("GET", "/v2");
      expect(r.status).toBe(200);
      const body = conforms(r, ServerMetadataSchema, "metadata_server_response");
      expect(body).toEqual({
        name: "house-price-inference",
        version: expect.any(String),
        extensions: ["binary_tensor_data", "model_configuration"],
      });
      expect((await host.send("GET", "/v2/")).status).toBe(200);
    });

    it("live and ready answer 200 once the model is loaded", async () => {
      const live = await host.send("GET", "/v2/health/live");
      expect(live.status).toBe(200);
      expect(conforms(live, ServerLiveSchema)).toEqual({ live: true });
      const ready = await host.send("GET", "/v2/health/ready");
      expect(ready.status).toBe(200);
      expect(conforms(ready, ServerReadySchema)).toEqual({ ready: true, live: true });
    });

    it.each([MODEL, VERSIONED])("model metadata at %s: the card's name and version, -1 for the batch", async (path) => {
      const r = await host.send("GET", path);
      expect(r.status).toBe(200);
      const body = conforms(r, ModelMetadataSchema, "metadata_model_response");
      expect(body).toMatchObject({
        name: "california-housing-gbdt",
        versions: ["1.0.0"],
        platform: "onnx_onnxv1",
        inputs: [{ name: "input", datatype: "FP32", shape: [-1, 8] }],
        outputs: [{ name: "house_value", datatype: "FP32", shape: [-1, 1] }],
      });
    });

    it.each([MODEL, VERSIONED])("model ready at %s/ready", async (path) => {
      const r = await host.send("GET", `${path}/ready`);
      expect(r.status).toBe(200);
      expect(conforms(r, ModelReadySchema)).toEqual({ name: "california-housing-gbdt", ready: true });
    });

    it("takes the model name percent-encoded, as OIP clients send it", async () => {
      const encoded = "/v2/models/california%2Dhousing%2dgbdt/versions/1%2E0%2E0";
      const r = await host.send("GET", `${encoded}/ready`);
      expect(r.status).toBe(200);
      expect(conforms(r, ModelReadySchema)).toEqual({ name: "california-housing-gbdt", ready: true });
      const wrong = await host.send("GET", "/v2/models/california%2Dhousing/ready");
      expect(wrong.status).toBe(404);
      expect(wrong.json().error).toMatch(/model "california-housing" is not served here/);
    });

    it("the model configuration tells perf_analyzer the batch bound (MAX_BATCH)", async () => {
      const r = await host.send("GET", `${VERSIONED}/config`);
      expect(r.status).toBe(200);
      expect(conforms(r, ModelConfigSchema)).toMatchObject({
        max_batch_size: 50,
        input: [{ name: "input", dims: [8] }],
      });
    });

    it.each([
      [
        "an unknown model",
        "/v2/models/resnet50",
        /model "resnet50" is not served here; this server has "california-housing-gbdt"/,
      ],
      ["an unknown model's infer", "/v2/models/resnet50/ready", /model "resnet50" is not served here/],
      [
        "an unknown version",
        `${MODEL}/versions/2.0.0`,
        /version "2.0.0" of model "california-housing-gbdt" is not served here; it has "1.0.0"/,
      ],
      ["an unknown /v2 route", "/v2/repository/index", /./],
    ])("%s is a 404 {error}", async (_, path, message) => {
      protocolError(await host.send("GET", path), 404, message);
    });

    it("paths outside /v2 keep the service's own error shapes", async () => {
      const r = await host.send("GET", "/v2x/models");
      expect(r.status).toBe(404);
      expect(r.json()).toEqual({ error: "API not found.", app_identifier: host.service.instanceId });
      const problem = await host.send("POST", "/predict", { body: "{", headers: JSON_HEADERS });
      expect(problem.headers.get("content-type")).toBe("application/problem+json");
    });

    it("a wrong method is a 405 {error} with Allow", async () => {
      const r = await host.send("GET", `${MODEL}/infer`);
      protocolError(r, 405, /GET is not allowed/);
      expect(r.headers.get("allow")).toBe("POST");
    });
  });

  describe("inference", () => {
    it.each([
      ["one flat FP32 [N, 8] tensor", [matrixInput(HOUSES)]],
      ["one nested FP64 [N, 8] tensor", [{ ...matrixInput(HOUSES, true), datatype: "FP64" }]],
      ["eight per-feature [N, 1] tensors", featureInputs(HOUSES)],
    ])("%s gives /bulk_predict's values, with the id echoed", async (_, inputs) => {
      const r = await infer({ id: "req-7", inputs });
      expect(r.status).toBe(200);
      const body = conforms(r, InferenceResponseSchema, "inference_response");
      expect(body).toEqual({
        model_name: "california-housing-gbdt",
        model_version: "1.0.0",
        id: "req-7",
        outputs: [{ name: "house_value", datatype: "FP32", shape: [3, 1], data: bulkValues }],
      });
      // The same rows, the same cache: /bulk_predict filled it, so every row is a hit here.
      expect(r.headers.get("cache-status")).toBe("house-price; hit");
    });

    it("the versioned route and an outputs selection give the same answer, without an id when none was sent", async () => {
      const r = await infer(
        { inputs: [matrixInput(HOUSES)], outputs: [{ name: "house_value" }] },
        `${VERSIONED}/infer`,
      );
      expect(r.status).toBe(200);
      const body = conforms(r, InferenceResponseSchema, "inference_response");
      expect(body).not.toHaveProperty("id");
      expect(body.outputs[0].data).toEqual(bulkValues);
    });

    it("a new row computed through /v2 is a cache hit on /predict (one predictor)", async () => {
      const fresh = { ...SEED_HOUSE, MedInc: 7.77, Population: 777 };
      const v2 = await infer({ inputs: [matrixInput([fresh])] });
      expect(v2.headers.get("cache-status")).toMatch(/fwd=miss; stored/);
      const predict = await host.send("POST", "/predict", { body: JSON.stringify(fresh), headers: JSON_HEADERS });
      expect(predict.headers.get("cache-status")).toBe("house-price; hit");
      expect(predict.json().house_value).toBe(v2.json().outputs[0].data[0]);
    });

    it.each([
      [
        "a BYTES tensor",
        { inputs: [{ ...matrixInput(HOUSES), datatype: "BYTES" }] },
        /input "input": datatype BYTES is not supported/,
      ],
      [
        "a shape that does not match the data",
        { inputs: [{ ...matrixInput(HOUSES), shape: [2, 8] }] },
        /input "input": data has 24 elements but shape \[2, 8\] needs 16/,
      ],
      ["a missing feature tensor", { inputs: featureInputs(HOUSES).slice(1) }, /missing input tensor\(s\) "MedInc"/],
      [
        "an unknown feature tensor",
        { inputs: [...featureInputs(HOUSES), { name: "Rooms", datatype: "FP32", shape: [3], data: [1, 2, 3] }] },
        /input "Rooms": not a feature of this model/,
      ],
      [
        "an out-of-range value",
        { inputs: [matrixInput([{ ...SEED_HOUSE, Longitude: -200 }])] },
        /input "input": data\[7\] \(Longitude\) must be at least -180, got -200/,
      ],
      [
        "an unknown output",
        { inputs: [matrixInput(HOUSES)], outputs: [{ name: "price" }] },
        /output "price" is not produced by this model/,
      ],
      ["no inputs", { inputs: [] }, /inputs must contain at least 1 item/],
    ])("%s is a 400 {error} naming it", async (_, body, message) => {
      protocolError(await infer(body), 400, message);
    });

    it("a non-finite value (1e999 parses to Infinity) is a 400 naming the tensor", async () => {
      const text = JSON.stringify({ inputs: featureInputs([SEED_HOUSE]) }).replace("[[322]]", "[[1e999]]");
      protocolError(await infer(text), 400, /input "Population": data\[0\]\[0\] must be a finite number, got Infinity/);
    });

    it("invalid JSON is a 400 {error}", async () => {
      protocolError(await infer("{"), 400, /not valid JSON/);
    });

    it("more rows than MAX_BATCH is a 413 {error}", async () => {
      const many = Array.from({ length: 51 }, () => SEED_HOUSE);
      protocolError(await infer({ inputs: [matrixInput(many)] }), 413, /51 rows; the limit is 50 \(MAX_BATCH\)/);
    });

    it("inference on an unknown model or version is a 404 {error} before the body is read", async () => {
      protocolError(await infer({ inputs: [matrixInput(HOUSES)] }, "/v2/models/other/infer"), 404, /model "other"/);
      protocolError(await infer({ inputs: [matrixInput(HOUSES)] }, `${MODEL}/versions/9/infer`), 404, /version "9"/);
    });

    it("binary tensors in and out (Triton's extension) give the same values", async () => {
      const json = new TextEncoder().encode(
        JSON.stringify({
          inputs: [{ name: "input", datatype: "FP32", shape: [3, 8], parameters: { binary_data_size: 3 * 8 * 4 } }],
          outputs: [{ name: "house_value", parameters: { binary_data: true } }],
        }),
      );
      const tensor = new Uint8Array(Float32Array.from(HOUSES.flatMap(row)).buffer);
      const body = new Uint8Array(json.length + tensor.length);
      body.set(json);
      body.set(tensor, json.length);
      const headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": String(json.length),
      };
      const r = await host.send("POST", `${MODEL}/infer`, { body, headers });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("application/octet-stream");
      const raw = r.bytes();
      const n = Number(r.headers.get("inference-header-content-length"));
      const head = JSON.parse(new TextDecoder().decode(raw.subarray(0, n)));
      expect(head.outputs).toEqual([
        { name: "house_value", datatype: "FP32", shape: [3, 1], parameters: { binary_data_size: 12 } },
      ]);
      expect(Array.from(new Float32Array(raw.slice(n).buffer))).toEqual(bulkValues);
    });
  });

  it("inference is counted in the service's metrics under its route template", async () => {
    const before = await host.service.metrics.registry.getSingleMetricAsString("predictions_rows_total");
    expect((await infer({ inputs: [matrixInput(HOUSES)] })).status).toBe(200);
    const text = (await host.send("GET", "/metrics")).text;
    expect(text).toMatch(/http_requests_total\{route="\/v2\/models\/\{name\}\/infer",method="POST",status="200"\} \d+/);
    expect(text).toMatch(/http_requests_total\{route="\/v2\/models\/\{name\}\/infer",method="POST",status="400"\} \d+/);
    const after = await host.service.metrics.registry.getSingleMetricAsString("predictions_rows_total");
    expect(after).not.toBe(before);
  });

  it("rows outside the training range are counted as on /predict (the drift alert divides by all predicted rows)", async () => {
    const counters = async () => {
      const m = await host.service.metrics.registry.getMetricsAsJSON();
      const value = (name: string, feature?: string) =>
        m.find((x) => x.name === name)?.values.find((v) => feature === undefined || v.labels.feature === feature)
          ?.value ?? 0;
      return { rows: value("input_rows_out_of_range_total"), medInc: value("input_out_of_range_total", "MedInc") };
    };
    const before = await counters();
    const farOut = [{ ...SEED_HOUSE, MedInc: 800 }, SEED_HOUSE, { ...SEED_HOUSE, MedInc: 900 }];
    expect((await infer({ inputs: [matrixInput(farOut)] })).status).toBe(200);
    expect((await infer({ inputs: featureInputs(farOut.slice(0, 1)) })).status).toBe(200);
    expect(await counters()).toEqual({ rows: before.rows + 3, medInc: before.medInc + 3 });
  });

  it("the service's body limits apply: a non-JSON, non-binary Content-Type is a 415 {error}", async () => {
    const r = await infer("{}", `${MODEL}/infer`, { "content-type": "text/plain" });
    protocolError(r, 415, /Content-Type must be application\/json or application\/octet-stream, got text\/plain/);
  });

  it("the /v2 routes are in the service's OpenAPI document", async () => {
    const doc = (await host.send("GET", "/openapi.json")).json();
    for (const p of [
      "/v2",
      "/v2/health/live",
      "/v2/health/ready",
      "/v2/models/{name}",
      "/v2/models/{name}/versions/{version}",
      "/v2/models/{name}/ready",
      "/v2/models/{name}/infer",
      "/v2/models/{name}/versions/{version}/infer",
    ]) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(doc.paths["/v2/models/{name}/infer"].post.requestBody.content["application/json"].schema.$ref).toBe(
      "#/components/schemas/inference_request",
    );
    expect(doc.components.schemas.inference_response.required).toEqual(["model_name", "outputs"]);
  });
});

describe.each(["standalone", "functions"] as const)("access rules under /v2 on the %s host", (kind) => {
  it("API keys guard inference only; a missing key is a 401 {error} with WWW-Authenticate", async () => {
    const host = await HOSTS[kind](testService({ API_KEYS: "v2-key" }));
    try {
      await host.service.holder.load();
      const body = JSON.stringify({ inputs: [matrixInput([SEED_HOUSE])] });
      const r = await host.send("POST", `${MODEL}/infer`, { body, headers: JSON_HEADERS });
      protocolError(r, 401, /API key/);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const ok = await host.send("POST", `${MODEL}/infer`, {
        body,
        headers: { ...JSON_HEADERS, "x-api-key": "v2-key" },
      });
      expect(ok.status).toBe(200);
      for (const path of ["/v2", "/v2/health/ready", MODEL, `${MODEL}/ready`]) {
        expect((await host.send("GET", path)).status, path).toBe(200);
      }
    } finally {
      await host.close();
    }
  });

  it("the rate limit counts inference only; over it is a 429 {error} with Retry-After", async () => {
    const host = await HOSTS[kind](testService({ RATE_LIMIT_REQUESTS: "2" }));
    try {
      await host.service.holder.load();
      const body = JSON.stringify({ inputs: [matrixInput([SEED_HOUSE])] });
      const send = () => host.send("POST", `${MODEL}/infer`, { body, headers: JSON_HEADERS });
      expect([(await send()).status, (await send()).status]).toEqual([200, 200]);
      const limited = await send();
      protocolError(limited, 429, /Rate limit of 2 requests/);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      for (let i = 0; i < 5; i++) {
        for (const path of ["/v2", "/v2/health/live", "/v2/health/ready", MODEL, `${MODEL}/ready`]) {
          expect((await host.send("GET", path)).status, path).toBe(200);
        }
      }
    } finally {
      await host.close();
    }
  });

  it("a body over MAX_BODY_BYTES is a 413 {error} before it is parsed", async () => {
    const host = await HOSTS[kind](testService({ MAX_BODY_BYTES: "1024" }));
    try {
      await host.service.holder.load();
      const body = JSON.stringify({ inputs: [matrixInput(Array.from({ length: 20 }, () => SEED_HOUSE))] });
      expect(body.length).toBeGreaterThan(1024);
      protocolError(
        await host.send("POST", `${MODEL}/infer`, { body, headers: JSON_HEADERS }),
        413,
        /limit of 1024|limit is 1024/,
      );
    } finally {
      await host.close();
    }
  });

  it("while the model loads, the ready endpoints answer 503 {error} with Retry-After", async () => {
    const host = await HOSTS[kind](testService());
    try {
      // The first request starts the load; it cannot have finished by the time the handler answers.
      for (const path of ["/v2/health/ready", `${MODEL}/ready`]) {
        const r = await host.send("GET", path);
        protocolError(r, 503, /loading/);
        expect(r.headers.get("retry-after")).toBe("5");
      }
      expect((await host.send("GET", "/v2/health/live")).status).toBe(200);
      await host.service.holder.load();
      expect((await host.send("GET", "/v2/health/ready")).status).toBe(200);
    } finally {
      await host.close();
    }
  });

  it("a model that cannot load keeps ready at 503 and inference at 503 {error}", async () => {
    const host = await HOSTS[kind](testService({ MODEL_PATH: "model/missing.onnx", MODEL_STORE_TIMEOUT_MS: "200" }));
    try {
      const ready = await host.send("GET", `${MODEL}/ready`);
      expect(ready.status).toBe(503);
      const body = JSON.stringify({ inputs: [matrixInput([SEED_HOUSE])] });
      const r = await host.send("POST", `${MODEL}/infer`, { body, headers: JSON_HEADERS });
      protocolError(r, 503, /model/);
      expect(r.headers.get("retry-after")).toBe("5");
    } finally {
      await host.close();
    }
  });
});

describe("the built server (dist/server/main.js) speaks v2", () => {
  let server: BuiltServer;
  beforeAll(async () => {
    server = await startBuiltServer({ env: { LOG_LEVEL: "warn", MAX_BATCH: "100" } });
  });
  afterAll(() => {
    server?.child.kill("SIGTERM");
  });

  it("answers metadata, both layouts identically to /bulk_predict, and {error} for an unknown model", async () => {
    const post = (path: string, body: unknown) =>
      fetch(server.url + path, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) });
    const meta = await fetch(`${server.url}${MODEL}`);
    expect(officialErrors("metadata_model_response", await meta.json())).toEqual([]);
    const bulk = ((await (await post("/bulk_predict", { houses: HOUSES })).json()) as { house_values: number[] })
      .house_values;
    for (const inputs of [[matrixInput(HOUSES)], featureInputs(HOUSES)]) {
      const r = await post(`${VERSIONED}/infer`, { id: "x", inputs });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { outputs: { data: number[] }[] };
      expect(officialErrors("inference_response", body)).toEqual([]);
      expect(body.outputs[0]!.data).toEqual(bulk);
    }
    const missing = await post("/v2/models/nope/infer", { inputs: [matrixInput(HOUSES)] });
    expect(missing.status).toBe(404);
    expect(Object.keys((await missing.json()) as object)).toEqual(["error"]);
  });
});
