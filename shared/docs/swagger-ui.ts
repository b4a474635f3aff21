import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { CoreResponse } from "../http/core";

/** Swagger UI's files, served by the service itself from the npm package (no CDN). */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

// The initializer is a file of ours rather than inline script, so the page's CSP can forbid inline scripts.
const INIT_JS = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>House price API — docs</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="/docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script src="/docs/init.js" charset="UTF-8"></script>
</body>
</html>
`;

const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'";

let distDir: string | undefined;
const loaded = new Map<string, Buffer>();

function swaggerDir(): string {
  if (!distDir) {
    // Resolved at run time from node_modules (a production dependency), in the bundle and in tests alike.
    const req = typeof require === "function" ? require : createRequire(path.join(process.cwd(), "noop.js"));
    distDir = path.dirname(req.resolve("swagger-ui-dist/package.json"));
  }
  return distDir;
}

export function docsPage(): CoreResponse {
  return {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": DOCS_CSP,
      "cache-control": "no-cache",
    },
    body: PAGE,
  };
}

/** One of the page's assets, or undefined for any other name. */
export function docsAsset(name: string): CoreResponse | undefined {
  if (name === "init.js") {
    return {
      status: 200,
      headers: { "content-type": ASSETS["swagger-ui-bundle.js"]!, "cache-control": "no-cache" },
      body: INIT_JS,
    };
  }
  const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!type) return undefined;
  let bytes = loaded.get(name);
  if (!bytes) {
    bytes = readFileSync(path.join(swaggerDir(), name));
    loaded.set(name, bytes);
  }
  return { status: 200, headers: { "content-type": type, "cache-control": "public, max-age=86400" }, body: bytes };
}
