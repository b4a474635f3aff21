/**
 * Writes the page's map data from the project's own hold-out rows (`npm run gen:map`):
 *   web/data/holdout-points.json  every hold-out block group as [longitude*100, latitude*100, value*100]
 *                                 (integers: the data has two decimals of position; value in $1,000 steps)
 *   web/data/typical-house.json   the median of each feature over the hold-out rows: the form's defaults
 * The rows come from model/data/cal_housing.data at the indices in model/reference/holdout.json, derived as
 * model/train/train.py derives them; the result is checked against the reference's own X and y.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { FEATURES, type FeatureName } from "../shared/input/features";

const root = path.resolve(__dirname, "..");
const out = path.join(root, "web/data");

interface Reference {
  indices: number[];
  X: number[][];
  y: number[];
}

/** One raw line (longitude, latitude, age, rooms, bedrooms, population, households, income, value) as features. */
function derive(line: string): { x: number[]; y: number } {
  const [lon, lat, age, rooms, bedrooms, population, households, income, value] = line.split(",").map(Number);
  if (value === undefined) throw new Error(`short data line: ${line}`);
  const x = [income!, age!, rooms! / households!, bedrooms! / households!, population!, population! / households!];
  return { x: [...x, lat!, lon!], y: value / 100_000 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rounds to a number of significant digits a person would type (3 for the ratios, whole people). */
const tidy = (v: number, digits: number) => Number(v.toPrecision(digits));

function main(): void {
  const ref = JSON.parse(readFileSync(path.join(root, "model/reference/holdout.json"), "utf8")) as Reference;
  const lines = readFileSync(path.join(root, "model/data/cal_housing.data"), "utf8").trim().split("\n");
  const rows = ref.indices.map((i, k) => {
    const line = lines[i];
    if (line === undefined) throw new Error(`hold-out index ${i} is beyond the data's ${lines.length} rows`);
    const row = derive(line);
    // The reference stores float32 values: agree to float32 precision or the indices are not this data's.
    row.x.forEach((v, j) => {
      if (Math.abs(v - ref.X[k]![j]!) > 1e-5 * Math.max(1, Math.abs(v))) {
        throw new Error(`row ${i} feature ${FEATURES[j]}: data ${v} vs reference ${ref.X[k]![j]}`);
      }
    });
    return row;
  });

  const points = rows.flatMap((r) => [Math.round(r.x[7]! * 100), Math.round(r.x[6]! * 100), Math.round(r.y * 100)]);
  const pointsFile = {
    source: "model/data/cal_housing.data rows at model/reference/holdout.json indices (the model's hold-out)",
    encoding: "flat [longitude*100, latitude*100, median house value in $1,000] per block group",
    count: rows.length,
    points,
  };
  writeFileSync(path.join(out, "holdout-points.json"), JSON.stringify(pointsFile) + "\n");

  const digits: Record<FeatureName, number> = {
    MedInc: 3,
    HouseAge: 2,
    AveRooms: 3,
    AveBedrms: 3,
    Population: 4,
    AveOccup: 3,
    Latitude: 4,
    Longitude: 5,
  };
  const typical = Object.fromEntries(FEATURES.map((f, j) => [f, tidy(median(rows.map((r) => r.x[j]!)), digits[f])]));
  writeFileSync(path.join(out, "typical-house.json"), JSON.stringify(typical, null, 2) + "\n");
  process.stdout.write(`wrote ${rows.length} points and the typical house to ${path.relative(root, out)}/\n`);
}

main();
