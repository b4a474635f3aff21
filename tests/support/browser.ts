import { existsSync } from "node:fs";
import puppeteer, { type Browser } from "puppeteer-core";

/** Debian's Chromium (apt-get install chromium); CHROMIUM_PATH points elsewhere. Puppeteer's own download is never used. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Whether the browser tests can run here. Without Chromium they are skipped with a loud message, except in
 * CI (CI=true), where a missing browser is a failure: .ci/run installs it.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `Chromium not found at ${CHROMIUM}: the browser tests are SKIPPED (apt-get install chromium)`;
  if (process.env.CI === "true") throw new Error(`${message}; CI must run them`);
  process.stderr.write(`\n*** ${message} ***\n\n`);
  return false;
}

export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in CI containers needs --no-sandbox; the pages loaded are the service's own, on 127.0.0.1.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions"],
  });
}
