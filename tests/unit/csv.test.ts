import { describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { parseCsvRecords, parseHouses, parseNumber, toCsv } from "../../web/csv";

const HEADER = FEATURES.join(",");
const ROW = "8.3252,41,6.98412698,1.02380952,322,2.55555556,37.88,-122.23";

describe("the page's CSV reading", () => {
  it("reads quoted fields with commas, doubled quotes and line breaks, and numbers records by their first line", () => {
    const { records, problem } = parseCsvRecords('a,b\r\n"x, ""y""","two\nlines"\n3,4\n');
    expect(problem).toBeUndefined();
    expect(records).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ['x, "y"', "two\nlines"] },
      { line: 4, fields: ["3", "4"] },
    ]);
  });

  it("reports an unclosed quote on the line where its field starts", () => {
    expect(parseCsvRecords('a\n"open\nstill open').problem).toEqual({
      line: 2,
      message: "a quoted field is never closed",
    });
  });

  it("takes the features in any order, ignores a byte-order mark and keeps other columns", () => {
    const text = `\ufeffid,${[...FEATURES].reverse().join(",")}\n7,${ROW.split(",").reverse().join(",")}\n`;
    const parsed = parseHouses(text, FEATURES);
    expect(parsed.problems).toEqual([]);
    expect(parsed.rows).toHaveLength(1);
    expect(parsed.rows[0]!.house).toEqual(SEED_HOUSE);
    expect(toCsv(parsed.header, parsed.rows, [4.526])).toBe(
      `id,${[...FEATURES].reverse().join(",")},house_value\r\n7,${ROW.split(",").reverse().join(",")},4.526\r\n`,
    );
  });

  it("reports every bad row with its line and field, and drops none silently", () => {
    const text = [
      HEADER,
      ROW,
      ROW.replace("8.3252", "abc"),
      "",
      ROW.replace("41,", ""),
      ROW.replace("322", "0x10"),
      ROW,
      "",
    ].join("\n");
    const parsed = parseHouses(text, FEATURES);
    expect(parsed.rows.map((r) => r.line)).toEqual([2, 7]);
    expect(parsed.problems).toEqual([
      { line: 3, field: "MedInc", message: '"abc" is not a number' },
      { line: 4, message: "empty row" },
      { line: 5, message: "has 7 fields; the header has 8" },
      { line: 6, field: "Population", message: '"0x10" is not a number' },
    ]);
  });

  it("names the missing columns of a header", () => {
    const parsed = parseHouses("MedInc,HouseAge\n1,2\n", FEATURES);
    expect(parsed.problems).toEqual([
      {
        line: 1,
        message: `the header lacks AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude (needs ${FEATURES.join(", ")})`,
      },
    ]);
  });

  it("accepts JSON's number grammar only, as the API does", () => {
    expect(parseNumber(" -1.5e3 ")).toEqual({ ok: true, value: -1500 });
    for (const bad of ["", "0x10", "Infinity", "1,5", ".5", "+1", "1e999"]) expect(parseNumber(bad).ok).toBe(false);
  });

  it("quotes output fields that need it", () => {
    const out = toCsv(["name", ...FEATURES], [{ fields: ['a "b", c', ...ROW.split(",")] }], [1.5]);
    expect(out.split("\r\n")[1]).toBe(`"a ""b"", c",${ROW},1.5`);
  });
});
