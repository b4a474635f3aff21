/** Abuse and access: per-client rate limits (in-process, Redis across processes, Upstash), API keys, overload. */
import type { ChildProcess } from "node:child_process";
import net from "node:net";
import { createHttpServer } from "../server/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../shared/input/features";
import { startUpstashGateway, type UpstashGateway } from "../tools/upstash-gateway";
import { functionsHost, standaloneHost, testService, type Host } from "./support/hosts";
import { startBuiltServer } from "./support/server-process";
import { eventually } from "./support/eventually";
import { SKIP_REDIS, startRedis, type RedisProcess } from "./support/redis-server";

const body = JSON.stringify(SEED_HOUSE);
const asClient = (ip: string, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "x-forwarded-for": ip,
  ...extra,
});

async function burst(host: Host, n: number, headers: Record<string, string>) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await host.send("POST", "/predict", { body, headers })).status);
  return statuses;
}

describe.each(["standalone", "functions"] as const)("rate limiting in process on the %s host", (kind) => {
  let host: Host;
  beforeAll(async () => {
    const service = testService({ RATE_LIMIT_REQUESTS: "20", RATE_LIMIT_WINDOW_SECONDS: "60", TRUST_PROXY: "true" });
    host = kind === "standalone" ? await standaloneHost(service) : functionsHost(service);
  });
  afterAll(() => host.close());

  it("answers the 21st request of a 20-per-60-s client with 429, Retry-After and RateLimit headers", async () => {
    const statuses = await burst(host, 20, asClient("203.0.113.1"));
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    const r = await host.send("POST", "/predict", { body, headers: asClient("203.0.113.1") });
    expect(r.status).toBe(429);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
    const retry = Number(r.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(r.headers.get("ratelimit-limit")).toBe("20");
    expect(r.headers.get("ratelimit-remaining")).toBe("0");
    expect(r.headers.get("ratelimit-policy")).toBe("20;w=60");
  });

  it("leaves another client unaffected", async () => {
    const r = await host.send("POST", "/predict", { body, headers: asClient("203.0.113.2") });
    expect(r.status).toBe(200);
    expect(r.headers.get("ratelimit-remaining")).toBe("19");
  });

  it("never limits /health, /metrics or /docs", async () => {
    for (const path of ["/health", "/metrics", "/docs", "/openapi.json"]) {
      for (let i = 0; i < 25; i++) {
        const r = await host.send("GET", path, { headers: asClient("203.0.113.1") });
        expect(r.status, path).toBe(200);
      }
    }
  });
});

describe("rate limit identity", () => {
  it("ignores X-Forwarded-For unless TRUST_PROXY is set", async () => {
    const host = await standaloneHost(testService({ RATE_LIMIT_REQUESTS: "3" }));
    try {
      // Without TRUST_PROXY every forwarded address is the same peer (127.0.0.1).
      expect(await burst(host, 3, asClient("198.51.100.1"))).toEqual([200, 200, 200]);
      expect((await burst(host, 1, asClient("198.51.100.2")))[0]).toBe(429);
    } finally {
      await host.close();
    }
  });

  it("does not let made-up API keys mint fresh buckets", async () => {
    const host = await standaloneHost(testService({ RATE_LIMIT_REQUESTS: "3" }));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await burst(host, 1, asClient("x", { "x-api-key": `made-up-${i}` })))[0]!);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await host.close();
    }
  });

  it("gives each verified API key its own bucket, and counts bad keys against the address", async () => {
    const host = await standaloneHost(testService({ RATE_LIMIT_REQUESTS: "3", API_KEYS: "k-one,k-two" }));
    try {
      expect(await burst(host, 3, asClient("x", { "x-api-key": "k-one" }))).toEqual([200, 200, 200]);
      expect((await burst(host, 1, asClient("x", { "x-api-key": "k-one" })))[0]).toBe(429);
      expect(await burst(host, 3, asClient("x", { authorization: "Bearer k-two" }))).toEqual([200, 200, 200]);
      expect(await burst(host, 4, asClient("x", { "x-api-key": "wrong" }))).toEqual([401, 401, 401, 429]);
    } finally {
      await host.close();
    }
  });

  it("behind a trusted proxy uses the hop the proxy appended, not what the client wrote", async () => {
    const host = await standaloneHost(testService({ RATE_LIMIT_REQUESTS: "2", TRUST_PROXY: "true" }));
    try {
      const spoofed = (i: number) => asClient(`10.0.0.${i}, 203.0.113.9:5123`);
      expect(await burst(host, 1, spoofed(1))).toEqual([200]);
      expect(await burst(host, 1, spoofed(2))).toEqual([200]);
      expect(await burst(host, 1, spoofed(3))).toEqual([429]);
    } finally {
      await host.close();
    }
  });
});

