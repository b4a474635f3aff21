/**
 * The interval model beside the point model in Blob Storage (real Azurite), and interval answers in a shared
 * Redis cache (real redis-server): loaded on the first detail request, a missing or corrupt interval graph is a
 * 503 for detail requests only, and interval keys never collide with point keys.
 */
import { readFileSync } from "node:fs";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../../shared/input/features";
import { startAzurite, type Azurite } from "../support/azurite";
import { standaloneHost, testService, type Host } from "../support/hosts";
import { SKIP_REDIS, startRedis, type RedisProcess } from "../support/redis-server";

const ONNX = readFileSync("model/model.onnx");
const CARD = readFileSync("model/model.json");
const INTERVALS = readFileSync("model/intervals.onnx");
const JSON_HEADERS = { "content-type": "application/json" };
const HOUSE = JSON.stringify(SEED_HOUSE);

const predict = (host: Host, query = "") =>
  host.send("POST", `/predict${query}`, { body: HOUSE, headers: JSON_HEADERS });

/** The detail answer for SEED_HOUSE from the bundled files, to compare the other stores against. */
let expected: unknown;
beforeAll(async () => {
  const host = await standaloneHost(testService());
  await host.service.holder.load();
  expected = (await predict(host, "?detail=true")).json();
  await host.close();
});

describe("the interval model from Blob Storage", () => {
  let az: Azurite;
  const hosts: Host[] = [];
  const upload = async (files: Record<string, Buffer>) => {
    const c = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient("models");
    await c.createIfNotExists();
    for (const [name, bytes] of Object.entries(files)) await c.getBlockBlobClient(name).uploadData(bytes);
  };
  const start = async (folder: string) => {
    const host = await standaloneHost(
      testService({
        MODEL_BLOB_URL: az.blobUrl("models", `${folder}/model.onnx`),
        AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
        MODEL_STORE_TIMEOUT_MS: "2000",
      }),
    );
    hosts.push(host);
    await host.service.holder.load();
    return host;
  };

  beforeAll(async () => {
    az = await startAzurite();
    const corrupt = Buffer.from(INTERVALS);
    corrupt[corrupt.length - 10] = corrupt[corrupt.length - 10]! ^ 0xff;
    await upload({
      "v1/model.onnx": ONNX,
      "v1/model.json": CARD,
      "v1/intervals.onnx": INTERVALS,
      "later/model.onnx": ONNX,
      "later/model.json": CARD,
      "bad/model.onnx": ONNX,
      "bad/model.json": CARD,
      "bad/intervals.onnx": corrupt,
    });
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await az?.dispose();
  });

  it("downloads intervals.onnx from the model's folder on the first detail request and answers as the bundled one", async () => {
    const host = await start("v1");
    const r = await predict(host, "?detail=true");
    expect(r.status).toBe(200);
    expect(r.json()).toEqual(expected);
  });

  it("answers detail requests 503 while intervals.onnx is missing, plain ones 200, and recovers once it is there", async () => {
    const host = await start("later");
    expect((await predict(host)).status).toBe(200);
    const missing = await predict(host, "?detail=true");
    expect(missing.status).toBe(503);
    expect(missing.headers.get("retry-after")).toBe("5");
    expect(missing.json().detail).toBe("The interval model is not available (not_found)");
    await upload({ "later/intervals.onnx": INTERVALS });
    const now = await predict(host, "?detail=true");
    expect(now.status).toBe(200);
    expect(now.json()).toEqual(expected);
  });

  it("refuses an interval graph whose sha256 differs from the card's", async () => {
    const host = await start("bad");
    const r = await predict(host, "?detail=true");
    expect(r.status).toBe(503);
    expect(r.json().detail).toBe("The interval model is not available (integrity)");
    expect((await predict(host)).status).toBe(200);
  });
});

describe.skipIf(SKIP_REDIS)("intervals in the shared Redis cache", () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("stores each level's bounds under their own keys beside the point's, and a second replica reads them", async () => {
    const first = await standaloneHost(testService({ REDIS_URL: redis.url, CACHE_MAX_ENTRIES: "0" }));
    const { cacheNamespace: namespace } = (await first.service.holder.load()).info;
    expect((await predict(first, "?detail=true")).json()).toEqual(expected);
    await predict(first, "?detail=true&level=0.8");
    await first.close();

    const keys = await redis.keys("hp:*");
    const kinds = keys.map((k) => k.slice(0, k.lastIndexOf(":"))).sort();
    expect(kinds).toEqual([
      `hp:${namespace}`,
      `hp:${namespace}/interval-0.8-high`,
      `hp:${namespace}/interval-0.8-low`,
      `hp:${namespace}/interval-0.9-high`,
      `hp:${namespace}/interval-0.9-low`,
    ]);
    // The same row under every namespace: one point, four bounds, all distinct keys.
    expect(new Set(keys.map((k) => k.slice(k.lastIndexOf(":") + 1))).size).toBe(1);

    const second = await standaloneHost(testService({ REDIS_URL: redis.url, CACHE_MAX_ENTRIES: "0" }));
    await second.service.holder.load();
    try {
      expect((await predict(second, "?detail=true")).json()).toEqual(expected);
      const metrics = (await second.send("GET", "/metrics")).text;
      expect(metrics).toMatch(/^interval_rows_total\{source="cache"\} 1$/m);
      expect(metrics).not.toMatch(/^interval_rows_total\{source="model"\}/m);
    } finally {
      await second.close();
    }
  });
});
