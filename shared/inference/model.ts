import { Batcher } from "./batcher";
import { openEngine, type EngineChoice, type EngineName } from "./engines/engine";
import { FEATURES, SEED_HOUSE, WIDTH } from "../input/features";
import type { Logger } from "../ops/logger";
import { loadFromBlob, loadFromFile, loadWithRetry, type LoadResult, type ModelArtifact } from "./model-store";

export interface ModelInfo {
  name: string;
  version: string;
  sha256: string;
  /** Where the bytes came from, e.g. "file:model/model.onnx" or "blob:https://…/model.onnx". */
  source: string;
  card: Record<string, unknown>;
  /** Cache key namespace: the version and the sha256 prefix, so a retrained model that keeps its version still misses. */
  cacheNamespace: string;
  /** What computes the predictions (MODEL_ENGINE); both give the same float32 bits. */
  engine: EngineName;
}

const PUBLIC_REASONS: Record<"not_found" | "integrity" | "unreachable", string> = {
  not_found: "the model or its card is missing from the store",
  integrity: "the model does not match its card (sha256, format or features)",
  unreachable: "the model store cannot be reached",
};

export type ModelState =
  { state: "loading"; reason?: string } | { state: "ready"; info: ModelInfo } | { state: "failed"; reason: string };

export interface ModelSource {
  modelPath: string;
  /** How /health names a file source (the configured path, not the absolute one). */
  fileLabel?: string;
  blobUrl?: string;
  connectionString?: string;
  timeoutMs: number;
  /** Most rows in one model run (chunking bound). */
  maxRowsPerRun?: number;
  /** MODEL_ENGINE: compiled trees when the graph allows (auto), or insist on one. */
  engine?: EngineChoice;
  /** Observes the rows of each model run (metrics). */
  onRun?: (rows: number) => void;
}

/** A loaded model: one engine (compiled trees or an onnxruntime session) behind a dynamic batcher. */
export interface Model {
  info: ModelInfo;
  /** Predicts a float32 [rows, 8] tensor; one output per row. */
  infer(input: Float32Array, rows: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * Most rows in one model run: 256 rows hold the event loop 2–4 ms (the compiled engine at 7–14 µs a row on the
 * bench's VM), so small requests wait at most about that behind a bulk. 512 kept /health's p99 during 10,000-row
 * bulks at 18–26 ms against 12–18 with 256, at the same bulk throughput (BENCHMARKS.md, round 4).
 */
export const MAX_ROWS_PER_RUN = 256;

/** Opens the model's engine from verified bytes (compiled trees or onnxruntime, per MODEL_ENGINE) and warms it up. */
export async function createModel(
  artifact: ModelArtifact,
  opts: Pick<ModelSource, "maxRowsPerRun" | "onRun" | "engine"> & { logger?: Logger } = {},
): Promise<Model> {
  const featureNames = (artifact.card.features as { name?: unknown }[] | undefined)?.map((f) => f.name);
  if (!featureNames || featureNames.join(",") !== FEATURES.join(",")) {
    throw new Error(
      `model card features ${JSON.stringify(featureNames)} differ from the service's ${FEATURES.join(",")}`,
    );
  }
  const { engine, fallback } = await openEngine(artifact.onnx, WIDTH, opts.engine ?? "auto");
  if (fallback) opts.logger?.warn("model runs on onnxruntime: the graph is not compiled", { reason: fallback });

  const run = async (input: Float32Array, rows: number): Promise<Float32Array> => {
    opts.onRun?.(rows);
    return engine.run(input, rows);
  };

  const warm = Float32Array.from(FEATURES.map((f) => SEED_HOUSE[f]));
  await run(warm, 1);

  const batcher = new Batcher(run, { maxRows: opts.maxRowsPerRun ?? MAX_ROWS_PER_RUN });
  const { card } = artifact;
  return {
    info: {
      name: card.name,
      version: card.version,
      sha256: card.sha256,
      source: artifact.source,
      card,
      cacheNamespace: `${card.version}:${card.sha256.slice(0, 12)}`,
      engine: engine.name,
    },
    infer: (input, rows) => batcher.infer(input, rows),
    close: () => engine.close(),
  };
}

/**
 * The process's model: loaded once, lazily, from disk or Blob Storage, retried with backoff while
 * the store fails (the service stays up and reports 503 with the reason instead of crash-looping).
 */
export class ModelHolder {
  private current: ModelState = { state: "loading" };
  private model: Model | undefined;
  private loading: Promise<Model> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly source: ModelSource,
    private readonly logger: Logger,
    private readonly onReady?: (info: ModelInfo) => void,
  ) {}

  get state(): ModelState {
    return this.current;
  }

  /** The loaded model, or undefined while loading or failed. Starts loading on first call. */
  get(): Model | undefined {
    if (!this.loading) void this.load().catch(() => undefined);
    return this.model;
  }

  /** Starts loading (idempotent) and resolves once the model is ready. */
  load(): Promise<Model> {
    this.loading ??= this.loadOnce();
    return this.loading;
  }

  private fetch(): Promise<LoadResult> {
    const { blobUrl, connectionString, timeoutMs, modelPath } = this.source;
    if (blobUrl) return loadFromBlob({ blobUrl, connectionString, timeoutMs });
    const label = this.source.fileLabel;
    // /health names the configured path, never the absolute one; error messages only reach the logs.
    return loadFromFile(modelPath).then((r): LoadResult =>
      r.ok && label ? { ok: true, artifact: { ...r.artifact, source: `file:${label}` } } : r,
    );
  }

  private async loadOnce(): Promise<Model> {
    const started = Date.now();
    let model: Model | undefined;
    // Creating the session is part of the retried attempt: bytes that verify but do not load (a card for
    // other features, a graph no engine accepts) are retried with the same backoff, never given up on.
    await loadWithRetry(
      async () => {
        const result = await this.fetch();
        if (!result.ok) return result;
        try {
          model = await createModel(result.artifact, { ...this.source, logger: this.logger });
          return result;
        } catch (err) {
          const message = `not a usable model: ${err instanceof Error ? err.message : String(err)}`;
          return { ok: false, error: { code: "integrity", message } } satisfies LoadResult;
        }
      },
      {
        signal: this.abort.signal,
        onAttempt: (attempt, result, nextDelayMs) => {
          if (result.ok) return;
          // Clients see a fixed reason per code; paths, URLs and library messages stay in the logs.
          this.current = { state: "failed", reason: `${result.error.code}: ${PUBLIC_REASONS[result.error.code]}` };
          this.logger.error("model load failed", {
            attempt,
            code: result.error.code,
            error: result.error.message,
            retry_in_ms: nextDelayMs,
          });
        },
      },
    );
    if (!model) throw new Error("model load resolved without a model");
    this.model = model;
    this.current = { state: "ready", info: model.info };
    this.logger.info("model ready", {
      name: model.info.name,
      version: model.info.version,
      source: model.info.source,
      engine: model.info.engine,
      load_ms: Date.now() - started,
    });
    this.onReady?.(model.info);
    return model;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.model?.close();
  }
}
