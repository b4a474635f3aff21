import { DATA_TYPE, type OnnxGraph, type OnnxNode, type OnnxTensor } from "../onnx/onnx-graph";
import type { Compiled } from "./compiled";

/**
 * The column arithmetic in front of a tree ensemble (e.g. `Latitude + Longitude` built with Gather, Add and
 * Concat), turned into a list of float32 columns computed per row. Each step rounds to float32, as
 * onnxruntime's float kernels do (one double operation rounded to float32 is the correctly rounded float32
 * result, so the values are the same bits). Anything else in the graph makes it unsupported.
 */

export type Column = { input: number } | { op: "Add" | "Sub" | "Mul" | "Div"; a: number; b: number };

/** A value of the graph: a [N, k] matrix or a [N] vector, as indices into the column list. */
type Value = { rank: 1 | 2; cols: number[] };

export interface FeatureProgram {
  /** Every column, inputs first; a derived column refers only to earlier ones. */
  columns: Column[];
  /** The name of the value the remaining graph consumes, and its columns. */
  output: string;
  outputCols: number[];
}

const ARITHMETIC = new Set(["Add", "Sub", "Mul", "Div"]);

/** Runs the graph's front nodes symbolically up to (not including) `stopAt`; input must be float [N, width]. */
export function compileFeatureProgram(graph: OnnxGraph, width: number, stopAt: OnnxNode): Compiled<FeatureProgram> {
  const input = graph.inputs.filter((i) => !graph.initializers.has(i.name));
  const first = input[0];
  if (input.length !== 1 || !first) return { ok: false, reason: `the graph has ${input.length} inputs, not one` };
  if (
    first.elemType !== DATA_TYPE.FLOAT ||
    first.shape?.length !== 2 ||
    (first.shape[1] !== width && first.shape[1] !== undefined)
  ) {
    return { ok: false, reason: `the input ${first.name} is not a float tensor [N, ${width}]` };
  }
  const columns: Column[] = Array.from({ length: width }, (_, k) => ({ input: k }));
  const values = new Map<string, Value>([[first.name, { rank: 2, cols: columns.map((_, k) => k) }]]);
  for (const node of graph.nodes) {
    if (node === stopAt) break;
    const result = step(node, values, columns, graph.initializers);
    if (typeof result === "string") return { ok: false, reason: `${node.opType} node: ${result}` };
    values.set(node.outputs[0]!, result);
  }
  const output = stopAt.inputs[0] ?? "";
  const consumed = values.get(output);
  if (!consumed || consumed.rank !== 2)
    return { ok: false, reason: `${output} is not a [N, k] matrix of the input's columns` };
  return { ok: true, value: { columns, output, outputCols: consumed.cols } };
}

/** One node's value, or why it cannot be followed. */
function step(
  node: OnnxNode,
  values: Map<string, Value>,
  columns: Column[],
  consts: Map<string, OnnxTensor>,
): Value | string {
  if (node.domain !== "" && node.domain !== "ai.onnx") return `domain ${node.domain} is not supported before the trees`;
  if (node.outputs.length !== 1) return "more than one output";
  const args = node.inputs.map((name) => values.get(name));
  if (node.opType === "Identity" && args[0]) return args[0];
  if (node.opType === "Gather") return gather(node, args[0], consts.get(node.inputs[1] ?? ""));
  if (node.opType === "Concat") {
    const axis = node.attributes.get("axis")?.i;
    if (axis !== 1 && axis !== -1) return "only axis 1 is supported";
    if (args.some((a) => !a || a.rank !== 2)) return "inputs are not [N, k] matrices of the input's columns";
    return { rank: 2, cols: args.flatMap((a) => a!.cols) };
  }
  if (ARITHMETIC.has(node.opType)) {
    const [a, b] = args;
    if (!a || !b || a.rank !== b.rank || a.cols.length !== b.cols.length)
      return "operands are not columns of one shape";
    const op = node.opType as "Add" | "Sub" | "Mul" | "Div";
    const cols = a.cols.map((ca, k) => columns.push({ op, a: ca, b: b.cols[k]! }) - 1);
    return { rank: a.rank, cols };
  }
  return `${node.opType} is not supported before the trees`;
}

/** Gather along axis 1 with constant indices: a scalar index gives a vector, a 1-D list a matrix. */
function gather(node: OnnxNode, data: Value | undefined, indices: OnnxTensor | undefined): Value | string {
  if (node.attributes.get("axis")?.i !== 1) return "only axis 1 is supported";
  if (!data || data.rank !== 2) return "data is not a [N, k] matrix of the input's columns";
  if (!indices || indices.dims.length > 1) return "indices are not a constant scalar or list";
  if (indices.dataType !== DATA_TYPE.INT64 && indices.dataType !== DATA_TYPE.INT32) return "indices are not integers";
  const width = data.cols.length;
  const cols: number[] = [];
  for (const raw of indices.values) {
    const k = raw < 0 ? raw + width : raw;
    if (!Number.isInteger(k) || k < 0 || k >= width) return `index ${raw} is out of range`;
    cols.push(data.cols[k]!);
  }
  return indices.dims.length === 0 ? { rank: 1, cols } : { rank: 2, cols };
}
