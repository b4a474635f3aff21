import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { packBulk, packHouse } from "../shared/input/house-object-packer";
import { scanHouse, scanHouses } from "../shared/input/house-bytes-scanner";
import { FEATURES, SEED_HOUSE } from "../shared/input/features";

const W = FEATURES.length;
const encoder = new TextEncoder();
const bytesOf = (text: string) => encoder.encode(text);

// The slow path the scanner must agree with: strict UTF-8 decode, JSON.parse, then packHouse.
function slowHouse<T extends Float32Array | Float64Array>(bytes: Uint8Array, out: T, rowIndex: number): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return false;
  }
  return packHouse(parsed, out as unknown as Float32Array, rowIndex);
}

function slowBulk(bytes: Uint8Array): { tensor: Float32Array; rows: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  return packBulk(parsed);
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

// Doubles compared exactly, -0 apart from 0.
const sameDoubles = (a: Float64Array, b: Float64Array) => a.every((v, i) => Object.is(v, b[i]));

// Runs scanHouse and the slow path on one body into float32 tensors, and again into float64 arrays: both only
// store with `out[i] = v`, so a Float64Array shows the parsed doubles before float32 rounding hides a last-bit error.
function both(bytes: Uint8Array, rowIndex = 0) {
  const fast32 = new Float32Array(4 * W);
  const slow32 = new Float32Array(4 * W);
  const fast64 = new Float64Array(4 * W);
  const slow64 = new Float64Array(4 * W);
  const fast = scanHouse(bytes, fast32, rowIndex);
  expect(scanHouse(bytes, fast64 as unknown as Float32Array, rowIndex)).toBe(fast);
  const slow = slowHouse(bytes, slow32, rowIndex);
  expect(slowHouse(bytes, slow64, rowIndex)).toBe(slow);
  return { fast, slow, fast32, slow32, fast64, slow64 };
}

const digits = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789"), minLength, maxLength });

// Any text in the RFC 8259 number grammar, from short to far more digits than a double holds.
const grammarNumber = fc
  .tuple(
    fc.boolean(),
    fc.oneof(
      fc.constant("0"),
      fc.tuple(fc.constantFrom(..."123456789"), digits(0, 24)).map(([a, b]) => a + b),
    ),
    fc.option(digits(1, 25), { nil: undefined }),
    fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), digits(1, 4)), { nil: undefined }),
  )
  .map(([neg, int, frac, exp]) => (neg ? "-" : "") + int + (frac ? "." + frac : "") + (exp ? exp.join("") : ""));

// Numbers of every shape and size, most of them outside some feature's bounds.
const wildNumber = fc.oneof(
  fc.double().map((d) => JSON.stringify(d)),
  fc.double({ min: -200, max: 200, noNaN: true }).map((d) => JSON.stringify(d)),
  fc.integer().map(String),
  grammarNumber,
  fc.constantFrom(
    "1e2",
    "1.50E-3",
    "-0",
    "0",
    "0e0",
    "-0.000e-5",
    "3.14159265358979323846",
    "1e-30",
    "-1E+2",
    "1E400",
    "-1e-400",
    "4.9e-324",
    "2.2250738585072014e-308",
    "1.7976931348623157e308",
    "9007199254740993",
    "9007199254740979e-15",
    "0.9007199254740989",
    "123456789012345e-22",
    "123456789012345e-23",
    "999999999999999e22",
    "1e22",
    "1e23",
    "3e23",
    "100000000000000000000000",
    "90.00000000000000710542735760100185871124267578125",
    "90.000000000000007105427357601001858711242675781251",
    "180.00000000000001",
    "-180.0000000000000000001",
  ),
);

// Grammar numbers below 100 in magnitude, so most fit every feature: one integer digit, exponent at most 1.
const smallNumber = (signed: boolean) =>
  fc
    .tuple(
      signed ? fc.boolean() : fc.constant(false),
      fc.constantFrom(..."0123456789"),
      fc.option(digits(1, 25), { nil: undefined }),
      fc.option(
        fc.oneof(
          fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+"), fc.constantFrom("0", "1", "00", "01")),
          fc.tuple(fc.constantFrom("e", "E"), fc.constant("-"), digits(1, 3)),
        ),
        { nil: undefined },
      ),
    )
    .map(([neg, int, frac, exp]) => (neg ? "-" : "") + int + (frac ? "." + frac : "") + (exp ? exp.join("") : ""));

