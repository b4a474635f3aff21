/**
 * The /app page driven in Debian's Chromium (playwright-core) against the built server: it loads clean, its
 * form and its CSV flow give exactly the API's values (and the form the API's interval and out-of-range
 * features), errors land beside their fields, and it asks for an API key and waits out Retry-After as a client
 * should.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES } from "../../shared/input/features";
import { browserTestsEnabled, launchChromium } from "../support/system-chromium";
import { startBuiltServer, type BuiltServer } from "../support/server-process";

// The functions handed to evaluate() and waitForFunction() run in Chromium; these are the DOM names they use
// (the tests compile without the DOM library, which would change Node's own fetch types).
declare const document: {
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null;
  documentElement: { scrollWidth: number };
  activeElement: unknown;
};
declare const sessionStorage: { getItem(key: string): string | null };
declare const window: {
  axe: {
    run(
      context: unknown,
      options: unknown,
    ): Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }>;
  };
};

/** axe-core, run inside the page (evaluate() is not subject to the page's CSP, as an injected script would be). */
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** WCAG 2.1 A and AA violations axe-core finds on the page as it is now: "rule: help (elements)". */
async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  });
}

const holdout = JSON.parse(readFileSync("model/reference/holdout.json", "utf8")) as { X: number[][] };
const house = (k: number) => Object.fromEntries(FEATURES.map((f, j) => [f, holdout.X[k]![j]!]));

interface Watched {
  page: Page;
  /** Console errors, uncaught exceptions and failed loads. */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
  /** Bodies of the POST /bulk_predict calls the page made. */
  bulkBodies: string[];
}

