import CircuitBreaker from "opossum";
import type { Logger } from "../ops/logger";
import type { Metrics } from "../ops/metrics";
import { RowTable, ROW_WORDS, type RowBatch } from "./row-table";
import type { CacheBackend } from "./types";

export type CacheBackendName = "memory" | "redis" | "upstash" | "none";

/** Per-row prediction cache: an in-process LRU in front of an optional shared backend. Never throws. */
export interface PredictionCache {
  readonly backend: CacheBackendName;
  /**
   * Values for the rows of `batch` under a model namespace; a miss is a hole (reads as undefined, so index the array
   * rather than iterate it, and fill it before serializing it: JSON writes a hole as null); a failing shared
   * backend counts as misses. Synchronous when the process's own tier answers (no shared backend, or
   * every row found), so a cache hit costs no extra turn of the event loop.
   */
  lookup(namespace: string, batch: RowBatch, opts?: LookupOptions): LookupResult | Promise<LookupResult>;
  /** Stores `values[j]` for row `index[j]` of `batch`, without delaying the caller. */
  store(namespace: string, batch: RowBatch, index: readonly number[], values: ArrayLike<number>): void;
  status(): "ok" | "degraded";
  close(): Promise<void>;
}

export interface LookupOptions {
  /** Leave cache_hits_total / cache_misses_total alone (interval bounds count in interval_rows_total instead). */
  uncounted?: boolean;
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
  const { metrics, shared } = opts;
  const { tableFor, holding, hasTable } = namespacedTable(opts.maxEntries);
  const backendName: CacheBackendName = shared?.name ?? (hasTable ? "memory" : "none");

  const tier = shared && guardedTier(shared, opts);
  const guarded = <T>(op: "get" | "set", fn: Op<T>): Promise<T | undefined> =>
    tier ? tier.call(op, fn) : Promise.resolve(undefined);

  return {
    backend: backendName,

    lookup(namespace, batch, lookupOpts) {
      const { rows, words, hashes } = batch;
      const counted = !lookupOpts?.uncounted;
      const values: (number | undefined)[] = new Array(rows);
      const mem = tableFor(namespace);
      let hits = 0;
      let remote: number[] | undefined;
      for (let i = 0; i < rows; i++) {
        const v = mem?.get(words, i, hashes[i]!);
        // A miss stays a hole (read as undefined): storing undefined would make the array hold tagged values, and
        // every number later written into it a heap-allocated double (1,000 per 1,000-row bulk).
        if (v !== undefined) {
          values[i] = v;
          hits++;
        } else if (shared) (remote ??= []).push(i);
      }
      if (hits > 0 && counted) metrics.cacheHits.inc({ tier: "memory" }, hits);
      if (!remote) {
        if (rows > hits && counted) metrics.cacheMisses.inc(rows - hits);
        return { values, hits };
      }
      const missing = remote;
      return guarded("get", () => shared!.mget(cacheKeys(namespace, batch, missing))).then((got) => {
        const found = got ? fillFromShared(holding(namespace), batch, missing, got, values) : 0;
        if (found > 0 && counted) metrics.cacheHits.inc({ tier: shared!.name }, found);
        hits += found;
        if (rows > hits && counted) metrics.cacheMisses.inc(rows - hits);
        return { values, hits };
      });
    },

    store(namespace, batch, index, values) {
      if (index.length === 0) return;
      const mem = tableFor(namespace);
      if (mem)
        for (let j = 0; j < index.length; j++) mem.set(batch.words, index[j]!, batch.hashes[index[j]!]!, values[j]!);
      if (shared) {
        const keys = cacheKeys(namespace, batch, index);
        const entries: [string, number][] = new Array(index.length);
        for (let j = 0; j < index.length; j++) entries[j] = [keys[j]!, values[j]!];
        void guarded("set", () => shared.mset(entries, opts.ttlSeconds));
      }
    },

    status() {
      return tier ? tier.status() : "ok";
    },

    async close() {
      tier?.shutdown();
      await shared?.close();
    },
  };
}

/**
 * The in-process tier. No TTL in process: an entry is a model version's output for exact inputs, so it never goes
 * stale; the tables only bound memory (CACHE_TTL_SECONDS applies to the shared backend). One table per namespace
 * of the current model: its point values (`<model>`) and, once asked for, the bounds of an interval level
 * (`<model>/interval-0.9-low`, …); a namespace of another model drops them all.
 */
