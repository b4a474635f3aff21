import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashRow, RowTable, rowBatch, ROW_WORDS, sameRow } from "../../shared/cache/row-table";

const row = (...xs: number[]) =>
  Float32Array.from(xs.length === ROW_WORDS ? xs : [...xs, ...Array(ROW_WORDS - xs.length).fill(0)]);

function put(t: RowTable, r: Float32Array, v: number) {
  const b = rowBatch(r, 1);
  t.set(b.words, 0, b.hashes[0]!, v);
}
function get(t: RowTable, r: Float32Array) {
  const b = rowBatch(r, 1);
  return t.get(b.words, 0, b.hashes[0]!);
}

describe("RowTable", () => {
  it("returns the value stored for a row and undefined for a row never stored", () => {
    const t = new RowTable(100);
    put(t, row(1, 2, 3), 4.5);
    expect(get(t, row(1, 2, 3))).toBe(4.5);
    expect(get(t, row(1, 2, 4))).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it("tells apart rows whose bits differ, even 0 and -0, and overwrites a row stored twice", () => {
    const t = new RowTable(100);
    put(t, row(0), 1);
    put(t, row(-0), 2);
    put(t, row(0), 3);
    expect(get(t, row(0))).toBe(3);
    expect(get(t, row(-0))).toBe(2);
    expect(t.size).toBe(2);
  });

  it("evicts the least recently used row of a full set, counting reads as use", () => {
    const t = new RowTable(2, 2); // one set of two ways: every row lands in it
    put(t, row(1), 10);
    put(t, row(2), 20);
    expect(get(t, row(1))).toBe(10); // row 2 is now the least recently used
    put(t, row(3), 30);
    expect(get(t, row(2))).toBeUndefined();
    expect(get(t, row(1))).toBe(10);
    expect(get(t, row(3))).toBe(30);
    expect(t.size).toBe(2);
  });

  it("starts empty again after clear()", () => {
    const t = new RowTable(16);
    put(t, row(1), 1);
    t.clear();
    expect(get(t, row(1))).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it("rounds capacity up to whole sets and refuses a capacity below 1", () => {
    expect(new RowTable(50_000).capacity).toBe(50_000);
    expect(new RowTable(9).capacity).toBe(16);
    expect(() => new RowTable(0)).toThrow(RangeError);
  });

  it("never answers a value other than the last one stored for that exact row (random operations)", () => {
    // A tiny table (4 sets × 2 ways) over a small alphabet of rows forces constant collisions and evictions.
    const rows = Array.from({ length: 24 }, (_, i) => row(i % 3, Math.floor(i / 3), i === 7 ? -0 : 0));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: rows.length - 1 }), fc.double({ noNaN: true })), {
          maxLength: 300,
        }),
        (ops) => {
          const t = new RowTable(8, 2);
          const model = new Map<number, number>();
          for (const [write, i, v] of ops) {
            if (write) {
              put(t, rows[i]!, v);
              model.set(i, v);
            } else {
              const got = get(t, rows[i]!);
              if (got !== undefined) expect(Object.is(got, model.get(i))).toBe(true);
            }
            expect(t.size).toBeLessThanOrEqual(t.capacity);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps every row while far below capacity", () => {
    const t = new RowTable(50_000);
    const n = 2_000;
    const data = new Float32Array(n * ROW_WORDS);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 10007;
    const b = rowBatch(data, n);
    for (let r = 0; r < n; r++) t.set(b.words, r, b.hashes[r]!, r);
    let found = 0;
    for (let r = 0; r < n; r++) if (t.get(b.words, r, b.hashes[r]!) === r) found++;
    expect(found).toBe(n);
  });
});

describe("row hashing", () => {
  it("is a function of the row's bits only, and sameRow compares bits", () => {
    const a = rowBatch(row(8.3252, 41, 6.98, 1.02, 322, 2.55, 37.88, -122.23), 1);
    const b = rowBatch(Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, ...a.tensor]), 2);
    expect(hashRow(b.words, ROW_WORDS)).toBe(hashRow(a.words, 0));
    expect(b.hashes[1]).toBe(a.hashes[0]);
    expect(sameRow(a.words, 0, b.words, 1)).toBe(true);
    expect(sameRow(a.words, 0, b.words, 0)).toBe(false);
    expect(hashRow(a.words, 0, 1)).not.toBe(hashRow(a.words, 0, 2));
  });

  it("keys small and big batches by the exact bits, a NaN's payload and -0 included", () => {
    const bits = Uint32Array.from([0x7fc00001, 0x80000000, 0x3f800000, 0xffc12345, 1, 2, 3, 0x7f800000]);
    const small = new Float32Array(8);
    new Uint32Array(small.buffer).set(bits);
    // Two rows (64 bytes) are still copied; three are viewed in place.
    for (const rows of [1, 2, 3]) {
      const tensor = new Float32Array(rows * 8);
      for (let r = 0; r < rows; r++) new Uint32Array(tensor.buffer, r * 32, 8).set(bits);
      const b = rowBatch(tensor, rows);
      for (let r = 0; r < rows; r++)
        expect(Array.from(b.words.subarray(r * 8, r * 8 + 8)), `${rows} rows`).toEqual(Array.from(bits));
      expect(b.hashes[rows - 1]).toBe(rowBatch(small, 1).hashes[0]);
    }
  });

  it("keys a small view of a big buffer and a tensor longer than its rows by their own rows, and refuses a short one", () => {
    const big = new Float32Array(64).map((_, i) => i + 0.5);
    const view = big.subarray(16, 24); // 32 bytes at byte offset 64 of a 256-byte buffer
    const copy = Float32Array.from(view);
    expect(Array.from(rowBatch(view, 1).words)).toEqual(Array.from(new Uint32Array(copy.buffer)));
    expect(rowBatch(view, 1).hashes[0]).toBe(rowBatch(copy, 1).hashes[0]);
    const longer = Float32Array.from([...copy, 9, 9]); // 40 bytes: the first row only
    expect(rowBatch(longer, 1).hashes[0]).toBe(rowBatch(copy, 1).hashes[0]);
    expect(() => rowBatch(copy, 2)).toThrow(RangeError);
    expect(() => rowBatch(big, 9)).toThrow(RangeError);
  });
});
