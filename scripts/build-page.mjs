// The /app page: web/ bundled by esbuild into dist/static/app/ (script, style, markup, map data), each file also
// precompressed (.br, .gz) so the hosts serve the smallest encoding a client accepts without compressing per request.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/** Builds the /app page (web/) into `appDir` (dist/static/app: the hosts serve `<bundle dir>/../static`). */
export async function buildPage(appDir) {
  const APP_DIR = appDir;
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
