import type { PredictionCache } from "./cache";
import { FEATURES } from "./features";
import { fail, ok, type Result } from "./http";
import type { Metrics } from "./metrics";
import type { Model, ModelHolder } from "./model";
import type { House } from "./schemas";

const WIDTH = FEATURES.length;

export interface PredictOutcome {
  values: number[];
  /** Rows served from the cache. */
  hits: number;
  /** Rows that joined an identical computation already in flight. */
  collapsed: number;
  /** Rows computed by this request. */
  computed: number;
}

export interface PredictorOptions {
  holder: Pick<ModelHolder, "get" | "load" | "state">;
  cache: PredictionCache;
  metrics: Metrics;
  /** Bound on rows in progress across requests; 0 = unbounded. */
  maxInflightRows: number;
  /** How long a request waits for a model that is still loading. */
  loadWaitMs: number;
}

/** Packs houses into the model's float32 [n, 8] layout, in FEATURES order. */
export function toTensor(rows: readonly House[]): Float32Array {
  const out = new Float32Array(rows.length * WIDTH);
  for (let r = 0; r < rows.length; r++) {
    const h = rows[r]!;
    for (let c = 0; c < WIDTH; c++) out[r * WIDTH + c] = h[FEATURES[c]!];
  }
  return out;
}

/**
 * Cache keys: the model version plus the exact float32 bits the model sees (base64 of the row's 32
 * bytes), so two inputs share a key exactly when the model cannot tell them apart, and a new model
 * version never reads old values.
 */
export function cacheKeys(version: string, tensor: Float32Array, rows: number): string[] {
  const bytes = Buffer.from(tensor.buffer, tensor.byteOffset, rows * WIDTH * 4);
  const prefix = `hp:${version}:`;
  const keys = new Array<string>(rows);
  const rowBytes = WIDTH * 4;
  for (let r = 0; r < rows; r++) keys[r] = prefix + bytes.toString("base64", r * rowBytes, (r + 1) * rowBytes);
  return keys;
}

/**
 * Predicts rows: per-row cache lookup, identical rows in flight computed once (single-flight,
 * across requests and endpoints), one batched model run for the rest, cache fill.
 */
export class Predictor {
  private readonly inflight = new Map<string, Promise<number>>();
  private inflightRows = 0;

  constructor(private readonly opts: PredictorOptions) {}

  private async model(): Promise<Result<Model>> {
    const { holder, loadWaitMs } = this.opts;
    const ready = holder.get();
    if (ready) return ok(ready);
    const state = holder.state;
    if (state.state === "loading" && !state.reason) {
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        holder.load().catch(() => undefined),
        new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), loadWaitMs))),
      ]);
      clearTimeout(timer);
      if (waited) return ok(waited);
    }
    const now = holder.state;
    const reason = now.state === "ready" ? "" : (now.reason ?? "the model is still loading");
    return fail("model_unavailable", `The model is not available: ${reason}`, { headers: { "retry-after": "5" } });
  }

  async predict(rows: readonly House[]): Promise<Result<PredictOutcome>> {
    const { metrics, maxInflightRows, cache } = this.opts;
    const n = rows.length;
    if (maxInflightRows > 0 && this.inflightRows + n > maxInflightRows && this.inflightRows > 0) {
      metrics.rejected.inc({ reason: "overloaded" });
      return fail("overloaded", `The server has ${this.inflightRows} rows in progress; try again shortly`, {
        headers: { "retry-after": "1" },
      });
    }
    const got = await this.model();
    if (!got.ok) return got;
    const model = got.value;

    this.inflightRows += n;
    metrics.inflightRows.set(this.inflightRows);
    try {
      metrics.batchSize.observe(n);
      const tensor = toTensor(rows);
      const keys = cacheKeys(model.info.version, tensor, n);
      const { values, hits } = await cache.lookup(keys);

      const waits: { index: number; promise: Promise<number> }[] = [];
      const compute: number[] = [];
      const settle = new Map<string, { resolve: (v: number) => void; reject: (e: unknown) => void }>();
      for (let i = 0; i < n; i++) {
        if (values[i] !== undefined) continue;
        const key = keys[i]!;
        const pending = this.inflight.get(key);
        if (pending) {
          waits.push({ index: i, promise: pending });
          continue;
        }
        const promise = new Promise<number>((resolve, reject) => settle.set(key, { resolve, reject }));
        promise.catch(() => undefined);
        this.inflight.set(key, promise);
        compute.push(i);
      }

      if (compute.length > 0) {
        const input = new Float32Array(compute.length * WIDTH);
        for (let j = 0; j < compute.length; j++) {
          const i = compute[j]!;
          input.set(tensor.subarray(i * WIDTH, (i + 1) * WIDTH), j * WIDTH);
        }
        try {
          const out = await model.infer(input, compute.length);
          const fresh: [string, number][] = new Array(compute.length);
          for (let j = 0; j < compute.length; j++) {
            const i = compute[j]!;
            const v = out[j]!;
            values[i] = v;
            fresh[j] = [keys[i]!, v];
            settle.get(keys[i]!)?.resolve(v);
          }
          cache.store(fresh);
        } catch (err) {
          for (const s of settle.values()) s.reject(err);
          throw err;
        } finally {
          for (const key of settle.keys()) this.inflight.delete(key);
        }
      }
      for (const w of waits) values[w.index] = await w.promise;

      metrics.predictionRows.inc({ source: "cache" }, hits);
      if (waits.length > 0) metrics.predictionRows.inc({ source: "collapsed" }, waits.length);
      if (compute.length > 0) metrics.predictionRows.inc({ source: "model" }, compute.length);
      return ok({ values: values as number[], hits, collapsed: waits.length, computed: compute.length });
    } finally {
      this.inflightRows -= n;
      metrics.inflightRows.set(this.inflightRows);
    }
  }
}