// Numbers that usually pass feature `column`'s bounds, in the formats clients and hand-written bodies use.
const fittingNumber = (column: number) =>
  column < 6
    ? fc.oneof(
        fc.double({ min: Number.MIN_VALUE, max: 1e6, noNaN: true }).map((d) => JSON.stringify(d)),
        fc.integer({ min: 1, max: 1e6 }).map(String),
        smallNumber(false),
        fc.constantFrom("1e2", "1.50E-3", "3.14159265358979323846", "1e-30", "4.9e-324", "1e22", "1e23", "3e23"),
      )
    : fc.oneof(
        fc.double({ min: -90, max: 90, noNaN: true }).map((d) => JSON.stringify(d)),
        fc.integer({ min: -90, max: 90 }).map(String),
        smallNumber(true),
        fc.constantFrom("-0", "0", "-0.000e-5", "-89.99999999999999999999", "-1.50E-3", "-1e-30", "-4.9e-324"),
      );

const invalidNumber = fc.constantFrom(
  '"1"',
  "true",
  "null",
  "+1",
  "01",
  "-01",
  ".5",
  "1.",
  "1.e5",
  "1e",
  "1e+",
  "-",
  "--1",
  "- 1",
  "1 2",
  "0x10",
  "NaN",
  "Infinity",
  "-Infinity",
  "{}",
  '{"a":1}',
  "[1]",
  "١",
  "1\u00a0",
);

// JSON whitespace, usually none.
const space = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\r"), minLength: 1, maxLength: 3 }),
);

// A /predict body near a valid house. `slowOnly` marks the changes only the slow path handles (duplicate or
// escaped keys, a BOM): there the scanner may decline a body JSON.parse accepts; everywhere else it must agree.
const houseBody = fc
  .record({
    order: fc.shuffledSubarray([...FEATURES], { minLength: W, maxLength: W }),
    // values[c] is for FEATURES[c], usually in bounds, so that about half the bodies are valid.
    values: fc.tuple(
      ...FEATURES.map((_, c) =>
        fc.oneof({ weight: 30, arbitrary: fittingNumber(c) }, { weight: 2, arbitrary: wildNumber }, invalidNumber),
      ),
    ),
    spaces: fc.option(fc.array(space, { minLength: 48, maxLength: 48 }), { nil: undefined }),
    change: fc.oneof(
      { weight: 10, arbitrary: fc.constant("none") },
      fc.constantFrom(
        "missing",
        "extra",
        "duplicate",
        "escaped",
        "non-ascii key",
        "bom",
        "trailing",
        "trailing comma",
        "array",
      ),
    ),
    pick: fc.nat(W - 1),
    extra: fc.constantFrom('"extra"', '"medinc"', '"__proto__"', '"MedInc "', '"houses"'),
    trailing: fc.constantFrom("x", ",", "}", "{}", "\u00a0", "\0", "0"),
  })
  .map(({ order, values, spaces, change, pick, extra, trailing }) => {
    let slot = 0;
    const ws = () => (spaces ? spaces[slot++ % spaces.length]! : "");
    const entries = order.map((f) => [JSON.stringify(f), values[FEATURES.indexOf(f)]!]);
    const picked = entries[pick]!;
    if (change === "missing") entries.splice(pick, 1);
    if (change === "extra") entries.splice(pick, 0, [extra, "1"]);
    if (change === "duplicate") entries.push([picked[0]!, values[FEATURES.indexOf(order[pick]!)]!]);
    if (change === "escaped") picked[0] = picked[0]!.replace(/[a-z]/, (ch) => `\\u00${ch.charCodeAt(0).toString(16)}`);
    if (change === "non-ascii key") picked[0] = picked[0]!.replace(/[a-z]/, "é");
    const members = entries.map(([k, v]) => ws() + k + ws() + ":" + ws() + v + ws()).join(",");
    let text = ws() + "{" + members + (change === "trailing comma" ? "," : "") + "}" + ws();
    if (change === "bom") text = "\uFEFF" + text;
    if (change === "trailing") text += trailing;
    if (change === "array") text = "[" + text + "]";
    return { text, slowOnly: change === "duplicate" || change === "escaped" || change === "bom" };
  });

