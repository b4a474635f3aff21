/**
 * A paced (open-loop) load generator for the latency target of bench/bench.ts: POST /predict with a
 * unique hold-out row per request at a fixed rate, over keep-alive connections (wrk2 is not in Debian;
 * autocannon's overallRate measures from the actual send, so it hides queueing in the client).
 *
 * Coordinated omission: request i is due at t0 + i / rate whatever happened before. Its latency is
 * measured from that intended time to the end of its response, so a server that stalls is charged
 * for every request that should have gone out meanwhile (they wait in this process's queue, and the
 * wait counts). When every connection is busy, due requests queue here rather than being skipped.
 * The send lag (actual − intended: the generator's lateness plus any wait for a free connection) and
 * the gaps between the generator's loop turns are reported too: they show how much is the generator. The loop spins (setImmediate) so requests go out within microseconds of their
 * time, not on 1 ms timer ticks; it runs on the load generator's core, never the server's.
 *
 * Run by the bench (bundled, on the load core): node paced.js '<json spec>'; prints one JSON line.
 */
import { execFile } from "node:child_process";
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { holdoutRows } from "./bodies";
import { GapHistogram, Samples, type LatencySummary } from "./stats";
import { reportToParent } from "./child-result";

export interface PacedSpec {
  host: string;
  port: number;
  connections: number;
  /** Requests per second over all connections. */
  rate: number;
  warmupS: number;
  durationS: number;
  /** Population shift of the unique rows (as in bench/lib/bodies.ts). */
  seed: number;
}

/** Length of the windows a paced run is broken into (throughput and worst latency per window), ms. */
export const WINDOW_MS = 250;

/** The timed window in WINDOW_MS slices: what the server answered in each, and the worst latency of each. */
export interface PacedWindows {
  /** Wall-clock start of the timed window (epoch ms), to line the slices up with CPU samples of the server. */
  startEpochMs: number;
  ms: number;
  /** Responses that arrived in each slice (whenever their request was due). */
  done: number[];
  /** Worst latency from the intended send of the requests due in each slice, ms. */
  worstMs: number[];
  /** The generator's longest loop gap in each slice, ms: its own stalls, when late requests are its doing. */
  generatorGapMs: number[];
}

export interface PacedResult {
  rate: number;
  connections: number;
  durationS: number;
  /** Responses to requests due inside the timed window. */
  ok: number;
  achievedPerS: number;
  non2xx: number;
  errors: number;
  /** Due but never answered before the deadline (counted as errors too). */
  unanswered: number;
  /** From the intended send time (coordinated omission corrected), ms. */
  latency: LatencySummary;
  /** From the actual send, ms (what a closed-loop tool would report). */
  serviceTime: LatencySummary;
  /** Actual send − intended send, ms: the generator's own lateness plus waits for a free connection. */
  sendLag: LatencySummary;
  /** Gaps between the generator's loop turns, ms: its own responsiveness (max = its worst stall). */
  loopGap: LatencySummary;
  windows: PacedWindows;
  /** Which loop sent the requests: bench/lib/paced-generator.c, or this file's (absent: this file's). */
  generator?: "c" | "node";
}

interface Conn {
  sock: net.Socket;
  ready: boolean;
  busy: boolean;
  intended: number;
  sentAt: number;
  /** Bytes of the response so far; null once the connection has been replaced. */
  buf: Buffer | undefined | null;
}

/** Requests a paced run sends (warm-up and window): one per 1/rate s. */
export const requestsOf = (spec: PacedSpec): number => Math.round(spec.rate * (spec.warmupS + spec.durationS));

/**
 * Every request of the run, built before it starts, back to back in one buffer (request i is bytes at[i] to
 * at[i + 1]): sending one is then a view of bytes made already, not a string and a buffer of its own, so the
 * generator makes little garbage and its collector stalls it less while it keeps time.
 */
