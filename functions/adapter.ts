import type { HttpHandler, HttpRequest, HttpResponseInit } from "@azure/functions";
import type { Endpoint, Service } from "../shared/service";
import type { CoreRequest, CoreResponse } from "../shared/http/core";
import { lastForwardedFor } from "../shared/access/client-identity";

/** An Azure Functions HttpRequest as the service's platform-neutral request. */
export function toCoreRequest(request: HttpRequest): CoreRequest {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, key) => (headers[key] = value));
  return {
    method: request.method,
    path: url.pathname,
    query: url.searchParams,
    headers,
    // The Functions host has already buffered the body; the limit is still enforced before parsing.
    body: async (limit, admit) => {
      try {
        const bytes = new Uint8Array(await request.arrayBuffer());
        if (bytes.byteLength > limit) return { ok: false, reason: "too_large" };
        return admit && !admit(bytes.byteLength) ? { ok: false, reason: "refused" } : { ok: true, bytes };
      } catch {
        return { ok: false, reason: "aborted" };
      }
    },
    // Azure's front end appends the caller's address (with a port) as the last X-Forwarded-For hop.
    remoteAddress: lastForwardedFor(headers["x-forwarded-for"]),
  };
}

export function toResponseInit(res: CoreResponse): HttpResponseInit {
  return { status: res.status, headers: res.headers, body: res.body };
}

/** The function for one endpoint: parse, call the core, map back. */
export function endpointHandler(service: () => Service, endpoint: Endpoint): HttpHandler {
  return async (request) => toResponseInit(await service().run(endpoint, toCoreRequest(request)));
}

/** The catch-all function: unknown routes get the service's own 404 (and wrong methods its 405). */
export function fallbackHandler(service: () => Service): HttpHandler {
  return async (request) => toResponseInit(await service().handle(toCoreRequest(request)));
}

/** `/predict` → `predict`; `/docs/{asset}` → `docs/{asset}` (host.json sets routePrefix to ""; the route syntax is Azure's). */
export function azureRoute(endpoint: Endpoint): string {
  return endpoint.route.slice(1);
}
