/**
 * The model ceiling: rows/s of model/model.onnx on one thread in this process, run by one engine (the
 * compiled trees the service runs by default, or onnxruntime-node with the service's session options), no
 * HTTP, JSON, validation or cache. Same method as bench/model-bench.ts: warm-up calls, then the median of
 * timed rounds.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { FEATURES } from "../../shared/input/features";
import { openEngine, type EngineChoice, type EngineName } from "../../shared/inference/engines/engine";
import { machineBusySeconds } from "./procs";
import { median } from "./stats";
import { reportToParent } from "./child-result";

export interface ModelCeiling {
  /** The engine that ran the cases (what MODEL_ENGINE picks for this model, as in the server). */
  engine: EngineName;
  batch: number;
  /** Rows per ONNX run: the batch itself, or the service's chunk size when chunked. */
  runRows: number;
  rowsPerS: number;
  msPerBatch: number;
  calls: number;
  /** Cores other processes used while this case ran (the attempt kept: the quietest). */
  otherCpu: number;
}

const WIDTH = FEATURES.length;
const now = () => performance.now();

/** `count` distinct hold-out rows (tiled, Population shifted per tile) as a float32 [count, 8] tensor. */
function rows(count: number): Float32Array {
  const X = (JSON.parse(readFileSync(resolve("model/reference/holdout.json"), "utf8")) as { X: number[][] }).X;
  const out = new Float32Array(count * WIDTH);
  const pop = FEATURES.indexOf("Population");
  for (let i = 0; i < count; i++) {
    const x = X[i % X.length]!;
    out.set(x, i * WIDTH);
    out[i * WIDTH + pop] = x[pop]! + Math.floor(i / X.length);
  }
  return out;
}

/**
 * Measures each case: `batch` rows per request, run in chunks of `chunk` rows (the service's
 * Batcher splits at MAX_ROWS_PER_RUN) or in one run when chunk is undefined.
 */
export async function measureModelCeiling(
  cases: readonly { batch: number; chunk?: number }[],
  opts: {
    /** MODEL_ENGINE as the server under test gets it, so the ceiling runs the engine the server runs. */
    engine: EngineChoice;
    rounds: number;
    roundMs: number;
    /** A case during which other processes used more cores than this is measured again (up to `retries`). */
    noisyCores?: number;
    retries?: number;
  },
): Promise<ModelCeiling[]> {
  const bytes = readFileSync(resolve("model/model.onnx"));
  const { engine } = await openEngine(bytes, WIDTH, opts.engine);
  const maxBatch = Math.max(...cases.map((c) => c.batch));
  const pool = rows(Math.max(maxBatch * 4, 16_384));
  const poolRows = pool.length / WIDTH;
  const results: ModelCeiling[] = [];
  try {
    for (const { batch, chunk } of cases) {
      const runRows = Math.min(chunk ?? batch, batch);
      let offset = 0;
      // One "batch": consecutive slices of the pool, so consecutive calls never repeat input.
      const once = async () => {
        if (offset + batch > poolRows) offset = 0;
        for (let done = 0; done < batch; done += runRows) {
          const n = Math.min(runRows, batch - done);
          const data = pool.subarray((offset + done) * WIDTH, (offset + done + n) * WIDTH);
          const out = await engine.run(data, n);
          if (out.length !== n) throw new Error("unexpected output length");
        }
        offset += batch;
      };
      let best: { rowsPerS: number; calls: number; otherCpu: number } | undefined;
      for (let attempt = 0; attempt <= (opts.retries ?? 2); attempt++) {
        const warm = now();
        for (let k = 0; k < 200 && now() - warm < 500; k++) await once();
        const machine0 = machineBusySeconds();
        const cpu0 = process.cpuUsage();
        const t0 = now();
        const rates: number[] = [];
        let calls = 0;
        for (let r = 0; r < opts.rounds; r++) {
          let n = 0;
          const t = now();
          while (now() - t < opts.roundMs) {
            await once();
            n++;
          }
          rates.push((n * batch) / ((now() - t) / 1000));
          calls += n;
        }
        const wall = (now() - t0) / 1000;
        const own = process.cpuUsage(cpu0);
        const otherCpu = (machineBusySeconds() - machine0) / wall - (own.user + own.system) / 1e6 / wall;
        if (!best || otherCpu < best.otherCpu) best = { rowsPerS: median(rates), calls, otherCpu };
        if (otherCpu <= (opts.noisyCores ?? 0.15)) break;
      }
      const { rowsPerS, calls, otherCpu } = best!;
      results.push({
        engine: engine.name,
        batch,
        runRows,
        rowsPerS: Math.round(rowsPerS),
        msPerBatch: Number(((batch / rowsPerS) * 1000).toPrecision(3)),
        calls,
        otherCpu: Number(otherCpu.toFixed(3)),
      });
    }
  } finally {
    await engine.close();
  }
  return results;
}

/**
 * As a child process of the bench (bundled, pinned to the server's core like the server itself):
 * BENCH_MODEL_CEILING='{"cases":[…],"engine":"auto","rounds":5,"roundMs":400}' node model-ceiling.js → one JSON line.
 */
const childSpec = process.env.BENCH_MODEL_CEILING;
if (childSpec) {
  const { cases, engine, rounds, roundMs } = JSON.parse(childSpec) as {
    cases: { batch: number; chunk?: number }[];
    engine: EngineChoice;
    rounds: number;
    roundMs: number;
  };
  reportToParent(measureModelCeiling(cases, { engine, rounds, roundMs }));
}
