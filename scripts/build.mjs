// `npm run build` (= `npm run package`): everything the hosts run, in dist/.
//   dist/server/main.js, dist/functions/index.js   the development bundles (`npm start`, the tests, `func start`):
//                                                   the optional backends and onnxruntime-node load from node_modules
//   dist/static/swagger-ui/                         the Swagger UI files /docs serves (found beside the bundle at run time)
//   dist/static/app/                                the /app page (scripts/build-page.mjs), precompressed
//   dist/package/                                   the deployable, runnable by itself (scripts/package.mjs)
// Options: --arch=x64|arm64 picks the onnxruntime-node binding the package carries (default x64, or PACKAGE_ARCH).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { COMMON, LAZY_MODULES, SWAGGER_UI_FILES } from "./build-config.mjs";
import { buildPage } from "./build-page.mjs";
import { writePackage } from "./package.mjs";

const require = createRequire(import.meta.url);

function copyStatic(out) {
  const from = path.dirname(require.resolve("swagger-ui-dist/package.json"));
  const to = path.join(out, "static", "swagger-ui");
  mkdirSync(to, { recursive: true });
  for (const f of SWAGGER_UI_FILES) cpSync(path.join(from, f), path.join(to, f));
}

async function buildDevelopment(out) {
  const options = {
    ...COMMON,
    sourcemap: "linked",
    // The native addon resolves from node_modules; the Functions worker provides its core. The optional backends
    // stay external so the default path never parses them.
    external: ["onnxruntime-node", "@azure/functions-core", ...Object.keys(LAZY_MODULES)],
  };
  await Promise.all([
    build({ ...options, entryPoints: ["server/main.ts"], outfile: path.join(out, "server", "main.js") }),
    build({ ...options, entryPoints: ["functions/index.ts"], outfile: path.join(out, "functions", "index.js") }),
  ]);
}

function parseArch(argv) {
  const flag = argv.find((a) => a.startsWith("--arch="));
  const arch = flag ? flag.slice("--arch=".length) : (process.env.PACKAGE_ARCH ?? "x64");
  if (arch !== "x64" && arch !== "arm64") throw new Error(`--arch must be x64 or arm64, not ${arch}`);
  return arch;
}

const out = "dist";
rmSync(out, { recursive: true, force: true });
await Promise.all([buildDevelopment(out), buildPage(path.join(out, "static", "app"))]);
copyStatic(out);
await writePackage({
  out: path.join(out, "package"),
  staticDir: path.join(out, "static"),
  arch: parseArch(process.argv),
});
