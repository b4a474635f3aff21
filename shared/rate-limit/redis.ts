import type { RedisConnection } from "../cache/redis";
import { flexibleLimiter, loadFlexible } from "./flexible";
import { KEY_PREFIX, type LimitPolicy, type RateLimiter } from "./types";

/**
 * Budgets shared by every replica through Redis, on the cache's connection (shared/cache/shared-store.ts): no
 * second client, and the same connection policy. While Redis is not ready, calls fail at once (and open).
 * Closing the limiter leaves the connection to its owner.
 */
export function createRedisLimiter(connection: RedisConnection, policy: LimitPolicy): RateLimiter {
  const { RateLimiterRedis } = loadFlexible();
  const store = new RateLimiterRedis({
    storeClient: connection.client,
    useRedisPackage: true,
    rejectIfRedisNotReady: true,
    keyPrefix: KEY_PREFIX,
    points: policy.points,
    duration: policy.windowSeconds,
  });
  return flexibleLimiter(store, "redis", policy);
}
