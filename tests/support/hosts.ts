import { HttpRequest, InvocationContext } from "@azure/functions";
import { azureRoute, endpointHandler, fallbackHandler } from "../../functions/adapter";
import { createService, type Service, type ServiceDeps } from "../../shared/service";
import { parseConfig } from "../../shared/ops/config";
import { createLogger } from "../../shared/ops/logger";
import { createHttpServer } from "../../server/http";

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface SendOptions {
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** One way of serving the service: the standalone server over real HTTP, or the Azure Functions handlers. */
export interface Host {
  name: "standalone" | "functions";
  service: Service;
  send(method: string, path: string, opts?: SendOptions): Promise<Reply>;
  close(): Promise<void>;
}

export function testService(env: Record<string, string> = {}, deps: Partial<ServiceDeps> = {}): Service {
  const config = parseConfig({ LOG_LEVEL: "silent", ...env });
  return createService({ config, appRoot: process.cwd(), logger: createLogger(config.LOG_LEVEL), ...deps });
}

const reply = (status: number, headers: Headers, text: string): Reply => ({
  status,
  headers,
  text,
  json: () => JSON.parse(text),
});

export async function standaloneHost(service: Service): Promise<Host> {
  const host = createHttpServer(service);
  const port = await host.listen(0, "127.0.0.1");
  return {
    name: "standalone",
    service,
    async send(method, path, opts = {}) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, body: opts.body, headers: opts.headers });
      return reply(res.status, res.headers, await res.text());
    },
    async close() {
      await host.drain(1000);
      await service.close();
    },
  };
}

/** Routes like the Functions host does: a function whose route and method match, else the catch-all. */
export function functionsHost(service: Service): Host {
  const fallback = fallbackHandler(() => service);
  const routes = service.endpoints.map((e) => ({
    endpoint: e,
    pattern: new RegExp(
      "^/" +
        azureRoute(e)
          .replace(/\{\*[^}]+\}/g, ".*")
          .replace(/\{[^}]+\}/g, "[^/]+") +
        "$",
    ),
    handler: endpointHandler(() => service, e),
  }));
  return {
    name: "functions",
    service,
    async send(method, path, opts = {}) {
      const url = `http://localhost:7071${path}`;
      const pathname = new URL(url).pathname;
      const match = routes.find((r) => r.endpoint.method === method && r.pattern.test(pathname));
      const body =
        opts.body === undefined
          ? undefined
          : typeof opts.body === "string"
            ? { string: opts.body }
            : { bytes: opts.body };
      const request = new HttpRequest({ method, url, headers: opts.headers, body });
      const context = new InvocationContext({ functionName: match?.endpoint.name ?? "not_found" });
      const res = await (match?.handler ?? fallback)(request, context);
      const headers = new Headers(res.headers as Record<string, string>);
      const text =
        res.body === undefined || res.body === null
          ? ""
          : typeof res.body === "string"
            ? res.body
            : Buffer.from(res.body as Uint8Array).toString("utf8");
      return reply(res.status ?? 200, headers, text);
    },
    async close() {
      await service.close();
    },
  };
}

export const HOSTS = {
  standalone: (service: Service) => standaloneHost(service),
  functions: async (service: Service) => functionsHost(service),
} as const;
