import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ROW_WORDS, type RowBatch } from "../../shared/cache/row-table";
import { InflightRun, SingleFlight } from "../../shared/inference/single-flight";

/** A batch whose rows are `ids` (row id k has every word = k) with hashes chosen by the test, so collisions are forced. */
function batch(ids: number[], hashOf: (id: number) => number): RowBatch {
  const words = new Uint32Array(ids.length * ROW_WORDS);
  ids.forEach((id, r) => words.fill(id, r * ROW_WORDS, (r + 1) * ROW_WORDS));
  return { tensor: new Float32Array(words.buffer), words, rows: ids.length, hashes: Uint32Array.from(ids.map(hashOf)) };
}

/** One request claiming the single row `id` (hash `hashOf(id)`, namespace `ns`), every row wanted. */
function claimRow(f: SingleFlight, id: number, hashOf: (id: number) => number = (i) => i, ns = "m") {
  return f.claim(batch([id], hashOf), ns, () => true);
}

/** One request claims rows `ids` (hash = id) for a new run; another joins that run for row `joinId`. */
function claimThenJoin(f: SingleFlight, ids: number[], joinId: number) {
  const a = batch(ids, (id) => id);
  const c = f.claim(a, "m", () => true);
  const j = claimRow(f, joinId).joined[0]!;
  return { a, c, j };
}

/** The semantics the table must keep: the Map it replaced (first claimant of a hash owns the slot). */
class ReferenceFlight {
  slots = new Map<number, { run: InflightRun; at: number; id: number; ns: string }>();
  claim(ids: number[], hashes: Uint32Array, ns: string, run: InflightRun | undefined) {
    const joined: { index: number; run: InflightRun; at: number }[] = [];
    const compute: number[] = [];
    ids.forEach((id, i) => {
      const p = this.slots.get(hashes[i]!);
      if (p && p.ns === ns && p.id === id) return joined.push({ index: i, run: p.run, at: p.at });
      if (!p) this.slots.set(hashes[i]!, { run: run!, at: compute.length, id, ns });
      compute.push(i);
    });
    return { joined, compute };
  }
  settle(hashes: Uint32Array, compute: number[], run: InflightRun) {
    for (const i of compute) if (this.slots.get(hashes[i]!)?.run === run) this.slots.delete(hashes[i]!);
  }
}