// A valid house as clients usually send it: JSON.stringify of in-range doubles, any key order.
const ordinaryHouse = fc
  .tuple(
    fc.shuffledSubarray([...FEATURES], { minLength: W, maxLength: W }),
    fc.array(fc.double({ min: Number.MIN_VALUE, max: 1e6, noNaN: true }), { minLength: 6, maxLength: 6 }),
    fc.double({ min: -90, max: 90, noNaN: true }),
    fc.double({ min: -180, max: 180, noNaN: true }),
  )
  .map(([order, positive, lat, lon]) => {
    const values = [...positive, lat, lon];
    return Object.fromEntries(order.map((f) => [f, values[FEATURES.indexOf(f)]!]));
  });

describe("scanHouse, the byte-level /predict fast path", () => {
  it("returns true only when the slow path accepts the body, with bitwise-equal values, and declines only what the slow path alone handles", () => {
    let accepted = 0;
    fc.assert(
      fc.property(houseBody, fc.nat(3), ({ text, slowOnly }, rowIndex) => {
        const r = both(bytesOf(text), rowIndex);
        if (!slowOnly) expect(r.fast).toBe(r.slow);
        if (r.fast) {
          accepted++;
          expect(r.slow).toBe(true);
          expect(bits(r.fast32)).toEqual(bits(r.slow32));
          expect(sameDoubles(r.fast64, r.slow64)).toBe(true);
        }
      }),
      { numRuns: 500, seed: 11 },
    );
    // Enough valid bodies that the equality checks above are really exercised.
    expect(accepted).toBeGreaterThan(150);
  });

  it("accepts every JSON.stringify'd valid house, in any key order and indentation, with the slow path's values", () => {
    fc.assert(
      fc.property(ordinaryHouse, fc.constantFrom(undefined, 2, "\t"), (house, indent) => {
        const r = both(bytesOf(JSON.stringify(house, null, indent)));
        expect(r.slow).toBe(true);
        expect(r.fast).toBe(true);
        expect(bits(r.fast32)).toEqual(bits(r.slow32));
        expect(sameDoubles(r.fast64, r.slow64)).toBe(true);
      }),
      { numRuns: 500, seed: 12 },
    );
  });

  it("packs the seed house to the same floats as the slow path", () => {
    const r = both(bytesOf(JSON.stringify(SEED_HOUSE)), 2);
    expect(r.fast).toBe(true);
    expect(bits(r.fast32)).toEqual(bits(r.slow32));
    expect(Array.from(r.fast32.subarray(2 * W, 3 * W))).toEqual(
      Array.from(Float32Array.from(FEATURES.map((f) => SEED_HOUSE[f]))),
    );
  });

  it("declines a body with a duplicate key, which JSON.parse would resolve last-one-wins", () => {
    const text = JSON.stringify(SEED_HOUSE).replace("{", '{"MedInc":1,');
    const r = both(bytesOf(text));
    expect(r.slow).toBe(true);
    expect(r.fast).toBe(false);
  });

  it("parses 17+ significant digits, extreme exponents and -0 exactly as JSON.parse does", () => {
    const cases: [number, string][] = [
      [0, "8.32520000000000000000000001"],
      [0, "0.1000000000000000055511151231257827"],
      [1, "1e-30"],
      [1, "4.9e-324"],
      [2, "2.2250738585072011e-308"],
      [3, "123456789012345678901234567890e-29"],
      [4, "1.7976931348623157e308"],
      [5, "9007199254740993"],
      [5, "6.984126984126984"],
      [5, "9.007199254740979"],
      [5, "9.007199254740989"],
      [6, "89.99999999999999999999"],
      [6, "90.00000000000000710542735760100185871124267578125"],
      [7, "-179.99999999999999999999999"],
      [6, "-0"],
      [7, "-0.0e-5"],
    ];
    for (const [column, number] of cases) {
      const r = both(
        bytesOf(JSON.stringify({ ...SEED_HOUSE, [FEATURES[column]!]: 0 }).replace(/(?<=:)0(?=[,}])/, number)),
      );
      expect(r.slow, number).toBe(true);
      expect(r.fast, number).toBe(true);
      expect(Object.is(r.fast64[column], r.slow64[column]), number).toBe(true);
      expect(bits(r.fast32), number).toEqual(bits(r.slow32));
    }
    // Just past a bound in the last bit of a double: only an exactly rounded parse rejects it like JSON.parse does.
    const past = both(
      bytesOf(
        JSON.stringify({ ...SEED_HOUSE, Latitude: 0 }).replace(
          ":0,",
          ":90.0000000000000071054273576010018587112426757813,",
        ),
      ),
    );
    expect(past.slow).toBe(false);
    expect(past.fast).toBe(false);
  });

  it("declines malformed structure and numbers that JSON.parse rejects, with or without whitespace after them", () => {
    const seed = JSON.stringify(SEED_HOUSE);
    const bodies = [
      "",
      "  ",
      "{",
      "{}",
      seed.slice(0, -1),
      seed + seed,
      seed.replace("{", "["),
      seed.replace(",", " x "),
      seed.replace(",", ";"),
      seed.replace(",", ",,"),
      seed.replace("}", ",}"),
      seed.replace('"MedInc":', '"MedInc :'),
      seed.replace('"MedInc":', '"MedInc" '),
      seed.replace('"MedInc":', '"MedInc";'),
      seed.replace('"MedInc":', '"MedInc"::'),
      seed.replace('"MedInc"', "'MedInc'"),
      seed.replace('"MedInc"', "MedInc"),
      ...["1.", "1e", "1e+", "-", "01", "-01", "1.e5", "+1", ".5", "1 2", "- 1", "0x1", "1_0"].flatMap((n) => [
        seed.replace(":41,", `:${n},`),
        seed.replace(":41,", `:${n} ,`),
        seed.replace(":41,", `: ${n}\n,`),
      ]),
      // A 100,001-digit fraction and a 7-digit exponent: 1e900009, so Infinity, not the 1 a truncated exponent gives.
      seed.replace(":41,", `:0.${"0".repeat(100000)}1e1000010,`),
    ];
    for (const text of bodies) {
      const r = both(bytesOf(text));
      expect(r.slow, text.slice(0, 120)).toBe(false);
      expect(r.fast, text.slice(0, 120)).toBe(false);
    }
    const long = both(bytesOf(seed.replace(":41,", `:0.${"0".repeat(100000)}1e100010,`)));
    expect(long.slow).toBe(true);
    expect(long.fast).toBe(true);
    expect(long.fast64[1]).toBe(1e9);
  });
});

