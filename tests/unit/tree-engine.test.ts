import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { SESSION_OPTIONS } from "../../shared/inference/engines/onnxruntime-engine";
import { TreeEngine } from "../../shared/inference/engines/tree-engine";
import { readOnnxModel, type OnnxGraph } from "../../shared/inference/onnx/onnx-graph";
import { WIDTH } from "../../shared/input/features";

const path = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const MODEL = readFileSync(path("model/model.onnx"));
const card = JSON.parse(readFileSync(path("model/model.json"), "utf8")) as { features: { min: number; max: number }[] };
const holdout = JSON.parse(readFileSync(path("model/reference/holdout.json"), "utf8")) as { X: number[][] };

let session: ort.InferenceSession;
let engine: TreeEngine;

async function onnxruntime(input: Float32Array, rows: number): Promise<Float32Array> {
  const out = await session.run({ input: new ort.Tensor("float32", input, [rows, WIDTH]) });
  return out.house_value!.data as Float32Array;
}

/** Rows whose predictions differ in any bit (NaN equals NaN, 0 differs from -0). */
function differing(a: Float32Array, b: Float32Array): number[] {
  expect(a.length).toBe(b.length);
  return [...a.keys()].filter((i) => !Object.is(a[i], b[i]));
}

/** A deterministic generator (mulberry32), so a failure names rows that can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The next float32 after x in direction dir. */
function step(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * 1e-45;
  const f = new Float32Array([x]);
  const bits = new Int32Array(f.buffer);
  bits[0]! += x > 0 ? dir : -dir;
  return f[0]!;
}

/**
 * For every node that reads one of the input's columns: a row that walks the path from its tree's root to it
 * (each ancestor on an input column narrows that column to the side the path takes), with the node's own
 * column on its threshold and one float32 step either side: the comparisons a wrong operator gets wrong.
 */
function rowsAtThresholds(graph: OnnxGraph): number[] {
  const a = graph.nodes.at(-1)!.attributes;
  const [tree, id, feature, yes, no] = [
    "nodes_treeids",
    "nodes_nodeids",
    "nodes_featureids",
    "nodes_truenodeids",
    "nodes_falsenodeids",
  ].map((k) => a.get(k)!.ints);
  const threshold = a.get("nodes_values")!.floats;
  const modes = a.get("nodes_modes")!.strings;
  const at = new Map(tree!.map((t, i) => [`${t}:${id![i]}`, i]));
  const parent = new Map<number, { node: number; side: "yes" | "no" }>();
  modes.forEach((m, i) => {
    if (m === "LEAF") return;
    parent.set(at.get(`${tree![i]}:${yes![i]}`)!, { node: i, side: "yes" });
    parent.set(at.get(`${tree![i]}:${no![i]}`)!, { node: i, side: "no" });
  });
  const out: number[] = [];
  modes.forEach((m, node) => {
    if (m === "LEAF" || feature![node]! >= WIDTH) return;
    const lo = card.features.map((f) => f.min);
    const hi = card.features.map((f) => f.max);
    for (let up = parent.get(node); up; up = parent.get(up.node)) {
      const k = feature![up.node]!;
      if (k >= WIDTH) continue;
      if (up.side === "yes") hi[k] = Math.min(hi[k]!, threshold[up.node]!);
      else lo[k] = Math.max(lo[k]!, step(threshold[up.node]!, 1));
    }
    const row = lo.map((l, k) => (l <= hi[k]! ? (l + hi[k]!) / 2 : l));
    const t = threshold[node]!;
    for (const v of [t, step(t, 1), step(t, -1)]) out.push(...row.map((x, k) => (k === feature![node] ? v : x)));
  });
  return out;
}

