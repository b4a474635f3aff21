import { describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { parseQueryHouse } from "../../shared/input/query-house";
import { responseOptionsKey } from "../../shared/input/response-options";

const seedQuery = (extra: Record<string, string> = {}) =>
  new URLSearchParams({ ...Object.fromEntries(FEATURES.map((f) => [f, String(SEED_HOUSE[f])])), ...extra });

function errorsOf(q: URLSearchParams | string) {
  const r = parseQueryHouse(typeof q === "string" ? new URLSearchParams(q) : q);
  if (r.ok) throw new Error("expected a failure");
  expect(r.failure.code).toBe("validation");
  return r.failure;
}

describe("GET /predict query grammar", () => {
  it("reads the eight features into one float32 row in feature order", () => {
    const r = parseQueryHouse(seedQuery());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.value.tensor]).toEqual(FEATURES.map((f) => Math.fround(SEED_HOUSE[f])));
    expect(r.value.options).toEqual({ detail: false });
  });

  it("accepts every spelling of JSON's number grammar, in any parameter order", () => {
    const q = new URLSearchParams(seedQuery());
    q.set("MedInc", "8.3252e0");
    q.set("HouseAge", "41.0");
    q.set("Longitude", "-1.2223E2");
    const r = parseQueryHouse(new URLSearchParams([...q].reverse()));
    expect(r.ok && [...r.value.tensor]).toEqual(FEATURES.map((f) => Math.fround(SEED_HOUSE[f])));
  });

  it.each([
    ["0x10", "hex"],
    [" 8", "a leading blank"],
    ["8 ", "a trailing blank"],
    ["+8", "a plus sign"],
    [".5", "a bare leading dot"],
    ["8.", "a bare trailing dot"],
    ["08", "a leading zero"],
    ["Infinity", "Infinity"],
    ["NaN", "NaN"],
    ["1_000", "digit separators"],
    ["８", "non-ASCII digits"],
  ])("refuses %j (%s) and names the parameter", (value) => {
    const f = errorsOf(seedQuery({ MedInc: value }));
    expect(f.errors).toEqual([expect.objectContaining({ path: "MedInc", received: value })]);
    expect(f.errors![0]!.message).toMatch(/JSON/);
    expect(f.detail).toMatch(/^MedInc /);
  });

  it("refuses an empty value and a parameter given without a value", () => {
    expect(errorsOf(seedQuery({ HouseAge: "" })).errors).toEqual([
      { path: "HouseAge", message: "must not be empty", received: "" },
    ]);
    const q = seedQuery()
      .toString()
      .replace(/HouseAge=[^&]*/, "HouseAge");
    expect(errorsOf(q).errors).toEqual([{ path: "HouseAge", message: "must not be empty", received: "" }]);
  });

  it("refuses unknown and repeated parameters by name, even when the repeat agrees", () => {
    const q = seedQuery();
    q.append("medinc", "1");
    q.append("AveRooms", String(SEED_HOUSE.AveRooms));
    q.append("", "3");
    const f = errorsOf(q);
    expect(f.errors).toEqual([
      { path: "medinc", message: "is not a known query parameter", received: "1" },
      { path: "AveRooms", message: "must appear only once", received: String(SEED_HOUSE.AveRooms) },
      { path: "(empty name)", message: "is not a known query parameter", received: "3" },
    ]);
    expect(f.detail).toMatch(/^3 problems found/);
  });

  it("words missing and out-of-range features exactly as POST /predict's zod validation does", () => {
    const q = seedQuery({ MedInc: "-1", Latitude: "91" });
    q.delete("Population");
    expect(errorsOf(q).errors).toEqual([
      { path: "MedInc", message: "must be greater than 0", received: -1 },
      { path: "Population", message: "is required" },
      { path: "Latitude", message: "must be at most 90", received: 91 },
    ]);
    // A number too large for a double reads like the JSON body's 1e400.
    expect(errorsOf(seedQuery({ AveRooms: "1e400" })).errors).toEqual([
      expect.objectContaining({ path: "AveRooms", message: expect.stringMatching(/finite number/) }),
    ]);
  });

  it("lists grammar and rule problems together, each parameter once", () => {
    const q = seedQuery({ MedInc: "abc", HouseAge: "0" });
    expect(errorsOf(q).errors!.map((e) => e.path)).toEqual(["MedInc", "HouseAge"]);
  });

  it("lets a platform parameter (Azure Functions' code) through once when asked to, and only then", () => {
    const q = seedQuery({ code: "function-key" });
    expect(errorsOf(q).errors).toEqual([
      { path: "code", message: "is not a known query parameter", received: "function-key" },
    ]);
    const r = parseQueryHouse(q, new Set(["code"]));
    expect(r.ok && [...r.value.tensor]).toEqual(FEATURES.map((f) => Math.fround(SEED_HOUSE[f])));
    q.append("code", "again");
    expect(parseQueryHouse(q, new Set(["code"])).ok).toBe(false);
  });

  it("bounds the report for a query full of junk", () => {
    const q = seedQuery();
    for (let i = 0; i < 500; i++) q.append(`x${i}`, "1");
    const f = errorsOf(q);
    expect(f.errors).toHaveLength(100);
    expect(f.detail).toMatch(/^500 problems/);
  });
});

describe("response options (detail, level)", () => {
  it("are reserved names, parsed and canonicalised for the ETag", () => {
    const r = parseQueryHouse(seedQuery({ detail: "true", level: "0.90" }));
    expect(r.ok && r.value.options).toEqual({ detail: true, level: 0.9 });
    expect(r.ok && responseOptionsKey(r.value.options)).toBe("detail=true&level=0.9");
    const plain = parseQueryHouse(seedQuery({ detail: "false" }));
    expect(plain.ok && responseOptionsKey(plain.value.options)).toBe(responseOptionsKey({ detail: false }));
  });

  it.each([
    ["detail", "yes", "must be true or false"],
    ["detail", "", "must not be empty"],
    ["level", "1", "greater than 0 and less than 1"],
    ["level", "0", "greater than 0 and less than 1"],
    ["level", "0x1", "greater than 0 and less than 1"],
  ])("refuse %s=%j", (name, value, message) => {
    const f = errorsOf(seedQuery({ [name]: value }));
    expect(f.errors).toEqual([expect.objectContaining({ path: name, message: expect.stringContaining(message) })]);
  });

  it("may not repeat either", () => {
    const q = seedQuery({ detail: "true" });
    q.append("detail", "true");
    expect(errorsOf(q).errors).toEqual([expect.objectContaining({ path: "detail", message: "must appear only once" })]);
  });
});
