/**
 * The model's eight input features, in the order of the ONNX input tensor's columns.
 * The single source of truth: the request schema, the cache key and the model card test all use it.
 */
export const FEATURES = [
  "MedInc",
  "HouseAge",
  "AveRooms",
  "AveBedrms",
  "Population",
  "AveOccup",
  "Latitude",
  "Longitude",
] as const;

export type FeatureName = (typeof FEATURES)[number];

/** Columns of the model's input tensor: one float32 per feature. */
export const WIDTH = FEATURES.length;

/** A feature's name → its column in the tensor. */
export const FEATURE_INDEX: ReadonlyMap<string, number> = new Map(FEATURES.map((f, i) => [f, i]));

/** The seed labs' example house (row 1 of the California Housing data). */
export const SEED_HOUSE: Record<FeatureName, number> = {
  MedInc: 8.3252,
  HouseAge: 41,
  AveRooms: 6.98412698,
  AveBedrms: 1.02380952,
  Population: 322,
  AveOccup: 2.55555556,
  Latitude: 37.88,
  Longitude: -122.23,
};
