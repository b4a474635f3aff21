import { randomUUID } from "node:crypto";
import path from "node:path";
import { getHeapStatistics } from "node:v8";
import { createPredictionCache, type PredictionCache } from "./cache";
import { createRedisBackend } from "./cache/redis";
import type { CacheBackend } from "./cache/types";
import { createUpstashBackend } from "./cache/upstash";
import type { Config } from "./config";
import { docsAsset, docsPage } from "./docs";
import { fail, jsonResponse, ok, problemResponse, type CoreRequest, type CoreResponse, type Result } from "./http";
import { createApiKeyCheck } from "./auth";
import { createLogger, type Logger } from "./logger";
import { createMetrics, type Metrics } from "./metrics";
import { ModelHolder } from "./model";
import { openApiDocument } from "./openapi";
import { packBulk } from "./fast-house";
import { scanHouse, scanHouses } from "./fast-json";
import { WIDTH } from "./features";
import { Predictor, toTensor, type PredictOutcome } from "./predictor";
import { BIG_BYTES, BIG_ROWS, nextTurn } from "./turns";
import { clientIdentity, createRateLimiter, type RateDecision, type RateLimiter } from "./ratelimit";
import { HouseSchema } from "./schemas";
import { pageRoutes } from "./routes/page";
import { isJsonContentType, parseJson, validate, validateBulk } from "./validation";

/** One HTTP endpoint, platform-neutral: both hosts serve this same list. */
export interface Endpoint {
  /** Function name on Azure Functions. */
  name: string;
  method: "GET" | "POST";
  /** Route at the root, e.g. "/predict". */
  route: string;
  handler: (req: CoreRequest) => Promise<CoreResponse>;
  /** Needs an API key when API_KEYS is set (the prediction endpoints). */
  apiKey?: boolean;
  /** Counted by the per-client rate limit (never /health, /metrics or the docs). */
  rateLimited?: boolean;
}

export interface ServiceDeps {
  config: Config;
  /** Directory holding model/ (the repo root, or /app in the container). */
  appRoot: string;
  logger?: Logger;
  /** A shared cache backend; by default chosen from the config. */
  sharedCache?: CacheBackend;
  /** A rate limiter; by default chosen from the config (none when RATE_LIMIT_REQUESTS is 0). */
  rateLimiter?: RateLimiter;
  instanceId?: string;
  now?: () => number;
  /** The build's static files (dist/static: the /app page); by default <appRoot>/dist/static. */
  staticRoot?: string;
}

export interface Service {
  readonly instanceId: string;
  readonly endpoints: readonly Endpoint[];
  readonly holder: ModelHolder;
  readonly cache: PredictionCache;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Routes a request to its endpoint (404/405 otherwise) and runs it. */
  handle(req: CoreRequest): Promise<CoreResponse>;
  /** Runs one endpoint (the Azure adapter routes by itself). */
  run(endpoint: Endpoint, req: CoreRequest): Promise<CoreResponse>;
  close(): Promise<void>;
}

/**
 * Added to every response unless the endpoint set its own (the docs page sets its CSP and caching):
 * the OWASP set for JSON APIs. HSTS belongs to the TLS terminator (Front Door, ingress), not here.
 */
const SECURITY_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
};

const SECURITY_ENTRIES = Object.entries(SECURITY_HEADERS);

/** Share of V8's heap limit in use above which big bodies are refused (503) rather than parsed. */
const HEAP_PRESSURE_LIMIT = 0.75;
/** V8 heap in use as a share of its limit (`--max-old-space-size` and the young generation). */
function heapPressure(): number {
  const h = getHeapStatistics();
  return h.used_heap_size / h.heap_size_limit;
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** How a prediction's rows were served, as an RFC 9211 Cache-Status header. */
export function cacheStatus(o: PredictOutcome): string {
  const total = o.values.length;
  if (o.hits === total) return "house-price; hit";
  const detail = `detail="hits=${o.hits} collapsed=${o.collapsed} computed=${o.computed} rows=${total}"`;
  const fwd = o.hits > 0 ? "partial" : "miss";
  return `house-price; fwd=${fwd}${o.computed > 0 ? "; stored" : ""}${o.collapsed > 0 ? "; collapsed" : ""}; ${detail}`;
}

function chooseSharedCache(config: Config, logger: Logger): CacheBackend | undefined {
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    return createUpstashBackend(config.UPSTASH_REDIS_REST_URL, config.UPSTASH_REDIS_REST_TOKEN);
  }
  if (config.REDIS_URL) {
    return createRedisBackend(config.REDIS_URL, { log: (msg, fields) => logger.warn(msg, { ...fields }) });
  }
  return undefined;
}

