/**
 * A client's identity for limiting: its API key when that key is verified (by its SHA-256 digest from the key
 * check, never the raw key), else its address (clientAddress).
 */
export function clientIdentity(
  headers: Record<string, string | undefined>,
  remoteAddress: string | undefined,
  trustedProxies: number,
  verifiedKeyDigest: Buffer | undefined,
): string {
  if (verifiedKeyDigest) return "key:" + verifiedKeyDigest.toString("hex", 0, 16);
  return "ip:" + (clientAddress(headers["x-forwarded-for"], remoteAddress, trustedProxies) ?? "unknown");
}

/**
 * The client's address behind `trustedProxies` proxies (TRUST_PROXY). Each proxy appends the address it received
 * the request from to X-Forwarded-For, so the client is the entry `trustedProxies` hops from the right end; the
 * entries further left were written by the sender and can be anything. With fewer entries than hops the leftmost
 * is used (a caller behind fewer proxies, e.g. in-cluster); without X-Forwarded-For, or with no proxy trusted,
 * the connection's peer. On Azure Functions the worker has no peer: the platform's front end is the first proxy.
 */
export function clientAddress(
  forwardedFor: string | undefined,
  remoteAddress: string | undefined,
  trustedProxies: number,
): string | undefined {
  if (trustedProxies <= 0 || !forwardedFor) return remoteAddress;
  // Empty entries (",,", a trailing comma) can only come from the sender's part: proxies append addresses.
  const hops = forwardedFor
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  if (hops.length === 0) return remoteAddress;
  return withoutPort(hops[Math.max(0, hops.length - trustedProxies)]!);
}

/** An address without its port (`1.2.3.4:5678` -> `1.2.3.4`, `[2001:db8::1]:443` -> `2001:db8::1`). */
function withoutPort(entry: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (v6) return v6[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4 ? v4[1]! : entry;
}
