/**
 * An Upstash-REST-compatible HTTP gateway over a real Redis, for local runs (`func start` with the Upstash
 * settings) and tests. Dev/test tool only: one shared Redis connection, no TLS, no rate limits.
 *
 * Protocol (the subset @upstash/redis uses, plus the path form):
 *   POST /              body ["SET","k","v","EX","60"]         → {"result": ...}
 *   POST /pipeline      body [["SET","k","v"],["GET","k"]]     → [{"result": ...} | {"error": "..."}, ...]
 *   POST /multi-exec    same body, run in MULTI/EXEC           → same shape
 *   GET|POST|PUT /set/k/v?EX=60 (a POST body is appended as the last argument before the query ones)
 * Auth: `Authorization: Bearer <token>` (or `?_token=<token>`); otherwise 401 {"error":"Unauthorized"}.
 * A Redis error is 400 {"error":"ERR ..."}; Redis unreachable is 503.
 * With the request header `Upstash-Encoding: base64` every string in a result is base64 (recursively in
 * arrays), except a top-level "OK" status reply — as Upstash documents it; numbers and null unchanged.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient, ErrorReply, MultiErrorReply, RESP_TYPES } from "redis";

export interface UpstashGatewayOptions {
  redisUrl: string;
  token: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest accepted request body (default 10 MiB). */
  maxBodyBytes?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface UpstashGateway {
  /** Base URL, e.g. http://127.0.0.1:8079 (use as UPSTASH_REDIS_REST_URL). */
  url: string;
  port: number;
  /** Requests answered, by route ("/", "/pipeline", "/multi-exec", "path", "unauthorized", "invalid"). */
  stats(): Record<string, number>;
  close(): Promise<void>;
}

/** Commands that would hold or change state of the one shared connection. */
const UNSUPPORTED = new Set([
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
  "SYNC",
  "PSYNC",
  "QUIT",
  "RESET",
  "SELECT",
  "HELLO",
  "AUTH",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BLMOVE",
  "BLMPOP",
  "BZPOPMIN",
  "BZPOPMAX",
  "BZMPOP",
  "WAIT",
  "WAITAOF",
]);

class BadRequest extends Error {}

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

/** `#!lua flags=allow-key-locking,no-writes` → `#!lua flags=no-writes`: drops flags only Upstash knows. */
export function stripUpstashScriptFlags(script: string): string {
  return script.replace(/^#!lua flags=([^\n]*)/, (_, flags: string) => {
    const kept = flags
      .split(",")
      .map((f) => f.trim())
      .filter((f) => f && f !== "allow-key-locking");
    return kept.length > 0 ? `#!lua flags=${kept.join(",")}` : "#!lua";
  });
}

type Command = string[];

function toCommand(value: unknown): Command {
  if (!Array.isArray(value) || value.length === 0) throw new BadRequest("ERR command must be a non-empty JSON array");
  const args = value.map((v: unknown) => {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new BadRequest("ERR command arguments must be strings, numbers or booleans");
  });
  const name = (args[0] ?? "").toUpperCase();
  if (
    UNSUPPORTED.has(name) ||
    (name === "XREAD" || name === "XREADGROUP" ? args.some((a) => a.toUpperCase() === "BLOCK") : false)
  ) {
    throw new BadRequest(`ERR command '${args[0]}' is not supported by the upstash gateway`);
  }
  return args;
}

function toCommands(value: unknown): Command[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new BadRequest("ERR pipeline must be a non-empty JSON array of commands");
  return value.map(toCommand);
}

/** A RESP2 reply (bulk strings as Buffers, status replies as strings) to Upstash's JSON form. */
function encodeReply(reply: unknown, base64: boolean, topLevel: boolean): unknown {
  if (reply === null || reply === undefined) return null;
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if (typeof reply === "string") {
    return base64 && !(topLevel && reply === "OK") ? Buffer.from(reply, "utf8").toString("base64") : reply;
  }
  if (typeof reply === "number") return reply;
  if (typeof reply === "bigint") return Number(reply);
  if (reply instanceof ErrorReply) return encodeReply(reply.message, base64, false);
  if (Array.isArray(reply)) return reply.map((r) => encodeReply(r, base64, false));
  if (reply instanceof Map) return [...reply.entries()].flat().map((r) => encodeReply(r, base64, false));
  return encodeReply(String(reply), base64, false);
}

function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve("too-large");
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on("error", (err) => {
      if (!done) {
        done = true;
        reject(err);
      }
    });
  });
}

