import type * as UpstashModule from "@upstash/redis";
import type { CacheBackend } from "./types";
import { decodeCacheValue, encodeCacheValue, normalizeTtlSeconds } from "./types";

export interface UpstashBackendOptions {
  /**
   * Abort each HTTP request after this long (default 5,000 ms; 0 = never). This only stops abandoned
   * requests from piling up: the caller's own, shorter bound decides hit or miss. Without it a request to
   * a hung endpoint would live until undici's 300 s headers timeout.
   */
  requestTimeoutMs?: number;
}

/** An @upstash/redis REST client. */
export type UpstashClient = InstanceType<typeof UpstashModule.Redis>;

/**
 * The REST client with the service's policy, built once per process for every Upstash user (cache, rate limiter):
 *
 * - No retries (`retry: { retries: 0 }` — note that `retry: false` in @upstash/redis still retries once),
 *   no auto-pipelining (each call is its own request, so one slow call does not delay others),
 *   no read-your-writes sync token, no telemetry headers, raw strings (no JSON deserialization).
 * - Replies use the library default `Upstash-Encoding: base64`, decoded by the library.
 */
export function createUpstashClient(url: string, token: string, opts: UpstashBackendOptions = {}): UpstashClient {
  const timeoutMs = opts.requestTimeoutMs ?? 5_000;
  // Required here, not at module scope, so the in-memory default never loads the client (cold start).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Redis } = require("@upstash/redis") as typeof UpstashModule;
  return new Redis({
    url,
    token,
    retry: { retries: 0 },
    automaticDeserialization: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    readYourWrites: false,
    // A function: a fresh signal per request, and an abort REJECTS. (With a plain AbortSignal the library
    // turns an abort into a successful reply whose result is the abort reason.)
    ...(timeoutMs > 0 ? { signal: () => AbortSignal.timeout(timeoutMs) } : {}),
  });
}

/** A cache backend on Upstash Redis over REST (`fetch`), on a client of its own. */
export function createUpstashBackend(url: string, token: string, opts: UpstashBackendOptions = {}): CacheBackend {
  return upstashBackendOn(createUpstashClient(url, token, opts));
}

/**
 * A cache backend on an Upstash REST client (possibly shared with the rate limiter).
 * mget: one POST / of ["mget", ...keys]; mset: one POST /pipeline of SET key value EX ttl.
 */
export function upstashBackendOn(redis: UpstashClient): CacheBackend {
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new Error("Upstash cache backend is closed");
  }

  return {
    name: "upstash",

    async mget(keys) {
      if (keys.length === 0) return [];
      ensureOpen();
      const raw: unknown = await redis.mget(...keys);
      if (!Array.isArray(raw) || raw.length !== keys.length) {
        throw new Error(`Unexpected MGET reply from Upstash (${Array.isArray(raw) ? raw.length : typeof raw})`);
      }
      return keys.map((_, i) => decodeCacheValue(raw[i]));
    },

    async mset(entries, ttlSeconds) {
      const ex = normalizeTtlSeconds(ttlSeconds);
      const pipeline = redis.pipeline();
      let n = 0;
      for (const [key, value] of entries) {
        if (!Number.isFinite(value)) continue; // never cache garbage
        pipeline.set(key, encodeCacheValue(value), { ex });
        n++;
      }
      if (n === 0) return;
      ensureOpen();
      // Rejects if the request fails or any SET reports an error.
      await pipeline.exec();
    },

    async ping() {
      ensureOpen();
      return (await redis.ping()) === "PONG";
    },

    async close() {
      // Stateless HTTP; connections belong to the global fetch dispatcher.
      closed = true;
    },
  };
}
