/**
 * The same behaviour suite against both shared cache backends, each on its own real redis-server:
 *   redis   — node-redis over TCP
 *   upstash — @upstash/redis over HTTP → tools/upstash-gateway → redis-server
 * No mocks. SKIP_REDIS=1 skips it; a missing redis-server otherwise fails it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createRedisBackend } from "../../shared/cache/redis";
import type { CacheBackend } from "../../shared/cache/types";
import { createUpstashBackend } from "../../shared/cache/upstash";
import { startUpstashGateway, type UpstashGateway } from "../../tools/upstash-gateway";
import { SKIP_REDIS, startRedis, type RedisProcess } from "../support/redis-server";
import { eventually } from "../support/eventually";

const TOKEN = "cache-backends-test-token";

/** Float32-exact predictions and other awkward doubles; each must come back with the same bits. */
const VALUES = [
  4.526000022888184,
  0.14999000728130341,
  1e-7,
  5.00001,
  0,
  -0,
  -1.5,
  Math.fround(0.1),
  Math.fround(2.675),
  3.4028234663852886e38, // float32 max
  1.401298464324817e-45, // smallest float32 subnormal
  Number.MAX_SAFE_INTEGER,
  5e-324,
];

function bits(x: number | undefined): string {
  if (x === undefined) return "undefined";
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return view.getBigUint64(0).toString(16);
}

async function elapsed<T>(p: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const t0 = performance.now();
  const [result] = await Promise.allSettled([p()]);
  return { ms: performance.now() - t0, result: result! };
}

const suite = SKIP_REDIS ? describe.skip : describe;

suite.each(["redis", "upstash"] as const)("%s cache backend on a real redis-server", (kind) => {
  let redis: RedisProcess;
  let gateway: UpstashGateway | undefined;
  let backend: CacheBackend;
  const logs: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    if (kind === "upstash") {
      gateway = await startUpstashGateway({ redisUrl: redis.url, token: TOKEN });
      backend = createUpstashBackend(gateway.url, TOKEN);
    } else {
      backend = createRedisBackend(redis.url, { log: (msg) => logs.push(msg) });
    }
    // Both connect in the background; wait until the first PING is answered.
    await eventually(async () => expect(await backend.ping()).toBe(true));
  });

  afterAll(async () => {
    await backend?.close();
    await gateway?.close();
    await redis?.stop();
  });

  beforeEach(async () => {
    if (redis.running) await redis.flushall();
  });

  it("names itself after its kind", () => {
    expect(backend.name).toBe(kind);
  });

  it("answers PING with true", async () => {
    expect(await backend.ping()).toBe(true);
  });

  it("reads back bit-identical numbers written by mset", async () => {
    const entries = VALUES.map((v, i) => [`bits:${i}`, v] as const);
    await backend.mset(entries, 60);
    const got = await backend.mget(entries.map(([k]) => k));
    expect(got.map(bits)).toEqual(VALUES.map(bits));
    // Stored as the shortest decimal string.
    const admin = await redis.client();
    expect(await admin.get("bits:0")).toBe("4.526000022888184");
    expect(await admin.get("bits:2")).toBe("1e-7");
    expect(await admin.get("bits:5")).toBe("-0");
  });

  it("returns undefined for absent keys, in their positions", async () => {
    await backend.mset(
      [
        ["present:a", 1.25],
        ["present:b", 2.5],
      ],
      60,
    );
    expect(await backend.mget(["present:a", "absent:1", "present:b", "absent:2"])).toEqual([
      1.25,
      undefined,
      2.5,
      undefined,
    ]);
    expect(await backend.mget(["absent:only"])).toEqual([undefined]);
  });

  it("treats non-numeric stored values as absent", async () => {
    const admin = await redis.client();
    const garbage = [
      "abc",
      "",
      " 1",
      "1 ",
      "0x10",
      "NaN",
      "Infinity",
      "-Infinity",
      "1e400",
      "1,5",
      "{}",
      "\u00ff\u0000",
    ];
    for (const [i, g] of garbage.entries()) await admin.set(`garbage:${i}`, g);
    await admin.lPush("garbage:list-type", "1");
    await admin.set("fine", "42.5");
    const keys = [...garbage.keys()].map((i) => `garbage:${i}`);
    // A key of another type makes MGET return nil for it, not an error.
    expect(await backend.mget([...keys, "garbage:list-type", "fine"])).toEqual([
      ...garbage.map(() => undefined),
      undefined,
      42.5,
    ]);
  });

  it("does not store non-finite values", async () => {
    await backend.mset(
      [
        ["nf:nan", Number.NaN],
        ["nf:inf", Number.POSITIVE_INFINITY],
        ["nf:ok", 7],
      ],
      60,
    );
    expect(await redis.keys("nf:*")).toEqual(["nf:ok"]);
  });

  it("sets the TTL on every entry and the entries expire after it", async () => {
    await backend.mset(
      [
        ["ttl:long:a", 1],
        ["ttl:long:b", 2],
      ],
      3600,
    );
    expect(await redis.ttl("ttl:long:a")).toBeGreaterThanOrEqual(3599);
    expect(await redis.ttl("ttl:long:b")).toBeGreaterThanOrEqual(3599);

    await backend.mset(
      [
        ["ttl:short:a", 1],
        ["ttl:short:b", 2],
      ],
      1,
    );
    expect(await redis.ttl("ttl:short:a")).toBe(1);
    expect(await backend.mget(["ttl:short:a", "ttl:short:b"])).toEqual([1, 2]);
    await eventually(async () =>
      expect(await backend.mget(["ttl:short:a", "ttl:short:b"])).toEqual([undefined, undefined]),
    );
    expect(await redis.keys("ttl:short:*")).toEqual([]);
  });

  it("rounds a fractional TTL up to whole seconds", async () => {
    await backend.mset([["ttl:frac", 1]], 0.2);
    expect(await redis.ttl("ttl:frac")).toBe(1);
  });

  it("looks up 1,000 keys with one MGET and writes them with 1,000 SETs in one request", async () => {
    const entries = Array.from({ length: 1_000 }, (_, i) => [`bulk:${i}`, Math.fround(i / 7)] as const);
    const setsBefore = await redis.commandCalls("set");
    const requestsBefore = gateway?.stats() ?? {};
    await backend.mset(entries, 60);
    expect((await redis.commandCalls("set")) - setsBefore).toBe(1_000);

    const mgetsBefore = await redis.commandCalls("mget");
    const got = await backend.mget(entries.map(([k]) => k));
    expect((await redis.commandCalls("mget")) - mgetsBefore).toBe(1);
    expect(got).toEqual(entries.map(([, v]) => v));

    if (gateway) {
      const after = gateway.stats();
      expect((after["/pipeline"] ?? 0) - (requestsBefore["/pipeline"] ?? 0)).toBe(1);
      expect((after["/"] ?? 0) - (requestsBefore["/"] ?? 0)).toBe(1);
    }
  });

  it("makes no request for an empty mget or mset", async () => {
    const mgetsBefore = await redis.commandCalls("mget");
    const setsBefore = await redis.commandCalls("set");
    expect(await backend.mget([])).toEqual([]);
    await backend.mset([], 60);
    expect(await redis.commandCalls("mget")).toBe(mgetsBefore);
    expect(await redis.commandCalls("set")).toBe(setsBefore);
  });

  it("waits out a CLIENT PAUSE (the caller's timeout is what bounds it)", async () => {
    await backend.mset([["paused", 3.5]], 60);
    await redis.pause(400);
    const { ms, result } = await elapsed(() => backend.mget(["paused"]));
    // Observed behaviour, not a requirement: the call neither fails nor returns early; it stalls.
    expect(result).toEqual({ status: "fulfilled", value: [3.5] });
    expect(ms).toBeGreaterThanOrEqual(250);
  });

  it("rejects within a second, instead of hanging, while the server is down", async () => {
    await backend.mset([["down", 1]], 60);
    await redis.kill();
    const calls: (() => Promise<unknown>)[] = [
      () => backend.mget(["down"]),
      () => backend.mset([["down", 2]], 60),
      () => backend.ping(),
    ];
    for (const call of calls) {
      const { ms, result } = await elapsed(call);
      expect(result.status).toBe("rejected");
      expect(ms).toBeLessThan(1_000);
    }
  });

  it("serves hits again after the server restarts on the same port, without a new backend", async () => {
    await redis.restart();
    // The data died with the old process; write and read through the same backend instance.
    await eventually(async () => {
      await backend.mset([["revived", 9.75]], 60);
      expect(await backend.mget(["revived"])).toEqual([9.75]);
    });
    expect(await backend.ping()).toBe(true);
    if (kind === "redis") expect(logs).toContain("redis cache reconnected");
  });

  it("rejects calls after close()", async () => {
    const extra = kind === "redis" ? createRedisBackend(redis.url) : createUpstashBackend(gateway!.url, TOKEN);
    await eventually(async () => expect(await extra.ping()).toBe(true));
    await extra.close();
    await expect(extra.mget(["x"])).rejects.toThrow(/closed/);
    await expect(extra.ping()).rejects.toThrow(/closed/);
  });
});

