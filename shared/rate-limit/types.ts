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

/** A per-client request budget over a fixed window; one implementation per backend. */
export interface RateLimiter {
  readonly backend: "memory" | "redis" | "upstash";
  /** Counts one request of `clientId`. Never rejects: a failing backend answers a `failedOpen` decision. */
  check(clientId: string): Promise<RateDecision>;
  close(): Promise<void>;
}

/** What every backend is built from. */
export interface LimitPolicy {
  /** Requests per window (RATE_LIMIT_REQUESTS, > 0). */
  points: number;
  /** Window length in seconds (RATE_LIMIT_WINDOW_SECONDS). */
  windowSeconds: number;
  /** Bound on each backend call; past it the request is let through. */
  timeoutMs: number;
  /** Where backend failures are reported (debug level: they are counted in metrics by the caller). */
  onError(backend: RateLimiter["backend"], err: unknown): void;
}

/** Key prefix of every limiter key in a shared store. */
export const KEY_PREFIX = "rl";

/** The decision when the backend failed or took too long: let the request through, and say so. */
export function openDecision(points: number): RateDecision {
  return { allowed: true, limit: points, remaining: points, resetMs: 0, failedOpen: true };
}
