import { FEATURES, WIDTH, type FeatureName } from "./features";

/**
 * Each feature's training range from the model card, as float32 bounds: the model reads float32, and rounding
 * is monotonic, so every training value x (min ≤ x ≤ max) still satisfies fround(min) ≤ fround(x) ≤ fround(max).
 */
export interface FeatureRanges {
  min: Float32Array;
  max: Float32Array;
}

const rangesByCard = new WeakMap<object, FeatureRanges | null>();

/** The card's ranges (computed once per card); undefined when the card lacks them. */
export function featureRanges(card: Record<string, unknown>): FeatureRanges | undefined {
  let ranges = rangesByCard.get(card);
  if (ranges === undefined) {
    ranges = readRanges(card) ?? null;
    rangesByCard.set(card, ranges);
  }
  return ranges ?? undefined;
}

function readRanges(card: Record<string, unknown>): FeatureRanges | undefined {
  const features = card.features as { name?: unknown; min?: unknown; max?: unknown }[] | undefined;
  if (!Array.isArray(features)) return undefined;
  const min = new Float32Array(WIDTH);
  const max = new Float32Array(WIDTH);
  for (let c = 0; c < WIDTH; c++) {
    const f = features.find((x) => x.name === FEATURES[c]);
    if (typeof f?.min !== "number" || typeof f.max !== "number") return undefined;
    min[c] = f.min;
    max[c] = f.max;
  }
  return { min, max };
}

/** Rows outside the training range, counted per feature and overall in one pass over the tensor (no allocation per row). */
export interface RangeCounts {
  perFeature: Uint32Array;
  rows: number;
}

export function countOutOfRange(tensor: Float32Array, rows: number, r: FeatureRanges): RangeCounts {
  const perFeature = new Uint32Array(WIDTH);
  let outRows = 0;
  for (let i = 0, at = 0; i < rows; i++, at += WIDTH) {
    let out = false;
    for (let c = 0; c < WIDTH; c++) {
      const v = tensor[at + c]!;
      if (v < r.min[c]! || v > r.max[c]!) {
        perFeature[c]!++;
        out = true;
      }
    }
    if (out) outRows++;
  }
  return { perFeature, rows: outRows };
}

/** The names of row `i`'s features outside the training range, in FEATURES order (empty when none). */
export function outOfRangeFeatures(tensor: Float32Array, i: number, r: FeatureRanges): FeatureName[] {
  const names: FeatureName[] = [];
  for (let c = 0, at = i * WIDTH; c < WIDTH; c++) {
    const v = tensor[at + c]!;
    if (v < r.min[c]! || v > r.max[c]!) names.push(FEATURES[c]!);
  }
  return names;
}
