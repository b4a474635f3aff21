import type { OnnxGraph } from "../onnx/onnx-graph";
import type { Compiled } from "./compiled";
import type { InferenceEngine } from "./engine";
import { compileFeatureProgram, type Column, type FeatureProgram } from "./feature-program";
import { compileTreeEnsemble, type TreeEnsemble } from "./tree-ensemble";

/**
 * A graph of column arithmetic feeding one TreeEnsembleRegressor, evaluated in JavaScript with the same
 * float32 results as onnxruntime. Rows go through the trees four at a time, tree by tree, so a tree's nodes
 * stay in the CPU caches across the rows of a run and four independent walks overlap in the pipeline; the
 * rows left over (all of a run of one to three) go through four trees at a time instead. The step
 * `(link >> 8) + (x[link & 255] > t)` has no branch to mispredict, and one load gives the column and the
 * child (tree-ensemble.ts lays siblings side by side). A run with a NaN feature takes the exact slow walk.
 */
export class TreeEngine implements InferenceEngine {
  readonly name = "compiled-trees";
  private features = new Float32Array(0);
  /** One row's columns while they are computed (inputs, then derived ones). */
  private readonly columnScratch: Float32Array;

  private constructor(
    private readonly program: FeatureProgram,
    private readonly trees: TreeEnsemble,
    private readonly inputWidth: number,
  ) {
    this.columnScratch = new Float32Array(program.columns.length);
  }

  /** The engine for a graph, or why the graph is outside what it evaluates. */
  static compile(graph: OnnxGraph, inputWidth: number): Compiled<TreeEngine> {
    const last = graph.nodes.at(-1);
    if (!last || last.opType !== "TreeEnsembleRegressor" || last.domain !== "ai.onnx.ml") {
      return { ok: false, reason: "the graph does not end in an ai.onnx.ml TreeEnsembleRegressor" };
    }
    if (graph.outputs.length !== 1 || graph.outputs[0]!.name !== last.outputs[0]) {
      return { ok: false, reason: "the graph's only output is not the ensemble's" };
    }
    // TreeEnsembleRegressor is in ai.onnx.ml opsets 1–4 (5 removed it); the layout follows opset 3's attributes.
    const ml = graph.opsets.get("ai.onnx.ml");
    if (ml === undefined || ml < 1 || ml > 4) return { ok: false, reason: `ai.onnx.ml opset ${ml} is not 1 to 4` };
    if (graph.nodes.slice(0, -1).some((n) => n.opType === "TreeEnsembleRegressor")) {
      return { ok: false, reason: "more than one tree ensemble" };
    }
    const program = compileFeatureProgram(graph, inputWidth, last);
    if (!program.ok) return program;
    const trees = compileTreeEnsemble(last, program.value.outputCols.length);
    if (!trees.ok) return trees;
    return { ok: true, value: new TreeEngine(program.value, trees.value, inputWidth) };
  }

  /** Predicts `rows` rows of a row-major float32 [rows, inputWidth] input; one float32 per row. */
  run(input: Float32Array, rows: number): Float32Array {
    if (input.length < rows * this.inputWidth) throw new Error("input shorter than rows × width");
    const width = this.trees.width;
    if (this.features.length < rows * width) this.features = new Float32Array(rows * width);
    const hasNaN = this.computeFeatures(input, rows);
    // The trees' sums accumulate in the answer itself (float32, tree by tree), the base value added last.
    const out = new Float32Array(rows);
    const blocked = hasNaN ? 0 : rows - (rows % 4);
    if (blocked > 0) this.walkBlocks(blocked, out);
    for (let j = blocked; j < rows; j++) out[j] = hasNaN ? this.walkExact(j * width) : this.walkRow(j * width);
    for (let j = 0; j < rows; j++) out[j] = out[j]! + this.trees.base;
    return out;
  }

  /** Nothing to release: the engine is typed arrays on the JS heap. */
  async close(): Promise<void> {}

  /** The trees' input rows (input columns, then derived ones, in float32); true when any value is NaN. */
  private computeFeatures(input: Float32Array, rows: number): boolean {
    const { columns, outputCols } = this.program;
    const x = this.features;
    const width = this.trees.width;
    const inW = this.inputWidth;
    const scratch = this.columnScratch;
    let nan = false;
    for (let j = 0; j < rows; j++) {
      for (let c = 0; c < columns.length; c++) scratch[c] = columnValue(columns[c]!, input, j * inW, scratch);
      for (let k = 0; k < width; k++) {
        const v = scratch[outputCols[k]!]!;
        x[j * width + k] = v;
        if (v !== v) nan = true;
      }
    }
    return nan;
  }

