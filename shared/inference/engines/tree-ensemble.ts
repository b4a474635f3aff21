import type { OnnxAttribute, OnnxNode } from "../onnx/onnx-graph";
import type { Compiled } from "./feature-program";

/**
 * An `ai.onnx.ml` TreeEnsembleRegressor laid out for a JavaScript evaluator that computes the same float32
 * bits as onnxruntime's kernel (single-threaded): leaf weights added tree by tree in float32, the base
 * value added last; a node sends a row to its true child when `x <= threshold`, and a NaN feature to the
 * child its `nodes_missing_value_tracks_true` flag names. Anything beyond that subset is unsupported.
 *
 * Layout, per tree: its internal nodes, then its leaves, in flat typed arrays. `kids[2n]` is node n's true
 * child, `kids[2n + 1]` its false child; a leaf is its own child, so a walk can step past its leaf.
 */
export interface TreeEnsemble {
  /** Columns the trees read (features of the input plus derived ones). */
  width: number;
  roots: Int32Array;
  /** Per tree: the index of its first leaf (every node below it in the tree is internal). */
  firstLeaf: Int32Array;
  feature: Uint8Array;
  threshold: Float32Array;
  kids: Int32Array;
  /** True child for a NaN feature (1) or false child (0), per node. */
  nanGoesTrue: Uint8Array;
  /** Leaf weight per node (0 for internal nodes). */
  leafValue: Float32Array;
  base: number;
}

/** The attributes this layout understands; any other (hit rates, double-valued tensors, …) is refused. */
const KNOWN = new Set([
  "aggregate_function",
  "base_values",
  "n_targets",
  "nodes_falsenodeids",
  "nodes_featureids",
  "nodes_missing_value_tracks_true",
  "nodes_modes",
  "nodes_nodeids",
  "nodes_treeids",
  "nodes_truenodeids",
  "nodes_values",
  "post_transform",
  "target_ids",
  "target_nodeids",
  "target_treeids",
  "target_weights",
]);

/** Reads the ensemble's attributes; `width` is the number of columns fed to it. */
export function compileTreeEnsemble(node: OnnxNode, width: number): Compiled<TreeEnsemble> {
  const attr = (name: string): OnnxAttribute | undefined => node.attributes.get(name);
  const unknown = [...node.attributes.keys()].find((k) => !KNOWN.has(k));
  if (unknown) return { ok: false, reason: `attribute ${unknown} is not supported` };
  if ((attr("aggregate_function")?.s ?? "SUM") !== "SUM") return { ok: false, reason: "aggregate_function is not SUM" };
  if ((attr("post_transform")?.s ?? "NONE") !== "NONE") return { ok: false, reason: "post_transform is not NONE" };
  if ((attr("n_targets")?.i ?? 1) !== 1 || attr("target_ids")?.ints.some((t) => t !== 0)) {
    return { ok: false, reason: "more than one target" };
  }
  const baseValues = attr("base_values")?.floats ?? [];
  if (baseValues.length > 1) return { ok: false, reason: "more than one base value" };
  const nodes = readNodes(attr, width);
  if (typeof nodes === "string") return { ok: false, reason: nodes };
  const leaves = readLeaves(attr, nodes);
  if (typeof leaves === "string") return { ok: false, reason: leaves };
  return layOut(nodes, leaves, width, Math.fround(baseValues[0] ?? 0));
}

interface NodeTable {
  tree: number[];
  id: number[];
  feature: number[];
  threshold: number[];
  isLeaf: boolean[];
  trueId: number[];
  falseId: number[];
  nanTrue: number[];
  /** Row of each (tree, node id), keyed by nodeKey. */
  index: Map<number, number>;
}

/** One number per (tree, node id); ids are checked to be below 2^20 and trees below 2^32. */
const nodeKey = (tree: number, id: number): number => tree * 1_048_576 + id;

function readNodes(attr: (name: string) => OnnxAttribute | undefined, width: number): NodeTable | string {
  const ints = (name: string): number[] => attr(name)?.ints ?? [];
  const modes = attr("nodes_modes")?.strings ?? [];
  const n = modes.length;
  const t: NodeTable = {
    tree: ints("nodes_treeids"),
    id: ints("nodes_nodeids"),
    feature: ints("nodes_featureids"),
    threshold: attr("nodes_values")?.floats ?? [],
    isLeaf: modes.map((m) => m === "LEAF"),
    trueId: ints("nodes_truenodeids"),
    falseId: ints("nodes_falsenodeids"),
    nanTrue: ints("nodes_missing_value_tracks_true"),
    index: new Map(),
  };
  if (n === 0) return "the ensemble has no nodes";
  if (t.nanTrue.length === 0) t.nanTrue = new Array<number>(n).fill(0);
  const columns = [t.tree, t.id, t.feature, t.threshold, t.trueId, t.falseId, t.nanTrue];
  if (columns.some((c) => c.length !== n)) return "node attributes of different lengths";
  const mode = modes.find((m) => m !== "LEAF" && m !== "BRANCH_LEQ");
  if (mode) return `node mode ${mode} is not supported`;
  for (let i = 0; i < n; i++) {
    const [tree, id] = [t.tree[i]!, t.id[i]!];
    if (!(id >= 0 && id < 1_048_576 && tree >= 0 && tree < 2 ** 32)) return `node ${tree}:${id} has an id out of range`;
    const key = nodeKey(tree, id);
    if (t.index.has(key)) return `node ${tree}:${id} appears twice`;
    t.index.set(key, i);
    if (t.isLeaf[i]) continue;
    if (!(t.feature[i]! >= 0 && t.feature[i]! < width))
      return `node ${tree}:${id} reads feature ${t.feature[i]} of ${width}`;
    if (Number.isNaN(t.threshold[i])) return `node ${tree}:${id} has a NaN threshold`;
  }
  return t;
}

