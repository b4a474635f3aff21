import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";

/** Debian's chromium (apt); playwright-core drives it, its own browser download is never used. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Why browser tests cannot run here, or undefined when they can. Under CI (CI=true) a missing browser is a
 * failure, not a skip: the caller throws the reason instead of skipping.
 */
export function chromiumMissing(): string | undefined {
  if (!existsSync(CHROMIUM_PATH))
    return `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  try {
    require.resolve("playwright-core");
  } catch {
    return "playwright-core is not installed (npm ci installs it as a devDependency)";
  }
  return undefined;
}

/** Skips loudly (a console warning naming the reason) unless CI=true, where the absence fails the suite. */
export function browserTestsEnabled(suite: string): boolean {
  const missing = chromiumMissing();
  if (!missing) return true;
  if (process.env.CI === "true") throw new Error(`${suite}: ${missing}; browser tests are required under CI`);
  console.warn(`\n*** SKIPPING ${suite}: ${missing} ***\n`);
  return false;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  // --no-sandbox: the tests may run as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ["--no-sandbox"] });
}
