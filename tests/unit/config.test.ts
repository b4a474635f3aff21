import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, parseConfig } from "../../shared/ops/config";
import { FEATURES } from "../../shared/input/features";
import { HouseSchema } from "../../shared/input/schemas";

/** Keys only the standalone server reads; the Functions host has its own port and lifecycle. */
const SERVER_ONLY = ["PORT", "HOST", "SHUTDOWN_TIMEOUT_MS"];
/** Keys the Functions host itself reads. */
const PLATFORM = ["FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "AzureWebJobsFeatureFlags"];

describe("configuration", () => {
  it("has documented defaults for every key", () => {
    const cfg = parseConfig({});
    expect(cfg.PORT).toBe(8000);
    expect(cfg.MODEL_PATH).toBe("model/model.onnx");
    expect(cfg.MAX_BATCH).toBe(10_000);
    expect(cfg.CACHE_TIMEOUT_MS).toBe(50);
    expect(cfg.REDIS_URL).toBeUndefined();
  });

  it("fails fast with a message naming the variable and the value", () => {
    expect(() => parseConfig({ MAX_BATCH: "lots" })).toThrow(/MAX_BATCH="lots"/);
    expect(() => parseConfig({ PORT: "70000" })).toThrow(/PORT="70000"/);
    expect(() => parseConfig({ UPSTASH_REDIS_REST_URL: "https://x" })).toThrow(/UPSTASH_REDIS_REST_TOKEN/);
  });

  it("reads METRICS_GC_DURATION as a yes/no setting, off by default, and refuses anything else", () => {
    expect(parseConfig({}).METRICS_GC_DURATION).toBe(false);
    for (const v of ["true", "TRUE", "True", "yes", "1", " true "])
      expect(parseConfig({ METRICS_GC_DURATION: v }).METRICS_GC_DURATION, v).toBe(true);
    for (const v of ["false", "False", "no", "0", ""])
      expect(parseConfig({ METRICS_GC_DURATION: v }).METRICS_GC_DURATION, v).toBe(false);
    expect(() => parseConfig({ METRICS_GC_DURATION: "maybe" })).toThrow(/METRICS_GC_DURATION/);
  });

  it("treats empty strings as unset", () => {
    expect(parseConfig({ REDIS_URL: "", MODEL_BLOB_URL: "" }).REDIS_URL).toBeUndefined();
  });

  it("lists in local.settings.sample.json exactly the keys shared/ops/config.ts knows", () => {
    const sample = JSON.parse(readFileSync("local.settings.sample.json", "utf8")) as { Values: Record<string, string> };
    const keys = Object.keys(sample.Values).filter((k) => !PLATFORM.includes(k));
    expect(keys.sort()).toEqual(CONFIG_KEYS.filter((k) => !SERVER_ONLY.includes(k)).sort());
    expect(() => parseConfig(sample.Values)).not.toThrow();
  });

  it("uses the feature order of shared/input/features.ts in the request schema", () => {
    expect(Object.keys(HouseSchema.shape)).toEqual([...FEATURES]);
  });
});
