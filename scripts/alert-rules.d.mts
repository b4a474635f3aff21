/** Types of scripts/alert-rules.mjs for the tests. */
/** A Prometheus duration (30s, 5m, 1h30m) as ISO 8601 (PT30S, PT5M, PT1H30M). */
export function isoDuration(d: string): string;
/** The generated files (repository-relative path -> content) from monitoring/alerts/rules.yaml. */
export function generate(): Record<string, string>;
