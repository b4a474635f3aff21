import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadFromBlob,
  loadFromFile,
  loadWithRetry,
  type LoadResult,
  type ModelStoreError,
} from "../shared/inference/model-store";
import { AZURITE_KEY, freePort, azuriteConnectionString, startAzurite, type Azurite } from "./support/azurite";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Fixture "model": 1.5 MB of random bytes (the store never parses ONNX), so downloads span many chunks. */
const ONNX = new Uint8Array(randomBytes(1_500_000));
const CARD = { name: "house-price", version: "3.1.0", sha256: sha256(ONNX), features: ["MedInc", "HouseAge"] };
const cardJson = (card: object) => JSON.stringify(card, null, 2);

function expectError(result: LoadResult, code: ModelStoreError["code"]): ModelStoreError {
  if (result.ok) throw new Error(`expected ${code} error, got success from ${result.artifact.source}`);
  expect(result.error.code, result.error.message).toBe(code);
  return result.error;
}

async function upload(connectionString: string, container: string, blobs: Record<string, Uint8Array | string>) {
  const c = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  await c.createIfNotExists();
  for (const [name, data] of Object.entries(blobs)) {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    await c.getBlockBlobClient(name).uploadData(bytes);
  }
}

describe("loadFromBlob against Azurite", () => {
  let az: Azurite;
  beforeAll(async () => {
    az = await startAzurite();
    await upload(az.connectionString, "models", { "v3/model.onnx": ONNX, "v3/model.json": cardJson(CARD) });
    await upload(az.connectionString, "models", {
      "corrupt/model.onnx": ONNX.map((b, i) => (i === 1000 ? b ^ 0xff : b)),
      "corrupt/model.json": cardJson(CARD),
      "nocard/model.onnx": ONNX,
      "badcard/model.onnx": ONNX,
      "badcard/model.json": cardJson({ name: "house-price", version: 3, sha256: "abc" }),
      "root.json": "{}",
    });
    await upload(az.connectionString, "flat", { "model.onnx": ONNX, "model.json": cardJson(CARD) });
  });
  afterAll(async () => {
    await az?.dispose();
  });

  /** The model at `blob` in `container`, loaded as the service does (5 s timeout). */
  const fromBlob = (container: string, blob: string, connectionString = az.connectionString) =>
    loadFromBlob({ blobUrl: az.blobUrl(container, blob), connectionString, timeoutMs: 5000 });

  it("loads the model bytes and card from blob, bytes identical to the uploaded ones", async () => {
    const result = await fromBlob("models", "v3/model.onnx");
    if (!result.ok) throw new Error(result.error.message);
    expect(Buffer.from(result.artifact.onnx).equals(Buffer.from(ONNX))).toBe(true);
    expect(result.artifact.onnx.byteLength).toBe(1_500_000);
    expect(result.artifact.card).toEqual(CARD);
    expect(result.artifact.source).toBe(`blob:http://127.0.0.1:${az.blobPort}/devstoreaccount1/models/v3/model.onnx`);
  });

  it("loads a model at the container root (card beside it)", async () => {
    const result = await fromBlob("flat", "model.onnx");
    if (!result.ok) throw new Error(result.error.message);
    expect(result.artifact.card.version).toBe("3.1.0");
    expect(result.artifact.source).toBe(`blob:http://127.0.0.1:${az.blobPort}/devstoreaccount1/flat/model.onnx`);
  });

  it("reports integrity with both hashes when the bytes do not match the card's sha256", async () => {
    const result = await fromBlob("models", "corrupt/model.onnx");
    const error = expectError(result, "integrity");
    const corrupt = ONNX.map((b, i) => (i === 1000 ? b ^ 0xff : b));
    expect(error.message).toContain(CARD.sha256);
    expect(error.message).toContain(sha256(corrupt));
  });

  it("reports integrity naming the bad fields when the card is invalid", async () => {
    const result = await fromBlob("models", "badcard/model.onnx");
    const error = expectError(result, "integrity");
    expect(error.message).toMatch(/version/);
    expect(error.message).toMatch(/sha256: must be 64 hex characters/);
  });

  it("reports not_found when the model blob is missing", async () => {
    const result = await fromBlob("models", "v9/model.onnx");
    const error = expectError(result, "not_found");
    expect(error.message).toMatch(/BlobNotFound/);
  });

  it("reports not_found when the card blob is missing", async () => {
    const result = await fromBlob("models", "nocard/model.onnx");
    const error = expectError(result, "not_found");
    expect(error.message).toContain("model card blob");
    expect(error.message).toContain("nocard/model.json");
  });

  it("reports not_found when the container is missing", async () => {
    const result = await fromBlob("nosuchcontainer", "model.onnx");
    const error = expectError(result, "not_found");
    expect(error.message).toMatch(/ContainerNotFound/);
  });

  it("reports unreachable (auth failure) without leaking the account key when the key is wrong", async () => {
    const wrongKey = Buffer.from("x".repeat(64)).toString("base64");
    const result = await fromBlob("models", "v3/model.onnx", az.connectionString.replace(AZURITE_KEY, wrongKey));
    const error = expectError(result, "unreachable");
    expect(error.message).toMatch(/access denied \(HTTP 403/);
    expect(error.message).not.toContain(wrongKey);
    expect(error.message).not.toContain(AZURITE_KEY);
  });

  it("reaches the blob with an explicit credential-less BlobClient when the container is public", async () => {
    const c = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient("public");
    await c.createIfNotExists({ access: "blob" });
    await c.getBlockBlobClient("model.onnx").uploadData(ONNX);
    await c.getBlockBlobClient("model.json").uploadData(Buffer.from(cardJson(CARD)));
    // A SAS-looking query selects anonymous access; Azurite ignores the bogus signature on a public container.
    const result = await loadFromBlob({ blobUrl: `${az.blobUrl("public", "model.onnx")}?sig=bogus`, timeoutMs: 5000 });
    if (!result.ok) throw new Error(result.error.message);
    expect(result.artifact.card).toEqual(CARD);
    expect(result.artifact.source).toBe(`blob:http://127.0.0.1:${az.blobPort}/devstoreaccount1/public/model.onnx`);
  });
});

describe("loadFromBlob when the store is down", () => {
  it("reports unreachable within about timeoutMs when nothing listens on the port", async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await loadFromBlob({
      blobUrl: `http://127.0.0.1:${port}/devstoreaccount1/models/model.onnx`,
      connectionString: azuriteConnectionString(port),
      timeoutMs: 1500,
    });
    const elapsed = Date.now() - started;
    const error = expectError(result, "unreachable");
    expect(error.message).toMatch(/ECONNREFUSED|timed out/);
    expect(error.message).not.toContain(AZURITE_KEY);
    expect(elapsed).toBeLessThan(1500 + 1000);
  });

  it("reports unreachable with 'timed out' when the store accepts connections but never answers", async () => {
    const net = await import("node:net");
    const sockets: import("node:net").Socket[] = [];
    const blackhole = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
    const port = (blackhole.address() as import("node:net").AddressInfo).port;
    try {
      const started = Date.now();
      const result = await loadFromBlob({
        blobUrl: `http://127.0.0.1:${port}/devstoreaccount1/models/model.onnx`,
        connectionString: azuriteConnectionString(port),
        timeoutMs: 800,
      });
      const elapsed = Date.now() - started;
      const error = expectError(result, "unreachable");
      expect(error.message).toMatch(/timed out/);
      expect(elapsed).toBeGreaterThanOrEqual(790);
      expect(elapsed).toBeLessThan(800 + 700);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => blackhole.close(r));
    }
  });

  it("reports unreachable after Azurite is stopped", async () => {
    const az = await startAzurite();
    try {
      await upload(az.connectionString, "models", { "model.onnx": ONNX, "model.json": cardJson(CARD) });
      const opts = {
        blobUrl: az.blobUrl("models", "model.onnx"),
        connectionString: az.connectionString,
        timeoutMs: 1500,
      };
      expect((await loadFromBlob(opts)).ok).toBe(true);
      await az.stop();
      const started = Date.now();
      expectError(await loadFromBlob(opts), "unreachable");
      expect(Date.now() - started).toBeLessThan(1500 + 1000);
    } finally {
      await az.dispose();
    }
  });

  it("loadWithRetry resolves once Azurite comes up, after reporting unreachable attempts", async () => {
    const az = await startAzurite();
    try {
      await upload(az.connectionString, "models", { "model.onnx": ONNX, "model.json": cardJson(CARD) });
      await az.stop(); // store down at start (same port, data kept)

      const attempts: { attempt: number; result: LoadResult; nextDelayMs: number | undefined }[] = [];
      let restarting: Promise<void> | undefined;
      const giveUp = new AbortController(); // so a failed restart fails the test instead of retrying forever
      const artifact = await loadWithRetry(
        () =>
          loadFromBlob({
            blobUrl: az.blobUrl("models", "model.onnx"),
            connectionString: az.connectionString,
            timeoutMs: 1000,
          }),
        {
          signal: giveUp.signal,
          baseDelayMs: 20,
          maxDelayMs: 100,
          onAttempt: (attempt, result, nextDelayMs) => {
            attempts.push({ attempt, result, nextDelayMs });
            if (attempt === 3) restarting = az.restart().catch((e: unknown) => giveUp.abort(e));
          },
        },
      );
      await restarting;

      expect(Buffer.from(artifact.onnx).equals(Buffer.from(ONNX))).toBe(true);
      expect(artifact.card).toEqual(CARD);
      expect(attempts.length).toBeGreaterThanOrEqual(4);
      const failures = attempts.slice(0, -1);
      for (const [i, a] of failures.entries()) {
        expect(a.attempt).toBe(i + 1);
        expect(a.result.ok ? "ok" : a.result.error.code).toBe("unreachable");
        expect(a.nextDelayMs).toBeGreaterThanOrEqual(Math.min(100, 20 * 2 ** i) / 2);
        expect(a.nextDelayMs).toBeLessThanOrEqual(Math.min(100, 20 * 2 ** i));
      }
      const last = attempts.at(-1);
      expect(last?.result.ok).toBe(true);
      expect(last?.nextDelayMs).toBeUndefined();
    } finally {
      await az.dispose();
    }
  });
});

