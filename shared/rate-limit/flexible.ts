import type * as RlfModule from "rate-limiter-flexible";
import { openDecision, type LimitPolicy, type RateLimiter } from "./types";

const isRes = (x: unknown): x is RlfModule.RateLimiterRes =>
  typeof x === "object" && x !== null && "msBeforeNext" in x && "remainingPoints" in x;

/**
 * A limiter over a rate-limiter-flexible store (memory.ts, redis.ts): each call bounded by the policy's
 * timeout, a refusal read from the library's rejection, any other error or a timeout a failed-open decision.
 */
export function flexibleLimiter(
  store: RlfModule.RateLimiterAbstract,
  backend: RateLimiter["backend"],
  policy: LimitPolicy,
): RateLimiter {
  const { points, timeoutMs } = policy;
  return {
    backend,
    async check(id) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      try {
        const res = await Promise.race([store.consume(id), timeout]);
        if (res === "timeout") return openDecision(points);
        return { allowed: true, limit: points, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
      } catch (err) {
        if (isRes(err)) return { allowed: false, limit: points, remaining: 0, resetMs: err.msBeforeNext };
        policy.onError(backend, err);
        return openDecision(points);
      } finally {
        clearTimeout(timer);
      }
    },
    // The store owns no connection of its own (the Redis client is the service's shared one): nothing to close.
    close: async () => undefined,
  };
}

/** rate-limiter-flexible, loaded only when rate limiting is on. */
export function loadFlexible(): typeof RlfModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("rate-limiter-flexible") as typeof RlfModule;
}