// A /bulk_predict body: mostly valid houses, sometimes one near-valid house, with envelope changes.
const bulkBody = fc
  .record({
    houses: fc.array(
      fc.oneof({ weight: 40, arbitrary: fc.tuple(ordinaryHouse, fc.constantFrom(undefined, 1)) }, houseBody),
      { minLength: 1, maxLength: 50 },
    ),
    change: fc.oneof(
      { weight: 8, arbitrary: fc.constant("none") },
      fc.constantFrom("empty", "extra key", "other key", "duplicate key", "escaped key", "bom", "trailing", "object"),
    ),
    spaces: fc.array(space, { minLength: 8, maxLength: 8 }),
    maxRows: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
  })
  .map(({ houses, change, spaces, maxRows }) => {
    let slowOnly = change === "duplicate key" || change === "escaped key" || change === "bom";
    const items = houses.map((h) => {
      if (Array.isArray(h)) return JSON.stringify(h[0], null, h[1]);
      slowOnly ||= h.slowOnly;
      return h.text;
    });
    const [s0, s1, s2, s3, s4, s5, s6, s7] = spaces as [string, string, string, string, string, string, string, string];
    const key = change === "other key" ? '"House"' : change === "escaped key" ? '"house\\u0073"' : '"houses"';
    const list = change === "empty" ? "" : change === "object" ? items[0]! : items.join(s4 + "," + s5);
    const array = change === "object" ? list : "[" + s3 + list + s6 + "]";
    const before = change === "duplicate key" ? '"houses":[],' : change === "extra key" ? '"x":1,' : "";
    let text = s0 + "{" + s1 + before + key + s2 + ":" + array + s7 + "}" + s0;
    if (change === "bom") text = "\uFEFF" + text;
    if (change === "trailing") text += "]";
    return { text, slowOnly, maxRows };
  });

