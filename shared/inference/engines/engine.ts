import type { z } from "zod";
import type { ModelEngineSchema } from "../../input/schemas";
import type { Config } from "../../ops/config";
import { readOnnxModel } from "../onnx/onnx-graph";
import { openOnnxRuntime } from "./onnxruntime-engine";
import type { Compiled } from "./compiled";
import { TreeEngine } from "./tree-engine";

/**
 * What runs the point model. `compiled-trees`: the ONNX graph compiled at load into a JavaScript tree-ensemble
 * evaluator with onnxruntime's float32 results (no native runtime in the process: ~45–50 MiB less memory,
 * a load no slower than onnxruntime's, cheaper small batches). `onnxruntime`: the ONNX runtime itself, for any graph.
 */
export type EngineName = z.infer<typeof ModelEngineSchema>;

/** MODEL_ENGINE: `auto` compiles when the graph allows and falls back to onnxruntime; the others insist. */
export type EngineChoice = Config["MODEL_ENGINE"];

export interface InferenceEngine {
  name: EngineName;
  /** Predicts a row-major float32 [rows, width] input; one value per row. */
  run(input: Float32Array, rows: number): Float32Array | Promise<Float32Array>;
  close(): Promise<void>;
}

interface OpenedEngine {
  engine: InferenceEngine;
  /** Why `auto` did not compile the graph (undefined when it did or when onnxruntime was asked for). */
  fallback?: string;
}

/** Opens the engine MODEL_ENGINE asks for; `compiled` with a graph outside the compiler's subset throws. */
export async function openEngine(onnx: Uint8Array, width: number, choice: EngineChoice): Promise<OpenedEngine> {
  if (choice === "onnxruntime") return { engine: await openOnnxRuntime(onnx, width) };
  const compiled = compile(onnx, width);
  if (compiled.ok) return { engine: compiled.value };
  if (choice === "compiled")
    throw new Error(`MODEL_ENGINE=compiled, but the graph cannot be compiled: ${compiled.reason}`);
  return { engine: await openOnnxRuntime(onnx, width), fallback: compiled.reason };
}

function compile(onnx: Uint8Array, width: number): Compiled<TreeEngine> {
  try {
    return TreeEngine.compile(readOnnxModel(onnx), width);
  } catch (err) {
    // A file onnxruntime may still read (e.g. tensors in side files) is not an error here, only not compiled.
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}
