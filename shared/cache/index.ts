import CircuitBreaker from "opossum";
import { LRUCache } from "lru-cache";
import type { Logger } from "../logger";
import type { Metrics } from "../metrics";
import { BIG_ROWS, nextTurn } from "../turns";
import type { CacheBackend } from "./types";

export type CacheBackendName = "memory" | "redis" | "upstash" | "none";

/** Per-row prediction cache: an in-process LRU in front of an optional shared backend. Never throws. */
export interface PredictionCache {
  readonly backend: CacheBackendName;
  /** Values for the keys, undefined for misses; a failing shared backend counts as misses. */
  lookup(keys: readonly string[]): Promise<LookupResult>;
  /** Stores values without delaying the caller. */
  store(entries: readonly (readonly [string, number])[]): void;
  status(): "ok" | "degraded";
  close(): Promise<void>;
}

export interface LookupResult {
  values: (number | undefined)[];
  hits: number;
}

export interface CacheOptions {
  maxEntries: number;
  ttlSeconds: number;
  timeoutMs: number;
  /** How long the breaker stays open before probing the backend again. */
  resetMs?: number;
  shared?: CacheBackend;
  metrics: Metrics;
  logger: Logger;
}

type Op<T> = () => Promise<T>;

/**
 * Builds the cache. Failure policy (on purpose): the cache fails OPEN. Every shared-backend call is
 * bounded by `timeoutMs`; an error, a timeout or an open circuit is a miss, counted in
 * cache_errors_total. After repeated failures the circuit opens and the backend is not called for
 * `resetMs`, then one probe decides whether it closes again, so the cache comes back by itself.
 */
export function createPredictionCache(opts: CacheOptions): PredictionCache {
  const { metrics, logger, shared } = opts;
  // No TTL in process: a key names a model version and exact inputs, so its value never goes stale;
  // the LRU only bounds memory. CACHE_TTL_SECONDS applies to the shared backend.
  const lru = opts.maxEntries > 0 ? new LRUCache<string, number>({ max: opts.maxEntries }) : undefined;
  const backendName: CacheBackendName = shared?.name ?? (lru ? "memory" : "none");

  let breaker: CircuitBreaker<[Op<unknown>], unknown> | undefined;
  let lastFailure = 0;
  if (shared) {
    breaker = new CircuitBreaker((op: Op<unknown>) => op(), {
      timeout: opts.timeoutMs,
      resetTimeout: opts.resetMs ?? 2000,
      // A short window: at thousands of calls a second, a 10 s window full of earlier successes would
      // keep the circuit closed for seconds while every call waits out its timeout.
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      rollingCountTimeout: 500,
      rollingCountBuckets: 5,
    });
    breaker.on("open", () => {
      metrics.cacheCircuit.set({ backend: shared.name }, 1);
      logger.warn("cache circuit open", { backend: shared.name });
    });
    breaker.on("close", () => {
      metrics.cacheCircuit.set({ backend: shared.name }, 0);
      logger.info("cache circuit closed", { backend: shared.name });
    });
    metrics.cacheCircuit.set({ backend: shared.name }, 0);
  }

  const reasonOf = (err: unknown): string => {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (code === "ETIMEDOUT") return "timeout";
    if (code === "EOPENBREAKER") return "circuit_open";
    return "error";
  };

  async function guarded<T>(op: "get" | "set", fn: Op<T>): Promise<T | undefined> {
    if (!breaker || !shared) return undefined;
    try {
      return (await breaker.fire(fn)) as T;
    } catch (err) {
      const reason = reasonOf(err);
      if (reason !== "circuit_open") lastFailure = Date.now();
      metrics.cacheErrors.inc({ backend: shared.name, op, reason });
      if (reason === "error") logger.debug("cache call failed", { backend: shared.name, op, error: String(err) });
      return undefined;
    }
  }

  return {
    backend: backendName,

    async lookup(keys) {
      const values: (number | undefined)[] = new Array(keys.length);
      let hits = 0;
      const remote: number[] = [];
      for (let i = 0; i < keys.length; i++) {
        const v = lru?.get(keys[i]!);
        values[i] = v;
        if (v === undefined) remote.push(i);
        else hits++;
      }
      if (hits > 0) metrics.cacheHits.inc({ tier: "memory" }, hits);
      if (shared && remote.length > 0) {
        const got = await guarded("get", () => shared.mget(remote.map((i) => keys[i]!)));
        if (got) {
          let remoteHits = 0;
          for (let j = 0; j < remote.length; j++) {
            const v = got[j];
            if (v === undefined) continue;
            const i = remote[j]!;
            values[i] = v;
            lru?.set(keys[i]!, v);
            remoteHits++;
          }
          if (remoteHits > 0) metrics.cacheHits.inc({ tier: shared.name }, remoteHits);
          hits += remoteHits;
        }
      }
      const misses = keys.length - hits;
      if (misses > 0) metrics.cacheMisses.inc(misses);
      return { values, hits };
    },

    store(entries) {
      if (entries.length === 0) return;
      if (shared) void guarded("set", () => shared.mset(entries, opts.ttlSeconds));
      if (!lru) return;
      if (entries.length < BIG_ROWS) {
        for (const [k, v] of entries) lru.set(k, v);
        return;
      }
      // A big fill takes turns with I/O, slice by slice, after the response has gone out.
      void (async () => {
        for (let start = 0; start < entries.length; start += BIG_ROWS) {
          await nextTurn();
          const end = Math.min(entries.length, start + BIG_ROWS);
          for (let i = start; i < end; i++) lru.set(entries[i]![0], entries[i]![1]);
        }
      })();
    },

    status() {
      if (!breaker) return "ok";
      if (breaker.opened || breaker.halfOpen) return "degraded";
      return Date.now() - lastFailure < 5_000 ? "degraded" : "ok";
    },

    async close() {
      breaker?.shutdown();
      await shared?.close();
    },
  };
}