describe.skipIf(SKIP_REDIS)("redis cache backend with no server at start", () => {
  it("is created without throwing or blocking, fails fast, and connects once the server appears", async () => {
    const { freePort } = await import("../support/ports");
    const port = await freePort();
    const t0 = performance.now();
    const backend = createRedisBackend(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 500 });
    expect(performance.now() - t0).toBeLessThan(1000);
    try {
      const { ms, result } = await elapsed(() => backend.mget(["k"]));
      expect(result.status).toBe("rejected");
      expect(ms).toBeLessThan(100);
      const redis = await startRedis({ port });
      try {
        await eventually(async () => expect(await backend.mget(["k"])).toEqual([undefined]));
      } finally {
        await redis.stop();
      }
    } finally {
      await backend.close();
    }
  });
});

describe.skipIf(SKIP_REDIS)("upstash cache backend request timeout", () => {
  it("aborts a stalled request after requestTimeoutMs and rejects", async () => {
    const redis = await startRedis();
    const gateway = await startUpstashGateway({ redisUrl: redis.url, token: TOKEN });
    const backend = createUpstashBackend(gateway.url, TOKEN, { requestTimeoutMs: 150 });
    try {
      await eventually(async () => expect(await backend.ping()).toBe(true));
      await redis.pause(800);
      const { ms, result } = await elapsed(() => backend.mget(["k"]));
      expect(result.status).toBe("rejected");
      expect(String((result as PromiseRejectedResult).reason)).toMatch(/TimeoutError|aborted/i);
      expect(ms).toBeGreaterThanOrEqual(140);
      expect(ms).toBeLessThan(600);
    } finally {
      await backend.close();
      await gateway.close();
      await redis.stop();
    }
  });
});
