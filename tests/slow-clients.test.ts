/**
 * Slow and malformed clients against the standalone server (server/http.ts) with short timeouts:
 * headersTimeout 500 ms, requestTimeout 1 s, keepAliveTimeout 800 ms. Raw sockets, so that the test
 * controls every byte and its timing.
 *
 * Node enforces headersTimeout / requestTimeout from a periodic check whose period is the server's
 * `connectionsCheckingInterval` (30 s unless set): the two "cut off" tests hold the configured bounds.
 * The per-connection request limit must close the socket, not leave it open answering bare 503s
 * (RELIABILITY.md, "Defects found" 3 and 4).
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEED_HOUSE } from "../shared/input/features";
import type { Service } from "../shared/service";
import { createHttpServer } from "../server/http";
import { testService } from "./support/hosts";

const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1000;
const KEEP_ALIVE_TIMEOUT_MS = 800;
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
/** Slack over a configured timeout before a client counts as not cut off. */
const SLACK_MS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawClient {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with the ms from connect to close, or undefined if still open after waitMs. */
  closedWithin(waitMs: number): Promise<number | undefined>;
}

function connect(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = "";
    let closedAt: number | undefined;
    const start = performance.now();
    const closed = new Promise<void>((r) => socket.once("close", () => ((closedAt = performance.now()), r())));
    socket.on("data", (d) => (data += d.toString("latin1")));
    socket.on("error", () => undefined); // a reset shows up as 'close'
    socket.once("connect", () =>
      resolve({
        socket,
        received: () => data,
        async closedWithin(waitMs) {
          await Promise.race([closed, sleep(waitMs)]);
          return closedAt === undefined ? undefined : closedAt - start;
        },
      }),
    );
    socket.once("error", reject);
  });
}

/** Writes `text` one byte at a time every `everyMs` until it is sent or the socket closes. */
async function dribble(c: RawClient, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  while (sent < text.length && !c.socket.destroyed && c.socket.writable) {
    c.socket.write(text[sent]!);
    sent++;
    await sleep(everyMs);
  }
  return sent;
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1] ?? NaN);
const bodyOf = (raw: string) => raw.slice(raw.indexOf("\r\n\r\n") + 4);