  /**
   * Rows [0, blocked) (a multiple of four) through every tree, four rows at a time, tree by tree, summed into
   * `sums` (zeroed, float32). Nothing else happens here: a branch first taken after V8 optimised this loop (e.g.
   * the rows left over) would throw the optimised code away, again and again while the run lasts, and the
   * interpreted loop boxes every float.
   */
  private walkBlocks(blocked: number, sums: Float32Array): void {
    const { roots, link: L, threshold: t, leafValue: v, width: w } = this.trees;
    const x = this.features;
    for (let tree = 0; tree < roots.length; tree++) {
      const root = roots[tree]!;
      for (let j = 0; j < blocked; j += 4) {
        const d = j * w;
        let a = root;
        let b = root;
        let c = root;
        let e = root;
        let la = L[root]!;
        let lb = la;
        let lc = la;
        let le = la;
        // A leaf is its own child (link >> 8 === n): walks that reached theirs mark time until all four have.
        while ((((la >> 8) ^ a) | ((lb >> 8) ^ b) | ((lc >> 8) ^ c) | ((le >> 8) ^ e)) !== 0) {
          a = (la >> 8) + +(x[d + (la & 255)]! > t[a]!);
          b = (lb >> 8) + +(x[d + w + (lb & 255)]! > t[b]!);
          c = (lc >> 8) + +(x[d + 2 * w + (lc & 255)]! > t[c]!);
          e = (le >> 8) + +(x[d + 3 * w + (le & 255)]! > t[e]!);
          la = L[a]!;
          lb = L[b]!;
          lc = L[c]!;
          le = L[e]!;
        }
        sums[j] = sums[j]! + v[a]!;
        sums[j + 1] = sums[j + 1]! + v[b]!;
        sums[j + 2] = sums[j + 2]! + v[c]!;
        sums[j + 3] = sums[j + 3]! + v[e]!;
      }
    }
  }

  /** One row through every tree, four trees at a time (four independent walks), summed in tree order. */
  private walkRow(d: number): number {
    const { roots, link: L, threshold: t, leafValue: v } = this.trees;
    const x = this.features;
    const trees = roots.length;
    let sum = 0;
    let tree = 0;
    for (; tree + 4 <= trees; tree += 4) {
      let a = roots[tree]!;
      let b = roots[tree + 1]!;
      let c = roots[tree + 2]!;
      let e = roots[tree + 3]!;
      let la = L[a]!;
      let lb = L[b]!;
      let lc = L[c]!;
      let le = L[e]!;
      while ((((la >> 8) ^ a) | ((lb >> 8) ^ b) | ((lc >> 8) ^ c) | ((le >> 8) ^ e)) !== 0) {
        a = (la >> 8) + +(x[d + (la & 255)]! > t[a]!);
        b = (lb >> 8) + +(x[d + (lb & 255)]! > t[b]!);
        c = (lc >> 8) + +(x[d + (lc & 255)]! > t[c]!);
        e = (le >> 8) + +(x[d + (le & 255)]! > t[e]!);
        la = L[a]!;
        lb = L[b]!;
        lc = L[c]!;
        le = L[e]!;
      }
      sum = Math.fround(Math.fround(Math.fround(Math.fround(sum + v[a]!) + v[b]!) + v[c]!) + v[e]!);
    }
    for (; tree < trees; tree++) {
      let n = roots[tree]!;
      for (let l = L[n]!; l >> 8 !== n; l = L[n]!) n = (l >> 8) + +(x[d + (l & 255)]! > t[n]!);
      sum = Math.fround(sum + v[n]!);
    }
    return sum;
  }

  /** One row with onnxruntime's full rule: true child when x <= threshold, or when x is NaN and the node says so. */
  private walkExact(d: number): number {
    const { roots, link, threshold, nanGoesTrue, leafValue } = this.trees;
    const x = this.features;
    let sum = 0;
    for (let tree = 0; tree < roots.length; tree++) {
      let n = roots[tree]!;
      while (link[n]! >> 8 !== n) {
        const value = x[d + (link[n]! & 255)]!;
        const goTrue = value <= threshold[n]! || (value !== value && nanGoesTrue[n] === 1);
        n = (link[n]! >> 8) + (goTrue ? 0 : 1);
      }
      sum = Math.fround(sum + leafValue[n]!);
    }
    return sum;
  }
}

function columnValue(col: Column, input: Float32Array, at: number, done: Float32Array): number {
  if ("input" in col) return input[at + col.input]!;
  const a = done[col.a]!;
  const b = done[col.b]!;
  return col.op === "Add" ? a + b : col.op === "Sub" ? a - b : col.op === "Mul" ? a * b : a / b;
}
