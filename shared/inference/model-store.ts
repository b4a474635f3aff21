/**
 * Loads the model's bytes and its card from disk or from Azure Blob Storage, verified against the card's sha256.
 *
 * Platform-neutral (used by both the Azure Functions app and the standalone server). Expected failures are
 * returned as typed results, never thrown; `loadWithRetry` turns them into an endless, observable retry loop.
 *
 * `@azure/storage-blob` and `@azure/identity` are imported lazily, so loading the bundled model from disk does
 * not pay for them at cold start.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { TokenCredential } from "@azure/identity";
import type { BlobClient, StoragePipelineOptions } from "@azure/storage-blob";

export type ModelCard = Record<string, unknown> & { name: string; version: string; sha256: string };

export interface ModelArtifact {
  onnx: Uint8Array;
  card: ModelCard;
  /** Where the bytes came from, e.g. "file:model/model.onnx" or "blob:https://acct.blob.core.windows.net/models/model.onnx" (never with a SAS query). */
  source: string;
}

export type ModelStoreError =
  | { code: "not_found"; message: string } // missing blob/file (onnx or card)
  | { code: "integrity"; message: string } // sha256 of bytes != card.sha256, or card invalid
  | { code: "unreachable"; message: string }; // network error / timeout / auth failure

export type LoadResult = { ok: true; artifact: ModelArtifact } | { ok: false; error: ModelStoreError };

export interface LoadFromBlobOptions {
  /** URL of model.onnx; the card is `model.json` in the same folder. */
  blobUrl: string;
  /** When set (Azurite, local runs), used instead of `credential`; the container/blob come from `blobUrl`'s path. */
  connectionString?: string;
  /** Bound on the whole load (both downloads, token acquisition and SDK retries included). */
  timeoutMs: number;
  /** Defaults to DefaultAzureCredential (managed identity on Functions, workload identity on AKS). */
  credential?: TokenCredential;
}

export interface LoadWithRetryOptions {
  /** Called after every attempt; `nextDelayMs` is set when the attempt failed and another one will follow. */
  onAttempt?: (attempt: number, result: LoadResult, nextDelayMs?: number) => void;
  /** Injected for tests; defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** First backoff delay (default 500 ms); doubles each attempt, with jitter. */
  baseDelayMs?: number;
  /** Backoff cap (default 30 s). */
  maxDelayMs?: number;
  /** Aborting stops the loop: the promise rejects with an Error named "AbortError" (cause = signal.reason). */
  signal?: AbortSignal;
}

const CARD_FILE = "model.json";

const CardSchema = z.looseObject({
  name: z.string().min(1),
  version: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex characters"),
});

