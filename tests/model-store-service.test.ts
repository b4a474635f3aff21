/** The service loading its model from Blob Storage (real Azurite): ready, corrupt, missing, down then up. */
import { readFileSync } from "node:fs";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../shared/input/features";
import { startAzurite, type Azurite } from "./support/azurite";
import { standaloneHost, testService, type Host } from "./support/hosts";

const ONNX = readFileSync("model/model.onnx");
const CARD = readFileSync("model/model.json");
const JSON_HEADERS = { "content-type": "application/json" };

async function upload(az: Azurite, container: string, files: Record<string, Buffer>) {
  const c = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient(container);
  await c.createIfNotExists();
  for (const [name, bytes] of Object.entries(files)) await c.getBlockBlobClient(name).uploadData(bytes);
}

async function waitFor(host: Host, status: number, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await host.send("GET", "/health");
    if (r.status === status || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe("the model from Blob Storage", () => {
  let az: Azurite;
  const hosts: Host[] = [];
  const start = async (blob: string, store = az) => {
    const url = store.blobUrl(blob.split("/")[0]!, blob.split("/").slice(1).join("/"));
    const host = await standaloneHost(
      testService({
        MODEL_BLOB_URL: url,
        AZURE_STORAGE_CONNECTION_STRING: store.connectionString,
        MODEL_STORE_TIMEOUT_MS: "1000",
      }),
    );
    void host.service.holder.load().catch(() => undefined);
    hosts.push(host);
    return host;
  };

  beforeAll(async () => {
    az = await startAzurite();
    await upload(az, "models", { "v1/model.onnx": ONNX, "v1/model.json": CARD });
    const corrupt = Buffer.from(ONNX);
    corrupt[corrupt.length - 10] = corrupt[corrupt.length - 10]! ^ 0xff;
    await upload(az, "models", { "bad/model.onnx": corrupt, "bad/model.json": CARD, "nocard/model.onnx": ONNX });
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await az?.dispose();
  });

  it("loads, verifies and serves the model, and /health says where it came from", async () => {
    const host = await start("models/v1/model.onnx");
    const health = await waitFor(host, 200, 15_000);
    expect(health.status).toBe(200);
    expect(health.json().model).toMatchObject({
      name: "california-housing-gbdt",
      version: JSON.parse(CARD.toString()).version,
      source: expect.stringMatching(/^blob:http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/models\/v1\/model\.onnx$/),
    });
    const r = await host.send("POST", "/predict", { body: JSON.stringify(SEED_HOUSE), headers: JSON_HEADERS });
    expect(r.status).toBe(200);
    expect(health.text).not.toContain("AccountKey");
  });

  it.each([
    ["corrupt bytes", "models/bad/model.onnx", "integrity"],
    ["a missing blob", "models/none/model.onnx", "not_found"],
    ["a missing card", "models/nocard/model.onnx", "not_found"],
  ])("is not ready with %s: /health 503 with the reason, predictions 503 problem+json", async (_, blob, code) => {
    const host = await start(blob);
    const health = await waitFor(host, 503, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    const again = await host.send("GET", "/health");
    expect(again.status).toBe(503);
    expect(again.json().reason).toMatch(new RegExp(`^${code}:`));
    expect(health.json().status).toBe("unavailable");
    const r = await host.send("POST", "/predict", { body: JSON.stringify(SEED_HOUSE), headers: JSON_HEADERS });
    expect(r.status).toBe(503);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
    expect(r.json().detail).toContain(code);
  });

  it("retries while the store is down at start and becomes ready once it is up, without a restart", async () => {
    const later = await startAzurite({ start: false });
    try {
      const host = await start("models/v1/model.onnx", later);
      const down = await waitFor(host, 503, 3_000);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await host.send("GET", "/health")).json().reason).toMatch(/^unreachable:/);
      expect(down.status).toBe(503);
      await later.restart();
      const cs = later.connectionString;
      const c = BlobServiceClient.fromConnectionString(cs).getContainerClient("models");
      await c.createIfNotExists();
      await c.getBlockBlobClient("v1/model.onnx").uploadData(ONNX);
      await c.getBlockBlobClient("v1/model.json").uploadData(CARD);
      const up = await waitFor(host, 200, 40_000);
      expect(up.status).toBe(200);
    } finally {
      await later.dispose();
    }
  }, 60_000);
});
