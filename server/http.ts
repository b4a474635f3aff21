import http from "node:http";
import type { Duplex } from "node:stream";
import type { BodyResult, CoreRequest, CoreResponse } from "../shared/http/core";
import { problemResponse } from "../shared/http/problems";
import { SECURITY_HEADERS } from "../shared/http/security-headers";
import type { Service } from "../shared/service";

export interface ServerOptions {
  /** Slowloris guard: the whole header block must arrive within this time. */
  headersTimeoutMs?: number;
  /** The whole request (headers and body) must arrive within this time. */
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

function readBody(req: http.IncomingMessage, limit: number, admit?: (bytes: number) => boolean): Promise<BodyResult> {
  // A client that left while the request waited (rate limiter, model load) will send no 'end' or 'close'
  // any more: answer now, or the handler (and the body bytes it holds) would wait forever.
  if (req.destroyed || req.readableAborted) return Promise.resolve({ ok: false, reason: "aborted" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // With a declared length (node's parser holds the body to it exactly), chunks are copied into one buffer as
    // they arrive: they die young instead of being promoted while a big body trickles in, and there is no
    // concatenated copy. That halved the external memory a 10,000-row bulk leaves for the next full GC.
    const declared = Number(req.headers["content-length"]);
    const whole =
      req.headers["transfer-encoding"] === undefined &&
      Number.isSafeInteger(declared) &&
      declared > 0 &&
      declared <= limit
        ? Buffer.allocUnsafe(declared)
        : undefined;
    const done = (r: BodyResult) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      if (admit && !admit(chunk.length)) {
        // Refused (memory admission): the rest is read and discarded, the connection stays usable.
        done({ ok: false, reason: "refused" });
        req.resume();
        return;
      }
      if (whole && size + chunk.length <= whole.length) {
        chunk.copy(whole, size);
        size += chunk.length;
        return;
      }
      size += chunk.length;
      if (size > limit) {
        // Stop buffering at once; the rest is drained and discarded, then the connection closes.
        done({ ok: false, reason: "too_large" });
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => {
      if (whole) {
        // Only a body of exactly the declared length gets here (the parser enforces it); anything else is refused.
        done(
          size === whole.length && chunks.length === 0 ? { ok: true, bytes: whole } : { ok: false, reason: "aborted" },
        );
        return;
      }
      done({ ok: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    });
    req.once("error", () => done({ ok: false, reason: "aborted" }));
    req.once("close", () => done({ ok: false, reason: "aborted" }));
  });
}

/** Reads the rest of a request body without keeping it; resolves when it has ended or the socket is gone. */
function discard(req: http.IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.complete || req.destroyed) return resolve();
    req.once("end", () => resolve());
    req.once("close", () => resolve());
    req.resume();
  });
}

/** Keep-alive limit: requests one connection may carry before the server closes it. */
const MAX_REQUESTS_PER_SOCKET = 10_000;

