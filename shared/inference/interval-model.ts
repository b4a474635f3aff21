import path from "node:path";
import { Batcher } from "./batcher";
import { WIDTH } from "../input/features";
import { fail, ok, type Result } from "../http/core";
import type { Logger } from "../ops/logger";
import { openOnnxSession } from "./engines/onnxruntime-engine";
import { MAX_ROWS_PER_RUN, type ModelInfo, type ModelSource } from "./model";
import { loadFromBlob, loadFromFile, type LoadResult, type ModelCard } from "./model-store";
import { copyValues } from "../input/small-arrays";

/** Values per row the interval graph reads: the eight features, then the served point (`house_value`). */
export const INTERVAL_INPUT_WIDTH = WIDTH + 1;

/**
 * The conformal interval model (model/intervals.onnx, see model/README.md): for every row and every level of the
 * card, `low ≤ house_value ≤ high`. One ONNX session behind its own micro-batcher, like the point model.
 */
export interface IntervalModel {
  readonly levels: readonly number[];
  /**
   * `input` is float32 [rows, 9] (features, then the point); the answer is float32 [rows, 2·levels]: per row the
   * lows of every level, then the highs.
   */
  infer(input: Float32Array, rows: number): Promise<Float32Array>;
  close(): Promise<void>;
}

interface IntervalSection {
  file: string;
  sha256: string;
  levels: number[];
}

function section(card: ModelCard): IntervalSection | undefined {
  const s = card.intervals as Partial<IntervalSection> | undefined;
  if (typeof s?.file !== "string" || typeof s.sha256 !== "string" || !Array.isArray(s.levels)) return undefined;
  return s as IntervalSection;
}

/** Reads the interval graph beside the point model (same folder or blob container), verified by the card's sha256. */
function fetchBytes(source: ModelSource, file: string): Promise<LoadResult> {
  const name = path.posix.basename(file);
  const expectedSha256 = (card: ModelCard) => section(card)?.sha256;
  if (source.blobUrl) {
    const url = new URL(name, source.blobUrl);
    url.search = new URL(source.blobUrl).search; // keep a container-scoped SAS
    const { connectionString, timeoutMs } = source;
    return loadFromBlob({ blobUrl: url.href, connectionString, timeoutMs, expectedSha256 });
  }
  return loadFromFile(path.join(path.dirname(source.modelPath), name), expectedSha256);
}

async function createIntervalModel(bytes: Uint8Array, levels: number[], source: ModelSource): Promise<IntervalModel> {
  const { ort, session } = await openOnnxSession(bytes);
  const L = levels.length;
  const run = async (input: Float32Array, rows: number): Promise<Float32Array> => {
    source.onRun?.(rows);
    const features = new Float32Array(rows * WIDTH);
    const points = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      copyValues(input, i * INTERVAL_INPUT_WIDTH, features, i * WIDTH, WIDTH);
      points[i] = input[i * INTERVAL_INPUT_WIDTH + WIDTH]!;
    }
    const result = await session.run({
      input: new ort.Tensor("float32", features, [rows, WIDTH]),
      house_value: new ort.Tensor("float32", points, [rows, 1]),
    });
    const low = result.low?.data;
    const high = result.high?.data;
    if (!(low instanceof Float32Array) || !(high instanceof Float32Array) || low.length !== rows * L) {
      throw new Error("interval model outputs low/high have an unexpected shape");
    }
    const out = new Float32Array(rows * 2 * L);
    for (let i = 0; i < rows; i++) {
      copyValues(low, i * L, out, i * 2 * L, L);
      copyValues(high, i * L, out, i * 2 * L + L, L);
    }
    return out;
  };
  const batcher = new Batcher(run, {
    maxRows: source.maxRowsPerRun ?? MAX_ROWS_PER_RUN,
    inputWidth: INTERVAL_INPUT_WIDTH,
    outputWidth: 2 * L,
  });
  return { levels, infer: (input, rows) => batcher.infer(input, rows), close: () => session.release() };
}

/**
 * The process's interval model, created on the first detail request (plain predictions never load it). A failed
 * load is not remembered: the next detail request tries again, each attempt bounded like the point model's.
 */
export class IntervalModels {
  private loading: { namespace: string; model: Promise<Result<IntervalModel>> } | undefined;

  constructor(
    private readonly source: ModelSource,
    private readonly logger: Logger,
  ) {}

  get(info: ModelInfo): Promise<Result<IntervalModel>> {
    if (this.loading?.namespace !== info.cacheNamespace) {
      const model = this.load(info.card as ModelCard);
      this.loading = { namespace: info.cacheNamespace, model };
      void model.then((r) => {
        if (!r.ok && this.loading?.model === model) this.loading = undefined;
      });
    }
    return this.loading.model;
  }

  private async load(card: ModelCard): Promise<Result<IntervalModel>> {
    const s = section(card);
    if (!s) return fail("model_unavailable", "The model card lists no interval model");
    const started = Date.now();
    const bytes = await fetchBytes(this.source, s.file);
    if (!bytes.ok) {
      // Clients see the code only; paths, URLs and library messages stay in the logs (as for the point model).
      this.logger.error("interval model load failed", { code: bytes.error.code, error: bytes.error.message });
      return fail("model_unavailable", `The interval model is not available (${bytes.error.code})`);
    }
    try {
      const model = await createIntervalModel(bytes.artifact.onnx, s.levels, this.source);
      this.logger.info("interval model ready", { source: bytes.artifact.source, load_ms: Date.now() - started });
      return ok(model);
    } catch (err) {
      this.logger.error("interval model load failed", { code: "integrity", error: String(err) });
      return fail("model_unavailable", "The interval model is not available (integrity: not a usable model)");
    }
  }

  async close(): Promise<void> {
    const current = await this.loading?.model;
    if (current?.ok) await current.value.close();
  }
}