export async function startUpstashGateway(opts: UpstashGatewayOptions): Promise<UpstashGateway> {
  if (!opts.token) throw new Error("startUpstashGateway: a token is required");
  const maxBodyBytes = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const log = opts.log ?? (() => {});
  const counts: Record<string, number> = {};
  const count = (route: string) => {
    counts[route] = (counts[route] ?? 0) + 1;
  };

  const redis = createClient({
    url: opts.redisUrl,
    RESP: 2,
    disableOfflineQueue: true,
    maintNotifications: "disabled",
    // Bulk strings as Buffers (binary-safe base64, and tells them apart from status replies such as "OK").
    commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } },
    socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(retries * 100, 2_000) },
  });
  let lastErrorLog = 0;
  redis.on("error", (err: unknown) => {
    const now = Date.now();
    if (now - lastErrorLog < 10_000) return;
    lastErrorLog = now;
    log("upstash-gateway: redis connection error", { error: err instanceof Error ? err.message : String(err) });
  });
  redis.connect().catch(() => {
    // only settles with an error when closed; errors are reported by the 'error' listener
  });

  // Upstash's Lua shebang may carry flags plain Redis rejects (e.g. `allow-key-locking`, used by
  // @upstash/ratelimit): strip them, and map the client's EVALSHA of the original script to the stripped one.
  const scriptShas = new Map<string, string>();
  const adaptScript = (cmd: Command): Command => {
    const name = (cmd[0] ?? "").toUpperCase();
    const arg = cmd[1];
    if (arg === undefined) return cmd;
    if (name === "EVAL" || name === "EVAL_RO") {
      const fixed = stripUpstashScriptFlags(arg);
      if (fixed === arg) return cmd;
      scriptShas.set(sha1(arg), sha1(fixed));
      return [cmd[0]!, fixed, ...cmd.slice(2)];
    }
    if (name === "EVALSHA" || name === "EVALSHA_RO") {
      const mapped = scriptShas.get(arg.toLowerCase());
      return mapped ? [cmd[0]!, mapped, ...cmd.slice(2)] : cmd;
    }
    return cmd;
  };
  const run = (cmd: Command): Promise<unknown> => redis.sendCommand(adaptScript(cmd));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://gateway");
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "POST" && method !== "PUT") {
      count("invalid");
      send(res, 405, { error: "Method Not Allowed" });
      return;
    }
    const auth = req.headers.authorization ?? "";
    const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() ?? url.searchParams.get("_token") ?? "";
    if (!bearer || !tokensEqual(bearer, opts.token)) {
      count("unauthorized");
      req.resume();
      send(res, 401, { error: "Unauthorized" });
      return;
    }
    const body = method === "GET" ? Buffer.alloc(0) : await readBody(req, maxBodyBytes);
    if (body === "too-large") {
      count("invalid");
      res.setHeader("Connection", "close");
      send(res, 413, { error: `ERR request body larger than ${maxBodyBytes} bytes` });
      res.on("finish", () => req.destroy());
      return;
    }
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const path = url.pathname.replace(/\/+$/, "");

    try {
      if (path === "/pipeline" || path === "/multi-exec") {
        count(path);
        const cmds = toCommands(parseJson(body));
        const replies = path === "/pipeline" ? await runPipeline(cmds) : await runMulti(cmds);
        send(
          res,
          200,
          replies.map((r) =>
            r instanceof ErrorReply ? { error: r.message } : { result: encodeReply(r, base64, true) },
          ),
        );
        return;
      }
      let cmd: Command;
      if (path === "") {
        count("/");
        cmd = toCommand(parseJson(body));
      } else {
        count("path");
        const args = path.slice(1).split("/").map(decodeURIComponent);
        if (body.length > 0) args.push(body.toString("utf8"));
        for (const [k, v] of url.searchParams) {
          if (k === "_token") continue;
          args.push(k);
          if (v !== "") args.push(v);
        }
        cmd = toCommand(args);
      }
      const reply = await run(cmd);
      send(res, 200, { result: encodeReply(reply, base64, true) });
    } catch (err) {
      if (err instanceof BadRequest || err instanceof ErrorReply) {
        send(res, 400, { error: err.message });
      } else {
        send(res, 503, { error: `ERR redis unavailable: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
  }

  function parseJson(body: Buffer): unknown {
    try {
      return JSON.parse(body.toString("utf8"));
    } catch {
      throw new BadRequest("ERR request body is not valid JSON");
    }
  }

  /** All commands written together; per-command Redis errors kept, a transport error fails the lot. */
  async function runPipeline(cmds: Command[]): Promise<unknown[]> {
    const settled = await Promise.allSettled(cmds.map(run));
    return settled.map((s) => {
      if (s.status === "fulfilled") return s.value;
      if (s.reason instanceof ErrorReply) return s.reason;
      throw s.reason;
    });
  }

  async function runMulti(cmds: Command[]): Promise<unknown[]> {
    const multi = redis.multi();
    for (const cmd of cmds) multi.addCommand(cmd);
    try {
      return (await multi.exec()) as unknown[];
    } catch (err) {
      if (err instanceof MultiErrorReply) return err.replies as unknown[];
      throw err;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log("upstash-gateway: request failed", { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) send(res, 500, { error: "ERR internal gateway error" });
      else res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());

  const host = opts.host ?? "127.0.0.1";
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    redis.destroy();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats: () => ({ ...counts }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => {
        try {
          redis.destroy();
        } catch {
          // already torn down
        }
      });
      return closing;
    },
  };
}

async function main(): Promise<void> {
  const token = process.env.UPSTASH_GATEWAY_TOKEN;
  if (!token) {
    console.error("UPSTASH_GATEWAY_TOKEN is required (the token clients send as UPSTASH_REDIS_REST_TOKEN)");
    process.exit(2);
  }
  const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
  const port = Number(process.env.UPSTASH_GATEWAY_PORT || 8079);
  const host = process.env.UPSTASH_GATEWAY_HOST || "127.0.0.1";
  const logLine = (msg: string, fields?: Record<string, unknown>) =>
    console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));
  const gateway = await startUpstashGateway({ redisUrl, token, port, host, log: logLine });
  logLine("upstash-gateway listening", { url: gateway.url, redisUrl });
  const shutdown = () => {
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (process.argv[1] && /upstash-gateway\.(?:ts|js|mjs|cjs)$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