describe("API keys", () => {
  let host: Host;
  beforeAll(async () => {
    host = await standaloneHost(testService({ API_KEYS: "alpha-key, beta-key", METRICS_TOKEN: "scrape-me" }));
  });
  afterAll(() => host.close());

  it.each([
    ["no key", {}],
    ["a wrong key", { "x-api-key": "alpha-kez" }],
    ["a prefix of a key", { authorization: "Bearer alpha" }],
  ])("rejects a prediction with %s with 401 problem+json", async (_, extra) => {
    const r = await host.send("POST", "/predict", { body, headers: { "content-type": "application/json", ...extra } });
    expect(r.status).toBe(401);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
    expect(r.headers.get("www-authenticate")).toContain("Bearer");
    expect(r.text).not.toContain("alpha");
  });

  it("accepts each configured key, as X-API-Key or Bearer", async () => {
    for (const h of [{ "x-api-key": "alpha-key" }, { authorization: "Bearer beta-key" }] as Record<string, string>[]) {
      const r = await host.send("POST", "/bulk_predict", {
        body: JSON.stringify({ houses: [SEED_HOUSE] }),
        headers: { "content-type": "application/json", ...h },
      });
      expect(r.status).toBe(200);
    }
  });

  it("keeps /health and /docs open, and restricts /metrics to its token", async () => {
    expect((await host.send("GET", "/health")).status).toBe(200);
    expect((await host.send("GET", "/docs")).status).toBe(200);
    expect((await host.send("GET", "/metrics")).status).toBe(401);
    expect((await host.send("GET", "/metrics", { headers: { authorization: "Bearer scrape-me" } })).status).toBe(200);
  });
});

describe("overload", () => {
  it("answers 503 with Retry-After beyond MAX_INFLIGHT_ROWS instead of queueing without bound", async () => {
    const host = await standaloneHost(testService({ MAX_INFLIGHT_ROWS: "2000", CACHE_MAX_ENTRIES: "0" }));
    try {
      await host.service.holder.load();
      const bulk = (seed: number) =>
        host.send("POST", "/bulk_predict", {
          body: JSON.stringify({
            houses: Array.from({ length: 1500 }, (_, i) => ({ ...SEED_HOUSE, MedInc: seed + i / 10_000 })),
          }),
          headers: { "content-type": "application/json" },
        });
      const replies = await Promise.all([1, 2, 3, 4, 5, 6].map(bulk));
      const statuses = replies.map((r) => r.status);
      expect(statuses).toContain(200);
      expect(statuses).toContain(503);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      const refused = replies.find((r) => r.status === 503)!;
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(refused.json().type).toContain("overloaded");
    } finally {
      await host.close();
    }
  });
});

