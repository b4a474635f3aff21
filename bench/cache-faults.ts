/**
 * The cache backend failing under load: Redis killed (and restarted) and Redis stalled while a steady
 * /predict load runs against the built server. Figures: errors (must be 0) and p99, next to the p99 of
 * the same load with no shared cache at all (the uncached latency) measured in the same run.
 *
 *   npm run build && node --import tsx bench/cache-faults.ts
 */
import { writeFileSync } from "node:fs";
import { SEED_HOUSE } from "../shared/input/features";
import { spawnServer, waitReady, type Proc } from "./lib/procs";
import { startRedis, type RedisProcess } from "../tests/support/redis-server";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require("autocannon") as (opts: object) => Promise<AutocannonResult>;
interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
}

const SECONDS = Number(process.env.FAULT_SECONDS ?? 12);
const RATE = Number(process.env.FAULT_RATE ?? 1500);
const TIMEOUT_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pool of 2,000 houses: under load most requests hit once the pool is cached. */
const POOL = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ ...SEED_HOUSE, MedInc: 1 + i / 1000 }));

/** The server as the other benches run it (production V8 flags, bench/lib/procs.ts), ready to serve. */
async function startServer(env: Record<string, string>): Promise<{ url: string; server: Proc }> {
  const server = await spawnServer({ LOG_LEVEL: "error", ...env });
  try {
    await waitReady(server, "GET", "/health");
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${server.port}`, server };
}

function load(url: string): Promise<AutocannonResult> {
  let i = 0;
  return autocannon({
    url: `${url}/predict`,
    connections: 16,
    overallRate: RATE,
    duration: SECONDS,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req: object) => ({ ...req, body: POOL[i++ % POOL.length] }),
      },
    ],
  });
}

async function scenario(
  name: string,
  env: Record<string, string>,
  during?: (redis: RedisProcess) => Promise<void>,
  redis?: RedisProcess,
) {
  const { url, server } = await startServer(env);
  try {
    const running = load(url);
    if (during && redis) await during(redis);
    const r = await running;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const cacheErrors = metrics
      .split("\n")
      .filter((l) => l.startsWith("cache_errors_total{"))
      .reduce((s, l) => s + Number(l.split(" ").pop()), 0);
    const health = await fetch(`${url}/health`);
    return {
      scenario: name,
      requests: r.requests.total,
      req_per_s: Math.round(r.requests.average),
      errors: r.errors + r.timeouts + r.non2xx,
      p50_ms: r.latency.p50,
      p99_ms: r.latency.p99,
      max_ms: r.latency.max,
      cache_errors: cacheErrors,
      health_after: health.status,
    };
  } finally {
    await server.stop();
  }
}

async function main() {
  const redis = await startRedis();
  const shared = { REDIS_URL: redis.url, CACHE_MAX_ENTRIES: "0", CACHE_TIMEOUT_MS: String(TIMEOUT_MS) };
  const rows = [];
  rows.push(await scenario("no shared cache, no LRU (uncached)", { CACHE_MAX_ENTRIES: "0" }));
  rows.push(await scenario("redis healthy", shared));
  await redis.flushall();
  rows.push(
    await scenario(
      "redis killed at 3 s, restarted at 7 s",
      shared,
      async (r) => {
        await sleep(3000);
        await r.kill();
        await sleep(4000);
        await r.restart();
      },
      redis,
    ),
  );
  rows.push(
    await scenario(
      "redis stalled (CLIENT PAUSE 5 s) at 3 s",
      shared,
      async (r) => {
        await sleep(3000);
        await r.pause(5000);
      },
      redis,
    ),
  );
  await sleep(2000);
  await redis.stop();
  console.table(rows);
  const uncached = rows[0]!.p99_ms;
  const stalled = rows[3]!.p99_ms;
  const verdict = {
    zero_errors_when_killed: rows[2]!.errors === 0,
    stalled_p99_within_timeout_plus_uncached: stalled <= uncached + TIMEOUT_MS,
    bound_ms: uncached + TIMEOUT_MS,
  };
  console.log(verdict);
  writeFileSync(
    "bench/results/cache-faults.json",
    JSON.stringify(
      { date: new Date().toISOString(), rate: RATE, seconds: SECONDS, cache_timeout_ms: TIMEOUT_MS, rows, verdict },
      null,
      2,
    ) + "\n",
  );
}

void main();
