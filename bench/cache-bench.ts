/**
 * Cache latency, side by side in one run: /predict and a 1,000-row /bulk_predict, miss vs hit, with
 * each backend (memory, Redis over TCP, Upstash REST via the local gateway) and with the two-tier
 * set-up (in-process LRU in front of Redis). Sequential requests over real HTTP on loopback.
 *
 *   npm run build && node --import tsx bench/cache-bench.ts
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import { SEED_HOUSE } from "../shared/input/features";
import { startUpstashGateway } from "../tools/upstash-gateway";
import { standaloneHost, testService } from "../tests/support/hosts";
import { startRedis } from "../tests/support/redis-server";

const ITER = Number(process.env.ITER ?? 300);
const BULK_ITER = Number(process.env.BULK_ITER ?? 40);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

let counter = 0;
const unique = () => ({ ...SEED_HOUSE, MedInc: 1 + (counter++ % 1_000_000) / 100_000, HouseAge: 1 + (counter % 50) });

async function main() {
  const redis = await startRedis();
  const gateway = await startUpstashGateway({ redisUrl: redis.url, token: "bench" });
  const setups: [string, Record<string, string>][] = [
    ["memory (LRU)", {}],
    ["redis (TCP)", { REDIS_URL: redis.url, CACHE_MAX_ENTRIES: "0" }],
    [
      "upstash (REST gateway)",
      { UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: "bench", CACHE_MAX_ENTRIES: "0" },
    ],
    ["LRU + redis (two tiers)", { REDIS_URL: redis.url }],
  ];
  const rows: Record<string, string | number>[] = [];
  for (const [name, env] of setups) {
    const host = await standaloneHost(testService({ ...env, CACHE_TIMEOUT_MS: "200" }));
    await host.service.holder.load();
    const post = (path: string, body: unknown) =>
      host.send("POST", path, { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const time = async (n: number, f: (i: number) => Promise<unknown>) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f(i);
        out.push(performance.now() - t0);
      }
      return out;
    };
    // Warm-up: JIT, connections.
    await time(50, () => post("/predict", unique()));
    const missSingle = await time(ITER, () => post("/predict", unique()));
    const hitHouse = unique();
    await post("/predict", hitHouse);
    await new Promise((r) => setTimeout(r, 50));
    const hitSingle = await time(ITER, () => post("/predict", hitHouse));
    const bulks = Array.from({ length: BULK_ITER }, () => Array.from({ length: 1000 }, unique));
    const missBulk = await time(BULK_ITER, (i) => post("/bulk_predict", { houses: bulks[i] }));
    await new Promise((r) => setTimeout(r, 200));
    const hitBulk = await time(BULK_ITER, (i) => post("/bulk_predict", { houses: bulks[i] }));
    const check = await post("/bulk_predict", { houses: bulks[0] });
    if (!check.headers.get("cache-status")?.includes("hit")) throw new Error(`${name}: repeated bulk was not a hit`);
    for (const [what, xs] of [
      ["/predict miss", missSingle],
      ["/predict hit", hitSingle],
      ["bulk 1,000 miss", missBulk],
      ["bulk 1,000 hit", hitBulk],
    ] as const) {
      rows.push({
        backend: name,
        workload: what,
        p50_ms: +pct(xs, 50).toFixed(3),
        p99_ms: +pct(xs, 99).toFixed(3),
        n: xs.length,
      });
    }
    await host.close();
    await redis.flushall();
  }
  await gateway.close();
  await redis.stop();
  console.table(rows);
  writeFileSync(
    "bench/results/cache-bench.json",
    JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rows }, null, 2) +
      "\n",
  );
}

void main();
