import type { Logger } from "../ops/logger";
import type { BodyAdmission } from "./body-admission";
import type { CoreRequest, CoreResponse } from "./core";
import type { CorsPolicy } from "./cors";
import type { Endpoint } from "./endpoint";
import type { Finish } from "./finish";
import type { Guard } from "./guard";
import { problemResponse } from "./problems";
import type { RouteMatch, Router } from "./router";

export interface Pipeline {
  /** Routes a request to its endpoint (404/405 otherwise) and runs it. */
  handle(req: CoreRequest): Promise<CoreResponse>;
  /** Runs one endpoint (the Azure adapter routes by itself). */
  run(endpoint: Endpoint, req: CoreRequest): Promise<CoreResponse>;
}

/**
 * How an endpoint family words its errors: every non-2xx answer on a path under `prefix` (the handler's, the
 * guard's 401/429, the router's 404/405, a crash's 500) passes through `format`, which keeps its status and
 * headers. The Open Inference Protocol's `{"error": "..."}` under /v2 is one; everything else stays problem+json.
 */
export interface ErrorFormat {
  /** A path prefix, e.g. "/v2": the path itself and everything below it (matched case-insensitively). */
  prefix: string;
  format(res: CoreResponse): CoreResponse;
}

export interface PipelineParts {
  router: Router;
  guard: Guard;
  admission: BodyAdmission;
  finish: Finish;
  /** CORS_ALLOWED_ORIGINS: answers preflights; undefined when no origin is allowed. */
  cors?: CorsPolicy;
  logger: Logger;
  /** The 404 answer for a path no endpoint serves. */
  notFound(): CoreResponse;
  /** Families with their own error shape (by path prefix); the first that matches wins. */
  errorFormats?: readonly ErrorFormat[];
}

/** A request's way through the service: route, guard, handler, body release, finish. */
export function createPipeline(parts: PipelineParts): Pipeline {
  const { router, guard, admission, cors, logger, notFound, errorFormats = [] } = parts;
  const formats = errorFormats.map((f) => ({ ...f, prefix: f.prefix.toLowerCase() }));
  /** The one place an error answer takes its family's shape, just before it is finished. */
  function finish(req: CoreRequest, res: CoreResponse, route: string, method: string, started: number) {
    if (res.status >= 400 && formats.length > 0) {
      const path = req.path.toLowerCase();
      const family = formats.find((f) => path === f.prefix || path.startsWith(`${f.prefix}/`));
      if (family) res = family.format(res);
    }
    return parts.finish(res, route, method, started, req);
  }

  async function run(endpoint: Endpoint, req: CoreRequest): Promise<CoreResponse> {
    const started = performance.now();
    let res: CoreResponse;
    try {
      req.params ??= router.params(endpoint, req.path);
      const guarded = guard(endpoint, req);
      const checked = guarded instanceof Promise ? await guarded : guarded;
      res = checked.stop ?? (await endpoint.handler(req));
      if (checked.headers && !checked.stop) Object.assign(res.headers, checked.headers);
    } catch (err) {
      // A bug, not an expected failure: log it whole, tell the client nothing about internals.
      logger.error("unhandled error", { route: endpoint.route, error: err instanceof Error ? err.stack : String(err) });
      res = problemResponse({ code: "internal", detail: "An unexpected error occurred; it has been logged" });
    } finally {
      admission.release(req);
    }
    return finish(req, res, endpoint.route, endpoint.method, started);
  }

  // Not async: a routed request's answer is run()'s own promise. An async function returning it would wrap it in a
  // second promise, settled through a thenable job (two more microtask turns and their garbage per request).
  function handle(req: CoreRequest): Promise<CoreResponse> {
    try {
      const match = router.match(req.method, req.path);
      if (match.kind !== "endpoint") return Promise.resolve(refuse(req, match, performance.now()));
      req.params = match.params;
      return run(match.endpoint, req);
    } catch (err) {
      // As an async function would: a throw becomes the promise's rejection, never a synchronous exception.
      return Promise.reject(err);
    }
  }

  /** The answer to a path no endpoint serves (404), or a method the path's endpoints lack (405, CORS preflight). */
  function refuse(req: CoreRequest, match: Exclude<RouteMatch, { kind: "endpoint" }>, started: number): CoreResponse {
    if (match.kind === "not_found") return finish(req, notFound(), "unmatched", req.method, started);
    const { allow, path, route } = match;
    // A CORS preflight: no endpoint declares OPTIONS, so it lands here on every known route.
    const preflight = cors?.preflight(req, allow.split(", "));
    if (preflight) return finish(req, preflight, route, req.method, started);
    const refusal = problemResponse({
      code: "method_not_allowed",
      detail: `${req.method} is not allowed on ${path}; use ${allow}`,
      headers: { allow },
    });
    return finish(req, refusal, route, req.method, started);
  }

  return { handle, run };
}
