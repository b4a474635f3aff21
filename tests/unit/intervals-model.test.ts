import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { FEATURES } from "../../shared/input/features";

const path = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const WIDTH = FEATURES.length;

interface LevelFigures {
  level: number;
  coverage: number;
  mean_width: number;
  tolerance: number;
}
interface Card {
  intervals: {
    file: string;
    sha256: string;
    levels: number[];
    default_level: number;
    data: { calibration_rows: number; fit_rows: number };
    holdout: {
      rows: number;
      levels: LevelFigures[];
      constant_width_baseline: { width: number };
      "conditional_coverage_at_0.9": { min: number; deciles: { coverage: number }[] };
    };
  };
}
interface Holdout {
  X: number[][];
  y: number[];
  sklearn_pred: number[];
}
interface Reference {
  levels: number[];
  rows: number;
  low: number[][];
  high: number[][];
}

const card = JSON.parse(readFileSync(path("model/model.json"), "utf8")) as Card;
const holdout = JSON.parse(readFileSync(path("model/reference/holdout.json"), "utf8")) as Holdout;
const reference = JSON.parse(readFileSync(path("model/reference/intervals.json"), "utf8")) as Reference;
const L = card.intervals.levels.length;
const N = holdout.y.length;

let points: Float32Array;
let low: Float32Array;
let high: Float32Array;

beforeAll(async () => {
  const opts = { intraOpNumThreads: 1 };
  const pointSession = await ort.InferenceSession.create(path("model/model.onnx"), opts);
  const intervalSession = await ort.InferenceSession.create(path(card.intervals.file), opts);
  const data = new Float32Array(N * WIDTH);
  holdout.X.forEach((row, i) => data.set(row, i * WIDTH));
  const input = new ort.Tensor("float32", data, [N, WIDTH]);
  points = (await pointSession.run({ input })).house_value!.data as Float32Array;
  const out = await intervalSession.run({ input, house_value: new ort.Tensor("float32", points, [N, 1]) });
  low = out.low!.data as Float32Array;
  high = out.high!.data as Float32Array;
  await Promise.all([pointSession.release(), intervalSession.release()]);
});

describe("the interval model in onnxruntime-node", () => {
  it("is the file the card names, by sha256", () => {
    const digest = createHash("sha256")
      .update(readFileSync(path(card.intervals.file)))
      .digest("hex");
    expect(card.intervals.sha256).toBe(digest);
  });

  it("offers at least 0.8, 0.9 and 0.95 with 0.9 as the default, calibrated on at least 4,000 rows", () => {
    expect(card.intervals.levels).toEqual(expect.arrayContaining([0.8, 0.9, 0.95]));
    expect(card.intervals.default_level).toBe(0.9);
    expect(card.intervals.data.calibration_rows).toBeGreaterThanOrEqual(4000);
    expect(reference.levels).toEqual(card.intervals.levels);
  });

  it("reproduces scikit-learn's intervals on the reference rows", () => {
    let worst = 0;
    for (let i = 0; i < reference.rows; i++) {
      for (let k = 0; k < L; k++) {
        worst = Math.max(worst, Math.abs(low[i * L + k]! - reference.low[i]![k]!));
        worst = Math.max(worst, Math.abs(high[i * L + k]! - reference.high[i]![k]!));
      }
    }
    // float32 sums of 311 + 200 leaves against scikit-learn's float64: a few 1e-6 (the point model's own gap).
    expect(worst).toBeLessThan(1e-4);
  });

  it("gives every hold-out row an interval around its served point, nested by level", () => {
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < L; k++) {
        const [lo, hi] = [low[i * L + k]!, high[i * L + k]!];
        if (!(lo <= points[i]! && points[i]! <= hi)) bad.push(`row ${i} level ${k}: ${lo} ${points[i]} ${hi}`);
        if (k > 0 && hi - lo < high[i * L + k - 1]! - low[i * L + k - 1]!) bad.push(`row ${i}: level ${k} narrower`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("covers the hold-out as the card says, within the sampling band of every level", () => {
    const figures = card.intervals.holdout.levels;
    for (let k = 0; k < L; k++) {
      let inside = 0;
      let width = 0;
      for (let i = 0; i < N; i++) {
        const y = holdout.y[i]!;
        if (y >= low[i * L + k]! && y <= high[i * L + k]!) inside++;
        width += high[i * L + k]! - low[i * L + k]!;
      }
      const f = figures[k]!;
      expect(f.level).toBe(card.intervals.levels[k]);
      // The card's figures are scikit-learn's; onnxruntime's float32 moves at most a row or two across a bound.
      expect(Math.abs(inside / N - f.coverage)).toBeLessThanOrEqual(2 / N + 1e-4);
      expect(Math.abs(width / N - f.mean_width)).toBeLessThan(1e-3);
      const band = 2.58 * Math.sqrt(f.level * (1 - f.level) * (1 / N + 1 / card.intervals.data.calibration_rows));
      expect(Math.abs(inside / N - f.level)).toBeLessThanOrEqual(band);
    }
  });

  it("is no wider at 0.9 than the constant width around the point model, and covers every price decile ≥ 0.85", () => {
    const k = card.intervals.levels.indexOf(0.9);
    const errors = holdout.y.map((y, i) => Math.abs(y - points[i]!)).sort((a, b) => a - b);
    // numpy's default (linear) quantile of |y − ŷ| at 0.9
    const pos = 0.9 * (N - 1);
    const q = errors[Math.floor(pos)]! + (pos - Math.floor(pos)) * (errors[Math.ceil(pos)]! - errors[Math.floor(pos)]!);
    let width = 0;
    for (let i = 0; i < N; i++) width += high[i * L + k]! - low[i * L + k]!;
    expect(width / N).toBeLessThanOrEqual(2 * q);
    expect(Math.abs(2 * q - card.intervals.holdout.constant_width_baseline.width)).toBeLessThan(1e-3);

    const order = Array.from(points.keys()).sort((a, b) => points[a]! - points[b]!);
    for (let d = 0; d < 10; d++) {
      const rows = order.slice(Math.floor((d * N) / 10), Math.floor(((d + 1) * N) / 10));
      const inside = rows.filter((i) => holdout.y[i]! >= low[i * L + k]! && holdout.y[i]! <= high[i * L + k]!).length;
      expect(inside / rows.length, `decile ${d + 1}`).toBeGreaterThanOrEqual(0.85);
    }
    expect(card.intervals.holdout["conditional_coverage_at_0.9"].min).toBeGreaterThanOrEqual(0.85);
  });
});
