import type * as Ort from "onnxruntime-node";
import type { InferenceSession as OrtSession } from "onnxruntime-node";
import type { InferenceEngine } from "./engine";

/** The service's onnxruntime session options (the benches' model ceilings use the same). */
export const SESSION_OPTIONS: OrtSession.SessionOptions = {
  // One thread: session.run holds the JS thread anyway, and the second core serves the clients.
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
  // The arena keeps peak buffers for the process's life; without it RSS stays lower and speed is the same here.
  enableCpuMemArena: false,
  enableMemPattern: false,
};

/** The onnxruntime module and a session over `onnx` with the service's options (point and interval models). */
export async function openOnnxSession(onnx: Uint8Array): Promise<{ ort: typeof Ort; session: OrtSession }> {
  // Loaded here, not at module scope, so hosts that never run onnxruntime skip the native addon (~45–60 MiB).
  const ort = await import("onnxruntime-node");
  return { ort, session: await ort.InferenceSession.create(onnx, SESSION_OPTIONS) };
}

/** An onnxruntime session over the model's bytes: one float32 [rows, width] input, one value per row out. */
export async function openOnnxRuntime(onnx: Uint8Array, width: number): Promise<InferenceEngine> {
  const { ort, session } = await openOnnxSession(onnx);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  if (!inputName || !outputName) throw new Error("model has no input or output");
  return {
    name: "onnxruntime",
    async run(input: Float32Array, rows: number): Promise<Float32Array> {
      const tensor = new ort.Tensor("float32", input, [rows, width]);
      const result = await session.run({ [inputName]: tensor });
      const out = result[outputName];
      if (!out || !(out.data instanceof Float32Array) || out.data.length !== rows) {
        throw new Error(`model output ${outputName} has an unexpected shape`);
      }
      return out.data;
    },
    close: () => session.release(),
  };
}
