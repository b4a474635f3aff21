// Bundles both hosts with esbuild: dist/server/main.js (the container) and dist/functions/index.js (Azure Functions),
// and the /app page into dist/static/app/ (script, style, markup, map data), each file also precompressed (.br, .gz).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

rmSync("dist", { recursive: true, force: true });

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: "linked",
  minifySyntax: true,
  legalComments: "none",
  logLevel: "warning",
  // Native addon and files resolved at run time from node_modules; the Functions worker provides its core.
  // The optional backends (Redis, Upstash, Blob Storage) stay external so the default path never parses them.
  external: [
    "onnxruntime-node",
    "@azure/functions-core",
    "swagger-ui-dist",
    "redis",
    "@upstash/redis",
    "@azure/storage-blob",
    "@azure/identity",
  ],
};

/** The page's static root: the hosts serve `<bundle dir>/../static`. */
const APP_DIR = "dist/static/app";

async function buildPage() {
  mkdirSync(APP_DIR, { recursive: true });
  const web = { bundle: true, minify: true, legalComments: "none", logLevel: "warning", target: "es2022" };
  await Promise.all([
    build({ ...web, entryPoints: ["web/main.ts"], outfile: `${APP_DIR}/app.js`, platform: "browser", format: "iife" }),
    build({ ...web, entryPoints: ["web/app.css"], outfile: `${APP_DIR}/app.css` }),
  ]);
  copyFileSync("web/index.html", `${APP_DIR}/index.html`);
  copyFileSync("web/favicon.svg", `${APP_DIR}/favicon.svg`);
  // Re-serialised without the whitespace a committed file may have.
  const points = JSON.parse(readFileSync("web/data/holdout-points.json", "utf8"));
  writeFileSync(`${APP_DIR}/holdout-points.json`, JSON.stringify(points));
  precompress(APP_DIR);
}

/** Writes name.br and name.gz beside every file, at the strongest settings: this runs once per build. */
function precompress(dir) {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const bytes = readFileSync(file);
    writeFileSync(
      `${file}.br`,
      brotliCompressSync(bytes, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
          [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
        },
      }),
    );
    writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
  }
}

await Promise.all([
  build({ ...common, entryPoints: ["server/main.ts"], outfile: "dist/server/main.js" }),
  build({ ...common, entryPoints: ["functions/index.ts"], outfile: "dist/functions/index.js" }),
  buildPage(),
]);
