import type * as RedisModule from "redis";
import type * as RlfModule from "rate-limiter-flexible";
import type * as UpstashRatelimitModule from "@upstash/ratelimit";
import type * as UpstashRedisModule from "@upstash/redis";
import type { Config } from "../ops/config";
import type { Logger } from "../ops/logger";
import { reconnectDelayMs } from "../cache/redis";

/** What the limiter decided for one request. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
  /** True when the backend failed and the request was let through (fail open). */
  failedOpen?: boolean;
}

export interface RateLimiter {
  readonly backend: "memory" | "redis" | "upstash";
  check(clientId: string): Promise<RateDecision>;
  close(): Promise<void>;
}

/**
 * The limiter for the configured backend (Upstash, else Redis, else in-process), or undefined when
 * RATE_LIMIT_REQUESTS is 0. Fails OPEN on purpose: a limiter backend that errors or takes longer than
 * `timeoutMs` lets the request through (counted by the caller), since refusing all traffic because
 * Redis hiccups would turn a cache outage into a full outage.
 */
export function createRateLimiter(config: Config, logger: Logger, timeoutMs: number): RateLimiter | undefined {
  const points = config.RATE_LIMIT_REQUESTS;
  if (points <= 0) return undefined;
  const window = config.RATE_LIMIT_WINDOW_SECONDS;
  const keyPrefix = "rl";
  const openDecision = (): RateDecision => ({
    allowed: true,
    limit: points,
    remaining: points,
    resetMs: 0,
    failedOpen: true,
  });

  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when rate limiting is on */
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    const { Ratelimit } = require("@upstash/ratelimit") as typeof UpstashRatelimitModule;
    const { Redis } = require("@upstash/redis") as typeof UpstashRedisModule;
    const redis = new Redis({
      url: config.UPSTASH_REDIS_REST_URL,
      token: config.UPSTASH_REDIS_REST_TOKEN,
      retry: { retries: 0 },
      enableTelemetry: false,
      enableAutoPipelining: false,
    });
    const rl = new Ratelimit({
      redis,
      limiter: Ratelimit.fixedWindow(points, `${window} s`),
      prefix: keyPrefix,
      analytics: false,
      timeout: timeoutMs,
      enableProtection: false,
    });
    return {
      backend: "upstash",
      async check(id) {
        try {
          const r = await rl.limit(id);
          // @upstash/ratelimit itself lets a request through when its call times out.
          if (r.reason === "timeout") return openDecision();
          return {
            allowed: r.success,
            limit: r.limit,
            remaining: r.remaining,
            resetMs: Math.max(0, r.reset - Date.now()),
          };
        } catch (err) {
          logger.debug("rate limiter failed", { backend: "upstash", error: String(err).slice(0, 200) });
          return openDecision();
        }
      },
      close: async () => undefined,
    };
  }

  const rlf = require("rate-limiter-flexible") as typeof RlfModule;
  let store: RlfModule.RateLimiterAbstract;
  let close = async () => {};
  let backend: RateLimiter["backend"] = "memory";
  if (config.REDIS_URL) {
    const { createClient } = require("redis") as typeof RedisModule;
    const client = createClient({
      url: config.REDIS_URL,
      disableOfflineQueue: true,
      // Same connection policy as the cache's client (shared/cache/redis.ts).
      maintNotifications: "disabled",
      socket: { connectTimeout: 2000, reconnectStrategy: reconnectDelayMs },
    });
    client.on("error", () => undefined);
    void client.connect().catch(() => undefined);
    store = new rlf.RateLimiterRedis({
      storeClient: client,
      useRedisPackage: true,
      rejectIfRedisNotReady: true,
      keyPrefix,
      points,
      duration: window,
    });
    backend = "redis";
    close = async () => {
      await client.close().catch(() => undefined);
    };
  } else {
    store = new rlf.RateLimiterMemory({ points, duration: window });
  }
  /* eslint-enable @typescript-eslint/no-require-imports */

  const isRes = (x: unknown): x is RlfModule.RateLimiterRes =>
    typeof x === "object" && x !== null && "msBeforeNext" in x && "remainingPoints" in x;

  return {
    backend,
    async check(id) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      try {
        const res = await Promise.race([store.consume(id), timeout]);
        if (res === "timeout") return openDecision();
        return { allowed: true, limit: points, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
      } catch (err) {
        if (isRes(err)) return { allowed: false, limit: points, remaining: 0, resetMs: err.msBeforeNext };
        logger.debug("rate limiter failed", { backend, error: String(err).slice(0, 200) });
        return openDecision();
      } finally {
        clearTimeout(timer);
      }
    },
    close,
  };
}

/**
 * A client's identity for limiting: its API key when that key is verified (by its SHA-256 digest from the
 * key check, never the raw key), else its address. Behind a proxy (TRUST_PROXY) the address is the last X-Forwarded-For entry, the one
 * the trusted proxy appended; earlier entries are whatever the client wrote and are ignored.
 */
export function clientIdentity(
  headers: Record<string, string | undefined>,
  remoteAddress: string | undefined,
  trustProxy: boolean,
  verifiedKeyDigest: Buffer | undefined,
): string {
  if (verifiedKeyDigest) return "key:" + verifiedKeyDigest.toString("hex", 0, 16);
  if (trustProxy) {
    const forwarded = lastForwardedFor(headers["x-forwarded-for"]);
    if (forwarded) return "ip:" + forwarded;
  }
  return "ip:" + (remoteAddress ?? "unknown");
}

/** The last hop of an X-Forwarded-For list, without a port (`1.2.3.4:5678`, `[::1]:80`). */
export function lastForwardedFor(header: string | undefined): string | undefined {
  const last = header?.split(",").pop()?.trim();
  if (!last) return undefined;
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(last);
  if (v6) return v6[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(last);
  return v4 ? v4[1] : last;
}

/** The API key a request carries: `X-API-Key`, or `Authorization: Bearer <key>`. */
export function presentedApiKey(headers: Record<string, string | undefined>): string | undefined {
  const direct = headers["x-api-key"];
  if (direct) return direct;
  const auth = headers["authorization"];
  if (auth && auth.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim() || undefined;
  return undefined;
}