function compile(graph: OnnxGraph): TreeEngine {
  const result = TreeEngine.compile(graph, WIDTH);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

beforeAll(async () => {
  session = await ort.InferenceSession.create(MODEL, SESSION_OPTIONS);
  engine = compile(readOnnxModel(MODEL));
});

describe("compiled tree engine against onnxruntime", () => {
  const pool = Float32Array.from(holdout.X.flat());
  const rows = holdout.X.length;

  it.each([1, 3, 4, 19, 512, rows])(
    "gives onnxruntime's exact float32 on every hold-out row in runs of %i",
    async (size) => {
      const expected = await onnxruntime(pool, rows);
      const got = new Float32Array(rows);
      for (let at = 0; at < rows; at += size) {
        const n = Math.min(size, rows - at);
        got.set(engine.run(pool.subarray(at * WIDTH, (at + n) * WIDTH), n), at);
      }
      expect(differing(got, expected)).toEqual([]);
    },
  );

  it("gives onnxruntime's exact float32 on random rows inside and far outside the training ranges", async () => {
    const next = random(16);
    const n = 20_000;
    const input = new Float32Array(n * WIDTH);
    for (let i = 0; i < input.length; i++) {
      const { min, max } = card.features[i % WIDTH]!;
      const span = max - min;
      input[i] = min - span + next() * 3 * span;
    }
    expect(differing(engine.run(input, n), await onnxruntime(input, n))).toEqual([]);
  });

  it("sends rows that sit exactly on a threshold, or one float32 step either side, where onnxruntime does", async () => {
    const input = Float32Array.from(rowsAtThresholds(readOnnxModel(MODEL)));
    const n = input.length / WIDTH;
    expect(n).toBeGreaterThan(10_000);
    expect(differing(engine.run(input, n), await onnxruntime(input, n))).toEqual([]);
  });

  it("follows each node's missing-value direction for NaN and infinite features (also NaN made by lat + lon)", async () => {
    const specials = [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 0, -0, 1e-45];
    const rowsOut: number[] = [];
    holdout.X.slice(0, 96).forEach((base, r) => {
      const row = [...base];
      row[r % WIDTH] = specials[r % specials.length]!;
      if (r % 3 === 0) [row[6], row[7]] = [Infinity, -Infinity]; // lat + lon is +inf, lat − lon is NaN
      rowsOut.push(...row);
    });
    const input = Float32Array.from(rowsOut);
    const n = input.length / WIDTH;
    const got = engine.run(input, n);
    expect(differing(got, await onnxruntime(input, n))).toEqual([]);
    // Mixed into a run of ordinary rows, the ordinary rows keep their values.
    const mixed = Float32Array.from([...pool.subarray(0, 8 * WIDTH), ...input.subarray(0, WIDTH)]);
    expect(differing(engine.run(mixed, 9), await onnxruntime(mixed, 9))).toEqual([]);
  });

  it("gives the same bits when tree ids are far apart (the node index is then a map, not a table)", async () => {
    // Tree ids only label trees (order and roots come from the node list), so onnxruntime's answer for the
    // shipped model is the answer for this one too.
    const graph = readOnnxModel(MODEL);
    const t = graph.nodes.at(-1)!.attributes;
    for (const k of ["nodes_treeids", "target_treeids"]) {
      const ids = t.get(k)!.ints;
      ids.forEach((id, i) => (ids[i] = id * 100_000 + 7));
    }
    const sparse = compile(graph);
    const n = 1000;
    const input = pool.subarray(0, n * WIDTH);
    expect(differing(sparse.run(input, n), await onnxruntime(input, n))).toEqual([]);
  });

  it("reads a missing-value flag as true only when it is 1, as onnxruntime does", () => {
    const withFlags = (value: (flag: number) => number): TreeEngine => {
      const graph = readOnnxModel(MODEL);
      const flags = graph.nodes.at(-1)!.attributes.get("nodes_missing_value_tracks_true")!.ints;
      flags.forEach((f, i) => (flags[i] = value(f)));
      return compile(graph);
    };
    const nanRows = Float32Array.from(
      holdout.X.slice(0, 64).flatMap((row, r) => row.map((x, k) => (k === r % WIDTH ? NaN : x))),
    );
    const asZero = withFlags(() => 0).run(nanRows, 64);
    expect(differing(withFlags((f) => (f === 1 ? 2 : f)).run(nanRows, 64), asZero)).toEqual([]);
    expect(differing(withFlags((f) => (f === 1 ? -1 : f)).run(nanRows, 64), asZero)).toEqual([]);
    expect(differing(engine.run(nanRows, 64), asZero).length).toBeGreaterThan(0); // the flags matter for these rows
  });

  it("returns a fresh array per run, so a caller may keep one while the next run happens", () => {
    const a = engine.run(pool.subarray(0, 2 * WIDTH), 2);
    const copy = Float32Array.from(a);
    engine.run(pool.subarray(2 * WIDTH, 4 * WIDTH), 2);
    expect(a).toEqual(copy);
  });
});

describe("compiled tree engine refuses graphs outside its subset, with the reason", () => {
  const fresh = (): OnnxGraph => readOnnxModel(MODEL);
  const trees = (g: OnnxGraph) => g.nodes.at(-1)!.attributes;
  const refusal = (g: OnnxGraph): string => {
    const result = TreeEngine.compile(g, WIDTH);
    return result.ok ? "compiled" : result.reason;
  };

  it("accepts the shipped model", () => {
    expect(refusal(fresh())).toBe("compiled");
  });

  it("refuses the interval model (arithmetic after the trees)", () => {
    expect(refusal(readOnnxModel(readFileSync(path("model/intervals.onnx"))))).toMatch(/does not end in/);
  });

  const cases: [string, (g: OnnxGraph) => void, RegExp][] = [
    [
      "a node mode other than BRANCH_LEQ",
      (g) => (trees(g).get("nodes_modes")!.strings[0] = "BRANCH_LT"),
      /mode BRANCH_LT/,
    ],
    ["post_transform", (g) => (trees(g).get("post_transform")!.s = "LOGISTIC"), /post_transform/],
    ["aggregate_function", (g) => (trees(g).get("aggregate_function")!.s = "AVERAGE"), /aggregate_function/],
    ["two targets", (g) => (trees(g).get("n_targets")!.i = 2), /n_targets is 2, not 1/],
    ["a target id other than 0", (g) => (trees(g).get("target_ids")!.ints[3] = 1), /target id other than 0/],
    [
      "an unknown attribute",
      (g) => trees(g).set("nodes_hitrates", { name: "nodes_hitrates", floats: [1], ints: [], strings: [] }),
      /nodes_hitrates/,
    ],
    [
      "a child id that does not exist",
      (g) => (trees(g).get("nodes_truenodeids")!.ints[0] = 99_999),
      /missing node 99999/,
    ],
    ["a feature beyond the columns", (g) => (trees(g).get("nodes_featureids")!.ints[0] = 10), /feature 10 of 10/],
    ["a node listed twice", (g) => (trees(g).get("nodes_nodeids")!.ints[1] = 0), /appears twice/],
    [
      "a leaf with two weights",
      (g) => {
        const t = trees(g);
        for (const k of ["target_treeids", "target_nodeids", "target_ids"]) t.get(k)!.ints.push(t.get(k)!.ints[0]!);
        t.get("target_weights")!.floats.push(1);
      },
      /more than one weight/,
    ],
    ["an operator before the trees it does not know", (g) => (g.nodes[2]!.opType = "Exp"), /Exp is not supported/],
    ["Gather along the rows", (g) => (g.nodes[0]!.attributes.get("axis")!.i = 0), /only axis 1/],
    [
      "a leaf with no weight",
      (g) => {
        const t = trees(g);
        for (const k of ["target_treeids", "target_nodeids", "target_ids"]) t.get(k)!.ints.shift();
        t.get("target_weights")!.floats.shift();
      },
      /has no weight/,
    ],
    ["no n_targets (onnxruntime has no default)", (g) => trees(g).delete("n_targets"), /n_targets is absent/],
    ["a node id beyond the node count", (g) => (trees(g).get("nodes_nodeids")!.ints[5] = 40_000), /out of range/],
    ["ai.onnx.ml opset 5 (TreeEnsembleRegressor removed)", (g) => g.opsets.set("ai.onnx.ml", 5), /opset 5/],
    ["Gather indices that are not integers", (g) => (g.initializers.get("lat_idx")!.dataType = 1), /not integers/],
    ["two graph inputs", (g) => g.inputs.push({ name: "extra", elemType: 1, shape: ["N", 1] }), /2 inputs/],
    ["an input that is not float", (g) => (g.inputs[0]!.elemType = 7), /not a float tensor/],
  ];
  it.each(cases)("refuses %s", (_, mutate, reason) => {
    const g = fresh();
    mutate(g);
    expect(refusal(g)).toMatch(reason);
  });
});
