import type { OnnxAttribute, OnnxNode } from "../onnx/onnx-graph";
import type { Compiled } from "./compiled";

/**
 * An `ai.onnx.ml` TreeEnsembleRegressor laid out for a JavaScript evaluator that computes the same float32
 * bits as onnxruntime's kernel (single-threaded): leaf weights added tree by tree in float32, the base
 * value added last; a node sends a row to its true child when `x <= threshold`, and a NaN feature to the
 * child its `nodes_missing_value_tracks_true` flag names. Anything beyond that subset is unsupported.
 *
 * Layout: every tree breadth first, tree after tree, in flat typed arrays, a node's two children side by
 * side. `link[n]` holds node n's true child (shifted left 8 bits) and the column it reads (low 8 bits): one
 * load gives both, and the false child is the node after the true one, so a step is
 * `(link[n] >> 8) + (x[link[n] & 255] > threshold[n])`, whose child index does not wait for the comparison.
 * A leaf is its own true child with an infinite threshold (no x is above it), so a walk can step past its
 * leaf in place; `link[n] >> 8 === n` tells a leaf.
 */
export interface TreeEnsemble {
  /** Columns the trees read (features of the input plus derived ones). */
  width: number;
  roots: Int32Array;
  /** True child << 8 | column read; the false child is the node after the true one. A leaf's child is itself. */
  link: Int32Array;
  /** +Infinity at a leaf. */
  threshold: Float32Array;
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
  // n_targets has no default in onnxruntime (absent = 0, which it refuses): only an explicit 1 is taken.
  if (attr("n_targets")?.i !== 1)
    return { ok: false, reason: `n_targets is ${attr("n_targets")?.i ?? "absent"}, not 1` };
  if (attr("target_ids")?.ints.some((t) => t !== 0)) return { ok: false, reason: "a target id other than 0" };
  const baseValues = attr("base_values")?.floats ?? [];
  if (baseValues.length > 1) return { ok: false, reason: "more than one base value" };
  if (width > 256) return { ok: false, reason: `${width} columns (the layout indexes at most 256)` };
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
  index: NodeIndex;
}

/**
 * The row of each (tree, node id): a dense table when trees × ids is small (converters number nodes 0, 1, …
 * per tree), a Map otherwise. Load time matters: this runs in every cold start.
 */
class NodeIndex {
  private readonly dense: Int32Array | undefined;
  private readonly sparse = new Map<string, number>();
  private readonly minTree: number;
  private readonly ids: number;

  constructor(tree: number[], id: number[]) {
    let [minTree, maxTree, maxId] = [Infinity, -Infinity, 0];
    for (let i = 0; i < tree.length; i++) {
      minTree = Math.min(minTree, tree[i]!);
      maxTree = Math.max(maxTree, tree[i]!);
      maxId = Math.max(maxId, id[i]!);
    }
    this.minTree = minTree;
    this.ids = maxId + 1;
    const size = (maxTree - minTree + 1) * this.ids;
    this.dense = size <= 4 * tree.length + 4096 ? new Int32Array(size).fill(-1) : undefined;
  }

  get(tree: number, id: number): number | undefined {
    if (!this.dense) return this.sparse.get(`${tree}:${id}`);
    const t = tree - this.minTree;
    if (!(id >= 0 && id < this.ids && t >= 0)) return undefined;
    const row = this.dense[t * this.ids + id];
    return row === undefined || row < 0 ? undefined : row;
  }

  /** Records a row; false if the (tree, id) was already there. */
  set(tree: number, id: number, row: number): boolean {
    if (this.get(tree, id) !== undefined) return false;
    if (this.dense) this.dense[(tree - this.minTree) * this.ids + id] = row;
    else this.sparse.set(`${tree}:${id}`, row);
    return true;
  }
}

function readNodes(attr: (name: string) => OnnxAttribute | undefined, width: number): NodeTable | string {
  const ints = (name: string): number[] => attr(name)?.ints ?? [];
  const modes = attr("nodes_modes")?.strings ?? [];
  const n = modes.length;
  const flags = ints("nodes_missing_value_tracks_true");
  const t = {
    tree: ints("nodes_treeids"),
    id: ints("nodes_nodeids"),
    feature: ints("nodes_featureids"),
    threshold: attr("nodes_values")?.floats ?? [],
    isLeaf: modes.map((m) => m === "LEAF"),
    trueId: ints("nodes_truenodeids"),
    falseId: ints("nodes_falsenodeids"),
    nanTrue: flags.length === 0 ? new Array<number>(n).fill(0) : flags,
  };
  if (n === 0) return "the ensemble has no nodes";
  const columns = [t.tree, t.id, t.feature, t.threshold, t.trueId, t.falseId, t.nanTrue];
  if (columns.some((c) => c.length !== n)) return "node attributes of different lengths";
  const mode = modes.find((m) => m !== "LEAF" && m !== "BRANCH_LEQ");
  if (mode) return `node mode ${mode} is not supported`;
  for (let i = 0; i < n; i++) {
    const tree = t.tree[i]!;
    const id = t.id[i]!;
    // onnxruntime refuses node ids outside [0, number of nodes) and tree ids it cannot hold in an int32.
    if (!(id >= 0 && id < n && tree >= 0 && tree < 2 ** 31)) return `node ${tree}:${id} has an id out of range`;
  }
  const index = new NodeIndex(t.tree, t.id);
  for (let i = 0; i < n; i++) {
    const tree = t.tree[i]!;
    const id = t.id[i]!;
    if (!index.set(tree, id, i)) return `node ${tree}:${id} appears twice`;
    if (t.isLeaf[i]) continue;
    if (!(t.feature[i]! >= 0 && t.feature[i]! < width))
      return `node ${tree}:${id} reads feature ${t.feature[i]} of ${width}`;
    if (Number.isNaN(t.threshold[i])) return `node ${tree}:${id} has a NaN threshold`;
  }
  return { ...t, index };
}

