/**
 * The Azure Functions adapter's own cost per request, in process (issue 16, deliverable 4): an
 * @azure/functions HttpRequest (test mode, as the worker builds it from the host's RPC message) through
 * functions/adapter.ts and the core to an HttpResponseInit, against the same core call with a
 * CoreRequest whose body is already in hand (what server/http.ts passes). No HTTP, no Functions host.
 *
 *   taskset -c 1 node --import tsx bench/functions-adapter.ts      (one core, like the bench's server)
 *
 * Per workload, each as the median of ROUNDS rounds of sequential requests, µs per request:
 *   request   new HttpRequest(...) alone (the worker's cost, not the adapter's);
 *   full      new HttpRequest(...) + the function's handler → HttpResponseInit;
 *   core      service.run(endpoint, CoreRequest) with the body bytes ready;
 *   adapter = full − request − core: toCoreRequest, reading the body, toResponseInit;
 *   and toCoreRequest + reading the body alone (minus request), a check on the difference.
 * Bodies repeat, so /predict and /bulk_predict are cache hits: the model stays out of the figures.
 * Writes bench/results/functions-adapter.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { HttpRequest, InvocationContext } from "@azure/functions";
import { endpointHandler, toCoreRequest } from "../functions/adapter";
import { createService } from "../shared/service";
import { findAppRoot } from "../shared/app-root";
import { parseConfig } from "../shared/ops/config";
import type { CoreRequest } from "../shared/http/core";
import { SEED_BODY, bulkBody, holdoutRows } from "./lib/bodies";
import { median } from "./lib/stats";

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const ROUND_MS = 300;
const URL_BASE = "http://localhost:7071";

/** µs per call of each function: rounds interleaved (a, b, c, a, b, c, …) so drift hits all alike; medians. */
async function perRequestUs(fns: (() => Promise<unknown>)[]): Promise<number[]> {
  for (const fn of fns) for (let i = 0; i < 500; i++) await fn(); // warm-up: JIT, caches
  const rates: number[][] = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, fn] of fns.entries()) {
      let n = 0;
      const t = performance.now();
      while (performance.now() - t < ROUND_MS) {
        await fn();
        n++;
      }
      rates[k]!.push(((performance.now() - t) * 1000) / n);
    }
  }
  return rates.map(median);
}

async function main(): Promise<void> {
  const config = parseConfig({ ...process.env, LOG_LEVEL: "warn" });
  const service = createService({
    config,
    appRoot: findAppRoot(resolve("server")),
    staticRoot: resolve("dist", "static"),
  });
  await service.holder.load();
  const context = new InvocationContext({ functionName: "bench" });
  const bulk = bulkBody(holdoutRows(0), 0, 1000);
  const cases = [
    { name: "/predict (cache hit)", endpoint: "predict", path: "/predict", body: SEED_BODY },
    { name: "/bulk_predict 1,000 rows (cache hits)", endpoint: "bulk_predict", path: "/bulk_predict", body: bulk },
    { name: "GET /health", endpoint: "health", path: "/health", body: undefined },
  ];
  const results = [];
  for (const c of cases) {
    const endpoint = service.endpoints.find((e) => e.name === c.endpoint)!;
    const handler = endpointHandler(() => service, endpoint);
    const bytes = c.body === undefined ? undefined : Buffer.from(c.body);
    const headers: Record<string, string> = bytes
      ? { "content-type": "application/json", "content-length": String(bytes.length) }
      : {};
    const method = endpoint.method;
    const newRequest = () =>
      new HttpRequest({ method, url: URL_BASE + c.path, headers, body: bytes ? { bytes } : undefined });
    const core = (): CoreRequest => ({
      method,
      path: c.path,
      query: new URLSearchParams(),
      headers,
      body: async () => (bytes ? { ok: true, bytes } : { ok: true, bytes: new Uint8Array(0) }),
      remoteAddress: "127.0.0.1",
    });
    const check = await handler(newRequest(), context);
    if (check.status !== 200) throw new Error(`${c.name}: status ${check.status}`);
    const [request, full, coreUs, convert] = (await perRequestUs([
      async () => newRequest(),
      async () => handler(newRequest(), context),
      () => service.run(endpoint, core()),
      async () => toCoreRequest(newRequest()).body(config.MAX_BODY_BYTES),
    ])) as [number, number, number, number];
    const adapter = full - request - coreUs;
    const readOnly = convert - request;
    results.push({
      workload: c.name,
      body_bytes: bytes?.length ?? 0,
      http_request_us: Number(request.toFixed(2)),
      full_us: Number(full.toFixed(2)),
      core_us: Number(coreUs.toFixed(2)),
      adapter_us: Number(adapter.toFixed(2)),
      to_core_request_and_body_us: Number(readOnly.toFixed(2)),
    });
    console.log(
      `${c.name}: HttpRequest ${request.toFixed(1)} µs, handler total ${full.toFixed(1)} µs, core ${coreUs.toFixed(1)} µs → adapter ${adapter.toFixed(1)} µs/request (toCoreRequest + body alone ${readOnly.toFixed(1)} µs)`,
    );
  }
  await service.close();
  const out = {
    command: "node --import tsx bench/functions-adapter.ts",
    date: new Date().toISOString(),
    node: process.version,
    method: `median of ${ROUNDS} rounds of ${ROUND_MS} ms, sequential requests, after 500 warm-up requests`,
    results,
  };
  mkdirSync(resolve("bench/results"), { recursive: true });
  writeFileSync(resolve("bench/results/functions-adapter.json"), JSON.stringify(out, null, 2) + "\n");
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
