import { z } from "zod";
import { FEATURES, SEED_HOUSE, type FeatureName } from "./features";

const positive = (description: string) => z.number().positive().meta({ description });

/** Constraints of each feature; one entry per name in FEATURES, in the same order. */
const featureSchemas: Record<FeatureName, z.ZodNumber> = {
  MedInc: positive("Median income in the block group, in tens of thousands of USD (> 0)"),
  HouseAge: positive("Median house age in the block group, in years (> 0)"),
  AveRooms: positive("Average number of rooms per household (> 0)"),
  AveBedrms: positive("Average number of bedrooms per household (> 0)"),
  Population: positive("Block group population (> 0)"),
  AveOccup: positive("Average number of household members (> 0)"),
  Latitude: z.number().min(-90).max(90).meta({ description: "Latitude in degrees, in [-90, 90]" }),
  Longitude: z.number().min(-180).max(180).meta({ description: "Longitude in degrees, in [-180, 180]" }),
};

/** One house: exactly the eight features, each a finite number; unknown keys are rejected. */
export const HouseSchema = z
  .strictObject(Object.fromEntries(FEATURES.map((f) => [f, featureSchemas[f]])) as typeof featureSchemas)
  .meta({ id: "House", example: SEED_HOUSE });
export type House = z.infer<typeof HouseSchema>;

export const BulkRequestSchema = z
  .strictObject({
    houses: z.array(HouseSchema).min(1),
  })
  .meta({ id: "BulkRequest", example: { houses: [SEED_HOUSE, { ...SEED_HOUSE, MedInc: 3.5 }] } });
export type BulkRequest = z.infer<typeof BulkRequestSchema>;

export const PredictResponseSchema = z
  .object({ house_value: z.number().meta({ description: "Predicted median house value, in units of $100,000" }) })
  .meta({ id: "PredictResponse", example: { house_value: 4.526 } });

export const BulkResponseSchema = z
  .object({ house_values: z.array(z.number()).meta({ description: "One value per input house, in input order" }) })
  .meta({ id: "BulkResponse", example: { house_values: [4.526, 2.1] } });

export const HelloQuerySchema = z.object({
  name: z.string().min(1).meta({ description: "Who to greet", example: "Ada" }),
});

export const HelloResponseSchema = z
  .object({ message: z.string() })
  .meta({ id: "HelloResponse", example: { message: "hello Ada" } });

export const FieldErrorSchema = z.object({
  path: z.string().meta({ description: "Where the problem is, e.g. houses[3].MedInc" }),
  message: z.string(),
  received: z.unknown().optional().meta({ description: "The value received (truncated when large)" }),
});
export type FieldError = z.infer<typeof FieldErrorSchema>;

/** RFC 9457 problem details, with the failing fields for validation problems. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(FieldErrorSchema).optional(),
  })
  .meta({
    id: "Problem",
    example: {
      type: "https://house-price.dev/problems/validation",
      title: "Request validation failed",
      status: 422,
      detail: "1 field failed validation",
      errors: [{ path: "MedInc", message: "must be greater than 0", received: -1 }],
    },
  });
export type Problem = z.infer<typeof ProblemSchema>;

/** What computes the predictions (MODEL_ENGINE): the compiled tree evaluator or onnxruntime; the same float32 bits. */
export const ModelEngineSchema = z.enum(["compiled-trees", "onnxruntime"]).meta({
  description: "What computes the predictions: the model compiled into the service's tree evaluator, or onnxruntime",
});

export const HealthSchema = z
  .object({
    status: z.enum(["healthy", "unavailable"]),
    instance_id: z.string(),
    model: z
      .object({
        name: z.string(),
        version: z.string(),
        source: z.string(),
        sha256: z.string(),
        engine: ModelEngineSchema,
      })
      .optional(),
    cache: z.object({ backend: z.string(), status: z.enum(["ok", "degraded"]) }),
    reason: z.string().optional(),
    uptime_seconds: z.number(),
  })
  .meta({ id: "Health" });
export type Health = z.infer<typeof HealthSchema>;

export const FahrenheitQuerySchema = z.object({
  fahrenheit: z.string().meta({ description: "Temperature in degrees Fahrenheit", example: "212" }),
});
export const CelsiusResponseSchema = z
  .object({ celsius: z.number(), app_identifier: z.string() })
  .meta({ id: "CelsiusResponse", example: { celsius: 100, app_identifier: "6c1c4a1e-…" } });
export const AppIdentifierSchema = z.object({ app_identifier: z.string() }).meta({ id: "AppIdentifier" });
export const LegacyErrorSchema = z
  .object({ error: z.string(), app_identifier: z.string() })
  .meta({ id: "LegacyError", example: { error: "API not found.", app_identifier: "6c1c4a1e-…" } });

/** The response options of the prediction endpoints (parsed by input/response-options.ts; documented from here). */
export const PredictionOptionsQuerySchema = z.object({
  detail: z.enum(["true", "false"]).optional().meta({
    description: "`true` adds a calibrated prediction interval and the out-of-range features (default false)",
  }),
  level: z.number().optional().meta({
    description: "Coverage of the interval: one of the model card's `intervals.levels` (0.8, 0.9, 0.95); default 0.9",
    example: 0.9,
  }),
});

export const IntervalSchema = z
  .object({
    level: z.number().meta({ description: "Share of houses like this one whose true value falls in [low, high]" }),
    low: z.number().meta({ description: "Lower bound, in units of $100,000 (≤ house_value)" }),
    high: z.number().meta({ description: "Upper bound, in units of $100,000 (≥ house_value)" }),
  })
  .meta({ id: "Interval", example: { level: 0.9, low: 3.61, high: 5.23 } });

const outOfRange = z
  .array(z.enum(FEATURES))
  .meta({ description: "Features outside the training range recorded in the model card (empty when none)" });
const modelVersion = z.string().meta({ description: "Version of the model that answered (the card's `version`)" });

export const PredictDetailResponseSchema = z
  .object({
    house_value: z.number().meta({ description: "Predicted median house value, in units of $100,000" }),
    interval: IntervalSchema,
    out_of_range: outOfRange,
    model_version: modelVersion,
  })
  .meta({
    id: "PredictDetailResponse",
    example: {
      house_value: 4.4,
      interval: { level: 0.9, low: 3.61, high: 5.23 },
      out_of_range: [],
      model_version: "1.0.0",
    },
  });

export const RowDetailSchema = z
  .object({ interval: IntervalSchema, out_of_range: outOfRange })
  .meta({ id: "RowDetail" });

export const BulkDetailResponseSchema = z
  .object({
    house_values: z.array(z.number()).meta({ description: "One value per input house, in input order" }),
    details: z.array(RowDetailSchema).meta({ description: "One detail per input house, in input order" }),
    model_version: modelVersion,
  })
  .meta({ id: "BulkDetailResponse" });
