/**
 * The service with each shared cache backend, against a real redis-server (and the Upstash REST
 * gateway over it): hits, partial hits, expiry, model versions, and faults (kill, restart, stall).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../shared/input/features";
import { startUpstashGateway, type UpstashGateway } from "../tools/upstash-gateway";
import { standaloneHost, testService, type Host } from "./support/hosts";
import { SKIP_REDIS, startRedis, type RedisProcess } from "./support/redis-server";

const JSON_HEADERS = { "content-type": "application/json" };
const houses = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ({ ...SEED_HOUSE, MedInc: seed + i / 1000, HouseAge: 1 + (i % 50) }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(host: Host, name: string): Promise<number> {
  const text = (await host.send("GET", "/metrics")).text;
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").pop());
  return sum;
}

async function bulk(host: Host, rows: unknown[]) {
  const t0 = performance.now();
  const r = await host.send("POST", "/bulk_predict", { body: JSON.stringify({ houses: rows }), headers: JSON_HEADERS });
  return {
    status: r.status,
    cacheStatus: r.headers.get("cache-status") ?? "",
    values: r.json().house_values as number[],
    ms: performance.now() - t0,
  };
}

let redis: RedisProcess;
let gateway: UpstashGateway;
const TOKEN = "test-token";

beforeAll(async () => {
  if (SKIP_REDIS) return;
  redis = await startRedis();
  gateway = await startUpstashGateway({ redisUrl: redis.url, token: TOKEN });
});
afterAll(async () => {
  await gateway?.close();
  await redis?.stop();
});

type BackendEnv = () => Record<string, string>;
const BACKENDS: [string, BackendEnv][] = [
  ["redis", () => ({ REDIS_URL: redis.url })],
  ["upstash", () => ({ UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: TOKEN })],
];

describe.skipIf(SKIP_REDIS).each(BACKENDS)("the service with the %s cache", (backend, env) => {
  const hosts: Host[] = [];
  // No in-process tier here, so every hit below comes from the shared backend.
  const start = async (extra: Record<string, string> = {}) => {
    const host = await standaloneHost(
      testService({ ...env(), CACHE_MAX_ENTRIES: "0", CACHE_TIMEOUT_MS: "200", ...extra }),
    );
    await host.service.holder.load();
    hosts.push(host);
    return host;
  };
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close()));
    await redis.flushall();
  });

  it("reports the backend on /health", async () => {
    const host = await start();
    const health = (await host.send("GET", "/health")).json();
    expect(health.cache).toEqual({ backend, status: "ok" });
  });

  it("serves a repeated bulk from the cache, bit for bit", async () => {
    const host = await start();
    const rows = houses(200, 2);
    const first = await bulk(host, rows);
    expect(first.cacheStatus).toContain("fwd=miss");
    await sleep(50); // writes are fire-and-forget
    const second = await bulk(host, rows);
    expect(second.cacheStatus).toMatch(/^house-price; hit/);
    expect(second.values).toEqual(first.values);
    expect(second.values.every((v, i) => Object.is(v, first.values[i]))).toBe(true);
  });

  it("reuses a row computed in one batch in another batch and keeps one key per row", async () => {
    const host = await start();
    const a = houses(10, 3);
    await bulk(host, a);
    await sleep(50);
    const b = [...a.slice(0, 4), ...houses(6, 4)];
    const r = await bulk(host, b);
    expect(r.cacheStatus).toContain("fwd=partial");
    expect(r.cacheStatus).toContain("hits=4");
    await sleep(50);
    expect((await redis.keys("hp:*")).length).toBe(16);
  });

  it("stores keys with CACHE_TTL_SECONDS and lets them expire", async () => {
    const host = await start({ CACHE_TTL_SECONDS: "1" });
    await bulk(host, houses(3, 5));
    await sleep(50);
    const keys = await redis.keys("hp:*");
    expect(keys.length).toBe(3);
    expect(await redis.ttl(keys[0]!)).toBe(1);
    await sleep(1200);
    expect(await redis.keys("hp:*")).toEqual([]);
    expect((await bulk(host, houses(3, 5))).cacheStatus).toContain("fwd=miss");
  });

  it("misses for a new model version", async () => {
    const host = await start();
    await bulk(host, houses(5, 6));
    await sleep(50);
    const dir = mkdtempSync(path.join(tmpdir(), "model-v2-"));
    try {
      copyFileSync("model/model.onnx", path.join(dir, "model.onnx"));
      const card = JSON.parse(readFileSync("model/model.json", "utf8"));
      writeFileSync(path.join(dir, "model.json"), JSON.stringify({ ...card, version: "2.0.0-test" }));
      const v2 = await start({ MODEL_PATH: path.join(dir, "model.onnx") });
      const r = await bulk(v2, houses(5, 6));
      expect(r.cacheStatus).toContain("fwd=miss");
      await sleep(50);
      expect((await redis.keys("hp:2.0.0-test:*")).length).toBe(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps answering 200 when the backend is killed, counts errors, and recovers when it returns", async () => {
    const host = await start({ CACHE_TIMEOUT_MS: "100" });
    await bulk(host, houses(20, 7));
    await redis.kill();
    try {
      for (let i = 0; i < 10; i++) {
        const r = await bulk(host, houses(20, 7 + i));
        expect(r.status).toBe(200);
        expect(r.values).toHaveLength(20);
      }
      expect(await metric(host, "cache_errors_total")).toBeGreaterThan(0);
      const health = await host.send("GET", "/health");
      expect(health.status).toBe(200);
      expect(health.json().cache.status).toBe("degraded");
    } finally {
      await redis.restart();
    }
    // The breaker probes again by itself: a stored row comes back as a hit without restarting the service.
    const rows = houses(5, 70);
    let hit = false;
    for (let i = 0; i < 40 && !hit; i++) {
      await bulk(host, rows);
      await sleep(150);
      hit = (await bulk(host, rows)).cacheStatus.startsWith("house-price; hit");
    }
    expect(hit).toBe(true);
  });

  it("bounds request latency by CACHE_TIMEOUT_MS when the backend stalls", async () => {
    const host = await start({ CACHE_TIMEOUT_MS: "50" });
    const rows = houses(100, 8);
    await bulk(host, rows);
    await redis.pause(3000);
    const r = await bulk(host, rows);
    expect(r.status).toBe(200);
    // A 3 s stall must not show up in the request: the lookup gives up after 50 ms and computes.
    expect(r.ms).toBeLessThan(1500);
    expect(r.cacheStatus).toContain("fwd=miss");
    expect(await metric(host, 'cache_errors_total{backend="' + backend + '",op="get",reason="timeout"}')).toBe(1);
    await sleep(3100);
  });
});

describe.skipIf(SKIP_REDIS)("the service with a misconfigured or absent Upstash gateway", () => {
  it.each([
    ["a wrong token", () => ({ UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: "wrong" })],
    [
      "a gateway that is down",
      () => ({ UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9", UPSTASH_REDIS_REST_TOKEN: TOKEN }),
    ],
  ])("still predicts with %s and counts cache errors", async (_, env) => {
    const host = await standaloneHost(testService({ ...env(), CACHE_MAX_ENTRIES: "0" }));
    try {
      for (let i = 0; i < 3; i++) expect((await bulk(host, houses(5, 9))).status).toBe(200);
      expect(await metric(host, 'cache_errors_total{backend="upstash"')).toBeGreaterThan(0);
    } finally {
      await host.close();
    }
  });
});

describe("single-flight", () => {
  it("computes identical rows requested concurrently once, across endpoints", async () => {
    const host = await standaloneHost(testService());
    try {
      await host.service.holder.load();
      const house = { ...SEED_HOUSE, MedInc: 9.87654 };
      const before = await metric(host, 'predictions_rows_total{source="model"}');
      const calls = [
        ...Array.from({ length: 8 }, () =>
          host.send("POST", "/predict", { body: JSON.stringify(house), headers: JSON_HEADERS }),
        ),
        host.send("POST", "/bulk_predict", { body: JSON.stringify({ houses: [house, house] }), headers: JSON_HEADERS }),
      ];
      const replies = await Promise.all(calls);
      const values = new Set(replies.flatMap((r) => (r.json().house_value ?? r.json().house_values) as number));
      expect(values.size).toBe(1);
      expect((await metric(host, 'predictions_rows_total{source="model"}')) - before).toBe(1);
    } finally {
      await host.close();
    }
  });
});