describe("SingleFlight", () => {
  it("joins a row already in flight and computes a row that is not, then forgets the row once its run settles", async () => {
    const f = new SingleFlight(8);
    const a = batch([1, 2], (id) => id);
    const first = f.claim(a, "m", () => true);
    expect(first.compute).toEqual([0, 1]);
    const b = batch([2, 3], (id) => id);
    const second = f.claim(b, "m", () => true);
    expect(second.joined).toEqual([{ index: 0, run: first.run, at: 1 }]);
    expect(second.compute).toEqual([1]);
    await f.settle(
      a,
      first.run!,
      first.compute,
      async () => new Float32Array([10, 20]),
      () => undefined,
    );
    expect(await first.run!.done).toEqual(new Float32Array([10, 20]));
    expect(claimRow(f, 1).compute).toEqual([0]);
  });

  it("never joins a row of another namespace or a different row that shares the hash", () => {
    const f = new SingleFlight(8);
    claimRow(f, 1, () => 5);
    expect(claimRow(f, 1, () => 5, "other").joined).toEqual([]);
    expect(claimRow(f, 2, () => 5).joined).toEqual([]);
  });

  it("frees every slot when the run fails, and the failure reaches whoever joined", async () => {
    const f = new SingleFlight(8);
    const { a, c, j } = claimThenJoin(f, [1, 2, 3], 3);
    const failing = f.settle(
      a,
      c.run!,
      c.compute,
      () => Promise.reject(new Error("boom")),
      () => undefined,
    );
    await expect(failing).rejects.toThrow("boom");
    await expect(j.run.done).rejects.toThrow("boom");
    expect(f.size).toBe(0);
  });

  it("keeps the value for joiners when the run fails after its output arrived (the first settlement wins)", async () => {
    const f = new SingleFlight(8);
    const { a, c, j } = claimThenJoin(f, [1], 1);
    const failing = f.settle(
      a,
      c.run!,
      c.compute,
      async () => new Float32Array([42]),
      () => {
        throw new Error("cache fill failed");
      },
    );
    await expect(failing).rejects.toThrow("cache fill failed");
    expect(await j.run.done).toEqual(new Float32Array([42]));
  });

  it("grows for a burst of rows in flight and goes back to its first size once they have settled", async () => {
    const f = new SingleFlight(4, 0);
    const ids = Array.from({ length: 100 }, (_, i) => i);
    const b = batch(ids, (id) => id * 2654435761);
    const c = f.claim(b, "m", () => true);
    expect(f.size).toBe(100);
    expect(claimRow(f, 57, (id) => id * 2654435761).joined[0]!.run).toBe(c.run);
    await f.settle(
      b,
      c.run!,
      c.compute,
      async () => new Float32Array(100),
      () => undefined,
    );
    expect(f.size).toBe(0);
    expect((f as unknown as { mask: number }).mask + 1).toBe(4);
    expect(claimRow(f, 7).compute).toEqual([0]);
  });

  it("keeps a grown table while bursts keep coming (no rebuild per request)", async () => {
    const f = new SingleFlight(4, 60_000);
    const b = batch(
      Array.from({ length: 100 }, (_, i) => i),
      (id) => id,
    );
    const c = f.claim(b, "m", () => true);
    await f.settle(
      b,
      c.run!,
      c.compute,
      async () => new Float32Array(100),
      () => undefined,
    );
    expect((f as unknown as { mask: number }).mask + 1).toBe(256);
  });

  it("refuses a capacity that is not a power of two", () => {
    expect(() => new SingleFlight(6)).toThrow(RangeError);
  });

  it("agrees with a Map under any interleaving of claims and settles, with colliding hashes, wrap-around and growth", async () => {
    const op = fc.oneof(
      fc.record({
        claim: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }),
        ns: fc.constantFrom("m", "n"),
      }),
      fc.record({ settle: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 60 }),
        fc.constantFrom(2, 4, 8),
        fc.constantFrom(0, 60_000),
        async (ops, capacity, resetAfterMs) => {
          // Hashes in a small range, many near the table's end: long probe chains that wrap and collide.
          const hashOf = (id: number) => (id % 7) + capacity - 3;
          const f = new SingleFlight(capacity, resetAfterMs);
          const ref = new ReferenceFlight();
          const open: { b: RowBatch; compute: number[]; run: InflightRun }[] = [];
          for (const o of ops) {
            if ("claim" in o) {
              const b = batch(o.claim, hashOf);
              const got = f.claim(b, o.ns, () => true);
              const want = ref.claim(o.claim, b.hashes, o.ns, got.run);
              // Same rows joined at the same positions, and to the very same run (not merely an equal-looking one).
              expect(got.joined.map(({ index, at }) => ({ index, at }))).toEqual(
                want.joined.map(({ index, at }) => ({ index, at })),
              );
              got.joined.forEach((j, k) => expect(j.run).toBe(want.joined[k]!.run));
              expect(got.compute).toEqual(want.compute);
              if (got.run) open.push({ b, compute: got.compute, run: got.run });
            } else if (open.length > 0) {
              const [c] = open.splice(o.settle % open.length, 1);
              await f.settle(
                c!.b,
                c!.run,
                c!.compute,
                async () => new Float32Array(c!.compute.length),
                () => undefined,
              );
              ref.settle(c!.b.hashes, c!.compute, c!.run);
            }
            expect(f.size).toBe(ref.slots.size);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
