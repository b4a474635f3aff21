import { describe, expect, it } from "vitest";
import { rowBatch } from "../../shared/cache/row-table";
import type { PredictOutcome } from "../../shared/inference/predictor";
import { cacheStatus, plainBody } from "../../shared/routes/prediction-detail";

function outcome(hits: number, collapsed: number, computed: number): PredictOutcome {
  const rows = hits + collapsed + computed;
  return {
    values: new Array<number>(rows).fill(1),
    hits,
    collapsed,
    computed,
    batch: rowBatch(new Float32Array(rows * 8), rows),
  };
}

describe("Cache-Status of a prediction (RFC 9211)", () => {
  it("says hit when every row came from the cache", () => {
    expect(cacheStatus(outcome(1, 0, 0))).toBe("house-price; hit");
    expect(cacheStatus(outcome(3, 0, 0))).toBe("house-price; hit");
  });

  it("spells a single computed or collapsed row exactly as it spells several", () => {
    expect(cacheStatus(outcome(0, 0, 1))).toBe(
      'house-price; fwd=miss; stored; detail="hits=0 collapsed=0 computed=1 rows=1"',
    );
    expect(cacheStatus(outcome(0, 1, 0))).toBe(
      'house-price; fwd=miss; collapsed; detail="hits=0 collapsed=1 computed=0 rows=1"',
    );
    expect(cacheStatus(outcome(0, 0, 2))).toBe(
      'house-price; fwd=miss; stored; detail="hits=0 collapsed=0 computed=2 rows=2"',
    );
  });

  it("says partial with every count when some rows were cached and others not", () => {
    expect(cacheStatus(outcome(2, 1, 3))).toBe(
      'house-price; fwd=partial; stored; collapsed; detail="hits=2 collapsed=1 computed=3 rows=6"',
    );
  });
});

describe("the plain prediction body", () => {
  it("is JSON.stringify's text for every kind of number", () => {
    const values = [
      4.372725009918213,
      0,
      -0,
      1e21,
      5e-7,
      -1.5,
      0.1 + 0.2,
      Math.fround(3.3),
      Number.MAX_VALUE,
      NaN,
      Infinity,
      -Infinity,
      5e-324,
    ];
    for (const v of values) {
      expect(plainBody([v], false), String(v)).toBe(JSON.stringify({ house_value: v }));
      expect(JSON.parse(plainBody([v], false))).toEqual(JSON.parse(JSON.stringify({ house_value: v })));
    }
    expect(plainBody(values, true)).toBe(JSON.stringify({ house_values: values }));
  });
});
