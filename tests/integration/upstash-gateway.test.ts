/**
 * tools/upstash-gateway against a real redis-server, driven by raw HTTP and by the real @upstash/redis client.
 */
import { Redis, type RedisConfigNodejs } from "@upstash/redis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createUpstashBackend } from "../../shared/cache/upstash";
import { startUpstashGateway, type UpstashGateway } from "../../tools/upstash-gateway";
import { SKIP_REDIS, startRedis, type RedisProcess } from "../support/redis-server";
import { eventually } from "../support/eventually";

const TOKEN = "gateway-test-token";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

describe.skipIf(SKIP_REDIS)("upstash gateway over a real redis-server", () => {
  let redis: RedisProcess;
  let gateway: UpstashGateway;

  async function post(
    path: string,
    body: unknown,
    headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
  ): Promise<{ status: number; json: unknown }> {
    const res = await fetch(gateway.url + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  function client(token = TOKEN, extra: Partial<RedisConfigNodejs> = {}): Redis {
    return new Redis({
      url: gateway.url,
      token,
      retry: { retries: 0 },
      enableTelemetry: false,
      enableAutoPipelining: false,
      ...extra,
    });
  }

  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startUpstashGateway({ redisUrl: redis.url, token: TOKEN, maxBodyBytes: 64 * 1024 });
    await eventually(async () => expect((await post("/", ["PING"])).status).toBe(200));
  });

  afterAll(async () => {
    await gateway?.close();
    await redis?.stop();
  });

  beforeEach(async () => {
    await redis.flushall();
  });

  describe("authentication", () => {
    it("answers 401 Unauthorized to a wrong token, and the @upstash/redis call rejects", async () => {
      expect(await post("/", ["PING"], { authorization: "Bearer not-the-token" })).toEqual({
        status: 401,
        json: { error: "Unauthorized" },
      });
      await expect(client("not-the-token").get("k")).rejects.toThrow(/Unauthorized/);
      await expect(createUpstashBackend(gateway.url, "not-the-token").mget(["k"])).rejects.toThrow(/Unauthorized/);
    });

    it("answers 401 to a missing token or a non-Bearer scheme", async () => {
      expect(await post("/", ["PING"], {})).toEqual({ status: 401, json: { error: "Unauthorized" } });
      expect(await post("/", ["PING"], { authorization: `Basic ${TOKEN}` })).toEqual({
        status: 401,
        json: { error: "Unauthorized" },
      });
      expect(await post("/pipeline", [["PING"]], {})).toEqual({ status: 401, json: { error: "Unauthorized" } });
    });

    it("runs nothing for an unauthorized request", async () => {
      await post("/", ["SET", "intruder", "1"], { authorization: "Bearer nope" });
      expect(await redis.keys("*")).toEqual([]);
    });

    it("accepts the token as the _token query parameter", async () => {
      const res = await fetch(`${gateway.url}/ping?_token=${TOKEN}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ result: "PONG" });
    });
  });

  describe("response encoding", () => {
    beforeEach(async () => {
      const admin = await redis.client();
      await admin.set("s", "héllo ✓");
      await admin.set("ok", "OK");
      await admin.rPush("list", ["a", "OK", "1"]);
    });

    it("base64-encodes every string, nested ones too, when Upstash-Encoding: base64 is sent", async () => {
      const headers = { authorization: `Bearer ${TOKEN}`, "upstash-encoding": "base64" };
      expect(await post("/", ["GET", "s"], headers)).toEqual({ status: 200, json: { result: b64("héllo ✓") } });
      expect(await post("/", ["PING"], headers)).toEqual({ status: 200, json: { result: b64("PONG") } });
      // A stored value "OK" is data and is encoded; only a top-level OK status reply stays plain.
      expect(await post("/", ["GET", "ok"], headers)).toEqual({ status: 200, json: { result: b64("OK") } });
      expect(await post("/", ["SET", "x", "1"], headers)).toEqual({ status: 200, json: { result: "OK" } });
      expect(await post("/", ["MGET", "s", "missing", "ok"], headers)).toEqual({
        status: 200,
        json: { result: [b64("héllo ✓"), null, b64("OK")] },
      });
      expect(await post("/", ["LRANGE", "list", "0", "-1"], headers)).toEqual({
        status: 200,
        json: { result: [b64("a"), b64("OK"), b64("1")] },
      });
      // Numbers and null are unchanged.
      expect(await post("/", ["INCR", "n"], headers)).toEqual({ status: 200, json: { result: 1 } });
      expect(await post("/", ["GET", "missing"], headers)).toEqual({ status: 200, json: { result: null } });
    });

    it("returns plain strings without the header", async () => {
      expect(await post("/", ["GET", "s"])).toEqual({ status: 200, json: { result: "héllo ✓" } });
      expect(await post("/", ["PING"])).toEqual({ status: 200, json: { result: "PONG" } });
      expect(await post("/", ["MGET", "s", "missing", "ok"])).toEqual({
        status: 200,
        json: { result: ["héllo ✓", null, "OK"] },
      });
      expect(await post("/", ["INCR", "n"])).toEqual({ status: 200, json: { result: 1 } });
    });

    it("round-trips through @upstash/redis in both encodings", async () => {
      for (const responseEncoding of ["base64", false] as const) {
        const c = client(TOKEN, { responseEncoding, automaticDeserialization: false });
        expect(await c.set("u", "ünïcode ✓ 4.526000022888184")).toBe("OK");
        expect(await c.get("u")).toBe("ünïcode ✓ 4.526000022888184");
        expect(await c.mget("u", "missing", "ok")).toEqual(["ünïcode ✓ 4.526000022888184", null, "OK"]);
        expect(await c.ping()).toBe("PONG");
        expect(await c.incr("counter")).toBe(responseEncoding === "base64" ? 1 : 2);
      }
    });
  });

  describe("pipeline and transactions", () => {
    it("returns one result or error per pipelined command, in order", async () => {
      const res = await post("/pipeline", [
        ["SET", "p", "1", "EX", 60],
        ["INCR", "p"],
        ["GET", "p"],
        ["HSET", "p", "f", "v"],
        ["GET", "missing"],
        ["NOSUCHCOMMAND"],
      ]);
      expect(res.status).toBe(200);
      expect(res.json).toEqual([
        { result: "OK" },
        { result: 2 },
        { result: "2" },
        { error: "WRONGTYPE Operation against a key holding the wrong kind of value" },
        { result: null },
        { error: expect.stringMatching(/^ERR unknown command 'NOSUCHCOMMAND'/) },
      ]);
      expect(await redis.ttl("p")).toBeGreaterThanOrEqual(59);
    });

    it("serves @upstash/redis pipelines (one request) and reports a failed command", async () => {
      const c = client(TOKEN, { automaticDeserialization: false });
      const before = gateway.stats()["/pipeline"] ?? 0;
      const p = c.pipeline();
      p.set("a", "1", { ex: 60 });
      p.set("b", "2", { ex: 60 });
      p.mget("a", "b", "c");
      expect(await p.exec()).toEqual(["OK", "OK", ["1", "2", null]]);
      expect((gateway.stats()["/pipeline"] ?? 0) - before).toBe(1);

      const bad = c.pipeline();
      bad.set("a", "1");
      bad.hset("a", { f: "v" });
      await expect(bad.exec()).rejects.toThrow(/Command 2 \[ hset \] failed: WRONGTYPE/);
    });

    it("runs /multi-exec as a transaction with per-command results", async () => {
      const res = await post("/multi-exec", [
        ["SET", "m", "1"],
        ["INCRBY", "m", "41"],
        ["LPUSH", "m", "x"],
      ]);
      expect(res).toEqual({
        status: 200,
        json: [
          { result: "OK" },
          { result: 42 },
          { error: "WRONGTYPE Operation against a key holding the wrong kind of value" },
        ],
      });
      const c = client(TOKEN, { automaticDeserialization: false });
      const tx = c.multi();
      tx.set("t", "a");
      tx.append("t", "b");
      tx.get("t");
      expect(await tx.exec()).toEqual(["OK", 2, "ab"]);
    });
  });

  describe("errors and limits", () => {
    it("answers 400 with the Redis error message", async () => {
      expect(await post("/", ["INCR"])).toEqual({
        status: 400,
        json: { error: "ERR wrong number of arguments for 'incr' command" },
      });
      await redis.client().then((a) => a.set("str", "x"));
      await expect(client(TOKEN).incr("str")).rejects.toThrow(/ERR value is not an integer or out of range/);
    });

    it("answers 400 to malformed bodies and to commands that would hold the shared connection", async () => {
      expect((await post("/", "{not json")).status).toBe(400);
      expect((await post("/", [])).status).toBe(400);
      expect((await post("/", [["nested"]])).status).toBe(400);
      expect((await post("/pipeline", ["PING"])).status).toBe(400);
      expect(await post("/", ["SUBSCRIBE", "ch"])).toEqual({
        status: 400,
        json: { error: "ERR command 'SUBSCRIBE' is not supported by the upstash gateway" },
      });
      expect((await post("/", ["BLPOP", "q", "0"])).status).toBe(400);
      expect((await post("/", ["ping"])).status).toBe(200);
    });

    it("answers 413 to a body over the limit", async () => {
      const res = await post("/", ["SET", "big", "x".repeat(100 * 1024)]);
      expect(res).toEqual({ status: 413, json: { error: "ERR request body larger than 65536 bytes" } });
      expect(await redis.keys("big")).toEqual([]);
    });

    it("supports the path form, with a POST body as the last argument and query arguments after it", async () => {
      const auth = { authorization: `Bearer ${TOKEN}` };
      let res = await fetch(`${gateway.url}/set/path%2Fkey/v1?EX=100`, { headers: auth });
      expect(await res.json()).toEqual({ result: "OK" });
      expect(await redis.ttl("path/key")).toBeGreaterThanOrEqual(99);
      res = await fetch(`${gateway.url}/set/body-key?EX=50`, {
        method: "POST",
        headers: auth,
        body: "value from body",
      });
      expect(await res.json()).toEqual({ result: "OK" });
      res = await fetch(`${gateway.url}/get/body-key`, { headers: auth });
      expect(await res.json()).toEqual({ result: "value from body" });
      expect(await redis.ttl("body-key")).toBeGreaterThanOrEqual(49);
    });
  });

  describe("when the gateway is down", () => {
    it("makes @upstash/redis calls and the backend reject at once (no retry backoff)", async () => {
      const down = await startUpstashGateway({ redisUrl: redis.url, token: TOKEN });
      const backend = createUpstashBackend(down.url, TOKEN);
      await eventually(async () => expect(await backend.ping()).toBe(true));
      await down.close();

      const t0 = performance.now();
      await expect(backend.mget(["k"])).rejects.toThrow();
      await expect(backend.mset([["k", 1]], 60)).rejects.toThrow();
      await expect(backend.ping()).rejects.toThrow();
      expect(performance.now() - t0).toBeLessThan(1_000);

      const raw = new Redis({ url: down.url, token: TOKEN, retry: { retries: 0 }, enableAutoPipelining: false });
      await expect(raw.get("k")).rejects.toThrow(/fetch failed/);
    });
  });
});