/** One weight per leaf, as a float32, by node-table row (NaN: none listed, which layOut refuses). */
function readLeaves(attr: (name: string) => OnnxAttribute | undefined, t: NodeTable): Float64Array | string {
  const trees = attr("target_treeids")?.ints ?? [];
  const ids = attr("target_nodeids")?.ints ?? [];
  const weights = attr("target_weights")?.floats ?? [];
  if (trees.length !== ids.length || ids.length !== weights.length) return "target attributes of different lengths";
  const leaves = new Float64Array(t.tree.length).fill(NaN);
  for (let i = 0; i < ids.length; i++) {
    const row = t.index.get(trees[i]!, ids[i]!);
    if (row === undefined || !t.isLeaf[row]) return `target ${trees[i]}:${ids[i]} is not a leaf`;
    if (!Number.isNaN(leaves[row])) return `leaf ${trees[i]}:${ids[i]} has more than one weight`;
    const weight = Math.fround(weights[i]!);
    if (Number.isNaN(weight)) return `leaf ${trees[i]}:${ids[i]} has a NaN weight`;
    leaves[row] = weight;
  }
  return leaves;
}

/**
 * Trees in the order their runs of nodes appear, each rooted at its first node: how onnxruntime finds roots
 * and the order it adds trees in. A tree whose nodes are not one run is refused.
 */
function layOut(t: NodeTable, leaves: Float64Array, width: number, base: number): Compiled<TreeEnsemble> {
  const runs: { tree: number; root: number }[] = [];
  const seen = new Set<number>();
  for (let row = 0; row < t.tree.length; row++) {
    const tree = t.tree[row]!;
    if (row > 0 && t.tree[row - 1] === tree) continue;
    if (seen.has(tree)) return { ok: false, reason: `the nodes of tree ${tree} are not listed together` };
    seen.add(tree);
    runs.push({ tree, root: row });
  }
  const order: number[] = [];
  const roots = new Int32Array(runs.length);
  const trueSlots = new Int32Array(t.tree.length);
  const visited = new Uint8Array(t.tree.length);
  for (let i = 0; i < runs.length; i++) {
    roots[i] = order.length; // each tree starts with its root
    const refusal = placeTree(t, runs[i]!.tree, runs[i]!.root, visited, trueSlots, order);
    if (refusal) return { ok: false, reason: refusal };
  }
  const n = order.length;
  // The child index shares an int32 with the 8-bit column number.
  if (n > 2 ** 23) return { ok: false, reason: `${n} nodes (the layout indexes at most 2^23)` };
  const [link, threshold] = [new Int32Array(n), new Float32Array(n)];
  const [nanGoesTrue, leafValue] = [new Uint8Array(n), new Float32Array(n)];
  for (let s = 0; s < n; s++) {
    const row = order[s]!;
    if (!t.isLeaf[row]) {
      // The false child is the slot after the true one: placeTree enqueued them together.
      link[s] = (trueSlots[row]! << 8) | t.feature[row]!;
      threshold[s] = t.threshold[row]!;
      nanGoesTrue[s] = t.nanTrue[row] === 1 ? 1 : 0; // onnxruntime: only 1 means true
    } else {
      link[s] = s << 8;
      threshold[s] = Infinity;
      // onnxruntime adds such a leaf's nodes_values entry instead of a weight; not a layout converters write.
      if (Number.isNaN(leaves[row])) return { ok: false, reason: `leaf ${t.tree[row]}:${t.id[row]} has no weight` };
      leafValue[s] = leaves[row]!;
    }
  }
  return { ok: true, value: { width, base, roots, link, threshold, nanGoesTrue, leafValue } };
}

/**
 * Appends a tree's rows (node-table indices) reached from its root, breadth first, to `order` (a row's slot is
 * its index there; each internal row's two children are enqueued together, so they sit side by side: the false
 * child's slot is the true child's plus one) and records each internal row's true child slot in `trueSlots`.
 * Returns why the rows are not a tree (a node reached twice, a child that does not exist), or undefined.
 */
function placeTree(
  t: NodeTable,
  tree: number,
  root: number,
  visited: Uint8Array,
  trueSlots: Int32Array,
  order: number[],
): string | undefined {
  // Breadth first: the top levels, which every row walks, sit together in memory. `order` itself is the queue:
  // a row's slot is where it was enqueued, so the true child's slot is order's length when it is pushed.
  order.push(root);
  for (let at = order.length - 1; at < order.length; at++) {
    const row = order[at]!;
    if (visited[row]) return `tree ${tree} is not a tree (node ${t.id[row]} reached twice)`;
    visited[row] = 1;
    if (t.isLeaf[row]) continue;
    const yes = t.index.get(tree, t.trueId[row]!);
    const no = t.index.get(tree, t.falseId[row]!);
    if (yes === undefined || no === undefined) {
      return `tree ${tree}: node ${t.id[row]} points to a missing node ${yes === undefined ? t.trueId[row] : t.falseId[row]}`;
    }
    trueSlots[row] = order.length;
    order.push(yes, no);
  }
  return undefined;
}
