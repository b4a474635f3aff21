/** `KEY=VALUE` pairs given on a bench's command line, as an environment; a pair without a key throws. */
export function envFromPairs(pairs: string[], flag: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of pairs) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`${flag} needs KEY=VALUE, got ${JSON.stringify(kv)}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}
