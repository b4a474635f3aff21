/**
 * What a model card says about its intervals (the `intervals` section written by model/train/train.py). No imports:
 * the service and the page (web/api/client.ts) read the card with this one function.
 */
export interface IntervalLevels {
  levels: readonly number[];
  defaultLevel: number;
}

/** The interval levels a model card offers; undefined when the card has none (a model without intervals). */
export function intervalLevels(card: Record<string, unknown>): IntervalLevels | undefined {
  const section = card.intervals as { levels?: unknown; default_level?: unknown } | undefined;
  const levels = section?.levels;
  if (!Array.isArray(levels) || levels.length === 0 || !levels.every((l) => typeof l === "number")) return undefined;
  const fallback = typeof section?.default_level === "number" ? section.default_level : 0.9;
  return { levels, defaultLevel: levels.includes(fallback) ? fallback : levels[0]! };
}
