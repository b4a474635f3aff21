import { z } from "zod";
import { FEATURES, WIDTH } from "./features";
import { HouseSchema } from "./schemas";

interface Bound {
  lo: number;
  loInclusive: boolean;
  hi: number;
  hiInclusive: boolean;
}

/**
 * Each feature's bounds, read from HouseSchema's JSON Schema, so zod stays the one source of the rules.
 * Fails at load if the schema ever gains a constraint this fast path does not understand.
 */
function boundsFromSchema(): Bound[] {
  const json = z.toJSONSchema(HouseSchema) as {
    $defs?: { House?: { properties?: Record<string, Record<string, unknown>>; additionalProperties?: unknown } };
  };
  const house = json.$defs?.House;
  if (!house?.properties || house.additionalProperties !== false) throw new Error("HouseSchema is not a strict object");
  const known = new Set(["type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "description"]);
  return FEATURES.map((f) => {
    const p = house.properties![f];
    if (!p || p.type !== "number") throw new Error(`HouseSchema.${f} is not a number`);
    for (const k of Object.keys(p)) if (!known.has(k)) throw new Error(`HouseSchema.${f} has unsupported rule ${k}`);
    const num = (v: unknown, d: number) => (typeof v === "number" ? v : d);
    return {
      lo: num(p.exclusiveMinimum ?? p.minimum, -Infinity),
      loInclusive: p.exclusiveMinimum === undefined,
      hi: num(p.exclusiveMaximum ?? p.maximum, Infinity),
      hiInclusive: p.exclusiveMaximum === undefined,
    };
  });
}

const BOUNDS = boundsFromSchema();

/** Whether `v` satisfies HouseSchema's rule for feature number `c` (FEATURES order): finite and within bounds. */
export function featureOk(c: number, v: number): boolean {
  const b = BOUNDS[c];
  if (!b || !Number.isFinite(v)) return false;
  if (b.loInclusive ? v < b.lo : v <= b.lo) return false;
  return b.hiInclusive ? v <= b.hi : v < b.hi;
}

/**
 * The hot path of validation: checks a row against HouseSchema's rules and writes it straight into the
 * model's float32 tensor, with no allocation. Returns false on any violation; the caller then asks zod
 * for the full error report, so the fast path only ever decides "valid", never what the error says.
 */
export function packHouse(row: unknown, out: Float32Array, rowIndex: number): boolean {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return false;
  let keys = 0;
  for (const _ in row) keys++;
  if (keys !== WIDTH) return false;
  const base = rowIndex * WIDTH;
  for (let c = 0; c < WIDTH; c++) {
    const v = (row as Record<string, unknown>)[FEATURES[c]!];
    if (typeof v !== "number" || !featureOk(c, v) || !Object.hasOwn(row, FEATURES[c]!)) return false;
    out[base + c] = v;
  }
  return true;
}

/** A whole /bulk_predict body on the fast path: `{"houses": [...]}` with every row valid, or undefined. */
export function packBulk(body: unknown): { tensor: Float32Array; rows: number } | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  let keys = 0;
  for (const _ in body) keys++;
  const houses = (body as { houses?: unknown }).houses;
  if (keys !== 1 || !Array.isArray(houses) || houses.length === 0 || !Object.hasOwn(body, "houses")) return undefined;
  const tensor = new Float32Array(houses.length * WIDTH);
  for (let i = 0; i < houses.length; i++) if (!packHouse(houses[i], tensor, i)) return undefined;
  return { tensor, rows: houses.length };
}
