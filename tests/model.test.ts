import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { FEATURES } from "../shared/input/features";

const path = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const MODEL_PATH = path("model/model.onnx");

interface CardFeature {
  name: string;
  unit: string;
  description: string;
  min: number;
  max: number;
}
interface Card {
  name: string;
  version: string;
  sha256: string;
  features: CardFeature[];
  metrics: { holdout: { r2: number; rmse: number; mae: number; rows: number } };
  onnx: { input: { name: string }; output: { name: string } };
}
interface Holdout {
  indices: number[];
  X: number[][];
  y: number[];
  sklearn_pred: number[];
}

const card = JSON.parse(readFileSync(path("model/model.json"), "utf8")) as Card;
const holdout = JSON.parse(readFileSync(path("model/reference/holdout.json"), "utf8")) as Holdout;
const N_FEATURES = FEATURES.length;

let session: ort.InferenceSession;
let batch: Float32Array;

async function predict(rows: number[][]): Promise<Float32Array> {
  const data = new Float32Array(rows.length * N_FEATURES);
  rows.forEach((row, i) => data.set(row, i * N_FEATURES));
  const input = new ort.Tensor("float32", data, [rows.length, N_FEATURES]);
  const out = await session.run({ [card.onnx.input.name]: input });
  const tensor = out[card.onnx.output.name];
  if (!tensor) throw new Error(`model has no output ${card.onnx.output.name}`);
  return tensor.data as Float32Array;
}

function r2(y: number[], p: ArrayLike<number>): number {
  const mean = y.reduce((s, v) => s + v, 0) / y.length;
  let ssRes = 0;
  let ssTot = 0;
  y.forEach((v, i) => {
    ssRes += (v - (p[i] ?? NaN)) ** 2;
    ssTot += (v - mean) ** 2;
  });
  return 1 - ssRes / ssTot;
}

beforeAll(async () => {
  session = await ort.InferenceSession.create(MODEL_PATH, { intraOpNumThreads: 1 });
  batch = await predict(holdout.X);
});

describe("model card", () => {
  it("records the sha256 of the model.onnx bytes", () => {
    const digest = createHash("sha256").update(readFileSync(MODEL_PATH)).digest("hex");
    expect(card.sha256).toBe(digest);
  });

  it("lists the features in the order of shared/input/features.ts", () => {
    expect(card.features.map((f) => f.name)).toEqual([...FEATURES]);
  });

  it("gives every feature a non-empty training range and a unit", () => {
    for (const f of card.features) {
      expect(f.min, f.name).toBeLessThan(f.max);
      expect(f.unit.length, f.name).toBeGreaterThan(0);
    }
  });
});

describe("ONNX model on the hold-out rows", () => {
  it("has one reference row per hold-out index", () => {
    const n = holdout.indices.length;
    expect(n).toBe(card.metrics.holdout.rows);
    expect(holdout.X).toHaveLength(n);
    expect(holdout.y).toHaveLength(n);
    expect(holdout.sklearn_pred).toHaveLength(n);
    expect(holdout.X.every((row) => row.length === N_FEATURES)).toBe(true);
  });

  it("predicts a finite value for every row", () => {
    expect(batch).toHaveLength(holdout.X.length);
    expect(batch.every((v) => Number.isFinite(v))).toBe(true);
  });

  it("reaches the hold-out R² stated in the card", () => {
    const score = r2(holdout.y, batch);
    console.log(`hold-out R² in onnxruntime-node: ${score.toFixed(6)} (card ${card.metrics.holdout.r2})`);
    expect(Math.abs(score - card.metrics.holdout.r2)).toBeLessThanOrEqual(0.002);
  });

  it("matches scikit-learn's predictions within 1e-3 on at least 99.9% of rows", () => {
    let maxDiff = 0;
    let maxRow = -1;
    let over = 0;
    holdout.sklearn_pred.forEach((ref, i) => {
      const d = Math.abs((batch[i] ?? NaN) - ref);
      if (!(d <= 1e-3)) over += 1;
      if (d > maxDiff) {
        maxDiff = d;
        maxRow = i;
      }
    });
    console.log(
      `ONNX vs sklearn: largest |diff| ${maxDiff.toExponential(3)} (hold-out position ${maxRow}, ` +
        `file row ${holdout.indices[maxRow]}), rows over 1e-3: ${over}/${batch.length}`,
    );
    expect(over).toBeLessThanOrEqual(Math.floor(batch.length * 0.001));
  });

  it("gives the same output for a row predicted alone as in the batch", async () => {
    for (const i of [0, 1, 7, 1000, holdout.X.length - 1]) {
      const row = holdout.X[i];
      if (!row) throw new Error(`no hold-out row ${i}`);
      const single = await predict([row]);
      expect(single).toHaveLength(1);
      expect(single[0]).toBe(batch[i]);
    }
  });
});
