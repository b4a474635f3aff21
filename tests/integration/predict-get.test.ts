/**
 * GET /predict over real HTTP (the standalone server) and through the Azure Functions adapter: the same
 * answer as POST, caching headers an edge can use, 304 on a matching If-None-Match, 422 for every breach of the
 * query grammar, keyed answers private, and a new model changing every ETag.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { HOSTS, testService, type Host } from "../support/hosts";
import { startBuiltServer, type BuiltServer } from "../support/server-process";

const seed = (extra: Record<string, string> = {}) =>
  new URLSearchParams({ ...Object.fromEntries(FEATURES.map((f) => [f, String(SEED_HOUSE[f])])), ...extra });
const PUBLIC = "public, max-age=60, s-maxage=86400";
const json = { "content-type": "application/json" };

/** A copy of the bundled model whose bytes (and so sha256) differ: a second doc_string field, which protobuf
 * parsers accept (the last one wins), so the model computes exactly what the original computes. */
function variantModel(): { dir: string; modelPath: string; sha256: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "model-variant-"));
  const note = Buffer.from("variant for the ETag test");
  const onnx = Buffer.concat([readFileSync("model/model.onnx"), Buffer.from([0x32, note.length]), note]);
  const sha256 = createHash("sha256").update(onnx).digest("hex");
  const card = JSON.parse(readFileSync("model/model.json", "utf8"));
  writeFileSync(path.join(dir, "model.onnx"), onnx);
  writeFileSync(path.join(dir, "model.json"), JSON.stringify({ ...card, sha256 }));
  return { dir, modelPath: path.join(dir, "model.onnx"), sha256 };
}

