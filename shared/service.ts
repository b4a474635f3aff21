import { randomUUID } from "node:crypto";
import path from "node:path";
import { createApiKeyCheck } from "./access/api-keys";
import { createPredictionCache, type PredictionCache } from "./cache";
import { cacheBackendOn, openSharedStore } from "./cache/shared-store";
import type { CacheBackend } from "./cache/types";
import { createBodyAdmission } from "./http/body-admission";
import { createCorsPolicy } from "./http/cors";
import { jsonResponse, type CoreRequest, type CoreResponse } from "./http/core";
import type { Endpoint, ServiceContext } from "./http/endpoint";
import { createFinish } from "./http/finish";
import { createGuard } from "./http/guard";
import { createPipeline } from "./http/pipeline";
import { createRouter } from "./http/router";
import { IntervalModels } from "./inference/interval-model";
import { IntervalPredictor } from "./inference/interval-predictor";
import { ModelHolder, type ModelSource } from "./inference/model";
import { Predictor } from "./inference/predictor";
import type { Config } from "./ops/config";
import { createLogger, type Logger } from "./ops/logger";
import { createMetrics, zeroSeries, type Metrics } from "./ops/metrics";
import { createRateLimiter, type RateLimiter } from "./rate-limit";
import { docsRoutes } from "./routes/docs";
import { pageRoutes } from "./routes/page";
import { OPEN_INFERENCE_ERRORS, openInferenceRoutes } from "./routes/open-inference";
import { operationRoutes } from "./routes/operations";
import { predictionRoutes } from "./routes/predictions";
import { seedUtilityRoutes } from "./routes/seed-utilities";

export type { Endpoint } from "./http/endpoint";

/** The route families both hosts serve, in this order; a new family adds its `xxxRoutes` here. */
const ROUTE_FAMILIES: readonly ((ctx: ServiceContext) => Endpoint[])[] = [
  predictionRoutes,
  operationRoutes,
  docsRoutes,
  seedUtilityRoutes,
  pageRoutes,
  openInferenceRoutes,
];

export interface ServiceDeps {
  config: Config;
  /** Directory holding model/ (the repo root, or /app in the container). */
  appRoot: string;
  /** Directory of the build's static files (swagger-ui/, app/): findStaticRoot(__dirname) in a host bundle. */
  staticRoot: string;
  logger?: Logger;
  /** A shared cache backend; by default chosen from the config. */
  sharedCache?: CacheBackend;
  /** A rate limiter; by default chosen from the config (none when RATE_LIMIT_REQUESTS is 0). */
  rateLimiter?: RateLimiter;
  instanceId?: string;
  now?: () => number;
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

/** Where the model (and the interval model beside it) comes from, reporting its runs to the metrics. */
function modelSource(config: Config, appRoot: string, metrics: Metrics): ModelSource {
  return {
    modelPath: path.resolve(appRoot, config.MODEL_PATH),
    fileLabel: config.MODEL_PATH,
    blobUrl: config.MODEL_BLOB_URL,
    connectionString: config.AZURE_STORAGE_CONNECTION_STRING,
    timeoutMs: config.MODEL_STORE_TIMEOUT_MS,
    engine: config.MODEL_ENGINE,
    onRun: (rows: number) => metrics.modelRuns.observe(rows),
  };
}

/** The process's model holder for this source, reporting its identity to the metrics. */
function modelHolder(source: ModelSource, metrics: Metrics, logger: Logger): ModelHolder {
  return new ModelHolder(source, logger, (info) =>
    metrics.modelInfo.set({ name: info.name, version: info.version, source: info.source, engine: info.engine }, 1),
  );
}

/** The inference side: model holder, shared store, per-row cache, point and interval predictors. */
function createInference(deps: ServiceDeps, metrics: Metrics, logger: Logger) {
  const { config } = deps;
  const source = modelSource(config, deps.appRoot, metrics);
  const holder = modelHolder(source, metrics, logger);
  // One client of the shared store (Upstash or Redis) for the cache and the limiter, opened only if one needs it.
  const wantsStore = !deps.sharedCache || (!deps.rateLimiter && config.RATE_LIMIT_REQUESTS > 0);
  const store = wantsStore ? openSharedStore(config, logger) : undefined;
  const shared = deps.sharedCache ?? (store && cacheBackendOn(store));
  const { CACHE_MAX_ENTRIES: maxEntries, CACHE_TTL_SECONDS: ttlSeconds, CACHE_TIMEOUT_MS: timeoutMs } = config;
  const cache = createPredictionCache({ maxEntries, ttlSeconds, timeoutMs, shared, metrics, logger });
  const predictor = new Predictor({
    holder,
    cache,
    metrics,
    maxInflightRows: config.MAX_INFLIGHT_ROWS,
    loadWaitMs: config.MODEL_STORE_TIMEOUT_MS,
  });
  const intervalModels = new IntervalModels(source, logger);
  const intervals = new IntervalPredictor({ models: intervalModels, cache, metrics, bound: predictor });
  return { holder, store, shared, cache, predictor, intervalModels, intervals };
}

/** Wires the service: model, cache, predictor, the route families and the HTTP pipeline in front of them. */
export function createService(deps: ServiceDeps): Service {
  const { config } = deps;
  const logger = deps.logger ?? createLogger(config.LOG_LEVEL);
  const instanceId = deps.instanceId ?? randomUUID();
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const metrics = createMetrics({ gcDuration: config.METRICS_GC_DURATION });
  const { holder, store, shared, cache, predictor, intervalModels, intervals } = createInference(deps, metrics, logger);
  const admission = createBodyAdmission(config, metrics);
  const legacy = (status: number, body: Record<string, unknown>) =>
    jsonResponse(status, { ...body, app_identifier: instanceId });
  const { readJsonBytes, readBodyBytes } = admission;
  const ctx: ServiceContext = {
    config,
    logger,
    metrics,
    holder,
    cache,
    predictor,
    intervals,
    instanceId,
    now,
    startedAt,
    staticRoot: deps.staticRoot,
    readJsonBytes,
    readBodyBytes,
    apiKeyCheck: createApiKeyCheck(config.API_KEYS),
    legacy,
    notFound: () => legacy(404, { error: "API not found." }),
  };
  const endpoints = ROUTE_FAMILIES.flatMap((family) => family(ctx));
  const limiter = deps.rateLimiter ?? createRateLimiter(config, logger, Math.max(config.CACHE_TIMEOUT_MS, 50), store);
  zeroSeries(metrics, { endpoints, sharedBackend: shared?.name, rateLimited: limiter !== undefined });
  metrics.readModelReadyFrom(() => holder.state.state === "ready");
  const cors = createCorsPolicy(config.CORS_ALLOWED_ORIGINS);
  const { handle, run } = createPipeline({
    router: createRouter(endpoints),
    guard: createGuard({ config, metrics, apiKeyCheck: ctx.apiKeyCheck, limiter }),
    admission,
    finish: createFinish(instanceId, metrics, cors),
    cors,
    logger,
    notFound: ctx.notFound,
    errorFormats: [OPEN_INFERENCE_ERRORS],
  });
  async function close(): Promise<void> {
    await holder.close();
    await intervalModels.close();
    await cache.close();
    await limiter?.close();
    await store?.close();
  }
  return { instanceId, endpoints, holder, cache, metrics, logger, handle, run, close };
}
