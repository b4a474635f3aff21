import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPacedInC, type PacedSpec } from "../../bench/lib/paced";
import { needTool } from "../support/tools";

/**
 * The bench's paced generator in C (bench/lib/paced-generator.c) against a real node:http server in this process:
 * it keeps its schedule, counts every request of the window once, survives connections the server closes, and
 * charges a server stall to every request due during it (latency from the intended send, not the actual one).
 */
const cc = needTool("cc");

describe.skipIf(!cc)("paced generator (C)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "paced-c-"));
  const binary = path.join(dir, "paced-generator");
  let server: http.Server;
  let port = 0;
  let answered = 0;
  /** The answer count at which the server blocks its event loop for stallMs (0: never). */
  let stallAt = 0;
  const stallMs = 200;
  /** Every dropEvery-th request is dropped without an answer (0: none): a server that resets connections. */
  let dropEvery = 0;
  let dropped = 0;

  beforeAll(async () => {
    execFileSync("cc", ["-O2", "-o", binary, path.resolve("bench/lib/paced-generator.c"), "-lm"]);
    server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        answered++;
        if (dropEvery > 0 && answered % dropEvery === 0) {
          dropped++;
          req.socket.destroy();
          return;
        }
        if (stallAt > 0 && answered >= stallAt) {
          stallAt = 0;
          const until = Date.now() + stallMs;
          while (Date.now() < until); // the server's whole loop stops, as in a long GC pause
        }
        const body = '{"house_value":4.2}';
        // Every 50th answer closes its connection: the generator must open another and lose no request.
        const close = answered % 50 === 0;
        res.writeHead(200, { "content-type": "application/json", ...(close ? { connection: "close" } : {}) });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (): PacedSpec => ({
    host: "127.0.0.1",
    port,
    connections: 8,
    rate: 2000,
    warmupS: 0.5,
    durationS: 1,
    seed: 1,
  });

  it("sends the window's requests on schedule and answers the result paced.ts answers", async () => {
    const r = await runPacedInC(spec(), binary, path.join(dir, "requests.bin"));
    expect(r.generator).toBe("c");
    expect(r.errors).toBe(0);
    expect(r.non2xx).toBe(0);
    expect(r.unanswered).toBe(0);
    expect(r.ok).toBeGreaterThanOrEqual(1995);
    expect(r.ok).toBeLessThanOrEqual(2001);
    expect(r.latency.count).toBe(r.ok);
    expect(r.sendLag.count).toBe(r.ok);
    expect(r.latency.p50).toBeLessThan(20);
    expect(r.loopGap.count).toBeGreaterThan(1000);
    expect(r.windows.done).toHaveLength(4);
    expect(r.windows.worstMs).toHaveLength(4);
    expect(r.windows.generatorGapMs).toHaveLength(4);
    expect(Math.abs(r.windows.startEpochMs - Date.now())).toBeLessThan(5_000);
    const sum = r.windows.done.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - r.ok)).toBeLessThan(100); // answers arriving in the window vs requests due in it
    for (const l of [r.latency, r.serviceTime, r.sendLag, r.loopGap]) {
      expect(l.p50).toBeLessThanOrEqual(l.p90);
      expect(l.p90).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
    }
  });

  it("counts a request whose connection the server drops as one error, and goes on with a new connection", async () => {
    dropEvery = 100;
    dropped = 0;
    try {
      const r = await runPacedInC(spec(), binary, path.join(dir, "requests.bin"));
      // About 30 of the run's 3,000 requests are dropped, two thirds of them due in the window.
      expect(dropped).toBeGreaterThanOrEqual(25);
      expect(r.errors).toBeGreaterThanOrEqual(10);
      expect(r.errors).toBeLessThanOrEqual(dropped);
      expect(r.ok + r.errors).toBeGreaterThanOrEqual(1995);
      expect(r.ok + r.errors + r.non2xx).toBeLessThanOrEqual(2001);
      expect(r.unanswered).toBe(0);
    } finally {
      dropEvery = 0;
    }
  });

  it("charges a server stall to every request due during it", async () => {
    // 0.5 s of warm-up (1,000 requests) and 0.5 s into the 1 s window: the 2,000th answer of this run.
    stallAt = answered + 2000;
    const r = await runPacedInC(spec(), binary, path.join(dir, "requests.bin"));
    expect(r.errors).toBe(0);
    expect(r.latency.max).toBeGreaterThanOrEqual(stallMs * 0.9);
    // ~400 of ~2,000 requests were due during the stall: the p90 sees it, from the intended send only.
    expect(r.latency.p90).toBeGreaterThan(20);
    expect(r.serviceTime.p50).toBeLessThan(r.latency.p90);
    expect(Math.max(...r.windows.worstMs)).toBeGreaterThanOrEqual(stallMs * 0.9);
  });
});
