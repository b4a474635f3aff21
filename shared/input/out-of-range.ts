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

/** The answer when every row is in range (nearly every request): shared, so its counts must only be read. */
const ALL_IN_RANGE: RangeCounts = Object.freeze({ perFeature: new Uint32Array(WIDTH), rows: 0 });

/**
 * `into`, when given, receives the per-feature counts instead of a new array (zeroed first). Read `perFeature` of the
 * answer, never `into` itself: when every row is in range, `into` is left as it was.
 */
export function countOutOfRange(tensor: Float32Array, rows: number, r: FeatureRanges, into?: Uint32Array): RangeCounts {
  // Counts are allocated (or `into` zeroed) on the first value out of range, not per request.
  let perFeature: Uint32Array | undefined;
  let outRows = 0;
  for (let i = 0, at = 0; i < rows; i++, at += WIDTH) {
    let out = false;
    for (let c = 0; c < WIDTH; c++) {
      const v = tensor[at + c]!;
      if (v < r.min[c]! || v > r.max[c]!) {
        (perFeature ??= into ? into.fill(0) : new Uint32Array(WIDTH))[c]!++;
        out = true;
      }
    }
    if (out) outRows++;
  }
  return perFeature ? { perFeature, rows: outRows } : ALL_IN_RANGE;
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