describe("slow and malformed clients on the standalone server", () => {
  let service: Service;
  let host: ReturnType<typeof createHttpServer>;
  let port: number;
  const clients: RawClient[] = [];
  const open = async () => {
    const c = await connect(port);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    service = testService();
    host = createHttpServer(service, {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    });
    port = await host.listen(0, "127.0.0.1");
    await service.holder.load();
  });
  afterAll(async () => {
    for (const c of clients) c.socket.destroy();
    await host.drain(500);
    await service.close();
  });

  it("serves other clients quickly while 50 slowloris clients dribble their headers", async () => {
    const slow = await Promise.all(Array.from({ length: 50 }, () => open()));
    const dribbling = slow.map((c) => dribble(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(200), 50));
    await sleep(200);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      expect(r.status).toBe(200);
      await r.text();
      times.push(performance.now() - t);
    }
    expect(Math.max(...times)).toBeLessThan(250);
    for (const c of slow) c.socket.destroy();
    await Promise.all(dribbling);
  });

  it(`closes a slowloris client with a 408 within ${HEADERS_TIMEOUT_MS + SLACK_MS} ms (headersTimeout ${HEADERS_TIMEOUT_MS} ms)`, async () => {
    const c = await open();
    const started = performance.now();
    const sending = dribble(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(1000), 50);
    const closedMs = await c.closedWithin(HEADERS_TIMEOUT_MS + SLACK_MS + 500);
    c.socket.destroy();
    await sending;
    expect(closedMs, `still open after ${Math.round(performance.now() - started)} ms`).toBeDefined();
    expect(closedMs!).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(closedMs!).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS);
    expect(statusOf(c.received())).toBe(408);
    expect(JSON.parse(bodyOf(c.received()))).toEqual({ error: "Request Timeout", app_identifier: service.instanceId });
  });

  it(`cuts off a client that dribbles its body slower than requestTimeout (${REQUEST_TIMEOUT_MS} ms)`, async () => {
    const c = await open();
    const body = JSON.stringify(SEED_HOUSE);
    c.socket.write(
      `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    // 1 byte / 100 ms: the body would take ~17 s.
    const sending = dribble(c, body, 100);
    const closedMs = await c.closedWithin(REQUEST_TIMEOUT_MS + SLACK_MS + 500);
    c.socket.destroy();
    const sent = await sending;
    expect(closedMs, "the connection is still open").toBeDefined();
    expect(closedMs!).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    expect(sent).toBeLessThan(body.length);
    expect(statusOf(c.received())).toBe(408);
  });

  it("answers an oversized header block (> 16 KiB) with 431 and closes", async () => {
    const c = await open();
    c.socket.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`);
    const closedMs = await c.closedWithin(2000);
    expect(closedMs).toBeDefined();
    const raw = c.received();
    expect(statusOf(raw)).toBe(431);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(bodyOf(raw))).toEqual({
      error: "Request Header Fields Too Large",
      app_identifier: service.instanceId,
    });
  });

  it.each([
    ["a garbage request line", "GARBAGE\r\n\r\n"],
    ["binary noise", "\u0000\u0001\u00ff\u00fe\r\n\r\n"],
    ["a bad HTTP version", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n"],
    ["a space in the header name", "GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n"],
    [
      "conflicting Content-Length headers",
      "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    ],
  ])("answers %s with 400 JSON and closes", async (_, text) => {
    const c = await open();
    c.socket.write(Buffer.from(text, "latin1"));
    const closedMs = await c.closedWithin(2000);
    expect(closedMs).toBeDefined();
    const raw = c.received();
    expect(statusOf(raw)).toBe(400);
    expect(JSON.parse(bodyOf(raw))).toEqual({ error: "Bad Request", app_identifier: service.instanceId });
  });

  it(`closes an idle keep-alive connection after keepAliveTimeout (${KEEP_ALIVE_TIMEOUT_MS} ms), having served it twice`, async () => {
    const c = await open();
    c.socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(100);
    c.socket.write("GET /api/healthcheck HTTP/1.1\r\nHost: x\r\n\r\n");
    // Wait for the second response, then time the idle close from there.
    for (let i = 0; i < 100 && (c.received().match(/HTTP\/1\.1 200/g) ?? []).length < 2; i++) await sleep(10);
    const idleFrom = performance.now();
    expect((c.received().match(/HTTP\/1\.1 200/g) ?? []).length).toBe(2);
    expect(c.received()).toMatch(/\r\nConnection: keep-alive\r\n/i);
    const closedMs = await c.closedWithin(KEEP_ALIVE_TIMEOUT_MS + 2000);
    expect(closedMs, "the idle connection is still open").toBeDefined();
    const idle = performance.now() - idleFrom;
    // Node 20 arms the idle socket timer at keepAliveTimeout + 1 s (its fixed buffer against client races).
    expect(idle).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 100);
    expect(idle).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + NODE_KEEP_ALIVE_BUFFER_MS + 700);
  });

  it("closes a connection after its 10,000th request (maxRequestsPerSocket) instead of answering bare 503s", async () => {
    const c = await open();
    const req = "GET /api/healthcheck HTTP/1.1\r\nHost: x\r\n\r\n";
    const count = (re: RegExp) => (c.received().match(re) ?? []).length;
    // 10,001 pipelined requests: the last one is sent before the client can see the 10,000th response.
    for (let i = 0; i < 10_001; i += 500) c.socket.write(req.repeat(Math.min(500, 10_001 - i)));
    for (let i = 0; i < 1000 && count(/HTTP\/1\.1 \d{3} /g) < 10_000 && !c.socket.destroyed; i++) await sleep(10);
    const closedMs = await c.closedWithin(1500);
    const responses = c.received().split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(count(/HTTP\/1\.1 200 /g)).toBe(10_000);
    expect(responses[9_999]).toMatch(/\r\nconnection: close\r\n/i);
    // A 503 written by Node itself: no body, no Retry-After, never counted in /metrics.
    expect(count(/HTTP\/1\.1 503 /g), responses[10_000]?.slice(0, 200)).toBe(0);
    expect(closedMs, "the socket stayed open after Connection: close").toBeDefined();
  });

  it("still answers /health after all of the above", async () => {
    const r = await fetch(`http://127.0.0.1:${port}/health`);
    expect(r.status).toBe(200);
  });
});
