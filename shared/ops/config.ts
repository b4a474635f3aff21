import { z } from "zod";
import path from "node:path";
import { parseAllowedOrigins } from "../http/cors";

/** Where the bundled model lives, resolved from the working directory (repo root or the container's /app). */
const DEFAULT_MODEL_PATH = path.join("model", "model.onnx");

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === "" ? undefined : v))
  .optional();

const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);

/** A yes/no setting: true/yes/1 or false/no/0; empty = the default. */
const flag = (def: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(?:true|false|yes|no|1|0|)$/, "must be true or false")
    .transform((v) => (v === "" ? def : v === "true" || v === "yes" || v === "1"))
    .default(def);

/** Most proxies anyone chains in front of the app; more is a typo, not a topology. */
const MAX_TRUSTED_PROXIES = 10;

/**
 * TRUST_PROXY: how many proxies in front of the app append to X-Forwarded-For (docs/DEPLOYMENT.md, "Client
 * addresses"). A hop count 0..10, or the booleans it replaces: true/yes = 1, false/no/empty = 0.
 */
const trustedProxies = z
  .string()
  .trim()
  .regex(/^(?:true|false|yes|no|\d{1,2}|)$/, "must be true, false or a number of proxies (0-10)")
  .transform((v) => (v === "true" || v === "yes" ? 1 : v === "false" || v === "no" || v === "" ? 0 : Number(v)))
  .pipe(z.number().int().min(0).max(MAX_TRUSTED_PROXIES))
  .default(0);

/**
 * Every configuration key the service reads, with its default. This is the only place that reads
 * `process.env`; `local.settings.sample.json`, the Bicep app settings and the k8s ConfigMap use the same keys.
 */
export const ConfigSchema = z.object({
  /** Port of the standalone HTTP server. */
  PORT: int(0, 65535, 8000),
  /** Interface of the standalone HTTP server. */
  HOST: z.string().default("0.0.0.0"),
  /** Path of the ONNX model; its card (`model.json`) must sit beside it. */
  MODEL_PATH: z.string().default(DEFAULT_MODEL_PATH),
  /** When set, the model is loaded from Azure Blob Storage: the URL of `model.onnx` (card beside it). */
  MODEL_BLOB_URL: optionalString,
  /** Connection string for the model store (Azurite, local runs); otherwise DefaultAzureCredential is used. */
  AZURE_STORAGE_CONNECTION_STRING: optionalString,
  /**
   * What runs the point model: `auto` compiles a tree-ensemble graph into the built-in evaluator (the same float32
   * results as onnxruntime, ~45–50 MiB less memory) and falls back to onnxruntime for any other graph;
   * `compiled` refuses other graphs; `onnxruntime` always uses the ONNX runtime.
   */
  MODEL_ENGINE: z.enum(["auto", "compiled", "onnxruntime"]).default("auto"),
  /** Timeout of one model-store download attempt. */
  MODEL_STORE_TIMEOUT_MS: int(100, 600_000, 30_000),
  /** Largest number of houses in one /bulk_predict request. */
  MAX_BATCH: int(1, 1_000_000, 10_000),
  /** Largest request body accepted, in bytes. */
  MAX_BODY_BYTES: int(1024, 512 * 1024 * 1024, 4 * 1024 * 1024),
  /** Rows of in-flight work above which new prediction requests get 503 (0 = unbounded). */
  MAX_INFLIGHT_ROWS: int(0, 100_000_000, 100_000),
  /**
   * Bytes of request bodies being read, parsed and served at once, above which new JSON requests get 503
   * (0 = unbounded). With MAX_INFLIGHT_ROWS it bounds the heap, so a capped V8 heap cannot run out.
   */
  MAX_INFLIGHT_BODY_BYTES: int(0, 4 * 1024 * 1024 * 1024, 16 * 1024 * 1024),
  /** Lifetime of a cached prediction. */
  CACHE_TTL_SECONDS: int(1, 31_536_000, 86_400),
  /** Entries of the in-process LRU cache (0 disables it). */
  CACHE_MAX_ENTRIES: int(0, 50_000_000, 50_000),
  /** Bound on every call to a shared cache backend; a slower call counts as a miss. */
  CACHE_TIMEOUT_MS: int(1, 60_000, 50),
  /** Redis over TCP (in-cluster). */
  REDIS_URL: optionalString,
  /** Upstash Redis over REST (edge / Azure Functions). */
  UPSTASH_REDIS_REST_URL: optionalString,
  UPSTASH_REDIS_REST_TOKEN: optionalString,
  /** Log level of the JSON logs. */
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  /** Time the standalone server waits for in-flight requests after SIGTERM. */
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 20_000),
  /** Per-client request limit per window on the prediction endpoints (0 = off). */
  RATE_LIMIT_REQUESTS: int(0, 100_000_000, 0),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400, 60),
  /**
   * Number of proxies in front of the app that append to X-Forwarded-For (true = 1): the client address is the
   * entry that many hops from its end. 1 behind the KEDA interceptor or the Azure Functions front end, 2 behind
   * an ingress controller + the interceptor or Front Door + the Functions front end.
   */
  TRUST_PROXY: trustedProxies,
  /** Comma-separated API keys for the prediction endpoints; unset = open. */
  API_KEYS: optionalString,
  /** Azure Functions auth level of the prediction functions ("function" requires a function key). */
  FUNCTION_AUTH_LEVEL: z.enum(["anonymous", "function"]).default("anonymous"),
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  METRICS_TOKEN: optionalString,
  /**
   * Whether /metrics has prom-client's `nodejs_gc_duration_seconds`. Off by default: on Node.js before 25 its GC
   * observer leaves ~7 KB in V8's old space per garbage collection, which doubled the Mark-Compacts under load
   * (shared/ops/runtime-metrics.ts).
   */
  METRICS_GC_DURATION: flag(false),
  /**
   * Comma-separated exact origins (`https://app.example.org`) whose browser apps may call the API: preflights
   * answered, `Access-Control-Allow-Origin` on answers. Empty = no CORS headers at all.
   */
  CORS_ALLOWED_ORIGINS: z
    .string()
    .default("")
    .transform((csv, ctx) => {
      const parsed = parseAllowedOrigins(csv);
      if ("origins" in parsed) return parsed.origins;
      ctx.addIssue({ code: "custom", message: parsed.error });
      return z.NEVER;
    }),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Parses a configuration from an environment; throws one error naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.join(".")}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`,
    );
    throw new Error(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const cfg = result.data;
  if (Boolean(cfg.UPSTASH_REDIS_REST_URL) !== Boolean(cfg.UPSTASH_REDIS_REST_TOKEN)) {
    throw new Error("Invalid configuration: UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together");
  }
  return cfg;
}

let cached: Config | undefined;

/** The process configuration, read from `process.env` once. */
export function getConfig(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}

/** The keys the service knows, for checks of deployment manifests. */
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as (keyof Config)[];
