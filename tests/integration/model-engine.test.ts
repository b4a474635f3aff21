import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES } from "../../shared/input/features";
import { eventually } from "../support/eventually";
import { HOSTS, testService, type Host } from "../support/hosts";

const holdout = JSON.parse(readFileSync("model/reference/holdout.json", "utf8")) as { X: number[][] };
const HOUSES = holdout.X.slice(0, 600).map((row) => Object.fromEntries(FEATURES.map((f, i) => [f, row[i]])));
const JSON_HEADERS = { "content-type": "application/json" };

describe.each(["standalone", "functions"] as const)("MODEL_ENGINE on the %s host", (kind) => {
  const hosts: Partial<Record<"auto" | "onnxruntime", Host>> = {};
  beforeAll(async () => {
    for (const engine of ["auto", "onnxruntime"] as const) {
      // No cache, so every row is computed by the engine under test.
      hosts[engine] = await HOSTS[kind](testService({ MODEL_ENGINE: engine, CACHE_MAX_ENTRIES: "0" }));
      await hosts[engine].service.holder.load();
    }
  });
  afterAll(async () => {
    for (const host of Object.values(hosts)) await host.close();
  });

  it("names the engine on /health, /model and in model_info", async () => {
    for (const [engine, name] of [
      ["auto", "compiled-trees"],
      ["onnxruntime", "onnxruntime"],
    ] as const) {
      const host = hosts[engine]!;
      expect((await host.send("GET", "/health")).json().model.engine).toBe(name);
      expect((await host.send("GET", "/model")).json().engine).toBe(name);
      expect((await host.send("GET", "/metrics")).text).toMatch(
        new RegExp(`model_info\\{[^}]*engine="${name}"[^}]*\\} 1`),
      );
    }
  });

  it("gives the same predictions, to the last digit, from both engines", async () => {
    const answers = await Promise.all(
      (["auto", "onnxruntime"] as const).map(async (engine) => {
        const r = await hosts[engine]!.send("POST", "/bulk_predict", {
          body: JSON.stringify({ houses: HOUSES }),
          headers: JSON_HEADERS,
        });
        expect(r.status).toBe(200);
        return r.text;
      }),
    );
    expect(answers[0]).toBe(answers[1]);
    const single = await Promise.all(
      (["auto", "onnxruntime"] as const).map(
        async (engine) =>
          (await hosts[engine]!.send("POST", "/predict", { body: JSON.stringify(HOUSES[7]), headers: JSON_HEADERS }))
            .text,
      ),
    );
    expect(single[0]).toBe(single[1]);
  });
});

describe("a model the compiler does not take", () => {
  // The shipped model with aggregate_function MAX instead of SUM: valid ONNX that onnxruntime runs and the
  // compiler refuses; its card's sha256 is updated, so the files verify.
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "model-max-"));
    const bytes = readFileSync("model/model.onnx");
    const at = bytes.indexOf('aggregate_function"\x03SUM', 0, "latin1");
    expect(at).toBeGreaterThan(0);
    bytes.write("MAX", at + 'aggregate_function"\x03'.length, "latin1");
    const card = JSON.parse(readFileSync("model/model.json", "utf8"));
    writeFileSync(path.join(dir, "model.onnx"), bytes);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    writeFileSync(path.join(dir, "model.json"), JSON.stringify({ ...card, sha256 }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is served by onnxruntime under MODEL_ENGINE=auto", async () => {
    const host = await HOSTS.standalone(testService({ MODEL_PATH: path.join(dir, "model.onnx") }));
    try {
      await host.service.holder.load();
      const health = await host.send("GET", "/health");
      expect(health.status).toBe(200);
      expect(health.json().model.engine).toBe("onnxruntime");
      const r = await host.send("POST", "/predict", { body: JSON.stringify(HOUSES[0]), headers: JSON_HEADERS });
      expect(r.status).toBe(200);
    } finally {
      await host.close();
    }
  });

  it("fails the load under MODEL_ENGINE=compiled: 503 with the integrity reason on /health and predictions", async () => {
    const env = { MODEL_PATH: path.join(dir, "model.onnx"), MODEL_ENGINE: "compiled" };
    const host = await HOSTS.standalone(testService(env));
    try {
      host.service.holder.get();
      const health = await eventually(async () => {
        const reply = await host.send("GET", "/health");
        if (!String(reply.json().reason).startsWith("integrity")) throw new Error(`not failed yet: ${reply.text}`);
        return reply;
      });
      expect(health.status).toBe(503);
      expect(health.json().reason).toMatch(/^integrity: /);
      const r = await host.send("POST", "/predict", { body: JSON.stringify(HOUSES[0]), headers: JSON_HEADERS });
      expect(r.status).toBe(503);
    } finally {
      await host.close();
    }
  });
});
