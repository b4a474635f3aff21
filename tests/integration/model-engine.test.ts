import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES } from "../../shared/input/features";
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
