/**
 * Throughput of model/model.onnx in onnxruntime-node: rows/s at batch 1, 100 and 1000 on one
 * thread, plus session-creation time. Prints a table, writes bench/results/model-bench.json and
 * fills the `inference` field of model/model.json (only if the card's sha256 matches model.onnx).
 *
 *   node --import tsx bench/model-bench.ts     (from the repository root)
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { format, resolveConfig } from "prettier";
import { FEATURES } from "../shared/input/features";
import { SESSION_OPTIONS } from "../shared/inference/engines/onnxruntime-engine";
import { median } from "./lib/stats";

const COMMAND = "node --import tsx bench/model-bench.ts";
const path = (p: string): string => resolve(process.cwd(), p);
const MODEL_PATH = path("model/model.onnx");
const CARD_PATH = path("model/model.json");
const RESULTS_PATH = path("bench/results/model-bench.json");

const BATCHES = [1, 100, 1000] as const;
const ROUNDS = 7; // median of 7 timed rounds per batch size
const ROUND_MS = 400; // each round runs for at least this long
const SESSION_CREATIONS = 5;

const now = (): number => Number(process.hrtime.bigint()) / 1e6; // ms

interface Holdout {
  X: number[][];
}

async function main(): Promise<void> {
  const modelBytes = readFileSync(MODEL_PATH);
  const sha256 = createHash("sha256").update(modelBytes).digest("hex");
  const holdout = JSON.parse(readFileSync(path("model/reference/holdout.json"), "utf8")) as Holdout;
  const nf = FEATURES.length;
  const pool = new Float32Array(holdout.X.length * nf);
  holdout.X.forEach((row, i) => pool.set(row, i * nf));

  // Session creation (from the file path, as the service does), first one included in the median.
  const createMs: number[] = [];
  let session: ort.InferenceSession | undefined;
  for (let i = 0; i < SESSION_CREATIONS; i++) {
    const t = now();
    const s = await ort.InferenceSession.create(MODEL_PATH, SESSION_OPTIONS);
    createMs.push(now() - t);
    if (session) await session.release();
    session = s;
  }
  if (!session) throw new Error("no session");
  const inputName = session.inputNames[0] ?? "input";
  const outputName = session.outputNames[0] ?? "house_value";

  const results: { batch: number; rows_per_s: number; ms_per_batch: number; calls: number }[] = [];
  for (const batch of BATCHES) {
    // Distinct consecutive slices of the hold-out rows, so no call sees identical input.
    const slices = Math.floor(holdout.X.length / batch);
    const inputs = Array.from({ length: Math.min(slices, 64) }, (_, k) =>
      pool.subarray(k * batch * nf, (k + 1) * batch * nf),
    );
    const run = async (k: number): Promise<void> => {
      const data = inputs[k % inputs.length];
      if (!data) throw new Error("no input");
      const out = await session.run({ [inputName]: new ort.Tensor("float32", data, [batch, nf]) });
      if (out[outputName]?.data.length !== batch) throw new Error("unexpected output length");
    };
    for (let k = 0; k < 200; k++) await run(k); // warm-up
    const rates: number[] = [];
    let calls = 0;
    for (let r = 0; r < ROUNDS; r++) {
      let n = 0;
      const t = now();
      while (now() - t < ROUND_MS) await run(n++);
      rates.push((n * batch) / ((now() - t) / 1000));
      calls += n;
    }
    const rowsPerS = median(rates);
    results.push({
      batch,
      rows_per_s: Math.round(rowsPerS),
      ms_per_batch: Number(((batch / rowsPerS) * 1000).toPrecision(3)),
      calls,
    });
  }
  await session.release();

  const sessionCreateMs = Number(median(createMs).toFixed(1));
  console.log(
    `model.onnx ${sha256.slice(0, 12)} (${(modelBytes.length / 1e6).toFixed(2)} MB), onnxruntime-node ${ort.env.versions.node}, 1 thread`,
  );
  console.log(`session creation: median ${sessionCreateMs} ms (first ${createMs[0]?.toFixed(1)} ms)`);
  console.table(results.map((r) => ({ batch: r.batch, "rows/s": r.rows_per_s, "ms/batch": r.ms_per_batch })));

  const inference = {
    rows_per_s: Object.fromEntries(results.map((r) => [`batch_${r.batch}`, r.rows_per_s])),
    ms_per_batch: Object.fromEntries(results.map((r) => [`batch_${r.batch}`, r.ms_per_batch])),
    session_create_ms: sessionCreateMs,
    threads: 1,
    runtime: `onnxruntime-node ${ort.env.versions.node}`,
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? "unknown"} (${os.cpus().length} cores)`,
    method: `median of ${ROUNDS} rounds of ${ROUND_MS} ms after 200 warm-up calls; session creation median of ${SESSION_CREATIONS}`,
    command: COMMAND,
    measured: new Date().toISOString().slice(0, 10),
  };
  mkdirSync(path("bench/results"), { recursive: true });
  writeFileSync(RESULTS_PATH, JSON.stringify({ model_sha256: sha256, ...inference, results }, null, 2) + "\n");
  console.log(`wrote ${RESULTS_PATH}`);

  const card = JSON.parse(readFileSync(CARD_PATH, "utf8")) as Record<string, unknown>;
  if (card.sha256 !== sha256) {
    console.error("model/model.json sha256 does not match model/model.onnx: card not updated (run npm run train)");
    process.exitCode = 1;
    return;
  }
  card.inference = inference;
  const text = JSON.stringify(card, null, 2) + "\n";
  const options = (await resolveConfig(CARD_PATH)) ?? {};
  writeFileSync(CARD_PATH, await format(text, { ...options, filepath: CARD_PATH }));
  console.log(`updated inference in ${CARD_PATH}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
