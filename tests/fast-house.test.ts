import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { packBulk, packHouse } from "../shared/input/house-object-packer";
import { FEATURES, SEED_HOUSE } from "../shared/input/features";
import { toTensor } from "../shared/inference/predictor";
import { BulkRequestSchema, HouseSchema } from "../shared/input/schemas";

const W = FEATURES.length;
const value = fc.oneof(
  fc.double(),
  fc.double({ min: -200, max: 200 }),
  fc.constantFrom(0, -0, -90, 90, -180, 180, 90.0000001, -180.1, 1e-320, Number.MAX_VALUE, Infinity, NaN),
  fc.integer(),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
);
/** The seed house with up to three fields changed, removed or added. */
const nearHouse = fc
  .tuple(
    fc.dictionary(fc.constantFrom(...FEATURES), value, { maxKeys: 3 }),
    fc.subarray([...FEATURES], { maxLength: 2 }),
    fc.dictionary(fc.constantFrom("extra", "medinc", "__proto__", "constructor", "MedInc "), value, { maxKeys: 1 }),
  )
  .map(([changed, removed, extra]) => {
    const h: Record<string, unknown> = { ...SEED_HOUSE, ...changed, ...extra };
    for (const f of removed) delete h[f];
    return h;
  });
const anything = fc.oneof(nearHouse, fc.jsonValue(), fc.constant(SEED_HOUSE));

describe("the validation fast path", () => {
  it("accepts exactly what HouseSchema accepts, and packs the same float32 values", () => {
    fc.assert(
      fc.property(anything, (row) => {
        // Through JSON, as a request body arrives.
        const parsed = JSON.parse(JSON.stringify(row) ?? "null") as unknown;
        const out = new Float32Array(W);
        const fast = packHouse(parsed, out, 0);
        const zod = HouseSchema.safeParse(parsed);
        expect(fast).toBe(zod.success);
        if (zod.success) expect(Array.from(out)).toEqual(Array.from(toTensor([zod.data])));
      }),
      { numRuns: 5000, seed: 42 },
    );
  });

  it("accepts exactly the bulk bodies BulkRequestSchema accepts", () => {
    const body = fc.oneof(
      fc.record({ houses: fc.array(anything, { maxLength: 4 }) }),
      fc.record({ houses: fc.array(fc.constant(SEED_HOUSE), { minLength: 1, maxLength: 3 }), extra: fc.integer() }),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(body, (b) => {
        const parsed = JSON.parse(JSON.stringify(b) ?? "null") as unknown;
        const fast = packBulk(parsed);
        const zod = BulkRequestSchema.safeParse(parsed);
        expect(fast !== undefined).toBe(zod.success);
        if (zod.success && fast) expect(Array.from(fast.tensor)).toEqual(Array.from(toTensor(zod.data.houses)));
      }),
      { numRuns: 3000, seed: 7 },
    );
  });

  it("rejects the schema's edge values the same way", () => {
    const out = new Float32Array(W);
    expect(packHouse({ ...SEED_HOUSE, MedInc: 0 }, out, 0)).toBe(false);
    expect(packHouse({ ...SEED_HOUSE, Latitude: 90 }, out, 0)).toBe(true);
    expect(packHouse({ ...SEED_HOUSE, Latitude: 90.000001 }, out, 0)).toBe(false);
    expect(packHouse({ ...SEED_HOUSE, Longitude: -180 }, out, 0)).toBe(true);
    expect(
      packHouse(
        JSON.parse(
          '{"MedInc":1,"HouseAge":1,"AveRooms":1,"AveBedrms":1,"Population":1,"AveOccup":1,"Latitude":1,"__proto__":1}',
        ),
        out,
        0,
      ),
    ).toBe(false);
  });
});
