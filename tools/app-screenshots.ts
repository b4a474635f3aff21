/**
 * The README's pictures of the /app page (`npm run build && npx tsx tools/app-screenshots.ts`): the built server
 * on a free port, Debian's Chromium, one prediction from the form (with its 90 % range) and a small CSV run, then
 * a PNG at desktop width (docs/app-page.png) and one at 375 px (docs/app-page-375.png), where the house's income
 * is beyond the training range so that the out-of-range warning shows too.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FEATURES } from "../shared/input/features";
import { startBuiltServer } from "../tests/support/server-process";
import { launchChromium } from "../tests/support/system-chromium";

const root = path.resolve(__dirname, "..");

async function main(): Promise<void> {
  const holdout = JSON.parse(readFileSync(path.join(root, "model/reference/holdout.json"), "utf8")) as {
    X: number[][];
  };
  const csv = [FEATURES.join(","), ...holdout.X.slice(0, 25).map((x) => x.join(","))].join("\n") + "\n";
  const dir = mkdtempSync(path.join(tmpdir(), "app-shots-"));
  writeFileSync(path.join(dir, "houses.csv"), csv);
  const server = await startBuiltServer({ cwd: root, env: { LOG_LEVEL: "warn" } });
  const browser = await launchChromium();
  try {
    for (const [width, file, medInc] of [
      [1280, "docs/app-page.png", undefined],
      [375, "docs/app-page-375.png", "20"],
    ] as const) {
      const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
      await page.goto(`${server.url}/app`, { waitUntil: "networkidle" });
      await page.waitForSelector("#level-field:not([hidden])");
      if (medInc !== undefined) await page.fill("#MedInc", medInc);
      await page.click("#house-form button[type=submit]");
      await page.waitForSelector('[data-testid="house-interval"][data-low]');
      await page.setInputFiles("#bulk-file", path.join(dir, "houses.csv"));
      await page.waitForSelector("#bulk-results:not([hidden])");
      await page.screenshot({ path: path.join(root, file), fullPage: true });
      process.stdout.write(`wrote ${file}\n`);
      await page.close();
    }
  } finally {
    await browser.close();
    server.child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
