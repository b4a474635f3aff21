import type * as RedisModule from "redis";
import type { CacheBackend } from "./types";
import { decodeCacheValue, encodeCacheValue, normalizeTtlSeconds, rateLimitedLog } from "./types";

export interface RedisBackendOptions {
  /** Bound on each TCP connect attempt (default 2,000 ms). */
  connectTimeoutMs?: number;
  /** Where connection errors go (rate-limited: at most one line per 10 s). */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Delay before reconnect attempt `retries` (0-based): 0, 100, 200, … capped at 2 s, forever. */
function reconnectDelayMs(retries: number): number {
  return Math.min(retries * 100, 2_000);
}

/** An error thrown while the client is not connected (the call was not sent). */
export class RedisUnavailableError extends Error {
  constructor(message = "Redis is not connected") {
    super(message);
    this.name = "RedisUnavailableError";
  }
}

/** A node-redis client speaking RESP2, without modules, functions or scripts (node-redis spells "none" `{}`). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type RedisClient = RedisModule.RedisClientType<{}, {}, {}, 2, {}>;

/** One node-redis client with the service's connection policy, shared by the cache and the rate limiter. */
export interface RedisConnection {
  readonly client: RedisClient;
  /** Closes gracefully (in-flight writes finish, at most 1 s), then tears the socket down. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens a connection to `url`, once per process for every Redis user (cache, rate limiter):
 *
 * - Never throws and never blocks at creation: the client connects in the background and reconnects by
 *   itself forever (backoff min(retries*100, 2000) ms), so hits come back once the server does.
 * - Fails fast while disconnected: commands are not queued offline; they reject at once.
 * - Connection 'error' events are logged (rate-limited) and otherwise swallowed.
 * - node-redis applies its own default command timeout (5 s) to single commands; the callers' bounds are
 *   expected to be far shorter.
 */
export function createRedisConnection(url: string, opts: RedisBackendOptions = {}): RedisConnection {
  const logError = rateLimitedLog(opts.log);
  // Required here, not at module scope, so the in-memory default never loads the client (cold start).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createClient } = require("redis") as typeof RedisModule;
  const client = createClient({
    url,
    RESP: 2,
    disableOfflineQueue: true,
    // No CLIENT MAINT_NOTIFICATIONS handshake (Redis Enterprise only; also does a DNS lookup at connect).
    maintNotifications: "disabled",
    socket: {
      connectTimeout: opts.connectTimeoutMs ?? 2_000,
      reconnectStrategy: (retries: number) => reconnectDelayMs(retries),
    },
  });
  let closed = false;
  let wasReady = false;
  client.on("error", (err: unknown) => {
    logError("redis cache connection error", { error: err instanceof Error ? err.message : String(err) });
  });
  client.on("ready", () => {
    if (wasReady) {
      try {
        opts.log?.("redis cache reconnected");
      } catch {
        // ignore a broken logger
      }
    }
    wasReady = true;
  });
  // The initial connect retries under the same strategy; it only settles once connected or closed.
  client.connect().catch((err: unknown) => {
    if (!closed) logError("redis cache connect failed", { error: err instanceof Error ? err.message : String(err) });
  });
  return {
    client,
    async close() {
      if (closed) return;
      closed = true;
      if (client.isReady) {
        // Graceful: lets in-flight writes finish, bounded so shutdown never hangs on a stuck server.
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1_000);
          timer.unref();
        });
        await Promise.race([client.close().catch(() => undefined), timeout]);
        clearTimeout(timer);
      }
      try {
        client.destroy();
      } catch {
        // already torn down
      }
    },
  };
}

/**
 * A cache backend on Redis over TCP (node-redis): on its own connection to `url`, closed with the backend, or on
 * a connection shared with other users (the rate limiter), which its owner closes.
 */
export function createRedisBackend(target: string | RedisConnection, opts: RedisBackendOptions = {}): CacheBackend {
  const owned = typeof target === "string";
  const connection = owned ? createRedisConnection(target, opts) : target;
  const { client } = connection;
  let closed = false;

  function ensureUsable(): void {
    if (closed) throw new RedisUnavailableError("Redis cache backend is closed");
    // node-redis also rejects offline commands itself (disableOfflineQueue); this gives one clear error.
    if (!client.isReady) throw new RedisUnavailableError();
  }

  return {
    name: "redis",

    async mget(keys) {
      if (keys.length === 0) return [];
      ensureUsable();
      const raw = await client.mGet([...keys]);
      return keys.map((_, i) => decodeCacheValue(raw[i]));
    },

    async mset(entries, ttlSeconds) {
      const ttl = String(normalizeTtlSeconds(ttlSeconds));
      const sets: string[][] = [];
      for (const [key, value] of entries) {
        if (!Number.isFinite(value)) continue; // never cache garbage
        sets.push(["SET", key, encodeCacheValue(value), "EX", ttl]);
      }
      if (sets.length === 0) return;
      ensureUsable();
      // Issued in the same tick, node-redis writes them all in one corked socket write (auto-pipelining):
      // one round trip, no MULTI/EXEC. Unlike multi().execAsPipeline(), each command keeps node-redis's
      // offline check and default command timeout. Rejects if any SET fails or the connection drops.
      await Promise.all(sets.map((args) => client.sendCommand(args)));
    },

    async ping() {
      ensureUsable();
      return (await client.ping()) === "PONG";
    },

    async close() {
      closed = true;
      if (owned) await connection.close();
    },
  };
}
