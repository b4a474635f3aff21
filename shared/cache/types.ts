/** A shared cache store of prediction values keyed by string. Implementations do no timeout handling of their own beyond what their client offers; the caller bounds each call. */
export interface CacheBackend {
  readonly name: "redis" | "upstash";
  /** One round trip for all keys; undefined where absent. Rejects on any transport/server error. */
  mget(keys: readonly string[]): Promise<(number | undefined)[]>;
  /** One round trip storing all entries with a TTL in seconds. Rejects on error. */
  mset(entries: readonly (readonly [string, number])[], ttlSeconds: number): Promise<void>;
  /** Resolves true when the backend answers PING. Rejects or false otherwise. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Encoding shared by the backends (not part of the contract above). */

/** The stored form of a value: the shortest decimal string that reads back to the same double ("-0" kept). */
export function encodeCacheValue(x: number): string {
  return Object.is(x, -0) ? "-0" : String(x);
}

const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A stored value back to a number; undefined for anything that is not a plain finite decimal (absent, garbage). */
export function decodeCacheValue(raw: unknown): number | undefined {
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw !== "string" || raw.length > 64 || !DECIMAL.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** A TTL as Redis accepts it for EX: a whole number of seconds, at least 1. */
export function normalizeTtlSeconds(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds)) throw new RangeError(`Invalid cache TTL: ${ttlSeconds}`);
  return Math.max(1, Math.ceil(ttlSeconds));
}

/** Log calls at most once per interval; reports how many were suppressed in between. */
export function rateLimitedLog(
  log: ((msg: string, fields?: Record<string, unknown>) => void) | undefined,
  intervalMs = 10_000,
): (msg: string, fields?: Record<string, unknown>) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (msg, fields) => {
    if (!log) return;
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    last = now;
    const extra = suppressed > 0 ? { suppressed } : {};
    suppressed = 0;
    try {
      log(msg, { ...fields, ...extra });
    } catch {
      // a broken logger must not break the cache
    }
  };
}
