import type { ApiKeyCheck } from "../access/api-keys";
import type { PredictionCache } from "../cache";
import type { IntervalPredictor } from "../inference/interval-predictor";
import type { ModelHolder } from "../inference/model";
import type { Predictor } from "../inference/predictor";
import type { Config } from "../ops/config";
import type { Logger } from "../ops/logger";
import type { Metrics } from "../ops/metrics";
import type { MediaTypes } from "./body-admission";
import type { CoreRequest, CoreResponse, Result } from "./core";

/** One HTTP endpoint, platform-neutral: both hosts serve this same list. */
export interface Endpoint {
  /** Function name on Azure Functions. */
  name: string;
  method: "GET" | "POST";
  /**
   * Route at the root, e.g. "/predict". `{name}` stands for one path segment, `{*name}` for the rest of the
   * path (Azure Functions route syntax); the handler reads them from `req.params`.
   */
  route: string;
  handler: (req: CoreRequest) => Promise<CoreResponse>;
  /** Needs an API key when API_KEYS is set (the prediction endpoints). */
  apiKey?: boolean;
  /** Counted by the per-client rate limit (never /health, /metrics or the docs). */
  rateLimited?: boolean;
}

/**
 * What route modules build their endpoints from (`xxxRoutes(ctx): Endpoint[]` in shared/routes/): the service's
 * parts and the few helpers every family shares. Created once per service, in shared/service.ts.
 */
export interface ServiceContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly holder: ModelHolder;
  readonly cache: PredictionCache;
  readonly predictor: Predictor;
  /** Prediction intervals for `?detail=true` (their model is loaded on the first such request). */
  readonly intervals: IntervalPredictor;
  /** This replica's id: the X-App-Identifier header and the seeds' `app_identifier`. */
  readonly instanceId: string;
  /** The service's clock (tests pass their own). */
  now(): number;
  /** When the service was created, on the `now` clock. */
  readonly startedAt: number;
  /** Directory of the static files the build writes (swagger-ui/, app/): `<bundle dir>/../static`. */
  readonly staticRoot: string;
  /** Reads a JSON request's body: 415, 413 and 503 (memory admission) before any parsing. */
  readJsonBytes(req: CoreRequest): Promise<Result<Uint8Array>>;
  /** The same under the same limits for other media types (the /v2 family also takes application/octet-stream). */
  readBodyBytes(req: CoreRequest, media: MediaTypes): Promise<Result<Uint8Array>>;
  /** API_KEYS as a checker (built once: it hashes the keys); undefined when no keys are configured. */
  readonly apiKeyCheck: ApiKeyCheck | undefined;
  /** The seeds' answer shape: a JSON body that carries `app_identifier`. */
  legacy(status: number, body: Record<string, unknown>): CoreResponse;
  /** The answer for a path nothing serves: the seeds' `{"error":"API not found.", app_identifier}` 404. */
  notFound(): CoreResponse;
}
