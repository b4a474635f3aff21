import type * as UpstashRatelimitModule from "@upstash/ratelimit";
import type { UpstashClient } from "../cache/upstash";
import { KEY_PREFIX, openDecision, type LimitPolicy, type RateLimiter } from "./types";

/** Budgets shared by every replica through Upstash (@upstash/ratelimit), on the cache's REST client. */
export function createUpstashLimiter(client: UpstashClient, policy: LimitPolicy): RateLimiter {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when rate limiting is on
  const { Ratelimit } = require("@upstash/ratelimit") as typeof UpstashRatelimitModule;
  const { points } = policy;
  const rl = new Ratelimit({
    redis: client,
    limiter: Ratelimit.fixedWindow(points, `${policy.windowSeconds} s`),
    prefix: KEY_PREFIX,
    analytics: false,
    timeout: policy.timeoutMs,
    enableProtection: false,
  });
  return {
    backend: "upstash",
    async check(id) {
      try {
        const r = await rl.limit(id);
        // @upstash/ratelimit itself lets a request through when its call times out.
        if (r.reason === "timeout") return openDecision(points);
        return {
          allowed: r.success,
          limit: r.limit,
          remaining: r.remaining,
          resetMs: Math.max(0, r.reset - Date.now()),
        };
      } catch (err) {
        policy.onError("upstash", err);
        return openDecision(points);
      }
    },
    close: async () => undefined,
  };
}
