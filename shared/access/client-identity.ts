/**
 * A client's identity for limiting: its API key when that key is verified (by its SHA-256 digest from the key
 * check, never the raw key), else its address. Behind a proxy (TRUST_PROXY) the address is the last
 * X-Forwarded-For entry, the one the trusted proxy appended; earlier entries are whatever the client wrote and
 * are ignored.
 */
export function clientIdentity(
  headers: Record<string, string | undefined>,
  remoteAddress: string | undefined,
  trustProxy: boolean,
  verifiedKeyDigest: Buffer | undefined,
): string {
  if (verifiedKeyDigest) return "key:" + verifiedKeyDigest.toString("hex", 0, 16);
  if (trustProxy) {
    const forwarded = lastForwardedFor(headers["x-forwarded-for"]);
    if (forwarded) return "ip:" + forwarded;
  }
  return "ip:" + (remoteAddress ?? "unknown");
}

/** The last hop of an X-Forwarded-For list, without a port (`1.2.3.4:5678`, `[::1]:80`). */
export function lastForwardedFor(header: string | undefined): string | undefined {
  const last = header?.split(",").pop()?.trim();
  if (!last) return undefined;
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(last);
  if (v6) return v6[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(last);
  return v4 ? v4[1] : last;
}
