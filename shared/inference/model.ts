import type { InferenceSession as OrtSession } from "onnxruntime-node";
import { Batcher } from "./batcher";
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
  /** Most rows in one ONNX run (chunking bound). */
  maxRowsPerRun?: number;
  /** Observes the rows of each ONNX run (metrics). */
  onRun?: (rows: number) => void;
}

/** A loaded model: one ONNX session behind a dynamic batcher. */
export interface Model {
  info: ModelInfo;
  /** Predicts a float32 [rows, 8] tensor; one output per row. */
  infer(input: Float32Array, rows: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** The service's onnxruntime session options (the benches' model ceilings use the same). */
export const SESSION_OPTIONS: OrtSession.SessionOptions = {
  // One thread: session.run holds the JS thread anyway, and the second core serves the clients.
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
  // The arena keeps peak buffers for the process's life; without it RSS stays lower and speed is the same here.
  enableCpuMemArena: false,
  enableMemPattern: false,
};

/** Most rows in one ONNX run: 512 rows ≈ 5 ms of the event loop, so small requests wait at most that behind a bulk. */
export const MAX_ROWS_PER_RUN = 512;

/** Creates the onnxruntime session from verified bytes and warms it up. */
export async function createModel(
  artifact: ModelArtifact,
  opts: Pick<ModelSource, "maxRowsPerRun" | "onRun"> = {},
): Promise<Model> {
  const featureNames = (artifact.card.features as { name?: unknown }[] | undefined)?.map((f) => f.name);
  if (!featureNames || featureNames.join(",") !== FEATURES.join(",")) {
    throw new Error(
      `model card features ${JSON.stringify(featureNames)} differ from the service's ${FEATURES.join(",")}`,
    );
  }
  // Loaded here, not at module scope, so hosts that never predict (and cold start) skip the native addon until needed.
  const ort = await import("onnxruntime-node");
  const session: OrtSession = await ort.InferenceSession.create(artifact.onnx, SESSION_OPTIONS);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  if (!inputName || !outputName) throw new Error("model has no input or output");

  const run = async (input: Float32Array, rows: number): Promise<Float32Array> => {
    opts.onRun?.(rows);
    const tensor = new ort.Tensor("float32", input, [rows, WIDTH]);
    const result = await session.run({ [inputName]: tensor });
    const out = result[outputName];
    if (!out || !(out.data instanceof Float32Array) || out.data.length !== rows) {
      throw new Error(`model output ${outputName} has an unexpected shape`);
    }
    return out.data;
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
    },
    infer: (input, rows) => batcher.infer(input, rows),
    close: () => session.release(),
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
    // other features, a graph onnxruntime rejects) are retried with the same backoff, never given up on.
    await loadWithRetry(
      async () => {
        const result = await this.fetch();
        if (!result.ok) return result;
        try {
          model = await createModel(result.artifact, this.source);
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