describe("scanHouses, the byte-level /bulk_predict fast path", () => {
  it("returns a tensor only when the slow path (with its row limit) accepts the body, bitwise equal, and declines only what the slow path alone handles", () => {
    let accepted = 0;
    fc.assert(
      fc.property(bulkBody, ({ text, slowOnly, maxRows }) => {
        const bytes = bytesOf(text);
        const fast = maxRows === undefined ? scanHouses(bytes) : scanHouses(bytes, maxRows);
        const slow = slowBulk(bytes);
        const expected = slow && slow.rows <= (maxRows ?? Infinity) ? slow : undefined;
        if (!slowOnly) expect(fast !== undefined).toBe(expected !== undefined);
        if (fast) {
          accepted++;
          expect(expected).toBeDefined();
          expect(fast.rows).toBe(expected!.rows);
          expect(fast.tensor.length).toBe(fast.rows * W);
          expect(fast.tensor.byteOffset).toBe(0);
          expect(bits(fast.tensor)).toEqual(bits(expected!.tensor));
        }
      }),
      { numRuns: 500, seed: 13 },
    );
    expect(accepted).toBeGreaterThan(150);
  });

  it("declines an empty houses array", () => {
    expect(scanHouses(bytesOf('{"houses":[]}'))).toBeUndefined();
    expect(scanHouses(bytesOf('{ "houses" : [ ] }'))).toBeUndefined();
  });

  it("declines more houses than maxRows, and accepts exactly maxRows", () => {
    const body = bytesOf(JSON.stringify({ houses: [SEED_HOUSE, SEED_HOUSE, { ...SEED_HOUSE, MedInc: 3.5 }] }));
    expect(scanHouses(body, 2)).toBeUndefined();
    const packed = scanHouses(body, 3);
    expect(packed?.rows).toBe(3);
    expect(bits(packed!.tensor)).toEqual(bits(slowBulk(body)!.tensor));
  });

  it("declines malformed envelopes that JSON.parse or packBulk reject", () => {
    const seed = JSON.stringify(SEED_HOUSE);
    const bodies = [
      `{"houses":[${seed}}}`,
      `{"houses":[${seed}]]}`,
      `{"houses":[${seed},]}`,
      `{"houses":[,${seed}]}`,
      `{"houses":[${seed} ${seed}]}`,
      `{"houses":[${seed};${seed}]}`,
      `{"houses":${seed}}`,
      `{"houses":[${seed}]`,
      `{"houses" [${seed}]}`,
      `{"houses";[${seed}]}`,
      `{"houses":x${seed}]}`,
      `{"houses":[${seed}]}x`,
      `{"housesX":[${seed}]}`,
      `{xhouses":[${seed}]}`,
      `{"house":[${seed}]}`,
      `{"houses":[${seed}],}`,
      `["houses",[${seed}]]`,
      `["houses":[${seed}]}`,
      `{"houses":[[${seed}]]}`,
      `{"houses":[${seed},{}]}`,
      `{"houses":[${seed}],"houses2":1}`,
    ];
    for (const text of bodies) {
      expect(slowBulk(bytesOf(text)), text).toBeUndefined();
      expect(scanHouses(bytesOf(text)), text).toBeUndefined();
    }
  });

  it("returns an exact-length tensor at byteOffset 0 however much whitespace the body carries", () => {
    const body = bytesOf(JSON.stringify({ houses: [SEED_HOUSE, SEED_HOUSE] }, null, 8));
    const packed = scanHouses(body);
    expect(packed?.rows).toBe(2);
    expect(packed!.tensor.length).toBe(2 * W);
    expect(packed!.tensor.byteOffset).toBe(0);
    expect(packed!.tensor.buffer.byteLength).toBe(2 * W * 4);
  });
});
