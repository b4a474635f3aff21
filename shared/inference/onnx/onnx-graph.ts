import { ProtobufReader, WIRE, type Field } from "./protobuf-reader";

/**
 * An ONNX model file decoded into the parts a graph compiler needs: opsets, nodes with their attributes,
 * initializers (constant tensors) and the graph's inputs and outputs. Field numbers are onnx.proto's
 * (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto); unknown fields are skipped.
 */

export const DATA_TYPE = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  values: number[];
}

export interface OnnxAttribute {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
  strings: string[];
}

export interface OnnxNode {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

interface OnnxValueInfo {
  name: string;
  elemType: number | undefined;
  /** One entry per dimension: a size, a symbolic name, or undefined; undefined for an unknown rank. */
  shape: (number | string | undefined)[] | undefined;
}

export interface OnnxGraph {
  /** Operator-set version per domain ("" is the default ONNX domain). */
  opsets: Map<string, number>;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** Decodes an ONNX ModelProto; throws on a malformed file or on external (side-file) tensor data. */
export function readOnnxModel(bytes: Uint8Array): OnnxGraph {
  const r = new ProtobufReader(bytes);
  const graph: OnnxGraph = { opsets: new Map(), nodes: [], initializers: new Map(), inputs: [], outputs: [] };
  let sawGraph = false;
  for (let f = r.next(); f; f = r.next()) {
    if (f.no === 8 && f.wire === WIRE.BYTES) {
      const { domain, version } = readOpset(r.sub(f));
      graph.opsets.set(domain, version);
    } else if (f.no === 7 && f.wire === WIRE.BYTES) {
      readGraph(r.sub(f), graph);
      sawGraph = true;
    }
  }
  if (!sawGraph) throw new Error("onnx: the file has no graph");
  return graph;
}

function readOpset(r: ProtobufReader): { domain: string; version: number } {
  let domain = "";
  let version = 0;
  for (let f = r.next(); f; f = r.next()) {
    if (f.no === 1 && f.wire === WIRE.BYTES) domain = r.string(f);
    else if (f.no === 2 && f.wire === WIRE.VARINT) version = f.value;
  }
  return { domain, version };
}

function readGraph(r: ProtobufReader, graph: OnnxGraph): void {
  for (let f = r.next(); f; f = r.next()) {
    if (f.wire !== WIRE.BYTES) continue;
    if (f.no === 1) graph.nodes.push(readNode(r.sub(f)));
    else if (f.no === 5) {
      const t = readTensor(r.sub(f));
      graph.initializers.set(t.name, t);
    } else if (f.no === 11) graph.inputs.push(readValueInfo(r.sub(f)));
    else if (f.no === 12) graph.outputs.push(readValueInfo(r.sub(f)));
  }
}

function readNode(r: ProtobufReader): OnnxNode {
  const node: OnnxNode = { opType: "", domain: "", inputs: [], outputs: [], attributes: new Map() };
  for (let f = r.next(); f; f = r.next()) {
    if (f.wire !== WIRE.BYTES) continue;
    if (f.no === 1) node.inputs.push(r.string(f));
    else if (f.no === 2) node.outputs.push(r.string(f));
    else if (f.no === 4) node.opType = r.string(f);
    else if (f.no === 7) node.domain = r.string(f);
    else if (f.no === 5) {
      const a = readAttribute(r.sub(f));
      node.attributes.set(a.name, a);
    }
  }
  return node;
}

function readAttribute(r: ProtobufReader): OnnxAttribute {
  const a: OnnxAttribute = { name: "", floats: [], ints: [], strings: [] };
  for (let f = r.next(); f; f = r.next()) {
    if (f.no === 1 && f.wire === WIRE.BYTES) a.name = r.string(f);
    else if (f.no === 2 && f.wire === WIRE.FIXED32) a.f = r.float32(f);
    else if (f.no === 3 && f.wire === WIRE.VARINT) a.i = f.value;
    else if (f.no === 4 && f.wire === WIRE.BYTES) a.s = r.string(f);
    else if (f.no === 5 && f.wire === WIRE.BYTES) a.t = readTensor(r.sub(f));
    else if (f.no === 7) r.floats(f, a.floats);
    else if (f.no === 8) r.varints(f, a.ints);
    else if (f.no === 9 && f.wire === WIRE.BYTES) r.strings(f, a.strings);
  }
  return a;
}

function readTensor(r: ProtobufReader): OnnxTensor {
  const t: OnnxTensor = { name: "", dims: [], dataType: 0, values: [] };
  let raw: Field | undefined;
  for (let f = r.next(); f; f = r.next()) {
    if (f.no === 1) r.varints(f, t.dims);
    else if (f.no === 2 && f.wire === WIRE.VARINT) t.dataType = f.value;
    else if (f.no === 4) r.floats(f, t.values);
    else if (f.no === 5 || f.no === 7) r.varints(f, t.values);
    else if (f.no === 8 && f.wire === WIRE.BYTES) t.name = r.string(f);
    else if (f.no === 9 && f.wire === WIRE.BYTES) raw = f;
    else if (f.no === 10) readDoubles(r, f, t.values);
    else if (f.no === 14 && f.wire === WIRE.VARINT && f.value === 1)
      throw new Error(`onnx: tensor ${t.name} keeps its data in an external file`);
  }
  if (raw) t.values = readRaw(r, raw, t.dataType, t.name);
  return t;
}

function readDoubles(r: ProtobufReader, f: Field, into: number[]): void {
  if (f.wire === WIRE.FIXED64) into.push(r.float64(f));
  else for (let at = f.value; at + 8 <= f.end; at += 8) into.push(r.float64({ ...f, value: at }));
}

/** raw_data: little-endian values of the tensor's type. */
function readRaw(r: ProtobufReader, f: Field, dataType: number, name: string): number[] {
  const view = new DataView(r.bytes.buffer, r.bytes.byteOffset + f.value, f.end - f.value);
  const width = { [DATA_TYPE.FLOAT]: 4, [DATA_TYPE.INT32]: 4, [DATA_TYPE.INT64]: 8, [DATA_TYPE.DOUBLE]: 8 }[dataType];
  if (!width || view.byteLength % width !== 0) throw new Error(`onnx: tensor ${name} has raw data of type ${dataType}`);
  const out: number[] = [];
  for (let at = 0; at < view.byteLength; at += width) {
    if (dataType === DATA_TYPE.FLOAT) out.push(view.getFloat32(at, true));
    else if (dataType === DATA_TYPE.INT32) out.push(view.getInt32(at, true));
    else if (dataType === DATA_TYPE.INT64) out.push(Number(view.getBigInt64(at, true)));
    else out.push(view.getFloat64(at, true));
  }
  return out;
}

function readValueInfo(r: ProtobufReader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: "", elemType: undefined, shape: undefined };
  for (let f = r.next(); f; f = r.next()) {
    if (f.no === 1 && f.wire === WIRE.BYTES) info.name = r.string(f);
    // TypeProto.tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) | dim_param (2).
    else if (f.no === 2 && f.wire === WIRE.BYTES) readTensorType(r.sub(f), info);
  }
  return info;
}

function readTensorType(r: ProtobufReader, info: OnnxValueInfo): void {
  for (let f = r.next(); f; f = r.next()) {
    if (f.no !== 1 || f.wire !== WIRE.BYTES) continue;
    const t = r.sub(f);
    for (let g = t.next(); g; g = t.next()) {
      if (g.no === 1 && g.wire === WIRE.VARINT) info.elemType = g.value;
      else if (g.no === 2 && g.wire === WIRE.BYTES) info.shape = readShape(t.sub(g));
    }
  }
}

function readShape(r: ProtobufReader): (number | string | undefined)[] {
  const dims: (number | string | undefined)[] = [];
  for (let f = r.next(); f; f = r.next()) {
    if (f.no !== 1 || f.wire !== WIRE.BYTES) continue;
    const d = r.sub(f);
    let dim: number | string | undefined;
    for (let g = d.next(); g; g = d.next()) {
      if (g.no === 1 && g.wire === WIRE.VARINT) dim = g.value;
      else if (g.no === 2 && g.wire === WIRE.BYTES) dim = d.string(g);
    }
    dims.push(dim);
  }
  return dims;
}
