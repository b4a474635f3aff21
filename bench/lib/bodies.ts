/**
 * Request bodies for the load runs, built cheaply from pre-serialised fragments so the load
 * generator spends its CPU on sending, not on JSON.stringify.
 *
 * Unique rows: the hold-out rows of model/reference/holdout.json (4,128 rows, distinct on the
 * seven features other than Population), with Population shifted by the cycle number:
 * row n = holdout[n % 4128] with Population + seed + floor(n / 4128). Population is an integer
 * below 2^24 (keep seed + cycle well under 2^24 − 35,682), so every (row, cycle) pair has distinct
 * float32 bits, hence a distinct cache key.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";

const POP = FEATURES.indexOf("Population");

export interface RowSource {
  /** The JSON text of unique row number n. */
  row(n: number): string;
  readonly size: number;
}

/** Loads the hold-out rows (repo root = cwd) and pre-splits each one around Population. */
export function holdoutRows(seed = 0): RowSource {
  const data = JSON.parse(readFileSync(resolve(process.cwd(), "model/reference/holdout.json"), "utf8")) as {
    X: number[][];
  };
  const before: string[] = [];
  const after: string[] = [];
  const pops: number[] = [];
  for (const x of data.X) {
    const parts = FEATURES.map((f, i) => `"${f}":${JSON.stringify(x[i])}`);
    before.push(`{${parts.slice(0, POP).join(",")},"Population":`);
    after.push(`,${parts.slice(POP + 1).join(",")}}`);
    pops.push(x[POP]!);
  }
  const size = before.length;
  return {
    size,
    row(n: number): string {
      const r = n % size;
      const cycle = Math.floor(n / size);
      return before[r]! + (pops[r]! + seed + cycle) + after[r]!;
    },
  };
}

/** `{"houses":[row(start), …, row(start + n - 1)]}` */
export function bulkBody(rows: RowSource, start: number, n: number): string {
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) parts[i] = rows.row(start + i);
  return `{"houses":[${parts.join(",")}]}`;
}

/** The seed labs' example house: the body of the all-hits workload and of the cold-start probe. */
export const SEED_BODY = JSON.stringify(SEED_HOUSE);
