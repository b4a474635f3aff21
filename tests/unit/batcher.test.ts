import { describe, expect, it } from "vitest";
import { Batcher } from "../../shared/inference/batcher";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { createModel } from "../../shared/inference/model";
import { loadFromFile } from "../../shared/inference/model-store";
import { cacheKeys } from "../../shared/cache";
import { toTensor } from "../../shared/inference/predictor";

const W = FEATURES.length;
const houses = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => ({ ...SEED_HOUSE, MedInc: seed + (i % 997) / 100, HouseAge: 1 + (i % 52) }));

async function realRun() {
  const loaded = await loadFromFile("model/model.onnx");
  if (!loaded.ok) throw new Error(loaded.error.message);
  const runs: number[] = [];
  const model = await createModel(loaded.artifact, { maxRowsPerRun: 1_000_000, onRun: (n) => runs.push(n) });
  runs.length = 0;
  return { model, runs };
}

describe("the dynamic batcher over the real model", () => {
  it("coalesces concurrent single-row requests into one run with bit-identical results", async () => {
    const { model, runs } = await realRun();
    const rows = houses(50);
    const expected = await model.infer(toTensor(rows), rows.length);
    runs.length = 0;
    const seen: number[] = [];
    const batcher = new Batcher(
      (input, n) => {
        seen.push(n);
        return model.infer(input, n);
      },
      { maxRows: 1024 },
    );
    const singles = await Promise.all(rows.map((h) => batcher.infer(toTensor([h]), 1)));
    expect(seen).toEqual([50]);
    expect(singles.map((o) => o[0])).toEqual(Array.from(expected));
    await model.close();
  });

  it("splits a big request into runs of at most maxRows and serves a small request queued behind it first", async () => {
    const { model } = await realRun();
    const seen: number[] = [];
    const order: string[] = [];
    const batcher = new Batcher(
      (input, n) => {
        seen.push(n);
        return model.infer(input, n);
      },
      { maxRows: 1000 },
    );
    const big = houses(4500, 2);
    const expected = await model.infer(toTensor(big), big.length);
    const bigDone = batcher.infer(toTensor(big), big.length).then((o) => (order.push("big"), o));
    await new Promise((r) => setImmediate(r));
    const smallDone = batcher.infer(toTensor([SEED_HOUSE]), 1).then((o) => (order.push("small"), o));
    const [out] = await Promise.all([bigDone, smallDone]);
    expect(Array.from(out)).toEqual(Array.from(expected));
    expect(seen.every((n) => n <= 1000)).toBe(true);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(4501);
    expect(order).toEqual(["small", "big"]);
    await model.close();
  });

  it("continues a started job through deferContinuation (with its size), a new job's first run through defer", async () => {
    const { model } = await realRun();
    const deferred: string[] = [];
    const batcher = new Batcher((input, n) => model.infer(input, n), {
      maxRows: 1000,
      defer: (fn) => (deferred.push("defer"), setImmediate(fn)),
      deferContinuation: (fn, rows) => (deferred.push(`continuation ${rows}`), setImmediate(fn)),
    });
    const big = houses(3500, 3);
    const expected = await model.infer(toTensor(big), big.length);
    const out = await batcher.infer(toTensor(big), big.length);
    expect(Array.from(out)).toEqual(Array.from(expected));
    // Four runs of at most 1,000 rows: the first for a new job, the three after it continue the same job.
    expect(deferred).toEqual(["defer", "continuation 3500", "continuation 3500", "continuation 3500"]);
    deferred.length = 0;
    await batcher.infer(toTensor([SEED_HOUSE]), 1);
    expect(deferred).toEqual(["defer"]);
    await model.close();
  });

  it("serves a new small request in a run of its own while a started big job's next chunk waits its turn", async () => {
    const { model } = await realRun();
    const held: (() => void)[] = [];
    const seen: number[] = [];
    const batcher = new Batcher(
      (input, n) => {
        seen.push(n);
        return model.infer(input, n);
      },
      { maxRows: 1000, deferContinuation: (fn) => held.push(fn) },
    );
    const big = houses(2500, 4);
    const expected = await model.infer(toTensor(big), big.length);
    const bigDone = batcher.infer(toTensor(big), big.length);
    while (held.length === 0) await new Promise((r) => setImmediate(r)); // the first chunk ran
    const small = await batcher.infer(toTensor([SEED_HOUSE]), 1); // resolves with the continuation still held
    expect(Array.from(small)).toEqual(Array.from(await model.infer(toTensor([SEED_HOUSE]), 1)));
    expect(seen).toEqual([1000, 1]);
    while (held.length > 0) {
      held.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(Array.from(await bigDone)).toEqual(Array.from(expected));
    expect(seen).toEqual([1000, 1, 1000, 500]);
    await model.close();
  });

  it("rejects every waiting request when a run fails, and keeps serving afterwards", async () => {
    let fail = true;
    const batcher = new Batcher(
      async (_input, n) => {
        if (fail) throw new Error("boom");
        return new Float32Array(n).fill(1);
      },
      { maxRows: 10 },
    );
    const a = batcher.infer(new Float32Array(W), 1);
    const b = batcher.infer(new Float32Array(W * 2), 2);
    await expect(a).rejects.toThrow("boom");
    await expect(b).rejects.toThrow("boom");
    fail = false;
    expect(Array.from(await batcher.infer(new Float32Array(W * 3), 3))).toEqual([1, 1, 1]);
    expect(batcher.pendingRows).toBe(0);
  });
});

describe("cache keys", () => {
  it("are equal exactly when the float32 features are equal, and carry the model version", () => {
    const a = { ...SEED_HOUSE };
    const sameFloat32 = { ...SEED_HOUSE, MedInc: SEED_HOUSE.MedInc + 1e-12 };
    const other = { ...SEED_HOUSE, MedInc: 8.3253 };
    const t = toTensor([a, sameFloat32, other]);
    const [ka, kb, kc] = cacheKeys("1.2.3", { tensor: t }, [0, 1, 2]);
    expect(ka).toBe(kb);
    expect(ka).not.toBe(kc);
    expect(ka).toMatch(/^hp:1\.2\.3:[A-Za-z0-9+/]{43}=$/);
    expect(cacheKeys("2.0.0", { tensor: t }, [0])[0]).not.toBe(ka);
  });
});