describe("loadWithRetry", () => {
  const down: LoadResult = { ok: false, error: { code: "unreachable", message: "connect ECONNREFUSED" } };
  const up: LoadResult = {
    ok: true,
    artifact: { onnx: ONNX, card: CARD, source: "file:model/model.onnx" },
  };

  it("backs off exponentially from 500 ms up to a 30 s cap, with jitter, by default", async () => {
    const slept: number[] = [];
    let calls = 0;
    const artifact = await loadWithRetry(async () => (++calls <= 10 ? down : up), {
      sleep: async (ms) => void slept.push(ms),
    });
    expect(artifact).toBe(up.ok && up.artifact);
    expect(calls).toBe(11);
    const nominal = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000];
    expect(slept).toHaveLength(10);
    slept.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(nominal[i]! / 2);
      expect(ms).toBeLessThanOrEqual(nominal[i]!);
    });
  });

  it("retries a load that throws, reporting it as unreachable", async () => {
    const seen: string[] = [];
    let calls = 0;
    await loadWithRetry(
      async () => {
        if (++calls === 1) throw new Error("boom");
        return up;
      },
      { sleep: async () => {}, onAttempt: (_a, r) => seen.push(r.ok ? "ok" : `${r.error.code}: ${r.error.message}`) },
    );
    expect(seen).toEqual(["unreachable: model load threw: boom", "ok"]);
  });

  it("keeps retrying integrity and not_found failures too", async () => {
    const results: LoadResult[] = [
      { ok: false, error: { code: "not_found", message: "no blob" } },
      { ok: false, error: { code: "integrity", message: "sha256 mismatch" } },
      up,
    ];
    const codes: string[] = [];
    await loadWithRetry(async () => results.shift()!, {
      sleep: async () => {},
      onAttempt: (_a, r) => codes.push(r.ok ? "ok" : r.error.code),
    });
    expect(codes).toEqual(["not_found", "integrity", "ok"]);
  });

  it("rejects with an AbortError when the signal aborts while waiting", async () => {
    const controller = new AbortController();
    let calls = 0;
    const p = loadWithRetry(
      async () => {
        calls++;
        return down;
      },
      {
        signal: controller.signal,
        sleep: () => new Promise<void>(() => {}), // never wakes up by itself
        onAttempt: () => setTimeout(() => controller.abort(), 10),
      },
    );
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    expect(calls).toBe(1);
  });

  it("rejects immediately when the signal is already aborted", async () => {
    let calls = 0;
    const p = loadWithRetry(async () => (calls++, up), { signal: AbortSignal.abort() });
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    expect(calls).toBe(0);
  });
});

