import type { Config } from "../ops/config";
import type { Logger } from "../ops/logger";
import { createRedisBackend, createRedisConnection, type RedisConnection } from "./redis";
import type { CacheBackend } from "./types";
import { createUpstashClient, upstashBackendOn, type UpstashClient } from "./upstash";

/**
 * The shared store of the configured backend: one client per process, used by the cache and by the rate limiter
 * alike (same connection options, one connection to close). Upstash wins when both are configured.
 */
export type SharedStore =
  | { kind: "upstash"; client: UpstashClient; close(): Promise<void> }
  | { kind: "redis"; connection: RedisConnection; close(): Promise<void> };

/** Opens the configured shared store, or undefined when neither Upstash nor Redis is configured. */
export function openSharedStore(config: Config, logger: Logger): SharedStore | undefined {
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    const client = createUpstashClient(config.UPSTASH_REDIS_REST_URL, config.UPSTASH_REDIS_REST_TOKEN);
    // Stateless HTTP; connections belong to the global fetch dispatcher.
    return { kind: "upstash", client, close: async () => undefined };
  }
  if (config.REDIS_URL) {
    const connection = createRedisConnection(config.REDIS_URL, {
      log: (msg, fields) => logger.warn(msg, { ...fields }),
    });
    return { kind: "redis", connection, close: () => connection.close() };
  }
  return undefined;
}

/** The cache backend on a shared store; closing the backend leaves the store's connection to its owner. */
export function cacheBackendOn(store: SharedStore): CacheBackend {
  return store.kind === "upstash" ? upstashBackendOn(store.client) : createRedisBackend(store.connection);
}
