import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ProtobufReader, WIRE } from "../../shared/inference/onnx/protobuf-reader";
import { readOnnxModel } from "../../shared/inference/onnx/onnx-graph";

const path = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));

/** Encodes a non-negative integer (or a negative int64 as ten bytes) as a protobuf varint. */
function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}
const tag = (no: number, wire: number): number[] => varint(BigInt(no * 8 + wire));
const bytesField = (no: number, content: number[]): number[] => [
  ...tag(no, WIRE.BYTES),
  ...varint(BigInt(content.length)),
  ...content,
];
const float32 = (x: number): number[] => [...new Uint8Array(new Float32Array([x]).buffer)];

describe("protobuf reader", () => {
  it.each([
    [0n, 0],
    [1n, 1],
    [300n, 300],
    [2n ** 49n + 5n, 2 ** 49 + 5],
    [2n ** 53n - 1n, 2 ** 53 - 1],
    [-1n, -1],
    [-12345n, -12345],
  ])("reads the varint %s as %d", (value, expected) => {
    const r = new ProtobufReader(Uint8Array.from([...tag(3, WIRE.VARINT), ...varint(value)]));
    expect(r.next()).toMatchObject({ no: 3, wire: WIRE.VARINT, value: expected });
    expect(r.next()).toBeUndefined();
  });

  it("reads repeated ints and floats both packed and one per field", () => {
    const packedInts = bytesField(8, [...varint(1n), ...varint(-1n), ...varint(70_000n)]);
    const loneInt = [...tag(8, WIRE.VARINT), ...varint(5n)];
    const packedFloats = bytesField(7, [...float32(1.5), ...float32(-2.25)]);
    const loneFloat = [...tag(7, WIRE.FIXED32), ...float32(0.5)];
    const r = new ProtobufReader(Uint8Array.from([...packedInts, ...loneInt, ...packedFloats, ...loneFloat]));
    const ints: number[] = [];
    const floats: number[] = [];
    for (let f = r.next(); f; f = r.next()) {
      if (f.no === 8) r.varints(f, ints);
      else r.floats(f, floats);
    }
    expect(ints).toEqual([1, -1, 70_000, 5]);
    expect(floats).toEqual([1.5, -2.25, 0.5]);
  });

  it("reads a run of one-value fields (proto2's unpacked lists) up to the first field of another number", () => {
    const run = [
      ...[1n, 200n, -3n].flatMap((v) => [...tag(8, WIRE.VARINT), ...varint(v)]),
      ...[0.25, 4].flatMap((v) => [...tag(7, WIRE.FIXED32), ...float32(v)]),
      ...tag(3, WIRE.VARINT),
      ...varint(9n),
      ...[...tag(8, WIRE.VARINT), ...varint(7n)],
    ];
    const r = new ProtobufReader(Uint8Array.from(run));
    const ints: number[] = [];
    const floats: number[] = [];
    const others: number[] = [];
    for (let f = r.next(); f; f = r.next()) {
      if (f.no === 8) r.varints(f, ints);
      else if (f.no === 7) r.floats(f, floats);
      else others.push(f.value);
    }
    expect([ints, floats, others]).toEqual([[1, 200, -3, 7], [0.25, 4], [9]]);
  });

  it("throws on a run of one-value floats cut short", () => {
    const r = new ProtobufReader(
      Uint8Array.from([...tag(7, WIRE.FIXED32), ...float32(1), ...tag(7, WIRE.FIXED32), 0, 0]),
    );
    expect(() => r.floats(r.next()!, [])).toThrow(/protobuf/);
  });

  it.each([
    ["a truncated varint", [...tag(1, WIRE.VARINT), 0x80]],
    ["a field running past the end", [...tag(1, WIRE.BYTES), 10, 1, 2]],
    ["field number 0", [0, 1]],
    ["an unknown wire type", [...tag(1, 3)]],
    ["a negative length (it would move backwards forever)", [...tag(3, WIRE.BYTES), ...varint(-11n)]],
    ["a varint of eleven bytes", [...tag(1, WIRE.VARINT), ...new Array<number>(10).fill(0xff), 1]],
  ])("throws on %s", (_, bytes) => {
    const r = new ProtobufReader(Uint8Array.from(bytes));
    expect(() => {
      while (r.next());
    }).toThrow(/protobuf/);
  });
});

describe("ONNX model reader", () => {
  it("reads the shipped model's opsets, input, output, nodes and initializers", () => {
    const g = readOnnxModel(readFileSync(path("model/model.onnx")));
    expect(Object.fromEntries(g.opsets)).toEqual({ "": 17, "ai.onnx.ml": 3 });
    expect(g.inputs).toEqual([{ name: "input", elemType: 1, shape: ["N", 8] }]);
    expect(g.outputs).toEqual([{ name: "house_value", elemType: 1, shape: ["N", 1] }]);
    expect(g.nodes.map((n) => n.opType)).toEqual(["Gather", "Gather", "Add", "Sub", "Concat", "TreeEnsembleRegressor"]);
    expect(g.initializers.get("lat_idx")).toMatchObject({ dims: [1], values: [6] });
    const trees = g.nodes.at(-1)!.attributes;
    expect(trees.get("nodes_modes")!.strings).toHaveLength(38_875); // the card: 38,875 nodes
    expect(trees.get("target_weights")!.floats).toHaveLength(19_593); // and 19,593 leaves
  });

  it("refuses a file with no graph and one that keeps tensors in a side file", () => {
    expect(() => readOnnxModel(Uint8Array.from(bytesField(2, [0x61])))).toThrow(/no graph/);
    const external = bytesField(5, [...bytesField(8, [0x77]), ...tag(14, WIRE.VARINT), 1]);
    expect(() => readOnnxModel(Uint8Array.from(bytesField(7, external)))).toThrow(/external file/);
  });

  it("throws, without hanging, on bytes that are not a model", () => {
    expect(() => readOnnxModel(readFileSync(path("model/model.json")))).toThrow();
  });
});
