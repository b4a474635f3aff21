/**
 * The HTTP ceiling of bench/bench.ts: a bare node:http server that reads the whole request body and
 * answers a fixed JSON of the size of the service's answer, with no parsing, validation, model or
 * cache. What the service reaches on the same load, as a fraction of this, is the price of its work.
 *
 *   /predict                  → {"house_value":4.353724479675293}               (33 bytes, as /predict)
 *   /bulk_predict, x-bench-rows: n → {"house_values":[4.353724479675293, … n times]} (as /bulk_predict)
 *   anything else             → {"status":"healthy"}
 *
 * With CEILING_HEADERS=service it also sends the service's response headers (same names, sizes
 * and count: security headers, cache-status, x-app-identifier), a diagnostic that separates the
 * cost of a bigger header block (writing it, and the load generator parsing it) from the service's work.
 *
 * The bench bundles it with esbuild and runs it with plain node (no loader hooks), listening on
 * HOST:PORT (default 127.0.0.1:8001).
 */
import http from "node:http";
import { SECURITY_HEADERS } from "../shared/http/security-headers";

const VALUE = "4.353724479675293";
const PREDICT: Buffer = Buffer.from(`{"house_value":${VALUE}}`);
const HEALTH: Buffer = Buffer.from(`{"status":"healthy"}`);
const bulkBodies = new Map<number, Buffer>();

/**
 * The headers /predict sends besides content-type and content-length (values of the same length): the service's
 * own security-header table, so the two cannot drift apart.
 */
const SERVICE_HEADERS: Record<string, string> = {
  "cache-status": 'house-price; fwd=miss; stored; detail="hits=0 collapsed=0 computed=1 rows=1"',
  ...SECURITY_HEADERS,
  "x-app-identifier": "00000000-0000-4000-8000-000000000000",
};
const extraHeaders = process.env.CEILING_HEADERS === "service" ? SERVICE_HEADERS : {};

function bulk(rows: number): Buffer {
  let b = bulkBodies.get(rows);
  if (!b) {
    b = Buffer.from(`{"house_values":[${new Array<string>(rows).fill(VALUE).join(",")}]}`);
    bulkBodies.set(rows, b);
  }
  return b;
}

const server = http.createServer((req, res) => {
  // Buffered like any JSON endpoint must before parsing; never parsed.
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    if (chunks.length > 1) Buffer.concat(chunks);
    const url = req.url ?? "/";
    let body: Buffer = HEALTH;
    if (url === "/predict") body = PREDICT;
    else if (url === "/bulk_predict") {
      const rows = Number(req.headers["x-bench-rows"]);
      body = bulk(Number.isInteger(rows) && rows > 0 && rows <= 1_000_000 ? rows : 1);
    }
    res.writeHead(200, {
      "content-type": "application/json",
      ...extraHeaders,
      "content-length": String(body.length),
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 5_000;

const port = Number(process.env.PORT ?? 8001);
server.listen(port, process.env.HOST ?? "127.0.0.1");
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