describe("memory admission (MAX_INFLIGHT_BODY_BYTES)", () => {
  const bulkOf = (n: number, seed: number) =>
    JSON.stringify({ houses: Array.from({ length: n }, (_, i) => ({ ...SEED_HOUSE, MedInc: seed + i / 1000 })) });

  it("answers 503 while a slow upload holds the body budget (bytes sent, not declared), and admits again once it is done", async () => {
    const service = testService({ MAX_INFLIGHT_BODY_BYTES: "4096" });
    const server = createHttpServer(service);
    const port = await server.listen(0, "127.0.0.1");
    const url = `http://127.0.0.1:${port}`;
    const post = (body: string) =>
      fetch(`${url}/bulk_predict`, { method: "POST", body, headers: { "content-type": "application/json" } });
    try {
      await service.holder.load();
      const slowBody = bulkOf(20, 1); // ≈ 3 KB, declared up front, sent in three parts
      const other = bulkOf(12, 2); // ≈ 1.8 KB: together over 4,096 bytes
      expect(Buffer.byteLength(slowBody)).toBeGreaterThan(2500);
      expect(Buffer.byteLength(slowBody) + Buffer.byteLength(other)).toBeGreaterThan(4096);

      const socket = net.connect(port, "127.0.0.1");
      await new Promise((r) => socket.once("connect", r));
      let raw = "";
      socket.on("data", (d) => (raw += d.toString()));
      socket.write(
        `POST /bulk_predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(slowBody)}\r\nconnection: close\r\n\r\n${slowBody.slice(0, 100)}`,
      );
      await new Promise((r) => setTimeout(r, 200));

      // Declared but not sent: nothing is held on a declaration alone, so this one goes through.
      const early = await post(other);
      expect(early.status).toBe(200);

      socket.write(slowBody.slice(100, 2500));
      await new Promise((r) => setTimeout(r, 200));

      // 2,500 bytes now held: 1.8 KB more would pass 4,096.
      const refused = await post(other);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      const problem = (await refused.json()) as { type: string; detail: string };
      expect(problem.type).toBe("https://house-price.dev/problems/overloaded");
      expect(problem.detail).toContain("MAX_INFLIGHT_BODY_BYTES 4096");

      socket.write(slowBody.slice(2500));
      await new Promise((r) => socket.once("close", r));
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)).house_values).toHaveLength(20);

      // The slow body's bytes were released with its response: the same request now goes through.
      const admitted = await post(other);
      expect(admitted.status).toBe(200);
      expect(((await admitted.json()) as { house_values: number[] }).house_values).toHaveLength(12);
    } finally {
      await server.drain(1000);
      await service.close();
    }
  });

  it("gives the budget back when a client leaves before its body is read (here: while the rate limiter answers)", async () => {
    const slowLimiter = {
      backend: "redis" as const,
      check: () =>
        new Promise<{ allowed: boolean; limit: number; remaining: number; resetMs: number }>((r) =>
          setTimeout(() => r({ allowed: true, limit: 100, remaining: 99, resetMs: 60_000 }), 150),
        ),
      close: async () => undefined,
    };
    const service = testService({ MAX_INFLIGHT_BODY_BYTES: "2000" }, { rateLimiter: slowLimiter });
    const server = createHttpServer(service);
    const port = await server.listen(0, "127.0.0.1");
    try {
      await service.holder.load();
      // Declares 1,950 bytes, sends a few, and is gone before the limiter has answered.
      const socket = net.connect(port, "127.0.0.1");
      await new Promise((r) => socket.once("connect", r));
      socket.write(
        "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1950\r\n\r\n{",
      );
      await new Promise((r) => setTimeout(r, 20));
      socket.destroy();
      await new Promise((r) => setTimeout(r, 400));

      for (let i = 0; i < 3; i++) {
        const r = await fetch(`http://127.0.0.1:${port}/predict`, {
          method: "POST",
          body,
          headers: { "content-type": "application/json" },
        });
        expect(r.status).toBe(200);
        expect(((await r.json()) as { house_value: number }).house_value).toBeCloseTo(4.3537, 4);
      }
    } finally {
      await server.drain(1000);
      await service.close();
    }
  });

  it("always admits one body on its own, even one larger than the budget", async () => {
    const host = await standaloneHost(testService({ MAX_INFLIGHT_BODY_BYTES: "1024" }));
    try {
      const r = await host.send("POST", "/bulk_predict", {
        body: bulkOf(30, 3),
        headers: { "content-type": "application/json" },
      });
      expect(r.status).toBe(200);
      expect(r.json().house_values).toHaveLength(30);
    } finally {
      await host.close();
    }
  });
});

