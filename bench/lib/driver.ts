/**
 * The load generator: a child process of bench/bench.ts (never the server's process), driving
 * autocannon against one URL. The spec comes as JSON in argv[2]; the driver sends
 * { type: "measuring" } when the timed window opens and { type: "result", result } at the end.
 *
 * Latencies are recorded per response from autocannon's "response" event (sub-millisecond;
 * autocannon's own histogram is in whole milliseconds), and only responses that complete inside
 * the timed window count, so the rate is exact even though autocannon stops on its sampling tick.
 */
import autocannon from "autocannon";
import { SEED_BODY, bulkBody, holdoutRows } from "./bodies";
import { Samples, type LatencySummary } from "./stats";

export type LoadKind = "predict-unique" | "predict-hit" | "bulk" | "mixed" | "health";

export interface LoadSpec {
  /** http://127.0.0.1:<port> */
  url: string;
  kind: LoadKind;
  connections: number;
  durationS: number;
  warmupS: number;
  /** Rows per /bulk_predict request (kind "bulk"). */
  rows?: number;
  /** Offset of the unique rows (distinct per run). */
  seed: number;
  /** Per-request timeout. */
  timeoutS: number;
  /** Upper bound on requests in the timed window (the run is also bounded by durationS). */
  maxRequests: number;
}

export interface KindStats {
  ok: number;
  rows: number;
  latency: LatencySummary;
}

export interface LoadResult {
  kind: LoadKind;
  connections: number;
  durationS: number;
  /** 2xx responses completed in the window. */
  ok: number;
  /** Rows predicted by those responses. */
  rows: number;
  reqPerS: number;
  rowsPerS: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Latency of 2xx responses, ms. */
  latency: LatencySummary;
  /** Per request type (the mixed load has three). */
  byType: Record<string, KindStats>;
  /** CPU share of this load generator during the window (1 = one full core). */
  driverCpu: number;
}

type Req = autocannon.RequestSpec;
const JSON_HEADERS = { "content-type": "application/json" };

/** The request list for a kind; setupRequest builds a fresh body per request for unique inputs. */
function requestsFor(spec: LoadSpec): Req[] {
  const source = holdoutRows(spec.seed);
  let next = 0;
  const take = (n: number) => {
    const start = next;
    next += n;
    return start;
  };
  // Fills autocannon's request copy (it carries host and port) in place.
  type Ctx = Record<string, unknown>;
  const post = (r: Req, path: string, body: string, rows: number, ctx: Ctx, type: string): Req => {
    ctx.type = type;
    ctx.rows = rows;
    r.method = "POST";
    r.path = path;
    r.headers = { ...r.headers, ...JSON_HEADERS, "x-bench-rows": String(rows) };
    r.body = body;
    return r;
  };
  switch (spec.kind) {
    // Static requests (no setupRequest): autocannon builds their bytes once.
    case "health":
      return [{ method: "GET", path: "/health" }];
    case "predict-hit":
      return [{ method: "POST", path: "/predict", headers: { ...JSON_HEADERS, "x-bench-rows": "1" }, body: SEED_BODY }];
    case "predict-unique":
      return [{ setupRequest: (r, ctx) => post(r, "/predict", source.row(take(1)), 1, ctx, "predict") }];
    case "bulk": {
      const n = spec.rows ?? 1000;
      return [
        { setupRequest: (r, ctx) => post(r, "/bulk_predict", bulkBody(source, take(n), n), n, ctx, `bulk ${n}`) },
      ];
    }
    case "mixed": {
      // Per 100 requests: 1 bulk of 1,000 rows, 9 bulks of 100 rows, 90 single predictions, interleaved.
      let i = 0;
      return [
        {
          setupRequest: (r, ctx) => {
            const slot = i++ % 100;
            if (slot === 50)
              return post(r, "/bulk_predict", bulkBody(source, take(1000), 1000), 1000, ctx, "bulk 1000");
            if (slot % 10 === 5)
              return post(r, "/bulk_predict", bulkBody(source, take(100), 100), 100, ctx, "bulk 100");
            return post(r, "/predict", source.row(take(1)), 1, ctx, "predict");
          },
        },
      ];
    }
  }
}

async function runPhase(spec: LoadSpec, requests: Req[], seconds: number, timed: boolean): Promise<LoadResult> {
  const lat = new Map<string, Samples>();
  const rowsOf = new Map<string, number>();
  const statusCodes: Record<string, number> = {};
  let ok = 0;
  let rows = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let start = 0;
  let end = Infinity;
  let stopped = false;

  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    // autocannon stops on its own only as a backstop; the timer below closes the window.
    duration: seconds + 5,
    timeout: spec.timeoutS,
    // The server closes a connection after 10,000 requests (server/http.ts); autocannon reconnects by
    // itself well before, so no run depends on how it handles that close.
    reconnectRate: 5000,
    sampleInt: 100,
    maxConnectionRequests: Math.max(1, Math.ceil(spec.maxRequests / spec.connections)),
    requests,
  });
  const inWindow = () => {
    const t = performance.now();
    return t >= start && t <= end;
  };
  let cpu0 = process.cpuUsage();
  instance.on("start", () => {
    cpu0 = process.cpuUsage();
    start = performance.now();
    end = start + seconds * 1000;
    if (timed) process.send?.({ type: "measuring" });
    setTimeout(() => {
      stopped = true;
      instance.stop();
    }, seconds * 1000);
  });
  instance.on("response", (client, status, _bytes, ms) => {
    if (!inWindow()) return;
    statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    if (status < 200 || status >= 300) {
      non2xx++;
      return;
    }
    const ctx = client.requestIterator.context;
    const type = typeof ctx.type === "string" ? ctx.type : spec.kind === "predict-hit" ? "predict" : spec.kind;
    const n = typeof ctx.rows === "number" ? ctx.rows : spec.kind === "health" ? 0 : 1;
    ok++;
    rows += n;
    let s = lat.get(type);
    if (!s) lat.set(type, (s = new Samples()));
    s.push(ms);
    rowsOf.set(type, (rowsOf.get(type) ?? 0) + n);
  });
  instance.on("reqError", (err) => {
    if (!inWindow() || stopped) return;
    errors++;
    if (err.message.includes("timed out")) timeouts++;
  });
  await instance;
  const elapsed = (Math.min(performance.now(), end) - start) / 1000;
  const used = process.cpuUsage(cpu0);
  const wall = (performance.now() - start) / 1000;

  const all = new Samples();
  const byType: Record<string, KindStats> = {};
  for (const [type, s] of lat) {
    byType[type] = { ok: s.length, rows: rowsOf.get(type) ?? 0, latency: s.summary() };
  }
  for (const s of lat.values()) all.append(s);
  return {
    kind: spec.kind,
    connections: spec.connections,
    durationS: Number(elapsed.toFixed(3)),
    ok,
    rows,
    reqPerS: ok / elapsed,
    rowsPerS: rows / elapsed,
    non2xx,
    errors,
    timeouts,
    statusCodes,
    latency: all.summary(),
    byType,
    driverCpu: Number(((used.user + used.system) / 1e6 / wall).toFixed(3)),
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
  const requests = requestsFor(spec);
  if (spec.warmupS > 0) await runPhase(spec, requests, spec.warmupS, false);
  const result = await runPhase(spec, requests, spec.durationS, true);
  process.send?.({ type: "result", result });
  process.disconnect?.();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