/** Builds the service: model holder, cache, predictor, metrics and the endpoint list. */
export function createService(deps: ServiceDeps): Service {
  const { config } = deps;
  const logger = deps.logger ?? createLogger(config.LOG_LEVEL);
  const instanceId = deps.instanceId ?? randomUUID();
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const metrics = createMetrics();
  const holder = new ModelHolder(
    {
      modelPath: path.resolve(deps.appRoot, config.MODEL_PATH),
      fileLabel: config.MODEL_PATH,
      blobUrl: config.MODEL_BLOB_URL,
      connectionString: config.AZURE_STORAGE_CONNECTION_STRING,
      timeoutMs: config.MODEL_STORE_TIMEOUT_MS,
      onRun: (rows) => metrics.modelRuns.observe(rows),
    },
    logger,
    (info) => metrics.modelInfo.set({ name: info.name, version: info.version, source: info.source }, 1),
  );
  const cache = createPredictionCache({
    maxEntries: config.CACHE_MAX_ENTRIES,
    ttlSeconds: config.CACHE_TTL_SECONDS,
    timeoutMs: config.CACHE_TIMEOUT_MS,
    shared: deps.sharedCache ?? chooseSharedCache(config, logger),
    metrics,
    logger,
  });
  const predictor = new Predictor({
    holder,
    cache,
    metrics,
    maxInflightRows: config.MAX_INFLIGHT_ROWS,
    loadWaitMs: config.MODEL_STORE_TIMEOUT_MS,
  });

  // The same constant-time comparison as API keys; the token arrives as `Authorization: Bearer <token>`.
  const metricsTokenOk = createApiKeyCheck(config.METRICS_TOKEN);
  const legacy = (status: number, body: Record<string, unknown>) =>
    jsonResponse(status, { ...body, app_identifier: instanceId });

  // Memory admission: bytes of bodies held from reading until the response is built (see MAX_INFLIGHT_BODY_BYTES).
  let bodyBytesInFlight = 0;
  const bodyBytesHeld = new WeakMap<CoreRequest, number>();
  const bodyLimit = config.MAX_INFLIGHT_BODY_BYTES;
  const overloaded = (detail: string): Result<never> => {
    metrics.rejected.inc({ reason: "overloaded" });
    return fail("overloaded", detail);
  };
  /**
   * Counts `bytes` more of this request's body as held, or says why not. Bytes are counted as they arrive, so
   * a client that declares a big body and sends it slowly holds only what it has sent; a body is always let
   * in while no other request holds any.
   */
  /** Refusal when `bytes` more do not fit next to the bodies of other requests (`mine`: this request's own). */
  function noRoomFor(bytes: number, mine: number): Result<never> | undefined {
    const others = bodyBytesInFlight - mine;
    if (bodyLimit === 0 || others === 0 || bodyBytesInFlight + bytes <= bodyLimit) return undefined;
    return overloaded(
      `The server is holding ${others} bytes of other request bodies (MAX_INFLIGHT_BODY_BYTES ${bodyLimit}); try again shortly`,
    );
  }
  function admitBody(req: CoreRequest, bytes: number): Result<never> | undefined {
    const mine = bodyBytesHeld.get(req) ?? 0;
    const full = noRoomFor(bytes, mine);
    if (full) return full;
    // A big body parses into many times its size; refuse it while the heap is already near its cap.
    if (mine < BIG_BYTES && mine + bytes >= BIG_BYTES && heapPressure() > HEAP_PRESSURE_LIMIT) {
      return overloaded("The server is short of memory; try again shortly");
    }
    bodyBytesInFlight += bytes;
    bodyBytesHeld.set(req, mine + bytes);
    return undefined;
  }
  function releaseBody(req: CoreRequest): void {
    const held = bodyBytesHeld.get(req);
    if (held === undefined) return;
    bodyBytesHeld.delete(req);
    bodyBytesInFlight -= held;
  }

  /** Reads a JSON request's body: 415, 413 and 503 (memory admission) before any parsing. */
  async function readJsonBytes(req: CoreRequest): Promise<Result<Uint8Array>> {
    if (!isJsonContentType(req.headers["content-type"])) {
      return fail(
        "unsupported_media_type",
        `Content-Type must be application/json, got ${req.headers["content-type"]}`,
      );
    }
    const declared = Number(req.headers["content-length"]);
    const known = Number.isSafeInteger(declared) && declared >= 0;
    if (known && declared > config.MAX_BODY_BYTES) {
      return fail("payload_too_large", `The body is ${declared} bytes; the limit is ${config.MAX_BODY_BYTES}`);
    }
    // A declared size that cannot fit next to what others hold is refused before a byte is read (nothing is
    // reserved on a declaration alone); everything else is counted as it arrives.
    const full = known ? noRoomFor(declared, 0) : undefined;
    if (full) return full;
    let refused: Result<never> | undefined;
    const body = await req.body(config.MAX_BODY_BYTES, (bytes) => !(refused = admitBody(req, bytes)));
    if (!body.ok) {
      if (body.reason === "refused" && refused) return refused;
      if (body.reason === "too_large") {
        return fail("payload_too_large", `The body exceeds the limit of ${config.MAX_BODY_BYTES} bytes`);
      }
      return fail("bad_request", "The request body could not be read");
    }
    // A big body is parsed in a later turn of the event loop, not straight after its last chunk.
    if (body.bytes.length >= BIG_BYTES) await nextTurn();
    return ok(body.bytes);
  }

  async function predictResponse(
    tensor: Float32Array,
    rows: number,
    shape: (values: number[]) => unknown,
  ): Promise<CoreResponse> {
    const result = await predictor.predict(tensor, rows);
    if (!result.ok) return problemResponse(result.failure);
    if (rows >= BIG_ROWS) await nextTurn();
    return jsonResponse(200, shape(result.value.values), { "cache-status": cacheStatus(result.value) });
  }

  let openApi: string | undefined;
  const endpoints: Endpoint[] = [
    {
      name: "hello",
      method: "GET",
      route: "/hello",
      rateLimited: true,
      handler: async (req) => {
        const name = req.query.get("name");
        if (name === null || name === "") {
          return problemResponse({
            code: "validation",
            detail: "name is required",
            errors: [
              {
                path: "name",
                message: name === null ? "is required" : "must not be empty",
                received: name ?? undefined,
              },
            ],
          });
        }
        return jsonResponse(200, { message: `hello ${name}` });
      },
    },
    {
      name: "health",
      method: "GET",
      route: "/health",
      handler: async () => {
        holder.get();
        const state = holder.state;
        const cacheInfo = { backend: cache.backend, status: cache.status() };
        const uptime = Math.round((now() - startedAt) / 1000);
        if (state.state !== "ready") {
          return jsonResponse(
            503,
            {
              status: "unavailable",
              instance_id: instanceId,
              reason: state.state === "loading" ? (state.reason ?? "model loading") : state.reason,
              cache: cacheInfo,
              uptime_seconds: uptime,
            },
            { "retry-after": "5" },
          );
        }
        const { name, version, source, sha256 } = state.info;
        return jsonResponse(200, {
          status: "healthy",
          instance_id: instanceId,
          model: { name, version, source, sha256 },
          cache: cacheInfo,
          uptime_seconds: uptime,
        });
      },
    },
    {
      name: "predict",
      method: "POST",
      route: "/predict",
      apiKey: true,
      rateLimited: true,
      handler: async (req) => {
        const bytes = await readJsonBytes(req);
        if (!bytes.ok) return problemResponse(bytes.failure);
        const tensor = new Float32Array(WIDTH);
        // Fast path: the bytes straight into the tensor. Anything it does not vouch for is parsed and checked
        // again below, so the answer (and every error message) is the slow path's.
        if (!scanHouse(bytes.value, tensor, 0)) {
          const body = parseJson(bytes.value);
          if (!body.ok) return problemResponse(body.failure);
          // zod decides, and says exactly what is wrong.
          const house = validate(HouseSchema, body.value);
          if (!house.ok) return problemResponse(house.failure);
          tensor.set(toTensor([house.value]));
        }
        return predictResponse(tensor, 1, (v) => ({ house_value: v[0] }));
      },
    },
    {
      name: "bulk_predict",
      method: "POST",
      route: "/bulk_predict",
      apiKey: true,
      rateLimited: true,
      handler: async (req) => {
        const bytes = await readJsonBytes(req);
        if (!bytes.ok) return problemResponse(bytes.failure);
        const scanned = scanHouses(bytes.value, config.MAX_BATCH);
        if (scanned) return predictResponse(scanned.tensor, scanned.rows, (v) => ({ house_values: v }));
        const body = parseJson(bytes.value);
        if (!body.ok) return problemResponse(body.failure);
        const rows = (body.value as { houses?: unknown } | null)?.houses;
        // Refuse an oversized batch before validating thousands of rows.
        if (Array.isArray(rows) && rows.length > config.MAX_BATCH) {
          return problemResponse({
            code: "payload_too_large",
            detail: `houses has ${rows.length} items; the limit is ${config.MAX_BATCH} (MAX_BATCH)`,
            errors: [
              {
                path: "houses",
                message: `must contain at most ${config.MAX_BATCH} items`,
                received: `array(${rows.length})`,
              },
            ],
          });
        }
        let packed = packBulk(body.value);
        if (!packed) {
          const houses = await validateBulk(body.value);
          if (!houses.ok) return problemResponse(houses.failure);
          packed = { tensor: toTensor(houses.value), rows: houses.value.length };
        }
        return predictResponse(packed.tensor, packed.rows, (v) => ({ house_values: v }));
      },
    },
    {
      name: "model_card",
      method: "GET",
      route: "/model",
      handler: async () => {
        const state = holder.state;
        if (state.state !== "ready") {
          return problemResponse({
            code: "model_unavailable",
            detail: `The model is not loaded: ${state.reason ?? "loading"}`,
          });
        }
        return jsonResponse(200, { source: state.info.source, card: state.info.card });
      },
    },
    {
      name: "openapi",
      method: "GET",
      route: "/openapi.json",
      handler: async () => ({
        status: 200,
        headers: { "content-type": "application/json" },
        body: (openApi ??= openApiDocument(config)),
      }),
    },
    {
      name: "docs",
      method: "GET",
      route: "/docs",
      handler: async () => docsPage(),
    },
    {
      name: "docs_assets",
      method: "GET",
      route: "/docs/{asset}",
      handler: async (req) => docsAsset(req.path.slice("/docs/".length)) ?? legacy(404, { error: "API not found." }),
    },
    {
      name: "metrics",
      method: "GET",
      route: "/metrics",
      handler: async (req) => {
        if (metricsTokenOk && !metricsTokenOk(req.headers)) {
          return problemResponse({
            code: "unauthorized",
            detail: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>",
          });
        }
        return {
          status: 200,
          headers: { "content-type": metrics.registry.contentType },
          body: await metrics.registry.metrics(),
        };
      },
    },
    {
      name: "convert_fahrenheit_to_celsius",
      method: "GET",
      route: "/api/convert-fahrenheit-to-celsius",
      rateLimited: true,
      handler: async (req) => {
        const raw = req.query.get("fahrenheit");
        if (raw === null || raw.trim() === "") {
          return legacy(400, { error: "Missing required query parameter: fahrenheit" });
        }
        const text = raw.trim();
        // Decimal notation only: Number() would also take "0x10", "0b11" or "Infinity".
        const f = DECIMAL.test(text) ? Number(text) : NaN;
        const exact = ((f - 32) * 5) / 9;
        if (!Number.isFinite(exact)) {
          return legacy(400, {
            error: `Invalid fahrenheit value: ${JSON.stringify(raw.slice(0, 100))} is not a finite number`,
          });
        }
        // Rounded to 10 decimals so that 98.6 °F reads 37, not 36.99999999999999 (beyond 1e15 there is nothing to round).
        const celsius = Math.abs(exact) < 1e15 ? Number(exact.toFixed(10)) : exact;
        return legacy(200, { celsius: Object.is(celsius, -0) ? 0 : celsius });
      },
    },
    {
      name: "api_healthcheck",
      method: "GET",
      route: "/api/healthcheck",
      handler: async () => legacy(200, {}),
    },
    ...pageRoutes({
      staticRoot: deps.staticRoot ?? path.join(deps.appRoot, "dist", "static"),
      notFound: () => legacy(404, { error: "API not found." }),
    }),
  ];

  const exact = new Map<string, Endpoint[]>();
  for (const e of endpoints) {
    if (e.route.includes("{")) continue;
    exact.set(e.route, [...(exact.get(e.route) ?? []), e]);
  }
  const docsAssets = endpoints.find((e) => e.name === "docs_assets")!;
  const appAssets = endpoints.find((e) => e.name === "app_assets")!;

  function finish(res: CoreResponse, route: string, method: string, started: number): CoreResponse {
    for (const [k, v] of SECURITY_ENTRIES) if (!(k in res.headers)) res.headers[k] = v;
    res.headers["x-app-identifier"] = instanceId;
    metrics.requests.inc({ route, method, status: String(res.status) });
    metrics.latency.observe({ route }, (performance.now() - started) / 1000);
    return res;
  }

  const apiKeyOk = createApiKeyCheck(config.API_KEYS);
  const limiter = deps.rateLimiter ?? createRateLimiter(config, logger, Math.max(config.CACHE_TIMEOUT_MS, 50));

  function rateHeaders(d: RateDecision): Record<string, string> {
    const reset = String(Math.ceil(d.resetMs / 1000));
    return {
      "ratelimit-policy": `${d.limit};w=${config.RATE_LIMIT_WINDOW_SECONDS}`,
      "ratelimit-limit": String(d.limit),
      "ratelimit-remaining": String(d.remaining),
      "ratelimit-reset": reset,
    };
  }

  type Checked = { stop?: CoreResponse; headers?: Record<string, string> };
  const PASS: Checked = {};

  /**
   * Access and abuse checks before any work: 401 without a valid key, 429 over the limit. Synchronous
   * unless a rate limiter has to be asked, so an open endpoint costs no extra turn of the event loop.
   */
  function guard(endpoint: Endpoint, req: CoreRequest): Checked | Promise<Checked> {
    // A key identifies a client only once it is verified: made-up keys must not mint fresh buckets.
    const verifiedKey = apiKeyOk?.(req.headers);
    const keyValid = verifiedKey !== undefined;
    if (endpoint.rateLimited && limiter) {
      const id = clientIdentity(req.headers, req.remoteAddress, config.TRUST_PROXY, verifiedKey);
      return limiter.check(id).then((d) => {
        const limited = rateDecision(d);
        if (limited.stop) return limited;
        if (endpoint.apiKey && apiKeyOk && !keyValid) return unauthorized();
        return limited;
      });
    }
    if (endpoint.apiKey && apiKeyOk && !keyValid) return unauthorized();
    return PASS;
  }

  function unauthorized(): { stop: CoreResponse } {
    metrics.rejected.inc({ reason: "unauthorized" });
    return {
      stop: problemResponse({
        code: "unauthorized",
        detail: "Send a valid API key in X-API-Key or Authorization: Bearer",
        headers: { "www-authenticate": 'Bearer realm="house-price"' },
      }),
    };
  }

  function rateDecision(d: RateDecision): { stop?: CoreResponse; headers?: Record<string, string> } {
    metrics.rateLimit.inc({ result: d.failedOpen ? "failed_open" : d.allowed ? "allowed" : "limited" });
    if (d.failedOpen) return {};
    const headers = rateHeaders(d);
    if (d.allowed) return { headers };
    return {
      stop: problemResponse({
        code: "rate_limited",
        detail: `Rate limit of ${d.limit} requests per ${config.RATE_LIMIT_WINDOW_SECONDS} s exceeded; retry in ${headers["ratelimit-reset"]} s`,
        headers: { ...headers, "retry-after": String(Math.max(1, Number(headers["ratelimit-reset"]))) },
      }),
    };
  }

  async function run(endpoint: Endpoint, req: CoreRequest): Promise<CoreResponse> {
    const started = performance.now();
    let res: CoreResponse;
    try {
      const guarded = guard(endpoint, req);
      const checked = guarded instanceof Promise ? await guarded : guarded;
      res = checked.stop ?? (await endpoint.handler(req));
      if (checked.headers && !checked.stop) Object.assign(res.headers, checked.headers);
    } catch (err) {
      // A bug, not an expected failure: log it whole, tell the client nothing about internals.
      logger.error("unhandled error", { route: endpoint.route, error: err instanceof Error ? err.stack : String(err) });
      res = problemResponse({ code: "internal", detail: "An unexpected error occurred; it has been logged" });
    } finally {
      releaseBody(req);
    }
    return finish(res, endpoint.route, endpoint.method, started);
  }

  async function handle(req: CoreRequest): Promise<CoreResponse> {
    const started = performance.now();
    // Case-insensitive, as Azure Functions routes are, so both hosts answer the same paths.
    let pathname = req.path.toLowerCase();
    if (pathname.length > 1 && pathname.endsWith("/")) pathname = pathname.slice(0, -1);
    const candidates =
      exact.get(pathname) ??
      (pathname.startsWith("/docs/") ? [docsAssets] : pathname.startsWith("/app/") ? [appAssets] : undefined);
    if (!candidates) return finish(legacy(404, { error: "API not found." }), "unmatched", req.method, started);
    const method = req.method === "HEAD" ? "GET" : req.method;
    const endpoint = candidates.find((e) => e.method === method);
    if (!endpoint) {
      const allow = candidates.map((e) => e.method).join(", ");
      return finish(
        problemResponse({
          code: "method_not_allowed",
          detail: `${req.method} is not allowed on ${pathname}; use ${allow}`,
          headers: { allow },
        }),
        candidates[0]!.route,
        req.method,
        started,
      );
    }
    return run(endpoint, req);
  }

  return {
    instanceId,
    endpoints,
    holder,
    cache,
    metrics,
    logger,
    handle,
    run,
    async close() {
      await holder.close();
      await cache.close();
      await limiter?.close();
    },
  };
}
