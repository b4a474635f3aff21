import { getHeapStatistics } from "node:v8";
import { BIG_BYTES, nextTurn } from "../inference/turn-taking";
import { isJsonContentType } from "../input/validation";
import type { Config } from "../ops/config";
import type { Metrics } from "../ops/metrics";
import { fail, ok, type CoreRequest, type Result } from "./core";

/** Share of V8's heap limit in use above which big bodies are refused (503) rather than parsed. */
const HEAP_PRESSURE_LIMIT = 0.75;

/** V8 heap in use as a share of its limit (`--max-old-space-size` and the young generation). */
function heapPressure(): number {
  const h = getHeapStatistics();
  return h.used_heap_size / h.heap_size_limit;
}

/** Which Content-Types a body reader takes, and how its 415 names them. */
export interface MediaTypes {
  accepts(contentType: string | undefined): boolean;
  /** e.g. "application/json" */
  expected: string;
}

/** JSON (a missing Content-Type is read as JSON for old clients): what every JSON endpoint reads. */
export const JSON_BODY: MediaTypes = { accepts: isJsonContentType, expected: "application/json" };

/** The body size a request declares (-1: unknown), or its 415/413 when it is refused on its headers alone. */
function declaredBody(req: CoreRequest, maxBody: number, media: MediaTypes): number | Result<never> {
  if (!media.accepts(req.headers["content-type"])) {
    return fail("unsupported_media_type", `Content-Type must be ${media.expected}, got ${req.headers["content-type"]}`);
  }
  const declared = Number(req.headers["content-length"]);
  if (!(Number.isSafeInteger(declared) && declared >= 0)) return -1;
  if (declared > maxBody) return fail("payload_too_large", `The body is ${declared} bytes; the limit is ${maxBody}`);
  return declared;
}

export interface BodyAdmission {
  /** Reads a JSON request's body: 415, 413 and 503 (memory admission) before any parsing. */
  readJsonBytes(req: CoreRequest): Promise<Result<Uint8Array>>;
  /** The same for a body of the given media types (e.g. JSON or application/octet-stream). */
  readBodyBytes(req: CoreRequest, media: MediaTypes): Promise<Result<Uint8Array>>;
  /** Gives back the bytes a request's body held, once its response is built. */
  release(req: CoreRequest): void;
}

/**
 * Memory admission: bytes of bodies held from reading until the response is built, bounded by
 * MAX_INFLIGHT_BODY_BYTES (0 = unbounded), and big bodies refused while the heap is near its cap.
 */
export function createBodyAdmission(
  config: Pick<Config, "MAX_BODY_BYTES" | "MAX_INFLIGHT_BODY_BYTES">,
  metrics: Metrics,
): BodyAdmission {
  let inFlight = 0;
  const limit = config.MAX_INFLIGHT_BODY_BYTES;
  const maxBody = config.MAX_BODY_BYTES;
  metrics.readBodyBytesHeldFrom(() => inFlight);

  const overloaded = (detail: string): Result<never> => {
    metrics.rejected.inc({ reason: "overloaded" });
    return fail("overloaded", detail);
  };

  /** Refusal when `bytes` more do not fit next to the bodies of other requests (`mine`: this request's own). */
  function noRoomFor(bytes: number, mine: number): Result<never> | undefined {
    const others = inFlight - mine;
    if (limit === 0 || others === 0 || inFlight + bytes <= limit) return undefined;
    return overloaded(
      `The server is holding ${others} bytes of other request bodies (MAX_INFLIGHT_BODY_BYTES ${limit}); try again shortly`,
    );
  }

  /**
   * Counts `bytes` more of this request's body as held, or says why not. Bytes are counted as they arrive, so
   * a client that declares a big body and sends it slowly holds only what it has sent; a body is always let
   * in while no other request holds any.
   */
  function admit(req: CoreRequest, bytes: number): Result<never> | undefined {
    const mine = req.heldBodyBytes ?? 0;
    const full = noRoomFor(bytes, mine);
    if (full) return full;
    // A big body parses into many times its size; refuse it while the heap is already near its cap.
    if (mine < BIG_BYTES && mine + bytes >= BIG_BYTES && heapPressure() > HEAP_PRESSURE_LIMIT) {
      return overloaded("The server is short of memory; try again shortly");
    }
    inFlight += bytes;
    req.heldBodyBytes = mine + bytes;
    return undefined;
  }

  async function readBodyBytes(req: CoreRequest, media: MediaTypes): Promise<Result<Uint8Array>> {
    const declared = declaredBody(req, maxBody, media);
    if (typeof declared !== "number") return declared;
    // A declared size that cannot fit next to what others hold is refused before a byte is read (nothing is
    // reserved on a declaration alone); everything else is counted as it arrives.
    const full = declared >= 0 ? noRoomFor(declared, 0) : undefined;
    if (full) return full;
    let refused: Result<never> | undefined;
    const body = await req.body(maxBody, (bytes) => !(refused = admit(req, bytes)));
    if (!body.ok) {
      if (body.reason === "refused" && refused) return refused;
      if (body.reason === "too_large")
        return fail("payload_too_large", `The body exceeds the limit of ${maxBody} bytes`);
      return fail("bad_request", "The request body could not be read");
    }
    // A big body is parsed in a later turn of the event loop, not straight after its last chunk.
    if (body.bytes.length >= BIG_BYTES) await nextTurn();
    return ok(body.bytes);
  }

  return {
    readJsonBytes: (req) => readBodyBytes(req, JSON_BODY),
    readBodyBytes,
    release(req) {
      const bytes = req.heldBodyBytes;
      if (bytes === undefined) return;
      req.heldBodyBytes = undefined;
      inFlight -= bytes;
    },
  };
}
