import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { countOutOfRange, featureRanges, outOfRangeFeatures } from "../../shared/input/out-of-range";
import { parsePredictionOptions, resolveLevel } from "../../shared/input/prediction-options";
import { intervalLevels } from "../../shared/input/interval-levels";

const card = JSON.parse(readFileSync("model/model.json", "utf8")) as Record<string, unknown> & {
  features: { name: string; min: number; max: number }[];
};
const row = (over: Record<string, number> = {}) =>
  Float32Array.from(FEATURES.map((f) => ({ ...SEED_HOUSE, ...over })[f]));

describe("detail and level on a POST's query string", () => {
  const parse = (q: string) => parsePredictionOptions(new URLSearchParams(q));

  it("reads detail and level, ignoring parameters that are not options", () => {
    expect(parse("")).toEqual({ ok: true, value: { detail: false } });
    expect(parse("detail=true&level=0.95&code=secret")).toEqual({ ok: true, value: { detail: true, level: 0.95 } });
    expect(parse("detail=false&level=0.90")).toEqual({ ok: true, value: { detail: false, level: 0.9 } });
  });

  it("names the parameter that is wrong", () => {
    for (const [q, path] of [
      ["detail=1", "detail"],
      ["detail=TRUE", "detail"],
      ["detail=true&detail=false", "detail"],
      ["level=0x1", "level"],
      ["level=", "level"],
      ["level=0", "level"],
      ["level=90", "level"],
    ] as const) {
      const r = parse(q);
      expect(r.ok, q).toBe(false);
      if (!r.ok) expect(r.failure.errors?.[0]?.path, q).toBe(path);
    }
  });

  it("takes the levels the card lists, its default when none is asked for, and refuses others naming level", () => {
    const offered = intervalLevels(card);
    expect(offered).toEqual({ levels: [0.8, 0.9, 0.95], defaultLevel: 0.9 });
    expect(resolveLevel({ detail: true }, offered)).toEqual({ ok: true, value: 0.9 });
    expect(resolveLevel({ detail: true, level: 0.8 }, offered)).toEqual({ ok: true, value: 0.8 });
    const bad = resolveLevel({ detail: true, level: 0.85 }, offered);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.failure.errors?.[0]).toMatchObject({ path: "level", received: 0.85 });
    const none = resolveLevel({ detail: true }, intervalLevels({ ...card, intervals: undefined }));
    if (!none.ok) expect(none.failure.errors?.[0]?.path).toBe("detail");
    expect(none.ok).toBe(false);
  });
});

describe("the training range of the card", () => {
  const ranges = featureRanges(card)!;

  it("keeps the training extremes in range and flags values just past them", () => {
    const medInc = card.features.find((f) => f.name === "MedInc")!;
    expect(outOfRangeFeatures(row({ MedInc: medInc.min }), 0, ranges)).toEqual([]);
    expect(outOfRangeFeatures(row({ MedInc: medInc.max }), 0, ranges)).toEqual([]);
    expect(outOfRangeFeatures(row({ MedInc: medInc.max * 1.001 }), 0, ranges)).toEqual(["MedInc"]);
    expect(outOfRangeFeatures(row({ MedInc: 800, Longitude: -100 }), 0, ranges)).toEqual(["MedInc", "Longitude"]);
  });

  it("holds every training extreme of every feature in range", () => {
    for (const f of card.features) {
      for (const v of [f.min, f.max]) expect(outOfRangeFeatures(row({ [f.name]: v }), 0, ranges), f.name).toEqual([]);
    }
  });

  it("counts per feature and per row in one pass", () => {
    const tensor = new Float32Array([...row(), ...row({ MedInc: 800 }), ...row({ MedInc: 900, Population: 1e6 })]);
    const counts = countOutOfRange(tensor, 3, ranges);
    expect(counts.rows).toBe(2);
    expect(counts.perFeature[FEATURES.indexOf("MedInc")]).toBe(2);
    expect(counts.perFeature[FEATURES.indexOf("Population")]).toBe(1);
  });

  it("counts into a reused array from zero, and leaves it alone when every row is in range", () => {
    const into = new Uint32Array(FEATURES.length).fill(7);
    const counts = countOutOfRange(new Float32Array([...row({ MedInc: 800 })]), 1, ranges, into);
    expect(counts.perFeature).toBe(into);
    expect(Array.from(into)).toEqual(FEATURES.map((f) => (f === "MedInc" ? 1 : 0)));
    const none = countOutOfRange(new Float32Array(row()), 1, ranges, into);
    expect(none.rows).toBe(0);
    expect(into[FEATURES.indexOf("MedInc")]).toBe(1);
  });
});
