import type { Failure, ProblemCode } from "./problems";

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
  /** The route's path parameters (`{name}` in Endpoint.route), set by the service before the handler runs. */
  params?: Record<string, string>;
  /**
   * Bytes of this request's body counted against MAX_INFLIGHT_BODY_BYTES (body admission's bookkeeping). On the
   * request itself rather than in a WeakMap: an entry set and deleted per request kept rebuilding the map's table,
   * garbage that outlived the young generation.
   */
  heldBodyBytes?: number;
}

export type BodyResult = { ok: true; bytes: Uint8Array } | { ok: false; reason: "too_large" | "aborted" | "refused" };

/** A platform-neutral response: the adapters copy it onto their own response type. */
export interface CoreResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/** An operation's outcome: its value, or the expected failure that the endpoint answers as problem+json. */
export type Result<T> = { ok: true; value: T } | { ok: false; failure: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (code: ProblemCode, detail: string, extra?: Omit<Failure, "code" | "detail">): Result<never> => ({
  ok: false,
  failure: { code, detail, ...extra },
});

export function jsonResponse(status: number, body: unknown, headers?: Record<string, string>): CoreResponse {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}
