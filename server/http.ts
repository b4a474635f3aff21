import http from "node:http";
import type { Service } from "../shared/app";
import type { BodyResult, CoreRequest } from "../shared/http";

export interface ServerOptions {
  /** Slowloris guard: the whole header block must arrive within this time. */
  headersTimeoutMs?: number;
  /** The whole request (headers and body) must arrive within this time. */
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (r: BodyResult) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
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
    req.once("end", () => done({ ok: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) }));
    req.once("error", () => done({ ok: false, reason: "aborted" }));
    req.once("close", () => done({ ok: false, reason: "aborted" }));
  });
}

/** The standalone host: a node:http server over the service's endpoint list. */
export function createHttpServer(service: Service, opts: ServerOptions = {}) {
  let draining = false;
  let inflight = 0;
  let idle: (() => void) | undefined;

  const server = http.createServer(async (req, res) => {
    inflight++;
    try {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const core: CoreRequest = {
        method: req.method ?? "GET",
        path: q === -1 ? url : url.slice(0, q),
        query: new URLSearchParams(q === -1 ? "" : url.slice(q + 1)),
        headers: req.headers as Record<string, string | undefined>,
        body: (limit) => readBody(req, limit),
        remoteAddress: req.socket.remoteAddress,
      };
      const out = await service.handle(core);
      if (draining || out.status === 413) out.headers["connection"] = "close";
      out.headers["content-length"] = String(
        typeof out.body === "string" ? Buffer.byteLength(out.body) : out.body.length,
      );
      res.writeHead(out.status, out.headers);
      res.end(req.method === "HEAD" ? undefined : out.body);
    } catch (err) {
      service.logger.error("response failed", { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/problem+json" });
      res.end();
    } finally {
      inflight--;
      if (inflight === 0) idle?.();
    }
  });
  server.headersTimeout = opts.headersTimeoutMs ?? 10_000;
  server.requestTimeout = opts.requestTimeoutMs ?? 30_000;
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 5_000;
  server.maxRequestsPerSocket = 10_000;
  // A parse error (bad request line, oversized headers) gets a plain 400 instead of a reset.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = JSON.stringify({ error: http.STATUS_CODES[status], app_identifier: service.instanceId });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

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
      const finished = inflight === 0 ? Promise.resolve(true) : new Promise<boolean>((r) => (idle = () => r(true)));
      const timer = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
      const completed = await Promise.race([finished, timer]);
      const left = inflight;
      server.closeAllConnections();
      await closed;
      return { completed, inflight: left };
    },
  };
}
