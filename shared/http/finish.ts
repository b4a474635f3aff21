import type { Metrics } from "../ops/metrics";
import type { CoreRequest, CoreResponse } from "./core";
import type { CorsPolicy } from "./cors";
import { addSecurityHeaders } from "./security-headers";

/**
 * Finishes a response on its way out: security headers, this replica's X-App-Identifier, the CORS headers for the
 * request's origin (CORS_ALLOWED_ORIGINS), request metrics.
 */
export type Finish = (
  res: CoreResponse,
  route: string,
  method: string,
  started: number,
  req: Pick<CoreRequest, "headers">,
) => CoreResponse;

/** `started` is the request's performance.now() once routed; `route` the metrics label (the template, or "unmatched"). */
export function createFinish(instanceId: string, metrics: Metrics, cors?: CorsPolicy): Finish {
  return (res, route, method, started, req) => {
    addSecurityHeaders(res.headers);
    res.headers["x-app-identifier"] = instanceId;
    cors?.decorate(req, res);
    metrics.requests.inc({ route, method, status: String(res.status) });
    metrics.latency.observe({ route }, (performance.now() - started) / 1000);
    return res;
  };
}