function requestBytes(spec: PacedSpec, total: number): { bytes: Buffer; at: Int32Array } {
  const rows = holdoutRows(spec.seed);
  const head = `POST /predict HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\nContent-Type: application/json\r\nContent-Length: `;
  const request = (i: number) => {
    const body = rows.row(i);
    return `${head}${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  // Two passes (sizes, then bytes) rather than holding every request's text: those strings would reach the old
  // generation and leave a major collection due inside the timed window.
  const at = new Int32Array(total + 1);
  for (let i = 0; i < total; i++) at[i + 1] = at[i]! + Buffer.byteLength(request(i), "latin1");
  const bytes = Buffer.allocUnsafe(at[total]!);
  for (let i = 0; i < total; i++) bytes.write(request(i), at[i]!, "latin1");
  return { bytes, at };
}

const CRLF2 = Buffer.from("\r\n\r\n");
const LENGTH = [Buffer.from("\r\ncontent-length:"), Buffer.from("\r\nContent-Length:")];
const CLOSE = [Buffer.from("\r\nconnection: close"), Buffer.from("\r\nConnection: close")];
const LOSE = Buffer.from("lose\r\n");

/**
 * A response head read from its bytes (status, body length, whether the server closes), or undefined while the
 * head is incomplete. Bytes, not text: a string per response would be garbage for the generator's collector.
 * Header names in the two spellings servers write (node keeps ours lower-case); any other falls back to a regex.
 */
function readHead(buf: Buffer): { end: number; length: number; status: number; close: boolean } | undefined {
  const crlf = buf.indexOf(CRLF2);
  if (crlf < 0) return undefined;
  const end = crlf + 4;
  const status = (buf[9]! - 48) * 100 + (buf[10]! - 48) * 10 + (buf[11]! - 48);
  const within = (needle: Buffer) => {
    const i = buf.indexOf(needle);
    return i >= 0 && i < crlf ? i + needle.length : -1;
  };
  let at = Math.max(within(LENGTH[0]!), within(LENGTH[1]!));
  let length = 0;
  if (at >= 0) {
    while (buf[at] === 32) at++;
    for (; buf[at]! >= 48 && buf[at]! <= 57; at++) length = length * 10 + buf[at]! - 48;
  } else {
    length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.toString("latin1", 0, crlf))?.[1] ?? 0);
  }
  // Node writes "Connection: close" or ours lower-case; another spelling ends its line in "lose" too.
  const close =
    within(CLOSE[0]!) >= 0 ||
    within(CLOSE[1]!) >= 0 ||
    (within(LOSE) >= 0 && /\r\nconnection:\s*close/i.test(buf.toString("latin1", 0, crlf)));
  return { end, length, status, close };
}

export async function runPaced(spec: PacedSpec): Promise<PacedResult> {
  const interval = 1000 / spec.rate;
  const total = requestsOf(spec);
  const requests = requestBytes(spec, total);
  let rowNo = 0;
  const nextRequest = () => requests.bytes.subarray(requests.at[rowNo]!, requests.at[++rowNo]!);
  const t0 = performance.now() + 200; // connections open first
  const windowStart = t0 + spec.warmupS * 1000;
  const windowEnd = windowStart + spec.durationS * 1000;
  const deadline = windowEnd + 10_000;
  // Sized up front: growing a sample buffer mid-run copies it, and the copy would stall the generator.
  const latency = new Samples(total);
  const service = new Samples(total);
  const lag = new Samples(total);
  const gaps = new GapHistogram();
  let lastTick = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let due = 0; // requests whose time has come
  let answered = 0;
  const queue: number[] = []; // intended times of due, unsent requests (FIFO)
  let qHead = 0;
  const idle: Conn[] = [];
  const conns = new Set<Conn>();
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;
  const slices = Math.ceil((spec.durationS * 1000) / WINDOW_MS);
  const done = new Int32Array(slices);
  const worst = new Float64Array(slices);
  const stalls = new Float64Array(slices);
  const slice = (t: number) => Math.floor((t - windowStart) / WINDOW_MS);

  const finish = (c: Conn, status: number, now: number) => {
    answered++;
    const at = slice(now);
    if (at >= 0 && at < slices) done[at] = done[at]! + 1;
    if (inWindow(c.intended)) {
      if (status >= 200 && status < 300) {
        ok++;
        latency.push(now - c.intended);
        const dueAt = slice(c.intended);
        worst[dueAt] = Math.max(worst[dueAt]!, now - c.intended);
        service.push(now - c.sentAt);
        lag.push(c.sentAt - c.intended);
      } else non2xx++;
    }
  };

  const open = (): Conn => {
    const c: Conn = {
      sock: net.connect(spec.port, spec.host),
      ready: false,
      busy: false,
      intended: 0,
      sentAt: 0,
      buf: undefined,
    };
    conns.add(c);
    c.sock.setNoDelay(true);
    c.sock.on("connect", () => {
      c.ready = true;
      idle.push(c);
    });
    c.sock.on("data", (chunk: Buffer) => {
      if (c.buf === null) return;
      c.buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
      const head = readHead(c.buf);
      if (!head || c.buf.length < head.end + head.length) return;
      const { status, close } = head;
      c.buf = undefined;
      c.busy = false;
      finish(c, status, performance.now());
      if (close) {
        c.sock.destroy();
      } else idle.push(c);
    });
    c.sock.on("error", () => undefined);
    c.sock.on("close", () => {
      if (c.busy) {
        // Closed with a request outstanding: that request failed.
        c.busy = false;
        answered++;
        if (inWindow(c.intended)) errors++;
      }
      replace(c);
    });
    return c;
  };
  const replace = (c: Conn) => {
    if (c.buf === null) return; // replaced already
    c.ready = false;
    c.buf = null;
    conns.delete(c);
    if (performance.now() < deadline) open();
  };
  for (let i = 0; i < spec.connections; i++) open();

  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (lastTick > 0 && inWindow(now)) {
        gaps.push(now - lastTick);
        const at = slice(now);
        stalls[at] = Math.max(stalls[at]!, now - lastTick);
      }
      lastTick = now;
      while (due < total && t0 + due * interval <= now) queue.push(t0 + due++ * interval);
      while (qHead < queue.length && idle.length > 0) {
        const c = idle.pop()!;
        if (!c.ready || c.sock.destroyed || c.buf === null) continue;
        c.busy = true;
        c.intended = queue[qHead++]!;
        c.sentAt = performance.now();
        c.sock.write(nextRequest());
      }
      if (qHead > 65_536) {
        queue.splice(0, qHead);
        qHead = 0;
      }
      if ((due === total && answered >= total) || now > deadline) {
        // Past the deadline: every request of the window still queued or outstanding failed.
        const unanswered = total - answered;
        for (let i = qHead; i < queue.length; i++) if (inWindow(queue[i]!)) errors++;
        for (const c of conns) if (c.busy && inWindow(c.intended)) errors++;
        for (const c of conns) c.sock.destroy();
        resolve({
          rate: spec.rate,
          connections: spec.connections,
          durationS: spec.durationS,
          ok,
          achievedPerS: ok / spec.durationS,
          non2xx,
          errors,
          unanswered,
          latency: latency.summary(),
          serviceTime: service.summary(),
          sendLag: lag.summary(),
          loopGap: gaps.summary(),
          windows: {
            startEpochMs: performance.timeOrigin + windowStart,
            ms: WINDOW_MS,
            done: Array.from(done),
            worstMs: Array.from(worst),
            generatorGapMs: Array.from(stalls),
          },
        });
        return;
      }
      setImmediate(tick);
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
}

/**
 * The same run by bench/lib/paced-generator.c (compiled by the bench): this process writes the requests to a file
 * the generator reads, then waits, asleep, for its one JSON line.
 */
export function runPacedInC(spec: PacedSpec, binary: string, requestsFile: string): Promise<PacedResult> {
  const total = requestsOf(spec);
  const { bytes, at } = requestBytes(spec, total);
  const head = Buffer.alloc(4 + 4 * (total + 1));
  head.writeUInt32LE(total, 0);
  for (let i = 0; i <= total; i++) head.writeUInt32LE(at[i]!, 4 + 4 * i);
  // Two writes: one buffer of both would copy the requests (~100 MB at the bench's rates) once more.
  writeFileSync(requestsFile, head);
  appendFileSync(requestsFile, bytes);
  const args = [spec.host, spec.port, spec.connections, spec.rate, spec.warmupS, spec.durationS, requestsFile];
  return new Promise((resolve, reject) => {
    execFile(binary, args.map(String), { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      rmSync(requestsFile, { force: true }); // ~100 MB at the bench's rates
      if (err) return reject(new Error(`${binary} failed: ${err.message} ${stderr}`));
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as PacedResult);
      } catch {
        reject(new Error(`${binary} printed no JSON result: ${line.slice(0, 200)}`));
      }
    });
  });
}

if (process.argv[2]?.startsWith("{")) {
  const spec = JSON.parse(process.argv[2]) as PacedSpec;
  // The compiled C generator and the file for its requests (set, possibly empty, by bench.ts); without them, this loop.
  const binary = process.env.BENCH_PACED_GENERATOR;
  const requestsFile = process.env.BENCH_PACED_REQUESTS;
  reportToParent(binary && requestsFile ? runPacedInC(spec, binary, requestsFile) : runPaced(spec));
}