describe.skipIf(SKIP_REDIS)("shared rate limits", () => {
  let redis: RedisProcess;
  let gateway: UpstashGateway;
  const procs: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startUpstashGateway({ redisUrl: redis.url, token: "t" });
  });
  afterAll(async () => {
    for (const p of procs) p.kill("SIGKILL");
    await gateway?.close();
    await redis?.stop();
  });

  async function server(env: Record<string, string>): Promise<string> {
    const s = await startBuiltServer({ env: { ...env, LOG_LEVEL: "warn" } });
    procs.push(s.child);
    return s.url;
  }

  it("holds one limit across two server processes sharing one Redis", async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_REQUESTS: "20", RATE_LIMIT_WINDOW_SECONDS: "60" };
    const [a, b] = await Promise.all([server(env), server(env)]);
    const send = (url: string) =>
      fetch(`${url}/predict`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "x-api-key": "shared-client" },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await send(i % 2 ? a! : b!)).status);
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    expect((await send(a!)).status).toBe(429);
    expect((await send(b!)).status).toBe(429);
  });

  it("limits through @upstash/ratelimit when Upstash is configured", async () => {
    const host = await standaloneHost(
      testService({ UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: "t", RATE_LIMIT_REQUESTS: "5" }),
    );
    try {
      const headers = { "content-type": "application/json", "x-api-key": "upstash-client" };
      expect(await burst(host, 5, headers)).toEqual([200, 200, 200, 200, 200]);
      expect((await burst(host, 1, headers))[0]).toBe(429);
    } finally {
      await host.close();
    }
  });

  it("limits and caches over one Redis connection per service (the cache's, RESP2)", async () => {
    const admin = await redis.client();
    const others = async () => {
      const own = await admin.sendCommand(["CLIENT", "ID"]);
      const list = String(await admin.sendCommand(["CLIENT", "LIST"]))
        .trim()
        .split("\n");
      return list.filter((line) => !line.startsWith(`id=${own} `));
    };
    await redis.flushall();
    const before = (await others()).length;
    const host = await standaloneHost(
      testService({ REDIS_URL: redis.url, RATE_LIMIT_REQUESTS: "50", RATE_LIMIT_WINDOW_SECONDS: "60" }),
    );
    try {
      const headers = { "content-type": "application/json", "x-api-key": "one-connection" };
      expect(await burst(host, 3, headers)).toEqual([200, 200, 200]);
      // Both users wrote through it: a limiter key and the cached row.
      await eventually(async () => expect((await redis.keys("rl*")).length).toBeGreaterThan(0));
      await eventually(async () => expect((await redis.keys("hp:*")).length).toBeGreaterThan(0));
      const clients = await others();
      expect(clients).toHaveLength(before + 1);
      expect(clients.at(-1)).toMatch(/\bresp=2\b/);
    } finally {
      await host.close();
      await admin.close();
    }
  });

  it("fails open when the limiter's backend is down, and counts it", async () => {
    const host = await standaloneHost(testService({ REDIS_URL: "redis://127.0.0.1:9", RATE_LIMIT_REQUESTS: "2" }));
    try {
      expect(await burst(host, 5, asClient("192.0.2.1"))).toEqual([200, 200, 200, 200, 200]);
      expect((await host.send("GET", "/metrics")).text).toMatch(/rate_limit_decisions_total\{result="failed_open"\} 5/);
    } finally {
      await host.close();
    }
  });
});
