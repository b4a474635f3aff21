import type { ApiKeyCheck } from "../access/api-keys";
import { clientIdentity } from "../access/client-identity";
import type { Config } from "../ops/config";
import type { Metrics } from "../ops/metrics";
import type { RateDecision, RateLimiter } from "../rate-limit";
import type { CoreRequest, CoreResponse } from "./core";
import type { Endpoint } from "./endpoint";
import { problemResponse } from "./problems";

/** The guard's verdict: a response that stops the request, and/or headers to add to the endpoint's answer. */
export interface Checked {
  stop?: CoreResponse;
  headers?: Record<string, string>;
}

/**
 * Access and abuse checks before any work: 401 without a valid key, 429 over the limit. Synchronous unless a
 * rate limiter has to be asked, so an open endpoint costs no extra turn of the event loop.
 */
export type Guard = (endpoint: Endpoint, req: CoreRequest) => Checked | Promise<Checked>;

export interface GuardDeps {
  config: Pick<Config, "TRUST_PROXY" | "RATE_LIMIT_WINDOW_SECONDS">;
  metrics: Metrics;
  /** undefined: no API keys configured (every endpoint open). */
  apiKeyCheck: ApiKeyCheck | undefined;
  /** undefined: no rate limit. */
  limiter: RateLimiter | undefined;
}

const PASS: Checked = {};

export function createGuard({ config, metrics, apiKeyCheck, limiter }: GuardDeps): Guard {
  const window = config.RATE_LIMIT_WINDOW_SECONDS;

  function unauthorized(): Checked {
    metrics.rejected.inc({ reason: "unauthorized" });
    return {
      stop: problemResponse({
        code: "unauthorized",
        detail: "Send a valid API key in X-API-Key or Authorization: Bearer",
        headers: { "www-authenticate": 'Bearer realm="house-price"' },
      }),
    };
  }

  /** RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers) on a passed request, a 429 on a refused one. */
  function rateDecision(d: RateDecision): Checked {
    metrics.rateLimit.inc({ result: d.failedOpen ? "failed_open" : d.allowed ? "allowed" : "limited" });
    if (d.failedOpen) return PASS;
    const reset = String(Math.ceil(d.resetMs / 1000));
    const headers = {
      "ratelimit-policy": `${d.limit};w=${window}`,
      "ratelimit-limit": String(d.limit),
      "ratelimit-remaining": String(d.remaining),
      "ratelimit-reset": reset,
    };
    if (d.allowed) return { headers };
    return {
      stop: problemResponse({
        code: "rate_limited",
        detail: `Rate limit of ${d.limit} requests per ${window} s exceeded; retry in ${reset} s`,
        headers: { ...headers, "retry-after": String(Math.max(1, Number(reset))) },
      }),
    };
  }

  return (endpoint, req) => {
    // /health, /metrics, the docs: nothing to verify or count (the key check hashes the presented key).
    if (!endpoint.apiKey && !(endpoint.rateLimited && limiter)) return PASS;
    // A key identifies a client only once it is verified: made-up keys must not mint fresh buckets.
    const verifiedKey = apiKeyCheck?.(req.headers);
    const needsKey = endpoint.apiKey && apiKeyCheck && verifiedKey === undefined;
    if (endpoint.rateLimited && limiter) {
      const id = clientIdentity(req.headers, req.remoteAddress, config.TRUST_PROXY, verifiedKey);
      return limiter.check(id).then((d) => {
        const limited = rateDecision(d);
        // Over the limit is 429 whatever the key: the limit counts every request of the client, keyed or not.
        return limited.stop || !needsKey ? limited : unauthorized();
      });
    }
    return needsKey ? unauthorized() : PASS;
  };
}
