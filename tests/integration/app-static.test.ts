import { request } from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOSTS, testService } from "../support/hosts";
import { startBuiltServer, type BuiltServer } from "../support/server-process";

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET over plain node:http: the bytes as sent (fetch would undo Content-Encoding). */
function rawGet(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

const PAGE_FILES = ["app.js", "app.css", "holdout-points.json", "favicon.svg"];

describe("the /app page's files over HTTP (built server)", () => {
  let server: BuiltServer;
  beforeAll(async () => {
    server = await startBuiltServer({ env: { LOG_LEVEL: "warn" } });
  });
  afterAll(() => {
    server?.child.kill("SIGKILL");
  });

  it("serves the markup at /app under a CSP that allows no inline script or style, while / stays a 404", async () => {
    const page = await rawGet(`${server.url}/app`);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    const html = page.body.toString("utf8");
    // Nothing the CSP would block: no inline script, no <style>, no style attributes, nothing from elsewhere.
    for (const script of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(script[1]).toMatch(/src="\/app\//);
      expect(script[2]!.trim()).toBe("");
    }
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|https?:\/\//);
    expect((await rawGet(`${server.url}/`)).status).toBe(404);
    expect((await rawGet(`${server.url}/app/`)).status).toBe(200);
  });

  it("answers br or gzip when the client accepts it, the same bytes as identity, with ETags per representation and 304s", async () => {
    for (const name of PAGE_FILES) {
      const url = `${server.url}/app/${name}`;
      const plain = await rawGet(url);
      expect(plain.status, name).toBe(200);
      expect(plain.headers["content-encoding"]).toBeUndefined();
      expect(plain.headers.vary).toBe("Accept-Encoding");
      const br = await rawGet(url, { "accept-encoding": "gzip, deflate, br" });
      const gz = await rawGet(url, { "accept-encoding": "gzip" });
      expect(br.headers["content-encoding"]).toBe("br");
      expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
      if (name === "favicon.svg") {
        // 126 bytes grow under gzip: a compressed copy is served only when it is smaller.
        expect(gz.headers["content-encoding"]).toBeUndefined();
        continue;
      }
      expect(gz.headers["content-encoding"]).toBe("gzip");
      expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
      expect(new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]).size).toBe(3);
      const again = await rawGet(url, { "accept-encoding": "br", "if-none-match": String(br.headers.etag) });
      expect(again.status).toBe(304);
      expect(again.body.length).toBe(0);
      // br;q=0 is a refusal.
      expect((await rawGet(url, { "accept-encoding": "br;q=0, gzip" })).headers["content-encoding"]).toBe("gzip");
    }
  });

  it("keeps script, style and markup under 100 KB compressed (the map data comes on top)", async () => {
    let total = 0;
    for (const path of ["/app", "/app/app.js", "/app/app.css"]) {
      const res = await rawGet(`${server.url}${path}`, { "accept-encoding": "br" });
      expect(res.headers["content-encoding"]).toBe("br");
      total += res.body.length;
    }
    process.stdout.write(`page script+style+markup: ${total} bytes brotli\n`);
    expect(total).toBeLessThan(100 * 1024);
  });

  it("serves only the files the build wrote: other names, escapes and the compressed copies are 404s", async () => {
    for (const path of [
      "/app/nope.js",
      "/app/..%2Fpackage.json",
      "/app/%E0%A4%A",
      "/app/app.js.br",
      "/app/../package.json",
    ]) {
      expect((await rawGet(`${server.url}${path}`)).status, path).toBe(404);
    }
    const head = await rawGet(`${server.url}/app`, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });
});

describe.each(Object.keys(HOSTS) as (keyof typeof HOSTS)[])("the /app page on the %s host", (hostName) => {
  it("serves the page and its script from the build's static root", async () => {
    const host = await HOSTS[hostName](testService());
    try {
      const page = await host.send("GET", "/app");
      expect(page.status).toBe(200);
      expect(page.text).toContain('<script src="/app/app.js" defer></script>');
      const script = await host.send("GET", "/app/app.js");
      expect(script.status).toBe(200);
      expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect((await host.send("GET", "/app/missing.css")).status).toBe(404);
      expect((await host.send("GET", "/")).status).toBe(404);
    } finally {
      await host.close();
    }
  });
});