const fail = (code: ModelStoreError["code"], message: string): LoadResult => ({ ok: false, error: { code, message } });

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Parses and validates the card, then checks the model bytes against its sha256. */
function verify(onnx: Uint8Array, cardText: string, source: string, cardSource: string): LoadResult {
  let raw: unknown;
  try {
    raw = JSON.parse(cardText);
  } catch (e) {
    return fail("integrity", `model card ${cardSource} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = CardSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
      .join("; ");
    return fail("integrity", `model card ${cardSource} is invalid: ${issues}`);
  }
  const card: ModelCard = { ...parsed.data, sha256: parsed.data.sha256.toLowerCase() };
  const actual = sha256Hex(onnx);
  if (actual !== card.sha256) {
    return fail(
      "integrity",
      `sha256 mismatch for ${source}: card ${cardSource} says ${card.sha256}, downloaded bytes (${onnx.byteLength} B) hash to ${actual}`,
    );
  }
  return { ok: true, artifact: { onnx, card, source } };
}

// ---------------------------------------------------------------------------------------------------------------
// Disk
// ---------------------------------------------------------------------------------------------------------------

function fileError(e: unknown, what: string): LoadResult {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") {
    return fail("not_found", `${what} not found (${code})`);
  }
  return fail("unreachable", `cannot read ${what}: ${code ?? (e as Error).message}`);
}

/** Reads `modelPath` and the `model.json` beside it. */
export async function loadFromFile(modelPath: string): Promise<LoadResult> {
  const cardPath = path.join(path.dirname(modelPath), CARD_FILE);
  const [onnx, card] = await Promise.all([
    readFile(modelPath).then(
      (b) => ({ ok: true as const, bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) }),
      (e: unknown) => ({ ok: false as const, result: fileError(e, `model file ${modelPath}`) }),
    ),
    readFile(cardPath, "utf8").then(
      (text) => ({ ok: true as const, text }),
      (e: unknown) => ({ ok: false as const, result: fileError(e, `model card ${cardPath}`) }),
    ),
  ]);
  if (!onnx.ok) return onnx.result;
  if (!card.ok) return card.result;
  return verify(onnx.bytes, card.text, `file:${modelPath}`, `file:${cardPath}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Blob Storage
// ---------------------------------------------------------------------------------------------------------------

/** Removes secrets (account keys, SAS signatures, bearer tokens, the literal secrets given) from a message. */
function redact(message: string, secrets: string[]): string {
  let out = message;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join("<redacted>");
  return out
    .replace(/(AccountKey|SharedAccessSignature)=[^;\s]*/gi, "$1=<redacted>")
    .replace(/([?&]sig=)[^&\s"']*/gi, "$1<redacted>")
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{20,}/g, "$1<redacted>");
}

/** The URL without query (SAS) or fragment, for `source` and messages. */
function publicUrl(u: URL): string {
  return `${u.origin}${u.pathname}`;
}

interface Target {
  onnx: BlobClient;
  card: BlobClient;
  onnxUrl: string;
  cardUrl: string;
}

/** Container + blob name from a blob URL path; path-style URLs (Azurite, `http://host:port/<account>/...`) start with the account. */
function containerAndBlob(u: URL, accountName: string): { container: string; blob: string } | undefined {
  const segments = u.pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  const hostLabel = u.hostname.split(".")[0]?.toLowerCase();
  const pathStyle =
    accountName !== "" &&
    hostLabel !== accountName.toLowerCase() &&
    segments[0]?.toLowerCase() === accountName.toLowerCase();
  const rest = pathStyle ? segments.slice(1) : segments;
  const [container, ...blobParts] = rest;
  if (container === undefined || blobParts.length === 0) return undefined;
  return { container, blob: blobParts.join("/") };
}

function siblingName(blob: string, name: string): string {
  const slash = blob.lastIndexOf("/");
  return slash < 0 ? name : `${blob.slice(0, slash + 1)}${name}`;
}

async function resolveTarget(
  opts: LoadFromBlobOptions,
  url: URL,
  pipeline: StoragePipelineOptions,
): Promise<Target | ModelStoreError> {
  const { AnonymousCredential, BlobClient, BlobServiceClient } = await import("@azure/storage-blob");
  if (opts.connectionString !== undefined) {
    let service: InstanceType<typeof BlobServiceClient>;
    try {
      service = BlobServiceClient.fromConnectionString(opts.connectionString, pipeline);
    } catch {
      return { code: "unreachable", message: "invalid storage connection string" };
    }
    const where = containerAndBlob(url, service.accountName);
    if (where === undefined) {
      return { code: "not_found", message: `blob URL ${publicUrl(url)} names no container and blob` };
    }
    const container = service.getContainerClient(where.container);
    const onnx = container.getBlobClient(where.blob);
    const card = container.getBlobClient(siblingName(where.blob, CARD_FILE));
    return { onnx, card, onnxUrl: publicUrl(new URL(onnx.url)), cardUrl: publicUrl(new URL(card.url)) };
  }
  const cardUrl = new URL(CARD_FILE, url);
  cardUrl.search = url.search; // keep a container-scoped SAS
  let credential: TokenCredential | InstanceType<typeof AnonymousCredential>;
  if (opts.credential !== undefined) credential = opts.credential;
  else if (url.searchParams.has("sig")) credential = new AnonymousCredential();
  else {
    const { DefaultAzureCredential } = await import("@azure/identity");
    credential = new DefaultAzureCredential();
  }
  return {
    onnx: new BlobClient(url.href, credential, pipeline),
    card: new BlobClient(cardUrl.href, credential, pipeline),
    onnxUrl: publicUrl(url),
    cardUrl: publicUrl(cardUrl),
  };
}

/** Maps an SDK/network error to a typed error; `timedOut` tells an abort caused by our deadline. */
function blobError(e: unknown, what: string, timedOut: boolean, timeoutMs: number, secrets: string[]): ModelStoreError {
  const err = e as { name?: string; code?: string; statusCode?: number; message?: string; cause?: { code?: string } };
  const status = err.statusCode;
  const code = err.code ?? err.cause?.code;
  if (status === 404 || code === "BlobNotFound" || code === "ContainerNotFound" || code === "ResourceNotFound") {
    return { code: "not_found", message: `${what} not found (${code ?? status})` };
  }
  let why: string | undefined;
  if (timedOut) why = `timed out after ${timeoutMs} ms`;
  else if (err.name === "AbortError") why = "aborted";
  else if (status === 401 || status === 403) why = `access denied (HTTP ${status}${code ? ` ${code}` : ""})`;
  else if (status !== undefined) why = `HTTP ${status}${code ? ` ${code}` : ""}`;
  else if (code !== undefined) why = code;
  else if (err.name !== undefined && err.name !== "Error" && err.name !== "RestError") why = err.name;
  const detail = redact(err.message?.split("\n")[0] ?? "", secrets);
  const text = [why, detail].filter((s) => s !== undefined && s !== "").join(": ") || "unknown error";
  return { code: "unreachable", message: `cannot download ${what}: ${text}` };
}

async function download(client: BlobClient, signal: AbortSignal): Promise<Uint8Array> {
  const res = await client.download(0, undefined, { abortSignal: signal, maxRetryRequests: 1 });
  const body = res.readableStreamBody;
  if (body === undefined) throw new Error("download returned no body");
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  const all = Buffer.concat(chunks);
  return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
}

/**
 * Downloads `model.onnx` at `blobUrl` and `model.json` beside it (in parallel), verified. Always settles within
 * about `timeoutMs`; the SDK is allowed one retry inside that budget.
 */
export async function loadFromBlob(opts: LoadFromBlobOptions): Promise<LoadResult> {
  const { timeoutMs } = opts;
  const secrets = secretsOf(opts);
  let url: URL;
  try {
    url = new URL(opts.blobUrl);
  } catch {
    return fail("unreachable", "MODEL_BLOB_URL is not a valid URL");
  }

  const controller = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<LoadResult>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
      resolve(fail("unreachable", `model store ${publicUrl(url)} did not answer within ${timeoutMs} ms (timed out)`));
    }, timeoutMs);
  });

  const work = async (): Promise<LoadResult> => {
    const pipeline: StoragePipelineOptions = {
      retryOptions: {
        maxTries: 2,
        tryTimeoutInMs: timeoutMs,
        retryDelayInMs: Math.min(200, Math.max(1, Math.floor(timeoutMs / 10))),
        maxRetryDelayInMs: 1000,
      },
    };
    let target: Target | ModelStoreError;
    try {
      target = await resolveTarget(opts, url, pipeline);
    } catch (e) {
      return fail("unreachable", `cannot create blob client: ${redact((e as Error).message ?? String(e), secrets)}`);
    }
    if ("code" in target) return { ok: false, error: target };

    // Both downloads in parallel; the first failure aborts the other and is the one reported.
    let firstError: ModelStoreError | undefined;
    const get = (client: BlobClient, what: string) =>
      download(client, controller.signal).catch((e: unknown) => {
        firstError ??= blobError(e, what, timedOut, timeoutMs, secrets);
        controller.abort();
        return undefined;
      });
    const [onnx, cardBytes] = await Promise.all([
      get(target.onnx, `model blob ${target.onnxUrl}`),
      get(target.card, `model card blob ${target.cardUrl}`),
    ]);
    if (firstError !== undefined) return { ok: false, error: firstError };
    if (onnx === undefined || cardBytes === undefined) return fail("unreachable", "download aborted");
    return verify(onnx, Buffer.from(cardBytes).toString("utf8"), `blob:${target.onnxUrl}`, `blob:${target.cardUrl}`);
  };

  try {
    return await Promise.race([work(), deadline]);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

function secretsOf(opts: LoadFromBlobOptions): string[] {
  const out: string[] = [];
  if (opts.connectionString !== undefined) {
    for (const part of opts.connectionString.split(";")) {
      const eq = part.indexOf("=");
      const key = part.slice(0, eq).trim().toLowerCase();
      if (eq > 0 && (key === "accountkey" || key === "sharedaccesssignature")) out.push(part.slice(eq + 1).trim());
    }
  }
  const sig = URL.canParse(opts.blobUrl) ? new URL(opts.blobUrl).searchParams.get("sig") : null;
  if (sig) out.push(sig, encodeURIComponent(sig));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------------------------------

function abortError(signal: AbortSignal): Error {
  const e = new Error("model loading aborted", { cause: signal.reason });
  e.name = "AbortError";
  return e;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects with an AbortError as soon as `signal` aborts; otherwise settles like `p`. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Calls `load` until it succeeds, with exponential backoff (base 500 ms, doubling, cap 30 s) and jitter (each
 * delay is uniformly drawn from [d/2, d]). Every attempt is reported through `onAttempt` (failures with the delay
 * before the next one) so the caller can log it and expose the reason on /health. A `load` that throws counts as
 * an `unreachable` failure. Rejects only when `signal` aborts.
 */
export async function loadWithRetry(
  load: () => Promise<LoadResult>,
  opts: LoadWithRetryOptions = {},
): Promise<ModelArtifact> {
  const { onAttempt, sleep = defaultSleep, signal } = opts;
  const base = Math.max(0, opts.baseDelayMs ?? 500);
  const cap = Math.max(base, opts.maxDelayMs ?? 30_000);
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortError(signal);
    const result: LoadResult = await abortable(
      load().catch((e: unknown) => fail("unreachable", `model load threw: ${(e as Error)?.message ?? String(e)}`)),
      signal,
    );
    if (result.ok) {
      onAttempt?.(attempt, result);
      return result.artifact;
    }
    const exp = Math.min(cap, base * 2 ** Math.min(attempt - 1, 30));
    const delay = Math.round(exp / 2 + (Math.random() * exp) / 2);
    onAttempt?.(attempt, result, delay);
    await abortable(sleep(delay), signal);
  }
}