function namespacedTable(maxEntries: number) {
  const tables = new Map<string, RowTable>();
  let currentModel: string | undefined;
  // The namespace asked for last and its table: nearly every lookup asks for the same one, and splitting the
  // name on each call allocated (0.3 µs of a cached /predict's ~20 µs in the profile).
  let last: { namespace: string; table: RowTable } | undefined;
  return {
    hasTable: maxEntries > 0,
    tableFor(namespace: string): RowTable | undefined {
      if (maxEntries <= 0) return undefined;
      if (last?.namespace === namespace) return last.table;
      const model = namespace.split("/", 1)[0];
      if (model !== currentModel) {
        tables.clear();
        currentModel = model;
      }
      let table = tables.get(namespace);
      if (!table) tables.set(namespace, (table = new RowTable(maxEntries)));
      last = { namespace, table };
      return table;
    },
    /** The table if it still holds `namespace`: it may have moved on to another model while the backend answered. */
    holding: (namespace: string): RowTable | undefined => tables.get(namespace),
  };
}

/** Copies the shared backend's answers for rows `missing` into `values` (and `table`); the hits it found. */
function fillFromShared(
  table: RowTable | undefined,
  batch: RowBatch,
  missing: readonly number[],
  got: readonly (number | undefined)[],
  values: (number | undefined)[],
): number {
  let found = 0;
  for (let j = 0; j < missing.length; j++) {
    const v = got[j];
    if (v === undefined) continue;
    const i = missing[j]!;
    values[i] = v;
    table?.set(batch.words, i, batch.hashes[i]!, v);
    found++;
  }
  return found;
}

/** What a failed guarded call counts as in cache_errors_total. */
function reasonOf(err: unknown): "timeout" | "circuit_open" | "error" {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === "ETIMEDOUT") return "timeout";
  if (code === "EOPENBREAKER") return "circuit_open";
  return "error";
}

/**
 * Calls to the shared backend behind the circuit breaker: each bounded, a failure answered as undefined (a miss)
 * and counted; "degraded" while the circuit is not closed or a call failed in the last 5 s.
 */
function guardedTier(shared: CacheBackend, opts: CacheOptions) {
  const { metrics, logger } = opts;
  const breaker = createBreaker(shared, opts);
  let lastFailure = 0;
  return {
    async call<T>(op: "get" | "set", fn: Op<T>): Promise<T | undefined> {
      metrics.cacheCalls.inc({ backend: shared.name, op });
      try {
        return (await breaker.fire(fn)) as T;
      } catch (err) {
        const reason = reasonOf(err);
        if (reason !== "circuit_open") lastFailure = Date.now();
        metrics.cacheErrors.inc({ backend: shared.name, op, reason });
        if (reason === "error") logger.debug("cache call failed", { backend: shared.name, op, error: String(err) });
        return undefined;
      }
    },
    status(): "ok" | "degraded" {
      if (breaker.opened || breaker.halfOpen) return "degraded";
      return Date.now() - lastFailure < 5_000 ? "degraded" : "ok";
    },
    shutdown: () => breaker.shutdown(),
  };
}

/** The breaker in front of the shared backend; its state is the cache_circuit_open gauge (and a log line). */
function createBreaker(shared: CacheBackend, opts: CacheOptions): CircuitBreaker<[Op<unknown>], unknown> {
  const { metrics, logger } = opts;
  const breaker = new CircuitBreaker((op: Op<unknown>) => op(), {
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
  return breaker;
}

/**
 * Shared-backend keys for some rows of a batch: the model namespace (version and sha256 prefix, see
 * ModelInfo) plus the base64 of the row's exact float32 bits, so two inputs share a key exactly when the
 * model cannot tell them apart, and a new model version never reads old values.
 */
export function cacheKeys(namespace: string, batch: Pick<RowBatch, "tensor">, index: readonly number[]): string[] {
  const { tensor } = batch;
  const bytes = Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength);
  const prefix = `hp:${namespace}:`;
  const rowBytes = ROW_WORDS * 4;
  return index.map((r) => prefix + bytes.toString("base64", r * rowBytes, (r + 1) * rowBytes));
}
