import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { readOnnxModel } from "/work/main/shared/inference/onnx/onnx-graph";
import { TreeEngine } from "/work/main/shared/inference/engines/tree-engine";
const bytes = readFileSync("/work/main/model/model.onnx");
const c = TreeEngine.compile(readOnnxModel(bytes), 8);
if (!c.ok) throw new Error(c.reason);
const eng = c.value as any;
const holdout = JSON.parse(readFileSync("/work/main/model/reference/holdout.json", "utf8"));
const N = holdout.X.length;
const pool = new Float32Array(N * 8); holdout.X.forEach((r: number[], i: number) => pool.set(r, i * 8));
const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", enableCpuMemArena: false, enableMemPattern: false });
const { roots: R, firstLeaf: LS, feature: F, threshold: TH, kids: K, leafValue: V, base } = eng.trees;
const X = new Float32Array(512 * 10);
function prep(input: Float32Array, rows: number) {
  for (let j = 0; j < rows; j++) { const s = j * 8, d = j * 10;
    for (let k = 0; k < 8; k++) X[d + k] = input[s + k]!;
    X[d + 8] = input[s + 6]! + input[s + 7]!; X[d + 9] = input[s + 6]! - input[s + 7]!; }
}
function predict4o(input: Float32Array, rows: number) {
  prep(input, rows);
  const acc = new Float32Array(rows + 4);
  for (let t = 0; t < R.length; t++) {
    const r = R[t], L = LS[t];
    let j = 0;
    for (; j + 4 <= rows; j += 4) {
      let a = r, b = r, c = r, e = r; const d = j * 10;
      do {
        a = K[2 * a + ((X[d + F[a]]! > TH[a]) as any | 0)];
        b = K[2 * b + ((X[d + 10 + F[b]]! > TH[b]) as any | 0)];
        c = K[2 * c + ((X[d + 20 + F[c]]! > TH[c]) as any | 0)];
        e = K[2 * e + ((X[d + 30 + F[e]]! > TH[e]) as any | 0)];
      } while (((a - L) | (b - L) | (c - L) | (e - L)) < 0);
      acc[j] += V[a]; acc[j + 1] += V[b]; acc[j + 2] += V[c]; acc[j + 3] += V[e];
    }
    for (; j < rows; j++) { let n = r; const d = j * 10;
      while (n < L) n = K[2 * n + ((X[d + F[n]]! > TH[n]) as any | 0)];
      acc[j] += V[n]; }
  }
  const out = new Float32Array(rows);
  for (let j = 0; j < rows; j++) out[j] = base + acc[j]!;
  return out;
}
const engines: Record<string, (x: Float32Array, b: number) => unknown> = {
  engine: (x, b) => eng.run(x, b),
  local: (x, b) => predict4o(x, b),
  ort: (x, b) => s.run({ input: new ort.Tensor("float32", x, [b, 8]) }),
};
const now = () => performance.now() * 1000;
for (const b of (process.env.B ?? "1,19,512").split(",").map(Number)) {
  const res: Record<string, number[]> = {};
  for (let round = 0; round < 9; round++) {
    for (const [name, fn] of Object.entries(engines).filter(([n]) => (process.env.E ?? "engine,local,ort").split(",").includes(n))) {
      let off = 0, rows = 0, t = 0;
      for (let k = 0; rows < 8000; k++) {
        if (off + b > N) off = 0;
        const x = pool.slice(off * 8, (off + b) * 8); off += b;
        const t1 = now(); await fn(x, b); t += now() - t1; rows += b;
      }
      (res[name] ??= []).push(t / rows);
    }
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!.toFixed(2);
  console.log(`batch ${b}: ` + Object.entries(res).map(([k, v]) => `${k} ${med(v)}`).join("  "));
}
