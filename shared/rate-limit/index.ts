import type { SharedStore } from "../cache/shared-store";
import type { Config } from "../ops/config";
import type { Logger } from "../ops/logger";
import { createMemoryLimiter } from "./memory";
import { createRedisLimiter } from "./redis";
import type { LimitPolicy, RateLimiter } from "./types";
import { createUpstashLimiter } from "./upstash";

export type { RateDecision, RateLimiter } from "./types";

/**
 * The limiter for the configured backend: the shared store's (Upstash, else Redis) when there is one, else
 * in-process; undefined when RATE_LIMIT_REQUESTS is 0. Fails OPEN on purpose: a limiter backend that errors or
 * takes longer than `timeoutMs` lets the request through (counted by the caller), since refusing all traffic
 * because Redis hiccups would turn a cache outage into a full outage.
 */
export function createRateLimiter(
  config: Config,
  logger: Logger,
  timeoutMs: number,
  store: SharedStore | undefined,
): RateLimiter | undefined {
  if (config.RATE_LIMIT_REQUESTS <= 0) return undefined;
  const policy: LimitPolicy = {
    points: config.RATE_LIMIT_REQUESTS,
    windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
    timeoutMs,
    onError: (backend, err) => logger.debug("rate limiter failed", { backend, error: String(err).slice(0, 200) }),
  };
  if (store?.kind === "upstash") return createUpstashLimiter(store.client, policy);
  if (store?.kind === "redis") return createRedisLimiter(store.connection, policy);
  return createMemoryLimiter(policy);
}
