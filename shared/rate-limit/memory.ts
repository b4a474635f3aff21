import { flexibleLimiter, loadFlexible } from "./flexible";
import type { LimitPolicy, RateLimiter } from "./types";

/** Per-process budgets (one replica, or no shared store): each replica counts on its own. */
export function createMemoryLimiter(policy: LimitPolicy): RateLimiter {
  const { RateLimiterMemory } = loadFlexible();
  const store = new RateLimiterMemory({ points: policy.points, duration: policy.windowSeconds });
  return flexibleLimiter(store, "memory", policy);
}
