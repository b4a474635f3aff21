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
    let chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // With a declared length (node's parser holds the body to it exactly), chunks are copied into one buffer as
    // they arrive: they die young instead of being promoted while a big body trickles in, and there is no
    // concatenated copy. That halved the external memory a 10,000-row bulk leaves for the next full GC.
    const declared = Number(req.headers["content-length"]);
    let whole =
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
      // The end/error/close listeners stay on the request until it is collected: they must not keep the body.
      whole = undefined;
      chunks = [];
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
    // `on`, not `once`: done() runs once anyway, and the request dies with its listeners (no wrapper per event).
    req.on("end", () => {
      if (settled) return;
      if (whole) {
        // Only a body of exactly the declared length gets here (the parser enforces it); anything else is refused.
        done(
          size === whole.length && chunks.length === 0 ? { ok: true, bytes: whole } : { ok: false, reason: "aborted" },
        );
        return;
      }
      done({ ok: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    });
    req.on("error", () => done({ ok: false, reason: "aborted" }));
    req.on("close", () => done({ ok: false, reason: "aborted" }));
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

/** Requests answered on a socket so far, kept on the socket itself (a WeakMap entry per socket costs more per request). */
const SERVED = Symbol("requests served");
function countServed(socket: object): number {
  const s = socket as { [SERVED]?: number };
  return (s[SERVED] = (s[SERVED] ?? 0) + 1);
}

/** The query of every request without one: shared, so its methods that would change it throw. */
class NoQuery extends URLSearchParams {
  override append(): never {
    throw new TypeError("a request's query is read-only");
  }
  override set(): never {
    throw new TypeError("a request's query is read-only");
  }
  override delete(): never {
    throw new TypeError("a request's query is read-only");
  }
  override sort(): void {}
}
const NO_QUERY: URLSearchParams = new NoQuery();

/**
 * node's request as the service's platform-neutral one. A class rather than an object literal with a getter and
 * closures: one allocation per request instead of four (the getter's and the body reader's closures, the
 * accessor pair), which the profile of /predict showed as garbage the young generation had to sweep.
 */
class NodeCoreRequest implements CoreRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | undefined>;
  readonly remoteAddress: string | undefined;
  params?: Record<string, string>;
  heldBodyBytes: number | undefined = undefined;
  /** Whether the handler asked for the body (an unread one decides how the connection ends). */
  bodyRead = false;
  private readonly url: string;
  private readonly q: number;

  constructor(private readonly req: http.IncomingMessage) {
    let url = req.url ?? "/";
    // The absolute form (`POST http://host/predict`) is valid HTTP/1.1 too.
    if (!url.startsWith("/")) url = /^https?:\/\/[^/?#]*(.*)$/i.exec(url)?.[1] || "/";
    this.url = url;
    this.q = url.indexOf("?");
    this.method = req.method ?? "GET";
    this.path = this.q === -1 ? url : url.slice(0, this.q);
    this.headers = req.headers as Record<string, string | undefined>;
    this.remoteAddress = req.socket.remoteAddress;
  }

  /** Parsed only by the endpoints that read it; most requests have none and share one empty, unchangeable set. */
  get query(): URLSearchParams {
    return this.q === -1 ? NO_QUERY : new URLSearchParams(this.url.slice(this.q + 1));
  }

  body(limit: number, admit?: (bytes: number) => boolean): Promise<BodyResult> {
    this.bodyRead = true;
    return readBody(this.req, limit, admit);
  }
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

/**
 * Writes a core response (`connection: close` when `close`); HEAD gets the headers only. The headers go to
 * writeHead as one flat [name, value, …] array: node then neither enumerates an object nor copies it.
 */
function writeAnswer(req: http.IncomingMessage, res: http.ServerResponse, out: CoreResponse, close: boolean): void {
  const head: string[] = [];
  const headers = out.headers;
  for (const name in headers) {
    if (name !== "content-length" && !(close && name === "connection")) head.push(name, headers[name]!);
  }
  if (close) head.push("connection", "close");
  // 204 and 304 have no content: a Content-Length there could be taken for the stored answer's length.
  if (out.status !== 204 && out.status !== 304) {
    head.push("content-length", String(typeof out.body === "string" ? Buffer.byteLength(out.body) : out.body.length));
  }
  res.writeHead(out.status, head);
  res.end(req.method === "HEAD" ? undefined : out.body);
}

/** Requests in flight, counted until their response has left (or the socket died), and a wait for none. */
function inflightCounter() {
  let count = 0;
  let idle: (() => void) | undefined;
  // One handler for every response ('close' fires once per response): no closure per request.
  const left = () => {
    count--;
    if (count === 0) idle?.();
  };
  return {
    enter(res: http.ServerResponse): void {
      count++;
      res.on("close", left);
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

  async function serve(req: http.IncomingMessage, res: http.ServerResponse) {
    inflight.enter(res);
    try {
      const core = new NodeCoreRequest(req);
      const out = await service.handle(core);
      let unreadBody = hasUnreadBody(req, core.bodyRead);
      if (unreadBody && out.status === 503) {
        // A refused upload (memory admission) is read and discarded before answering: closing on a client that
        // is still sending resets the connection, and it never sees the 503 and its Retry-After. Discarded
        // chunks are not kept; requestTimeout bounds how long this can take.
        await discard(req);
        unreadBody = false;
      }
      // Any other unread body (415, 401, 429 …) would otherwise be drained for up to requestTimeout: close instead.
      const served = countServed(req.socket);
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
