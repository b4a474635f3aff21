import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openEngine } from "../../shared/inference/engines/engine";
import { WIDTH } from "../../shared/input/features";

const path = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const MODEL = readFileSync(path("model/model.onnx"));
const INTERVALS = readFileSync(path("model/intervals.onnx"));
const holdout = JSON.parse(readFileSync(path("model/reference/holdout.json"), "utf8")) as { X: number[][] };

describe("MODEL_ENGINE", () => {
  it("auto compiles the shipped model, and its predictions are onnxruntime's bits", async () => {
    const auto = await openEngine(MODEL, WIDTH, "auto");
    const ort = await openEngine(MODEL, WIDTH, "onnxruntime");
    expect([auto.engine.name, auto.fallback]).toEqual(["compiled-trees", undefined]);
    expect([ort.engine.name, ort.fallback]).toEqual(["onnxruntime", undefined]);
    const input = Float32Array.from(holdout.X.slice(0, 300).flat());
    expect(await auto.engine.run(input, 300)).toEqual(await ort.engine.run(input, 300));
    await ort.engine.close();
  });

  it("auto falls back to onnxruntime for a graph the compiler does not take, and says why", async () => {
    const opened = await openEngine(INTERVALS, WIDTH, "auto");
    expect(opened.engine.name).toBe("onnxruntime");
    expect(opened.fallback).toMatch(/does not end in an ai.onnx.ml TreeEnsembleRegressor/);
    await opened.engine.close();
  });

  it("compiled refuses such a graph instead of falling back", async () => {
    await expect(openEngine(INTERVALS, WIDTH, "compiled")).rejects.toThrow(/MODEL_ENGINE=compiled.*cannot be compiled/);
  });

  it("auto hands bytes it cannot even decode to onnxruntime, whose error is the one reported", async () => {
    await expect(openEngine(Uint8Array.from([1, 2, 3]), WIDTH, "auto")).rejects.toThrow(
      /Failed to load model because protobuf parsing failed/,
    );
  });
});