/** node's request as the service's platform-neutral one; `onRead` is told when the handler reads the body. */
function toCoreRequest(req: http.IncomingMessage, onRead: () => void): CoreRequest {
  let url = req.url ?? "/";
  // The absolute form (`POST http://host/predict`) is valid HTTP/1.1 too.
  if (!url.startsWith("/")) url = /^https?:\/\/[^/?#]*(.*)$/i.exec(url)?.[1] || "/";
  const q = url.indexOf("?");
  return {
    method: req.method ?? "GET",
    path: q === -1 ? url : url.slice(0, q),
    // Parsed only by the endpoints that read it (most requests have no query).
    get query() {
      return new URLSearchParams(q === -1 ? "" : url.slice(q + 1));
    },
    headers: req.headers as Record<string, string | undefined>,
    body: (limit, admit) => {
      onRead();
      return readBody(req, limit, admit);
    },
    remoteAddress: req.socket.remoteAddress,
  };
}

/** The status line and headers of an answer the server writes itself on a raw socket (no request parsed). */
function rawAnswer(status: number, headers: Record<string, string>, body: string): string {
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${head}\r\n${body}`;
}

/** The server's own answer to a request line or header block it could not parse (400, 408, 431). */
function answerParseError(err: NodeJS.ErrnoException, socket: Duplex, raw: Record<string, string>, instanceId: string) {
  if (!socket.writable) return socket.destroy();
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const body = JSON.stringify({ error: http.STATUS_CODES[status], app_identifier: instanceId });
  const headers = {
    ...raw,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
    connection: "close",
  };
  socket.end(rawAnswer(status, headers, body));
}

/** True when the request still has body bytes on the wire that no handler read. */
function hasUnreadBody(req: http.IncomingMessage, bodyRead: boolean): boolean {
  return !bodyRead && (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"]) > 0);
}

/** Writes a core response (`connection: close` when `close`); HEAD gets the headers only. */
function writeAnswer(req: http.IncomingMessage, res: http.ServerResponse, out: CoreResponse, close: boolean): void {
  if (close) out.headers["connection"] = "close";
  out.headers["content-length"] = String(typeof out.body === "string" ? Buffer.byteLength(out.body) : out.body.length);
  res.writeHead(out.status, out.headers);
  res.end(req.method === "HEAD" ? undefined : out.body);
}

/** Requests in flight, counted until their response has left (or the socket died), and a wait for none. */
function inflightCounter() {
  let count = 0;
  let idle: (() => void) | undefined;
  return {
    enter(res: http.ServerResponse): void {
      count++;
      res.once("close", () => {
        count--;
        if (count === 0) idle?.();
      });
    },
    get count() {
      return count;
    },
    idle: (): Promise<boolean> => (count === 0 ? Promise.resolve(true) : new Promise((r) => (idle = () => r(true)))),
  };
}

/** The standalone host: a node:http server over the service's endpoint list. */
export function createHttpServer(service: Service, opts: ServerOptions = {}) {
  /** Headers of the few answers written outside the service (parse errors, a crash): the core's own set. */
  const raw: Record<string, string> = { "x-app-identifier": service.instanceId, ...SECURITY_HEADERS };
  let draining = false;
  const inflight = inflightCounter();
  const requestsPerSocket = new WeakMap<object, number>();

  async function serve(req: http.IncomingMessage, res: http.ServerResponse) {
    inflight.enter(res);
    let bodyRead = false;
    try {
      const out = await service.handle(toCoreRequest(req, () => (bodyRead = true)));
      let unreadBody = hasUnreadBody(req, bodyRead);
      if (unreadBody && out.status === 503) {
        // A refused upload (memory admission) is read and discarded before answering: closing on a client that
        // is still sending resets the connection, and it never sees the 503 and its Retry-After. Discarded
        // chunks are not kept; requestTimeout bounds how long this can take.
        await discard(req);
        unreadBody = false;
      }
      // Any other unread body (415, 401, 429 …) would otherwise be drained for up to requestTimeout: close instead.
      const served = (requestsPerSocket.get(req.socket) ?? 0) + 1;
      requestsPerSocket.set(req.socket, served);
      writeAnswer(req, res, out, draining || out.status === 413 || unreadBody || served >= MAX_REQUESTS_PER_SOCKET);
    } catch (err) {
      service.logger.error("response failed", { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) {
        const crash = problemResponse({ code: "internal", detail: "An unexpected error occurred; it has been logged" });
        res.writeHead(crash.status, { ...raw, ...crash.headers, connection: "close" });
        res.end(crash.body);
      } else res.destroy();
    }
  }

  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  // Node checks header and request timeouts only every connectionsCheckingInterval (30 s by default).
  const checkEvery = Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2)));
  const server = http.createServer({ connectionsCheckingInterval: checkEvery }, serve);
  server.headersTimeout = headersTimeout;
  server.requestTimeout = opts.requestTimeoutMs ?? 30_000;
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5_000;
  // Counted here rather than with server.maxRequestsPerSocket, which answers pipelined extras with a
  // bare 503 of its own: the last allowed response says `connection: close`, and the socket ends.
  server.maxRequestsPerSocket = 0;
  // A parse error (bad request line, oversized headers) gets a plain answer instead of a reset.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) =>
    answerParseError(err, socket, raw, service.instanceId),
  );

  return {
    server,
    listen(port: number, host: string): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const addr = server.address();
          resolve(typeof addr === "object" && addr ? addr.port : port);
        });
      });
    },
    /** Stops accepting, lets in-flight requests finish (up to timeoutMs), then closes the rest. */
    async drain(timeoutMs: number): Promise<{ completed: boolean; inflight: number }> {
      draining = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const timer = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
      const completed = await Promise.race([inflight.idle(), timer]);
      const left = inflight.count;
      // Responses carried `connection: close` while draining; only a timeout cuts what is left.
      if (completed) server.closeIdleConnections();
      else server.closeAllConnections();
      await closed;
      return { completed, inflight: left };
    },
  };
}
