import type { FieldError } from "../input/schemas";
import type { CoreResponse } from "./core";

/**
 * Every expected failure the service reports, mapped to its status in one place; the temporary ones also
 * carry the Retry-After a client should honour.
 */
const PROBLEMS = {
  bad_request: { status: 400, title: "Malformed request" },
  unauthorized: { status: 401, title: "Missing or invalid API key" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  validation: { status: 422, title: "Request validation failed" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal error" },
  model_unavailable: { status: 503, title: "Model not available", retryAfter: "5" },
  overloaded: { status: 503, title: "Server overloaded", retryAfter: "1" },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;

/** An expected failure: a typed result that the endpoint layer maps to problem+json. */
export interface Failure {
  code: ProblemCode;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
}

const PROBLEM_BASE = "https://house-price.dev/problems/";

/** The RFC 9457 problem+json answer for a failure: status, title and Retry-After from the table above. */
export function problemResponse(f: Failure): CoreResponse {
  const p = PROBLEMS[f.code];
  const body: Record<string, unknown> = {
    type: PROBLEM_BASE + f.code,
    title: p.title,
    status: p.status,
    detail: f.detail,
  };
  if (f.errors) body.errors = f.errors;
  return {
    status: p.status,
    headers: {
      "content-type": "application/problem+json",
      ...("retryAfter" in p ? { "retry-after": p.retryAfter } : undefined),
      ...f.headers,
    },
    body: JSON.stringify(body),
  };
}
