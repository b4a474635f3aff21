/** Retries `fn` until it resolves (returning its value) or `timeoutMs` has passed (rethrowing its last error). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 5_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}
