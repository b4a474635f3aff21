import type { Logger } from "../ops/logger";
import type { BodyAdmission } from "./body-admission";
import type { CoreRequest, CoreResponse } from "./core";
import type { Endpoint } from "./endpoint";
import type { Finish } from "./finish";
import type { Guard } from "./guard";
import { problemResponse } from "./problems";
import type { Router } from "./router";

export interface Pipeline {
  /** Routes a request to its endpoint (404/405 otherwise) and runs it. */
  handle(req: CoreRequest): Promise<CoreResponse>;
  /** Runs one endpoint (the Azure adapter routes by itself). */
  run(endpoint: Endpoint, req: CoreRequest): Promise<CoreResponse>;
}

export interface PipelineParts {
  router: Router;
  guard: Guard;
  admission: BodyAdmission;
  finish: Finish;
  logger: Logger;
  /** The 404 answer for a path no endpoint serves. */
  notFound(): CoreResponse;
}

/** A request's way through the service: route, guard, handler, body release, finish. */
export function createPipeline({ router, guard, admission, finish, logger, notFound }: PipelineParts): Pipeline {
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
    return finish(res, endpoint.route, endpoint.method, started);
  }

  async function handle(req: CoreRequest): Promise<CoreResponse> {
    const started = performance.now();
    const match = router.match(req.method, req.path);
    if (match.kind === "not_found") return finish(notFound(), "unmatched", req.method, started);
    if (match.kind === "method_not_allowed") {
      const { allow, path, route } = match;
      const refusal = problemResponse({
        code: "method_not_allowed",
        detail: `${req.method} is not allowed on ${path}; use ${allow}`,
        headers: { allow },
      });
      return finish(refusal, route, req.method, started);
    }
    req.params = match.params;
    return run(match.endpoint, req);
  }

  return { handle, run };
}
