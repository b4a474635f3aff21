import type { PredictionCache } from "./cache";
import { FEATURES } from "./features";
import { fail, ok, type Result } from "./http";
import type { Metrics } from "./metrics";
import type { Model, ModelHolder } from "./model";
import type { House } from "./schemas";
import { BIG_ROWS, nextTurn } from "./turns";

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
 * Cache keys: the model namespace (version and sha256 prefix, see ModelInfo) plus the exact float32 bits
 * the model sees (base64 of the row's 32
 * bytes), so two inputs share a key exactly when the model cannot tell them apart, and a new model
 * version never reads old values.
 */
export function cacheKeys(namespace: string, tensor: Float32Array, rows: number): string[] {
  const bytes = Buffer.from(tensor.buffer, tensor.byteOffset, rows * WIDTH * 4);
  const prefix = `hp:${namespace}:`;
  const keys = new Array<string>(rows);
  const rowBytes = WIDTH * 4;
  for (let r = 0; r < rows; r++) keys[r] = prefix + bytes.toString("base64", r * rowBytes, (r + 1) * rowBytes);
  return keys;
}

/**
 * Predicts rows: per-row cache lookup, identical rows in flight computed once (single-flight,
 * across requests and endpoints), one batched model run for the rest, cache fill.
 */
/** One model run that other requests can join: one promise for all its rows, not one per row. */
class InflightRun {
  readonly done: Promise<Float32Array>;
  resolve!: (out: Float32Array) => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined);
  }
}

export class Predictor {
  /** Keys being computed → the run computing them and the row's position in its output. */
  private readonly inflight = new Map<string, { run: InflightRun; at: number }>();
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

  /** Predicts `n` rows packed as float32 [n, 8] in FEATURES order. */
  async predict(tensor: Float32Array, n: number): Promise<Result<PredictOutcome>> {
    const { metrics, maxInflightRows, cache } = this.opts;
    if (maxInflightRows > 0 && this.inflightRows + n > maxInflightRows && this.inflightRows > 0) {
      metrics.rejected.inc({ reason: "overloaded" });
      return fail("overloaded", `The server has ${this.inflightRows} rows in progress; try again shortly`, {
        headers: { "retry-after": "1" },
      });
    }
    // Reserved before waiting for a loading model, so waiting requests count against the bound too.
    this.inflightRows += n;
    metrics.inflightRows.set(this.inflightRows);
    try {
      const got = await this.model();
      if (!got.ok) return got;
      const model = got.value;
      metrics.batchSize.observe(n);
      if (n >= BIG_ROWS) await nextTurn();
      const keys = cacheKeys(model.info.cacheNamespace, tensor, n);
      const { values, hits } = await cache.lookup(keys);

      // Rows another request is already computing: wait for its run instead of computing them again.
      const joined: { index: number; run: InflightRun; at: number }[] = [];
      const compute: number[] = [];
      let run: InflightRun | undefined;
      for (let i = 0; i < n; i++) {
        if (values[i] !== undefined) continue;
        const key = keys[i]!;
        const pending = this.inflight.get(key);
        if (pending) {
          joined.push({ index: i, run: pending.run, at: pending.at });
          continue;
        }
        run ??= new InflightRun();
        this.inflight.set(key, { run, at: compute.length });
        compute.push(i);
      }

      if (run) {
        const input = new Float32Array(compute.length * WIDTH);
        for (let j = 0; j < compute.length; j++) {
          const i = compute[j]!;
          input.set(tensor.subarray(i * WIDTH, (i + 1) * WIDTH), j * WIDTH);
        }
        try {
          const out = await model.infer(input, compute.length);
          run.resolve(out);
          if (compute.length >= BIG_ROWS) await nextTurn();
          const fresh: [string, number][] = new Array(compute.length);
          for (let j = 0; j < compute.length; j++) {
            const i = compute[j]!;
            const v = out[j]!;
            values[i] = v;
            fresh[j] = [keys[i]!, v];
          }
          cache.store(fresh);
        } catch (err) {
          run.reject(err);
          throw err;
        } finally {
          for (const i of compute) this.inflight.delete(keys[i]!);
        }
      }
      for (const j of joined) values[j.index] = (await j.run.done)[j.at]!;
      const collapsed = joined.length;

      metrics.predictionRows.inc({ source: "cache" }, hits);
      if (collapsed > 0) metrics.predictionRows.inc({ source: "collapsed" }, collapsed);
      if (compute.length > 0) metrics.predictionRows.inc({ source: "model" }, compute.length);
      return ok({ values: values as number[], hits, collapsed, computed: compute.length });
    } finally {
      this.inflightRows -= n;
      metrics.inflightRows.set(this.inflightRows);
    }
  }
}