for (const [name, make] of Object.entries(HOSTS)) {
  describe(`GET /predict (${name} host)`, () => {
    let host: Host;
    beforeAll(async () => {
      host = await make(testService());
      await host.service.holder.load();
    });
    afterAll(() => host.close());

    it("answers what POST /predict answers, cacheable: public lifetimes, a strong ETag, Cache-Status", async () => {
      const get = await host.send("GET", `/predict?${seed()}`);
      const post = await host.send("POST", "/predict", { body: JSON.stringify(SEED_HOUSE), headers: json });
      expect(get.status).toBe(200);
      expect(get.json()).toEqual(post.json());
      expect(get.headers.get("content-type")).toBe("application/json");
      expect(get.headers.get("cache-control")).toBe(PUBLIC);
      expect(get.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      expect(get.headers.get("cache-status")).toMatch(/^house-price;/);
      // The POST stays uncacheable.
      expect(post.headers.get("cache-control")).toBe("no-store");
      expect(post.headers.get("etag")).toBeNull();
    });

    it("answers 304 with the validator and no body to a matching If-None-Match, 200 to a stale one", async () => {
      const first = await host.send("GET", `/predict?${seed()}`);
      const etag = first.headers.get("etag")!;
      const again = await host.send("GET", `/predict?${seed()}`, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
      expect(again.text).toBe("");
      expect(again.headers.get("etag")).toBe(etag);
      expect(again.headers.get("cache-control")).toBe(PUBLIC);
      const listed = await host.send("GET", `/predict?${seed()}`, {
        headers: { "if-none-match": `"other", W/${etag}` },
      });
      expect(listed.status).toBe(304);
      const stale = await host.send("GET", `/predict?${seed()}`, { headers: { "if-none-match": '"stale"' } });
      expect(stale.status).toBe(200);
      expect(stale.json()).toEqual(first.json());
    });

    it("tags the row's float32 bits and the response options, not the spelling of the query", async () => {
      const tag = async (q: URLSearchParams) => (await host.send("GET", `/predict?${q}`)).headers.get("etag");
      const base = await tag(seed());
      expect(await tag(seed({ HouseAge: "41.0", MedInc: "8.3252e0" }))).toBe(base);
      expect(await tag(new URLSearchParams([...seed()].reverse()))).toBe(base);
      expect(await tag(seed({ detail: "false" }))).toBe(base);
      expect(await tag(seed({ MedInc: "8.3253" }))).not.toBe(base);
      // level is accepted and covered by the tag (it will shape interval answers); today the body is the same.
      const leveled = await host.send("GET", `/predict?${seed({ detail: "true", level: "0.9" })}`);
      expect(leveled.status).toBe(200);
      expect(leveled.headers.get("etag")).not.toBe(base);
    });

    it.each([
      ["an unknown parameter", "&foo=1", "foo", /not a known query parameter/],
      ["a repeated parameter", "&MedInc=8.3252", "MedInc", /only once/],
      ["a hex value", "", "HouseAge", /JSON/, { HouseAge: "0x29" }],
      ["a blank in the value", "", "HouseAge", /JSON/, { HouseAge: " 41" }],
      ["an empty value", "", "HouseAge", /must not be empty/, { HouseAge: "" }],
      ["an out-of-range value", "", "Latitude", /must be at most 90/, { Latitude: "91" }],
      ["a bad option", "", "detail", /true or false/, { detail: "1" }],
    ] as [string, string, string, RegExp, Record<string, string>?][])(
      "refuses %s with 422 problem+json naming the parameter, never cacheable",
      async (_what, tail, param, message, extra) => {
        const r = await host.send("GET", `/predict?${seed(extra)}${tail}`);
        expect(r.status).toBe(422);
        expect(r.headers.get("content-type")).toBe("application/problem+json");
        expect(r.headers.get("cache-control")).toBe("no-store");
        expect(r.headers.get("etag")).toBeNull();
        const body = r.json();
        expect(body.errors).toEqual([
          expect.objectContaining({ path: param, message: expect.stringMatching(message) }),
        ]);
        expect(body.detail).toContain(param);
      },
    );

    it("answers any query with 200 (the POST's value) or a 422 naming only parameters it was sent, never 5xx", async () => {
      const name = fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom<string>(...FEATURES) },
        { weight: 1, arbitrary: fc.constantFrom("detail", "level", "medinc", "", "x") },
      );
      const value = fc.oneof(
        { weight: 6, arbitrary: fc.double({ min: 0.001, max: 90, noNaN: true }).map(String) },
        { weight: 1, arbitrary: fc.constantFrom("", " 1", "0x1", "+1", "-1", "1e400", "true", "0.5", "1.") },
        { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
      );
      // Mostly a valid house with a few changes, so that both outcomes are common.
      const edits = fc.array(fc.tuple(fc.constantFrom("set", "add", "delete"), name, value), { maxLength: 3 });
      await fc.assert(
        fc.asyncProperty(edits, async (changes) => {
          const q = seed({ Latitude: "37.5", Longitude: "-120.5" });
          for (const [op, n, v] of changes) {
            if (op === "set") q.set(n, v);
            else if (op === "add") q.append(n, v);
            else q.delete(n);
          }
          const r = await host.send("GET", `/predict?${q}`);
          expect([200, 422]).toContain(r.status);
          if (r.status === 422) {
            const sent = new Set([...q.keys()].map((k) => (k === "" ? "(empty name)" : k)));
            for (const e of r.json().errors) expect(sent.has(e.path) || FEATURES.includes(e.path)).toBe(true);
            return;
          }
          const house = Object.fromEntries(FEATURES.map((f) => [f, Number(q.get(f))]));
          const post = await host.send("POST", "/predict", { body: JSON.stringify(house), headers: json });
          expect(r.json()).toEqual(post.json());
        }),
        { seed: 14, numRuns: 150 },
      );
    });

    it("refuses a missing feature with POST's message", async () => {
      const q = seed();
      q.delete("AveOccup");
      const r = await host.send("GET", `/predict?${q}`);
      expect(r.status).toBe(422);
      expect(r.json().errors).toEqual([{ path: "AveOccup", message: "is required" }]);
    });
  });

  describe(`GET /predict with API_KEYS (${name} host)`, () => {
    let host: Host;
    beforeAll(async () => {
      host = await make(testService({ API_KEYS: "k1,k2" }));
      await host.service.holder.load();
    });
    afterAll(() => host.close());

    it("needs a key like the POST, and answers keyed callers private, no-store (304 included)", async () => {
      const none = await host.send("GET", `/predict?${seed()}`);
      expect(none.status).toBe(401);
      expect(none.headers.get("cache-control")).toBe("no-store");
      const keyed = await host.send("GET", `/predict?${seed()}`, { headers: { "x-api-key": "k2" } });
      expect(keyed.status).toBe(200);
      expect(keyed.headers.get("cache-control")).toBe("private, no-store");
      const etag = keyed.headers.get("etag")!;
      const bearer = await host.send("GET", `/predict?${seed()}`, {
        headers: { authorization: "Bearer k1", "if-none-match": etag },
      });
      expect(bearer.status).toBe(304);
      expect(bearer.headers.get("cache-control")).toBe("private, no-store");
      // A matching If-None-Match without a key still gets 401, not a 304 that would confirm the answer.
      const probe = await host.send("GET", `/predict?${seed()}`, { headers: { "if-none-match": etag } });
      expect(probe.status).toBe(401);
    });
  });
}

describe("GET /predict behind Azure Functions function keys (FUNCTION_AUTH_LEVEL=function)", () => {
  it("accepts the key as ?code= and answers private, no-store: the key may travel in a header the edge ignores", async () => {
    const host = await HOSTS.functions(testService({ FUNCTION_AUTH_LEVEL: "function" }));
    try {
      await host.service.holder.load();
      const r = await host.send("GET", `/predict?${seed({ code: "the-function-key" })}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("private, no-store");
      const plain = await host.send("GET", `/predict?${seed()}`);
      expect(plain.headers.get("etag")).toBe(r.headers.get("etag"));
    } finally {
      await host.close();
    }
  });
});

describe("GET /predict on the built server", () => {
  let plain: BuiltServer;
  let variant: BuiltServer;
  let model: ReturnType<typeof variantModel>;
  beforeAll(async () => {
    model = variantModel();
    [plain, variant] = await Promise.all([
      startBuiltServer({ env: { LOG_LEVEL: "warn" } }),
      startBuiltServer({ env: { LOG_LEVEL: "warn", MODEL_PATH: model.modelPath } }),
    ]);
  });
  afterAll(async () => {
    for (const s of [plain, variant]) s?.child.kill("SIGTERM");
    await Promise.all([plain?.exited, variant?.exited]);
    rmSync(model.dir, { recursive: true, force: true });
  });

  it("changes every ETag when the model's sha256 changes, for the very same answer", async () => {
    const health = (await (await fetch(`${variant.url}/health`)).json()) as { model: { sha256: string } };
    expect(health.model.sha256).toBe(model.sha256);
    for (const q of [seed(), seed({ MedInc: "3.5" }), seed({ Latitude: "34.05", Longitude: "-118.24" })]) {
      const [a, b] = await Promise.all([plain, variant].map((s) => fetch(`${s.url}/predict?${q}`)));
      expect(a!.status).toBe(200);
      expect(b!.status).toBe(200);
      expect(await b!.json()).toEqual(await a!.json());
      expect(b!.headers.get("etag")).not.toBe(a!.headers.get("etag"));
      // The old model's tag is not honoured by the new model: a full answer, not a 304.
      const revalidate = await fetch(`${variant.url}/predict?${q}`, {
        headers: { "if-none-match": a!.headers.get("etag")! },
      });
      expect(revalidate.status).toBe(200);
    }
  });

  it("answers HEAD like GET without a body, and 304 over the wire", async () => {
    const get = await fetch(`${plain.url}/predict?${seed()}`);
    const head = await fetch(`${plain.url}/predict?${seed()}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(get.headers.get("etag"));
    expect(await head.text()).toBe("");
    const cond = await fetch(`${plain.url}/predict?${seed()}`, {
      headers: { "if-none-match": get.headers.get("etag")! },
    });
    expect(cond.status).toBe(304);
    expect(cond.headers.get("cache-control")).toBe(PUBLIC);
  });
});
