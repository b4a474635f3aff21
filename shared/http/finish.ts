import type { Metrics } from "../ops/metrics";
import type { CoreResponse } from "./core";
import { addSecurityHeaders } from "./security-headers";

/** Finishes a response on its way out: security headers, this replica's X-App-Identifier, request metrics. */
export type Finish = (res: CoreResponse, route: string, method: string, started: number) => CoreResponse;

/** `started` is the request's performance.now() on arrival; `route` the metrics label (the template, or "unmatched"). */
export function createFinish(instanceId: string, metrics: Metrics): Finish {
  return (res, route, method, started) => {
    addSecurityHeaders(res.headers);
    res.headers["x-app-identifier"] = instanceId;
    metrics.requests.inc({ route, method, status: String(res.status) });
    metrics.latency.observe({ route }, (performance.now() - started) / 1000);
    return res;
  };
}
