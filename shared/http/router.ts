import type { Endpoint } from "./endpoint";

/** Where a request goes: its endpoint (with the path's parameters), a 405 for the path, or nothing (404). */
export type RouteMatch =
  | { kind: "endpoint"; endpoint: Endpoint; params: Record<string, string> }
  | { kind: "method_not_allowed"; route: string; allow: string; path: string }
  | { kind: "not_found" };

export interface Router {
  match(method: string, path: string): RouteMatch;
  /** The parameters of `path` under the endpoint's route (the Azure host runs endpoints without match()). */
  params(endpoint: Endpoint, path: string): Record<string, string>;
}

interface PatternRoute {
  endpoint: Endpoint;
  pattern: RegExp;
  /**
   * In order: each parameter's name, and whether it is a {*rest} (as sent: the static files check it raw) or a
   * one-segment {param} (percent-decoded).
   */
  params: { name: string; rest: boolean }[];
}

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** `/v2/models/{name}/infer` as a case-insensitive regex: `{name}` is one segment, `{*rest}` the rest of the path. */
function compile(endpoint: Endpoint): PatternRoute {
  const params: PatternRoute["params"] = [];
  const source = endpoint.route.replace(/\{(\*?)([^}]+)\}|[^{]+/g, (part, star: string, name: string) => {
    if (name === undefined) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    params.push({ name, rest: Boolean(star) });
    return star ? "(.*)" : "([^/]+)";
  });
  return { endpoint, pattern: new RegExp(`^${source}$`, "i"), params };
}

/**
 * A one-segment path parameter as the client meant it: Open Inference Protocol clients percent-encode the model
 * name (tritonclient quote()s it). A malformed escape stays as sent, so it names nothing (404).
 */
function decodeSegment(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function paramsOf(route: PatternRoute, path: string): Record<string, string> | undefined {
  const m = route.pattern.exec(path);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  route.params.forEach(({ name, rest }, i) => (params[name] = rest ? m[i + 1]! : decodeSegment(m[i + 1]!)));
  return params;
}

/**
 * The route table. Paths match case-insensitively, as Azure Functions routes do, so both hosts answer the same
 * paths; a trailing slash is ignored; HEAD is served by the GET endpoint. Exact routes are one map lookup;
 * routes with parameters are tried in order after them.
 */
export function createRouter(endpoints: readonly Endpoint[]): Router {
  const exact = new Map<string, Endpoint[]>();
  const patterns: PatternRoute[] = [];
  for (const e of endpoints) {
    if (e.route.includes("{")) patterns.push(compile(e));
    else exact.set(e.route.toLowerCase(), [...(exact.get(e.route.toLowerCase()) ?? []), e]);
  }
  const byEndpoint = new Map(patterns.map((p) => [p.endpoint, p]));
  // The answer for an exact route and a method never changes: built once, then one Map lookup per request.
  const decided = new Map<string, Map<string, RouteMatch>>();

  function candidates(path: string, pathname: string): { endpoint: Endpoint; params: Record<string, string> }[] {
    const fixed = exact.get(pathname);
    if (fixed) return fixed.map((endpoint) => ({ endpoint, params: NO_PARAMS }));
    const found = [];
    for (const p of patterns) {
      const params = paramsOf(p, path);
      if (params) found.push({ endpoint: p.endpoint, params });
    }
    return found;
  }

  return {
    match(method, rawPath) {
      const path = rawPath.length > 1 && rawPath.endsWith("/") ? rawPath.slice(0, -1) : rawPath;
      const pathname = path.toLowerCase();
      const known = decided.get(pathname)?.get(method);
      if (known) return known;
      const found = candidates(path, pathname);
      if (found.length === 0) return { kind: "not_found" };
      const wanted = method === "HEAD" ? "GET" : method;
      const hit = found.find((c) => c.endpoint.method === wanted);
      const allow = found.map((c) => c.endpoint.method).join(", ");
      const answer: RouteMatch = hit
        ? { kind: "endpoint", ...hit }
        : { kind: "method_not_allowed", route: found[0]!.endpoint.route, allow, path: pathname };
      // Only exact routes (their params are the shared empty object) and only the methods node's parser knows.
      if (exact.has(pathname)) {
        let byMethod = decided.get(pathname);
        if (!byMethod) decided.set(pathname, (byMethod = new Map()));
        byMethod.set(method, Object.freeze(answer));
      }
      return answer;
    },
    params(endpoint, path) {
      const p = byEndpoint.get(endpoint);
      return (p && paramsOf(p, path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path)) ?? NO_PARAMS;
    },
  };
}