async function openApp(browser: Browser, base: string, width = 1280): Promise<Watched> {
  const page = await browser.newPage();
  await page.setViewportSize({ width, height: 900 });
  const w: Watched = { page, errors: [], requests: [], bulkBodies: [] };
  page.on("console", (m) => {
    if (m.type() === "error") w.errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => w.errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  page.on("requestfailed", (r) => w.errors.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => {
    w.requests.push(r.url());
    if (r.url().endsWith("/bulk_predict")) w.bulkBodies.push(r.postData() ?? "");
  });
  await page.goto(`${base}/app`, { waitUntil: "networkidle" });
  // Labels carry the card's units and ranges once GET /model has answered.
  await page.waitForFunction(() => document.getElementById("MedInc-hint")?.textContent?.includes("trained on"));
  return w;
}

async function fill(page: Page, values: Record<string, number | string>): Promise<void> {
  for (const [name, value] of Object.entries(values))
    await page.fill(`#house-form input[name="${name}"]`, String(value));
}

/** Waits for the form's call to end: the status leaves "Predicting…" (it is set before the request goes out). */
async function answered(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById("house-status")?.textContent !== "Predicting…");
}

/** The raw text of a number field in a /predict answer, as the API wrote it (default: `house_value`). */
const rawValue = (body: string, field = "house_value") => new RegExp(`"${field}":([^,}]+)`).exec(body)![1]!;

/** GET /predict?…&detail=true for a house, straight from the service: the raw body. */
async function detailAnswer(base: string, h: Record<string, number>, level?: string): Promise<string> {
  const query = new URLSearchParams(Object.entries(h).map(([k, v]): [string, string] => [k, String(v)]));
  query.set("detail", "true");
  if (level !== undefined) query.set("level", level);
  const res = await fetch(`${base}/predict?${query}`);
  expect(res.status).toBe(200);
  return res.text();
}

/** What the page shows in its interval element: the raw data attributes and the text. */
async function shownInterval(page: Page): Promise<{ level: string; low: string; high: string; text: string }> {
  return page.$eval('[data-testid="house-interval"]', (el) => ({
    level: el.getAttribute("data-level") ?? "",
    low: el.getAttribute("data-low") ?? "",
    high: el.getAttribute("data-high") ?? "",
    text: el.textContent ?? "",
  }));
}

/**
 * The interval text, "90 % range: $351,000 – $479,000": the level as a percentage and bounds rounded outwards
 * to whole thousands of dollars, so the range shown contains the API's.
 */
function expectIntervalText(text: string, level: string, low: string, high: string): void {
  const m = /^([\d.]+) % range: \$([\d,]+) – \$([\d,]+)$/.exec(text);
  expect(m, text).not.toBeNull();
  const [pct, shownLow, shownHigh] = [m![1]!, m![2]!, m![3]!].map((t) => Number(t.replaceAll(",", "")));
  expect(pct).toBeCloseTo(Number(level) * 100, 9);
  const [lowDollars, highDollars] = [Number(low) * 100_000, Number(high) * 100_000];
  expect(shownLow! % 1000).toBe(0);
  expect(shownHigh! % 1000).toBe(0);
  expect(shownLow).toBeLessThanOrEqual(Math.round(lowDollars));
  expect(shownLow).toBeGreaterThan(lowDollars - 1000);
  expect(shownHigh).toBeGreaterThanOrEqual(Math.round(highDollars));
  expect(shownHigh).toBeLessThan(highDollars + 1000);
}

function csvOf(rows: number[], extra = true): string {
  // Columns in another order than the API's, plus a column of the caller's own, to show both are handled.
  const columns = [...FEATURES].reverse();
  const lines = [(extra ? ["id", ...columns] : columns).join(",")];
  for (const k of rows) {
    const h = house(k);
    lines.push([...(extra ? [`row-${k}`] : []), ...columns.map((c) => String(h[c]))].join(","));
  }
  return lines.join("\n") + "\n";
}

async function upload(page: Page, dir: string, name: string, text: string): Promise<void> {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  await page.setInputFiles("#bulk-file", file);
}

const enabled = browserTestsEnabled("the /app page in Chromium");

describe.runIf(enabled)("the /app page in Chromium", () => {
  let server: BuiltServer;
  let browser: Browser;
  let dir: string;
  const MAX_BATCH = 300;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "app-page-"));
    [server, browser] = await Promise.all([
      startBuiltServer({ env: { LOG_LEVEL: "warn", MAX_BATCH: String(MAX_BATCH) } }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    server?.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads with no console error and no request leaving the service's origin, and fits 375 px", async () => {
    const w = await openApp(browser, server.url);
    await w.page.waitForFunction(() => document.getElementById("map-count")?.textContent?.includes("4,128"));
    expect(w.errors).toEqual([]);
    expect(w.requests.filter((u) => new URL(u).origin !== server.url)).toEqual([]);
    expect(w.requests.map((u) => new URL(u).pathname)).toEqual(
      expect.arrayContaining(["/app", "/app/app.js", "/app/app.css", "/app/holdout-points.json", "/model"]),
    );
    // Every input has a label and its API name.
    const fields = await w.page.$$eval("#house-form input", (els) =>
      els.map((e) => ({
        name: e.getAttribute("name"),
        label: document.querySelector(`label[for="${e.id}"]`)?.textContent ?? "",
      })),
    );
    expect(fields.map((f) => f.name)).toEqual([...FEATURES]);
    for (const f of fields) expect(f.label).toMatch(/trained on/);
    await w.page.setViewportSize({ width: 375, height: 800 });
    expect(await w.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await w.page.close();
  });

  it("shows for a filled-in house the value POST /predict gives, submitted from the keyboard", async () => {
    const w = await openApp(browser, server.url);
    const h = house(11);
    await fill(w.page, h);
    await w.page.focus("#house-form button[type=submit]");
    await w.page.keyboard.press("Enter");
    await answered(w.page);
    expect(await w.page.$eval("#house-status", (el) => el.textContent)).toBe("");
    const shown = await w.page.waitForSelector('[data-testid="house-value"][data-value]');
    const dataValue = await shown.evaluate((el) => el.getAttribute("data-value"));
    const api = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(h),
    });
    expect(api.status).toBe(200);
    expect(dataValue).toBe(rawValue(await api.text()));
    const text = await shown.evaluate((el) => el.textContent);
    expect(text).toBe(`$${Math.round(Number(dataValue) * 100_000).toLocaleString("en-US")}`);
    expect(await w.page.$eval("#house-meta", (el) => el.textContent)).toMatch(
      /^(served from the prediction cache|computed by the model) · \d+ ms$/,
    );
    // The same house again: GET /predict answers are public for a minute, so this browser's cache answers.
    await w.page.keyboard.press("Enter");
    await answered(w.page);
    await w.page.waitForFunction(() => document.getElementById("house-meta")?.textContent?.startsWith("from this"));
    expect(await w.page.$eval("#house-meta", (el) => el.textContent)).toMatch(/^from this browser's cache · \d+ ms$/);
    // The page asked with GET, the request an edge cache can serve, with the interval.
    expect(
      w.requests.some((u) => {
        const url = new URL(u);
        return (
          url.pathname === "/predict" &&
          url.searchParams.get("MedInc") === String(h.MedInc) &&
          url.searchParams.get("detail") === "true"
        );
      }),
    ).toBe(true);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it("shows the interval GET /predict?detail=true gives for the same house, at each of the card's levels", async () => {
    const card = (
      (await (await fetch(`${server.url}/model`)).json()) as {
        card: { intervals: { levels: number[]; default_level: number } };
      }
    ).card.intervals;
    const w = await openApp(browser, server.url);
    // The selector offers the card's levels, its default chosen.
    const offered = await w.page.$$eval("#level option", (os) =>
      os.map((o) => ({ value: o.getAttribute("value"), selected: (o as unknown as { selected: boolean }).selected })),
    );
    expect(offered.map((o) => o.value)).toEqual(card.levels.map(String));
    expect(offered.filter((o) => o.selected).map((o) => o.value)).toEqual([String(card.default_level)]);
    expect(card.levels.length).toBeGreaterThan(1);

    const h = house(11);
    await fill(w.page, h);
    await w.page.click("#house-form button[type=submit]");
    await answered(w.page);
    await w.page.waitForSelector('[data-testid="house-interval"][data-low]');
    const api = await detailAnswer(server.url, h, String(card.default_level));
    expect(await w.page.$eval('[data-testid="house-value"]', (el) => el.getAttribute("data-value"))).toBe(
      rawValue(api),
    );
    const shown = await shownInterval(w.page);
    expect(shown).toMatchObject({
      level: rawValue(api, "level"),
      low: rawValue(api, "low"),
      high: rawValue(api, "high"),
    });
    expect(shown.level).toBe(String(card.default_level));
    expectIntervalText(shown.text, shown.level, shown.low, shown.high);
    expect(Number(shown.low)).toBeLessThan(Number(shown.high));
    // An ordinary house: no warning.
    expect(JSON.parse(api)).toMatchObject({ out_of_range: [] });
    expect(await w.page.$eval('[data-testid="out-of-range"]', (el) => (el as { hidden: boolean }).hidden)).toBe(true);

    // Another level is asked for at once, for the house on show.
    const other = card.levels.find((l) => l !== card.default_level)!;
    await w.page.selectOption("#level", String(other));
    await w.page.waitForFunction(
      (level) => document.querySelector('[data-testid="house-interval"]')?.getAttribute("data-level") === level,
      String(other),
    );
    const apiOther = await detailAnswer(server.url, h, String(other));
    const shownOther = await shownInterval(w.page);
    expect(shownOther).toMatchObject({
      level: rawValue(apiOther, "level"),
      low: rawValue(apiOther, "low"),
      high: rawValue(apiOther, "high"),
    });
    expect(shownOther.low).not.toBe(shown.low);
    expectIntervalText(shownOther.text, shownOther.level, shownOther.low, shownOther.high);
    expect(w.requests.some((u) => new URL(u).searchParams.get("level") === String(other))).toBe(true);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it("warns, naming MedInc and its training range, for a house with an income far beyond the training data", async () => {
    const w = await openApp(browser, server.url);
    const h = { ...house(11), MedInc: 800 };
    await fill(w.page, h);
    await w.page.click("#house-form button[type=submit]");
    await answered(w.page);
    // The page's own checks let it through: the API takes any MedInc > 0.
    expect(await w.page.$eval("#house-status", (el) => el.textContent)).toBe("");
    const warning = await w.page.waitForSelector('[data-testid="out-of-range"]:not([hidden])');
    const api = await detailAnswer(server.url, h);
    const answer = JSON.parse(api) as { out_of_range: string[] };
    expect(answer.out_of_range).toEqual(["MedInc"]);
    expect(await warning.getAttribute("data-features")).toBe(answer.out_of_range.join(" "));
    const text = (await warning.textContent()) ?? "";
    expect(text).toMatch(/^Outside the training range: MedInc 800 \(trained on [\d.]+ to [\d.]+\)\. /);
    for (const f of FEATURES.filter((f) => f !== "MedInc")) expect(text).not.toContain(f);
    // The value and interval shown are still the API's.
    const shown = await shownInterval(w.page);
    expect(shown).toMatchObject({
      level: rawValue(api, "level"),
      low: rawValue(api, "low"),
      high: rawValue(api, "high"),
    });
    expect(await w.page.$eval('[data-testid="house-value"]', (el) => el.getAttribute("data-value"))).toBe(
      rawValue(api),
    );
    // Accessible and one column at 375 px with the interval and the warning on show.
    expect(await accessibilityViolations(w.page)).toEqual([]);
    await w.page.setViewportSize({ width: 375, height: 800 });
    expect(await w.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await accessibilityViolations(w.page)).toEqual([]);
    // Back in range, the warning goes.
    await fill(w.page, { MedInc: house(11).MedInc! });
    await w.page.click("#house-form button[type=submit]");
    await w.page.waitForSelector('[data-testid="out-of-range"][hidden]', { state: "attached" });
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it("shows the service's message beside a field with a bad value, tied to it for assistive technology", async () => {
    const w = await openApp(browser, server.url);
    await fill(w.page, { MedInc: "-1" });
    await w.page.click("#house-form button[type=submit]");
    await answered(w.page);
    const api = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...house(0), MedInc: -1 }),
    });
    const problem = (await api.json()) as { errors: { path: string; message: string }[] };
    const expected = problem.errors.find((e) => e.path === "MedInc")!.message;
    const field = await w.page.$eval("#MedInc", (el) => ({
      describedBy: el.getAttribute("aria-describedby") ?? "",
      focused: document.activeElement === el,
    }));
    expect(field.describedBy.split(" ")).toContain("MedInc-error");
    expect(field.focused).toBe(true);
    expect(await w.page.$eval("#MedInc-error", (el) => el.textContent)).toBe(expected);
    // Other fields are not marked.
    expect(await w.page.$$eval('#house-form [aria-invalid="true"]', (els) => els.map((e) => e.id))).toEqual(["MedInc"]);
    await w.page.close();
  });

  it("turns a 1,000-row CSV into a download whose 1,000 values equal /bulk_predict's, in chunks of MAX_BATCH", async () => {
    const w = await openApp(browser, server.url);
    const rows = Array.from({ length: 1000 }, (_, k) => k);
    await upload(w.page, dir, "houses.csv", csvOf(rows));
    await w.page.waitForFunction(
      () => document.getElementById("bulk-status")?.textContent === "Predicted 1,000 houses.",
      undefined,
      { timeout: 60_000 },
    );
    expect(await w.page.$$eval("#bulk-preview tbody tr", (trs) => trs.length)).toBe(10);
    // A real download, as a person's click makes it.
    const [download] = await Promise.all([w.page.waitForEvent("download"), w.page.click('[data-testid="download"]')]);
    expect(download.suggestedFilename()).toBe("houses-house-values.csv");
    const file = await download.path();
    const lines = readFileSync(file, "utf8").trimEnd().split("\r\n");
    expect(lines[0]).toBe(["id", ...[...FEATURES].reverse(), "house_value"].join(","));
    expect(lines).toHaveLength(1001);
    expect(lines.slice(1).map((l) => l.split(",")[0])).toEqual(rows.map((k) => `row-${k}`));
    const downloaded = lines.slice(1).map((l) => l.split(",").at(-1));

    const expected: string[] = [];
    for (let start = 0; start < rows.length; start += MAX_BATCH) {
      const res = await fetch(`${server.url}/bulk_predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ houses: rows.slice(start, start + MAX_BATCH).map(house) }),
      });
      const body = (await res.json()) as { house_values: number[] };
      expected.push(...body.house_values.map(String));
    }
    expect(downloaded).toEqual(expected);
    expect(w.errors).toEqual([]);
    // The chunk size came from the OpenAPI document's maxItems (MAX_BATCH), not a guess.
    const sizes = w.bulkBodies.map((b) => (JSON.parse(b) as { houses: unknown[] }).houses.length);
    expect(sizes).toEqual([300, 300, 300, 100]);
    await w.page.close();
  });

  it("has no WCAG 2.1 A/AA violations (axe-core: labels, contrast, ARIA) at 1280 px and 375 px, with an error shown", async () => {
    const w = await openApp(browser, server.url);
    await w.page.waitForFunction(() => document.getElementById("map-count")?.textContent?.includes("4,128"));
    await fill(w.page, { HouseAge: "old" });
    await w.page.click("#house-form button[type=submit]");
    await w.page.waitForSelector('#HouseAge[aria-invalid="true"]');
    expect(await accessibilityViolations(w.page)).toEqual([]);
    await w.page.setViewportSize({ width: 375, height: 800 });
    expect(await accessibilityViolations(w.page)).toEqual([]);
    await w.page.close();
  });

  it("sets Latitude and Longitude from a click on the map, and from its arrow keys", async () => {
    const w = await openApp(browser, server.url);
    const box = (await w.page.locator("#map").boundingBox())!;
    // The map's frame is 124.6°W–113.9°W by 32.3°N–42.2°N: its middle is 37.25°N, 119.25°W.
    await w.page.click("#map", { position: { x: box.width / 2, y: box.height / 2 } });
    const position = async () =>
      (await w.page.$$eval("#Latitude, #Longitude", (els) => els.map((e) => (e as { value: string }).value))).map(
        Number,
      );
    // Within a pixel (and the fields' two decimals) of the middle.
    const [lat, lon] = await position();
    expect(Math.abs(lat! - 37.25)).toBeLessThanOrEqual((42.2 - 32.3) / box.height + 0.005);
    expect(Math.abs(lon! + 119.25)).toBeLessThanOrEqual((124.6 - 113.9) / box.width + 0.005);
    await w.page.focus("#map");
    await w.page.keyboard.press("ArrowUp");
    await w.page.keyboard.press("Shift+ArrowLeft");
    const [lat2, lon2] = await position();
    // Each field shows two decimals of the marker: a move of 0.05° reads as 0.04 to 0.06.
    expect(Math.abs(lat2! - lat! - 0.05)).toBeLessThanOrEqual(0.0101);
    expect(Math.abs(lon2! - lon! + 0.5)).toBeLessThanOrEqual(0.0101);
    await w.page.close();
  });

  it("reports a bad CSV row with its line and field and sends nothing", async () => {
    const w = await openApp(browser, server.url);
    const text = csvOf([0, 1, 2], false).replace(
      /\n([^\n]*)\n$/,
      (_, last: string) => `\n${last.replace(/,[^,]*$/, ",west")}\n`,
    );
    await upload(w.page, dir, "bad.csv", text);
    await w.page.waitForSelector("#bulk-problems:not([hidden])");
    expect(await w.page.$$eval("#bulk-problems li", (li) => li.map((l) => l.textContent))).toEqual([
      'Line 4, MedInc: "west" is not a number',
    ]);
    expect(w.bulkBodies).toEqual([]);
    await w.page.close();
  });

  it("maps the service's 422 for a chunk back to the CSV line and field, and offers no partial download", async () => {
    const w = await openApp(browser, server.url);
    // Row 2 (line 3) has a negative income: a number, so only the service can refuse it.
    const lines = csvOf([0, 1, 2], false).split("\n");
    const medInc = [...FEATURES].reverse().indexOf("MedInc");
    lines[2] = lines[2]!
      .split(",")
      .map((v, k) => (k === medInc ? "-2" : v))
      .join(",");
    await upload(w.page, dir, "negative.csv", lines.join("\n"));
    await w.page.waitForSelector("#bulk-problems:not([hidden])");
    const api = await fetch(`${server.url}/bulk_predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ houses: [house(0), { ...house(1), MedInc: -2 }, house(2)] }),
    });
    const problem = (await api.json()) as { errors: { path: string; message: string }[] };
    expect(problem.errors.map((e) => e.path)).toEqual(["houses[1].MedInc"]);
    expect(await w.page.$$eval("#bulk-problems li", (li) => li.map((l) => l.textContent))).toEqual([
      `Line 3, MedInc: ${problem.errors[0]!.message}`,
    ]);
    expect(await w.page.$eval("#bulk-results", (el) => (el as { hidden: boolean }).hidden)).toBe(true);
    await w.page.close();
  });

  describe("with API_KEYS and a rate limit", () => {
    let keyed: BuiltServer;
    beforeAll(async () => {
      keyed = await startBuiltServer({
        env: { LOG_LEVEL: "warn", API_KEYS: "page-test-key", RATE_LIMIT_REQUESTS: "1", RATE_LIMIT_WINDOW_SECONDS: "4" },
      });
    });
    afterAll(() => {
      keyed?.child.kill("SIGKILL");
    });

    it("asks for the key after a 401, keeps it in session storage only, and waits out Retry-After on a 429", async () => {
      const w = await openApp(browser, keyed.url);
      const statuses: { status: number; at: number; retryAfter?: string }[] = [];
      w.page.on("response", (r) => {
        if (!r.url().endsWith("/bulk_predict")) return;
        statuses.push({ status: r.status(), at: Date.now(), retryAfter: r.headers()["retry-after"] });
      });
      await upload(w.page, dir, "three.csv", csvOf([0, 1, 2]));
      await w.page.waitForSelector("#api-key-dialog[open]");
      await w.page.fill("#api-key", "page-test-key");
      await w.page.keyboard.press("Enter");
      await w.page.waitForFunction(() => document.getElementById("bulk-status")?.textContent === "Predicted 3 houses.");
      expect(await w.page.evaluate(() => sessionStorage.getItem("house-price.api-key"))).toBe("page-test-key");
      expect(w.requests.filter((u) => u.includes("page-test-key"))).toEqual([]);

      // A second file at once is over the limit of 1 request per 4 s: the page waits as told, then succeeds.
      await upload(w.page, dir, "again.csv", csvOf([3, 4]));
      await w.page.waitForFunction(() => document.getElementById("bulk-status")?.textContent?.includes("retrying in"));
      await w.page.waitForFunction(
        () => document.getElementById("bulk-status")?.textContent === "Predicted 2 houses.",
        undefined,
        { timeout: 20_000 },
      );
      const limited = statuses.findIndex((s) => s.status === 429);
      expect(limited).toBeGreaterThan(0);
      const next = statuses[limited + 1]!;
      expect(next.status).toBe(200);
      expect(next.at - statuses[limited]!.at).toBeGreaterThanOrEqual(
        Number(statuses[limited]!.retryAfter) * 1000 - 100,
      );
      expect(w.errors.filter((e) => !/status of (401|429)/.test(e))).toEqual([]);
      await w.page.close();
    });
  });
});
