import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { CoreResponse } from "./core";
import { ifNoneMatchMatches } from "./etag";

/**
 * Files the build wrote under the static root (dist/static/<folder>), served from memory. The build writes
 * `name.br` and `name.gz` beside each file; a client that accepts one gets it (`Content-Encoding`), with a
 * strong ETag per representation, `Vary: Accept-Encoding` and 304 on a matching `If-None-Match`.
 */

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

type Coding = "br" | "gzip" | "identity";

interface StaticFile {
  type: string;
  /** Base of the ETag: a hash of the uncompressed bytes. */
  hash: string;
  bodies: Partial<Record<Coding, Buffer>> & { identity: Buffer };
}

/** A folder of built files, read once on first use (they are small: the page is under 100 KB compressed). */
export interface StaticFolder {
  /** The file with this name (no sub-folders), or undefined: any other name is simply not there. */
  get(name: string): StaticFile | undefined;
  readonly dir: string;
}

export function staticFolder(dir: string): StaticFolder {
  let files: Map<string, StaticFile> | undefined;
  return {
    dir,
    get(name) {
      files ??= load(dir);
      return files.get(name);
    },
  };
}

function load(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (name.endsWith(".br") || name.endsWith(".gz") || !statSync(file).isFile()) continue;
    const identity = readFileSync(file);
    const bodies: StaticFile["bodies"] = { identity };
    // A compressed copy is used only when it is smaller (a tiny SVG can grow under gzip).
    for (const [coding, ext] of [
      ["br", ".br"],
      ["gzip", ".gz"],
    ] as const) {
      if (!existsSync(file + ext)) continue;
      const bytes = readFileSync(file + ext);
      if (bytes.length < identity.length) bodies[coding] = bytes;
    }
    const hash = createHash("sha256").update(identity).digest("base64url").slice(0, 22);
    files.set(name, { type: TYPES[path.extname(name)] ?? "application/octet-stream", hash, bodies });
  }
  return files;
}

/** The best coding the client accepts among those the file has: br, then gzip, else identity (RFC 9110 §12.5.3). */
export function chooseCoding(acceptEncoding: string | undefined, has: (c: Coding) => boolean): Coding {
  const q = new Map<string, number>();
  for (const part of (acceptEncoding ?? "").split(",")) {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (!coding) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const value = qParam ? Number(qParam.slice(2)) : 1;
    q.set(coding, Number.isFinite(value) ? value : 0);
  }
  const accepted = (c: string) => (q.get(c) ?? q.get("*") ?? 0) > 0;
  if (has("br") && accepted("br")) return "br";
  if (has("gzip") && accepted("gzip")) return "gzip";
  return "identity";
}

/** The response for one file: the chosen representation, or 304 when the client already holds it. */
export function staticResponse(
  file: StaticFile,
  requestHeaders: Record<string, string | undefined>,
  headers: Record<string, string>,
): CoreResponse {
  const coding = chooseCoding(requestHeaders["accept-encoding"], (c) => file.bodies[c] !== undefined);
  const etag = `"${file.hash}${coding === "identity" ? "" : `-${coding}`}"`;
  const common: Record<string, string> = { ...headers, etag, vary: "Accept-Encoding" };
  if (ifNoneMatchMatches(requestHeaders["if-none-match"], etag)) return { status: 304, headers: common, body: "" };
  if (coding !== "identity") common["content-encoding"] = coding;
  return { status: 200, headers: { ...common, "content-type": file.type }, body: file.bodies[coding]! };
}
