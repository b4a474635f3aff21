import type { FieldError } from "../input/schemas";

/** A platform-neutral request, built by each host's adapter. */
export interface CoreRequest {
  method: string;
  /** Path without query string, e.g. "/predict". */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  /**
   * Reads the body, refusing to read more than `limit` bytes. `admit` is asked about every piece as it
   * arrives (the byte count); when it says no, reading stops and the result is "refused".
   */
  body: (limit: number, admit?: (bytes: number) => boolean) => Promise<BodyResult>;
  /** Address of the peer as the host sees it. */
  remoteAddress?: string;
}

export type BodyResult = { ok: true; bytes: Uint8Array } | { ok: false; reason: "too_large" | "aborted" | "refused" };

/** A platform-neutral response: the adapters copy it onto their own response type. */
export interface CoreResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

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

export type Result<T> = { ok: true; value: T } | { ok: false; failure: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (code: ProblemCode, detail: string, extra?: Omit<Failure, "code" | "detail">): Result<never> => ({
  ok: false,
  failure: { code, detail, ...extra },
});

const PROBLEM_BASE = "https://house-price.dev/problems/";

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

export function jsonResponse(status: number, body: unknown, headers?: Record<string, string>): CoreResponse {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}