/** One weight per leaf, as a float32. */
function readLeaves(attr: (name: string) => OnnxAttribute | undefined, t: NodeTable): Map<number, number> | string {
  const trees = attr("target_treeids")?.ints ?? [];
  const ids = attr("target_nodeids")?.ints ?? [];
  const weights = attr("target_weights")?.floats ?? [];
  if (trees.length !== ids.length || ids.length !== weights.length) return "target attributes of different lengths";
  const leaves = new Map<number, number>();
  for (let i = 0; i < ids.length; i++) {
    const row = t.index.get(nodeKey(trees[i]!, ids[i]!));
    if (row === undefined || !t.isLeaf[row]) return `target ${trees[i]}:${ids[i]} is not a leaf`;
    if (leaves.has(row)) return `leaf ${trees[i]}:${ids[i]} has more than one weight`;
    leaves.set(row, Math.fround(weights[i]!));
  }
  return leaves;
}

/**
 * Trees in the order their runs of nodes appear, each rooted at its first node: how onnxruntime finds roots
 * and the order it adds trees in. A tree whose nodes are not one run is refused.
 */
function layOut(t: NodeTable, leaves: Map<number, number>, width: number, base: number): Compiled<TreeEnsemble> {
  const runs: { tree: number; root: number }[] = [];
  const seen = new Set<number>();
  for (let row = 0; row < t.tree.length; row++) {
    const tree = t.tree[row]!;
    if (row > 0 && t.tree[row - 1] === tree) continue;
    if (seen.has(tree)) return { ok: false, reason: `the nodes of tree ${tree} are not listed together` };
    seen.add(tree);
    runs.push({ tree, root: row });
  }
  const out = {
    feature: [] as number[],
    threshold: [] as number[],
    kids: [] as number[],
    nan: [] as number[],
    value: [] as number[],
  };
  const roots: number[] = [];
  const firstLeaf: number[] = [];
  for (const { tree, root } of runs) {
    const placed = placeTree(t, tree, root);
    if (typeof placed === "string") return { ok: false, reason: placed };
    const start = out.feature.length;
    roots.push(start);
    firstLeaf.push(start + placed.internal.length);
    const slot = new Map<number, number>();
    [...placed.internal, ...placed.leaves].forEach((row, k) => slot.set(row, start + k));
    for (const row of [...placed.internal, ...placed.leaves]) {
      const me = slot.get(row)!;
      const leaf = t.isLeaf[row]!;
      out.feature.push(leaf ? 0 : t.feature[row]!);
      out.threshold.push(leaf ? 0 : t.threshold[row]!);
      out.nan.push(leaf ? 0 : t.nanTrue[row] ? 1 : 0);
      out.value.push(leaf ? (leaves.get(row) ?? 0) : 0);
      const kidOf = (id: number): number => slot.get(t.index.get(nodeKey(tree, id))!)!;
      out.kids.push(leaf ? me : kidOf(t.trueId[row]!), leaf ? me : kidOf(t.falseId[row]!));
    }
  }
  return {
    ok: true,
    value: {
      width,
      base,
      roots: Int32Array.from(roots),
      firstLeaf: Int32Array.from(firstLeaf),
      feature: Uint8Array.from(out.feature),
      threshold: Float32Array.from(out.threshold),
      kids: Int32Array.from(out.kids),
      nanGoesTrue: Uint8Array.from(out.nan),
      leafValue: Float32Array.from(out.value),
    },
  };
}

/** A tree's rows (node table indices) reached from its root, internal ones first; refuses cycles and dangling ids. */
function placeTree(t: NodeTable, tree: number, root: number): { internal: number[]; leaves: number[] } | string {
  const internal: number[] = [];
  const leaves: number[] = [];
  const visited = new Set<number>();
  // Breadth first: the top levels, which every row walks, sit together in memory.
  const queue = [root];
  for (let at = 0; at < queue.length; at++) {
    const row = queue[at]!;
    if (visited.has(row)) return `tree ${tree} is not a tree (node ${t.id[row]} reached twice)`;
    visited.add(row);
    if (t.isLeaf[row]) {
      leaves.push(row);
      continue;
    }
    internal.push(row);
    for (const id of [t.trueId[row]!, t.falseId[row]!]) {
      const kid = t.index.get(nodeKey(tree, id));
      if (kid === undefined) return `tree ${tree}: node ${t.id[row]} points to a missing node ${id}`;
      queue.push(kid);
    }
  }
  return { internal, leaves };
}
