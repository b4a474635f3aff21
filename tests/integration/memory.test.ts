/**
 * The production heap caps (server/node-flags.ts) are safe only if no burst of requests can hold more than the
 * heap: a real server process with those flags is flooded with maximum-size bodies, valid and hostile at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../../shared/input/features";
import { NODE_ENV_VARS, NODE_FLAGS } from "../../server/node-flags";
import { startBuiltServer, type BuiltServer } from "../support/server-process";
import { metricSum } from "../support/metrics";

const MAX_BODY = 4 * 1024 * 1024;

/** `[[],[],…]`: the JSON that expands most when parsed (~10 heap bytes per body byte), just under the body limit. */
const junk = "[" + "[],".repeat(Math.floor((MAX_BODY - 3) / 3)) + "[]]";
/** A valid 10,000-row bulk (~1.3 MB). */
const bulk = JSON.stringify({
  houses: Array.from({ length: 10_000 }, (_, i) => ({ ...SEED_HOUSE, Population: 1000 + i })),
});

describe("memory admission under the production heap caps", () => {
  let server: BuiltServer;
  let url: string;
  beforeAll(async () => {
    server = await startBuiltServer({ flags: NODE_FLAGS, env: { ...NODE_ENV_VARS, LOG_LEVEL: "error" } });
    url = server.url;
  });
  afterAll(() => {
    server?.child.kill("SIGKILL");
  });

  it("answers a flood of 4 MiB hostile bodies and 10,000-row bulks with 200, 4xx or 503, and stays up", async () => {
    expect(junk.length).toBeLessThanOrEqual(MAX_BODY);
    const post = (path: string, body: string) =>
      fetch(`${url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } }).then(
        async (r) => ({ status: r.status, text: await r.text() }),
        (err: unknown) => ({ status: 0, text: String(err) }),
      );
    const statuses: number[] = [];
    for (let round = 0; round < 2; round++) {
      const replies = await Promise.all([
        ...Array.from({ length: 16 }, () => post("/predict", junk)),
        ...Array.from({ length: 8 }, () => post("/bulk_predict", junk)),
        ...Array.from({ length: 8 }, () => post("/bulk_predict", bulk)),
      ]);
      statuses.push(...replies.map((r) => r.status));
      expect(server.child.exitCode, server.output()).toBeNull();
    }
    const unexpected = statuses.filter((s) => s !== 200 && s !== 422 && s !== 503);
    expect(unexpected, `statuses: ${JSON.stringify(statuses)}; output: ${server.output()}`).toEqual([]);
    expect(statuses).toContain(422); // the hostile bodies that were admitted were rejected by validation
    expect(statuses).toContain(503); // the rest were refused, with a clean answer rather than a reset
    // And the flood leaves nothing behind: health and a full-size bulk are served at once.
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const after = await post("/bulk_predict", bulk);
    expect(after.status).toBe(200);
    expect((JSON.parse(after.text) as { house_values: number[] }).house_values).toHaveLength(10_000);
    expect(server.output()).not.toMatch(/heap out of memory|FATAL ERROR/);
  }, 120_000);
});

/**
 * What a request leaves in V8's old space decides how often the whole heap is marked: under load, each
 * Mark-Compact's marking threads took the server's core for tens of ms, the late stretches of the paced benchmark
 * (BENCHMARKS.md, Round 6). Two things had made every request leave ~45 bytes there: the gc PerformanceObserver
 * behind nodejs_gc_duration_seconds and V8's number-to-string cache holding each answer's printed number.
 */
describe("old-space growth per request", () => {
  let server: BuiltServer;
  beforeAll(async () => {
    // The default, whatever the environment says: the GC observer is one of the two causes measured.
    const env = { ...NODE_ENV_VARS, LOG_LEVEL: "error", METRICS_GC_DURATION: "false" };
    server = await startBuiltServer({ flags: NODE_FLAGS, env });
  });
  afterAll(() => {
    server?.child.kill("SIGKILL");
  });

  /** `count` distinct /predict requests over 8 connections at once; each answer is checked. */
  async function predictUnique(from: number, count: number): Promise<void> {
    let next = from;
    const connection = async () => {
      for (let i = next++; i < from + count; i = next++) {
        const house = { ...SEED_HOUSE, Population: 1000 + (i % 20_000), MedInc: 1 + (i >> 14) / 8 };
        const r = await fetch(`${server.url}/predict`, {
          method: "POST",
          body: JSON.stringify(house),
          headers: { "content-type": "application/json" },
        });
        expect(r.status).toBe(200);
        expect(typeof ((await r.json()) as { house_value: number }).house_value).toBe("number");
      }
    };
    await Promise.all(Array.from({ length: 8 }, connection));
  }

  /** V8's old space in use, as /metrics reports it. */
  const oldSpace = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return metricSum(text, 'nodejs_heap_space_size_used_bytes{space="old"}');
  };

  /**
   * Old-space growth per request over `count` requests, or undefined when old space fell: a Mark-Compact ran
   * inside, and the growth is hidden (it frees more than a window adds). Read at the window's ends only: each
   * scrape of /metrics leaves ~15–20 KB in old space itself.
   */
  async function growthPerRequest(from: number, count: number): Promise<number | undefined> {
    const before = await oldSpace();
    expect(before).toBeGreaterThan(0);
    await predictUnique(from, count);
    const after = await oldSpace();
    return after < before ? undefined : (after - before) / count;
  }

  it("leaves under 8 bytes per unique /predict in old space (19–45 before)", async () => {
    // Warm-up: at the few thousand requests a second of this client, compiled code and its metadata keep landing
    // in old space for the first ~30,000 requests and now and then after (28–63 bytes per request in such a
    // window, 1–5 in the others): the least window is the figure, so those show as high windows, not failures.
    await predictUnique(0, 20_000);
    // Windows of 10,000 requests; the least growth is the figure, and the steady state is what it must show.
    const perRequest: number[] = [];
    for (let w = 0; w < 6 && perRequest.length < 4; w++) {
      const growth = await growthPerRequest(20_000 + w * 10_000, 10_000);
      if (growth !== undefined) perRequest.push(growth);
    }
    expect(perRequest.length, "old space fell (a Mark-Compact) inside each of six windows").toBeGreaterThan(0);
    expect(Math.min(...perRequest), `bytes per request: ${perRequest.join(", ")}`).toBeLessThan(8);
  }, 240_000);
});