describe("loadFromFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "model-store-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeModel(sub: string, onnx: Uint8Array | undefined, card: string | undefined): Promise<string> {
    const d = path.join(dir, sub);
    await mkdir(d, { recursive: true });
    if (onnx) await writeFile(path.join(d, "model.onnx"), onnx);
    if (card !== undefined) await writeFile(path.join(d, "model.json"), card);
    return path.join(d, "model.onnx");
  }

  it("loads the model bytes and the sibling model.json card", async () => {
    const modelPath = await writeModel("ok", ONNX, cardJson(CARD));
    const result = await loadFromFile(modelPath);
    if (!result.ok) throw new Error(result.error.message);
    expect(Buffer.from(result.artifact.onnx).equals(Buffer.from(ONNX))).toBe(true);
    expect(result.artifact.card).toEqual(CARD);
    expect(result.artifact.source).toBe(`file:${modelPath}`);
  });

  it("accepts an upper-case sha256 in the card and normalises it", async () => {
    const modelPath = await writeModel("upper", ONNX, cardJson({ ...CARD, sha256: CARD.sha256.toUpperCase() }));
    const result = await loadFromFile(modelPath);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.artifact.card.sha256).toBe(CARD.sha256);
  });

  it("reports not_found when the model file is missing", async () => {
    const modelPath = await writeModel("nomodel", undefined, cardJson(CARD));
    const error = expectError(await loadFromFile(modelPath), "not_found");
    expect(error.message).toContain(modelPath);
  });

  it("reports not_found when the card is missing", async () => {
    const modelPath = await writeModel("nocard", ONNX, undefined);
    const error = expectError(await loadFromFile(modelPath), "not_found");
    expect(error.message).toContain(path.join(dir, "nocard", "model.json"));
  });

  it("reports integrity with both hashes when the card was tampered with", async () => {
    const forged = sha256(new Uint8Array([1, 2, 3]));
    const modelPath = await writeModel("tampered", ONNX, cardJson({ ...CARD, sha256: forged }));
    const error = expectError(await loadFromFile(modelPath), "integrity");
    expect(error.message).toContain(forged);
    expect(error.message).toContain(CARD.sha256);
  });

  it("reports integrity when the card is not JSON", async () => {
    const modelPath = await writeModel("notjson", ONNX, "{ name: ");
    const error = expectError(await loadFromFile(modelPath), "integrity");
    expect(error.message).toMatch(/not valid JSON/);
  });

  it("reports integrity naming the missing field when the card lacks name", async () => {
    const { name: _omit, ...noName } = CARD;
    const modelPath = await writeModel("noname", ONNX, cardJson(noName));
    const error = expectError(await loadFromFile(modelPath), "integrity");
    expect(error.message).toMatch(/name:/);
  });

  it.skipIf(!existsSync("model/model.onnx") || !existsSync("model/model.json"))(
    "the repository's model/model.onnx matches its card",
    async () => {
      const result = await loadFromFile(path.join("model", "model.onnx"));
      if (!result.ok) throw new Error(result.error.message);
      expect(result.artifact.source).toBe(`file:${path.join("model", "model.onnx")}`);
    },
  );
});
