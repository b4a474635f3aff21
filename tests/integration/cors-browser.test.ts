/**
 * CORS as a browser enforces it: pages on two other local origins call the real built server; the origin in
 * CORS_ALLOWED_ORIGINS reads answers (and the exposed headers), the other is blocked by Chromium itself.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { startBuiltServer, type BuiltServer } from "../support/server-process";
import { browserTestsEnabled, launchChromium } from "../support/system-chromium";

/** A page server on its own port: a second (or third) origin, serving one blank page. */
async function pageOrigin(): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>caller</title>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, close: () => new Promise((r) => server.close(() => r())) };
}

interface CallResult {
  ok: boolean;
  status?: number;
  body?: unknown;
  etag?: string | null;
  cacheStatus?: string | null;
  error?: string;
}

/** Runs fetch() inside the page (so the browser applies CORS), answering what the page could see. */
function callFrom(page: Page, url: string, init: { method: string; headers?: Record<string, string>; body?: string }) {
  return page.evaluate(
    async ({ url, init }): Promise<CallResult> => {
      try {
        const r = await fetch(url, init);
        return {
          ok: true,
          status: r.status,
          body: await r.json(),
          etag: r.headers.get("etag"),
          cacheStatus: r.headers.get("cache-status"),
        };
      } catch (e) {
        return { ok: false, error: String(e) };
      }
    },
    { url, init },
  );
}

const query = new URLSearchParams(Object.fromEntries(FEATURES.map((f) => [f, String(SEED_HOUSE[f])]))).toString();
const enabled = browserTestsEnabled("CORS in Chromium");

describe.runIf(enabled)("CORS in Chromium, from pages on other local origins", () => {
  let api: BuiltServer;
  let allowed: Awaited<ReturnType<typeof pageOrigin>>;
  let other: Awaited<ReturnType<typeof pageOrigin>>;
  let browser: Browser;

  beforeAll(async () => {
    [allowed, other] = await Promise.all([pageOrigin(), pageOrigin()]);
    api = await startBuiltServer({ env: { CORS_ALLOWED_ORIGINS: allowed.origin, LOG_LEVEL: "warn" } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    api?.child.kill("SIGTERM");
    await api?.exited;
    await Promise.all([allowed?.close(), other?.close()]);
  });

  async function pageAt(origin: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(origin + "/");
    return page;
  }

  it("lets the allowed origin GET /predict and read the exposed ETag and Cache-Status", async () => {
    const page = await pageAt(allowed.origin);
    const r = await callFrom(page, `${api.url}/predict?${query}`, { method: "GET" });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(r.body).toEqual({ house_value: expect.any(Number) });
    expect(r.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(r.cacheStatus).toMatch(/^house-price;/);
    await page.close();
  });

  it("lets the allowed origin POST JSON with an API-key header (a preflighted request)", async () => {
    const page = await pageAt(allowed.origin);
    const r = await callFrom(page, `${api.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "unused-when-API_KEYS-is-empty" },
      body: JSON.stringify(SEED_HOUSE),
    });
    expect(r).toMatchObject({ ok: true, status: 200, body: { house_value: expect.any(Number) } });
    await page.close();
  });

  it("blocks another origin: the browser refuses to hand over the answer", async () => {
    const page = await pageAt(other.origin);
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    const get = await callFrom(page, `${api.url}/predict?${query}`, { method: "GET" });
    expect(get.ok).toBe(false);
    expect(get.error).toMatch(/Failed to fetch/);
    const post = await callFrom(page, `${api.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(SEED_HOUSE),
    });
    expect(post.ok).toBe(false);
    // Chromium says why: no Access-Control-Allow-Origin for this origin.
    await expect.poll(() => errors.join("\n")).toMatch(/CORS policy/);
    await page.close();
  });
});
