// dist/package/: one folder that runs by itself and is both deployables.
//   `cd dist/package && node server/main.js` is the container server (the Dockerfile copies this folder);
//   the same folder zipped is the Flex Consumption package (package.json "main" is functions/index.js).
//
//   server/main.js, functions/index.js   esbuild bundles with every pure-JS dependency inlined (no source maps)
//   vendor/*.js                          the optionally loaded backends (LAZY_MODULES), one bundle each
//   node_modules/onnxruntime-node        what cannot be bundled: its JS and the linux/<arch> native binding,
//   node_modules/onnxruntime-common      and the JS API it loads
//   model/*.onnx, model/*.json           every model and its card
//   static/                              dist/static (Swagger UI files /docs serves, pages)
//   host.json, package.json, .funcignore, THIRD-PARTY-NOTICES.txt (licences of the inlined packages)
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { COMMON, LAZY_MODULES } from "./build-config.mjs";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, "..");

/**
 * The package's own .funcignore. azd zips `dist` with the .funcignore found in that folder; without one it drops
 * node_modules (and the onnxruntime binding with it) unless remoteBuild is false. Core Tools reads it too.
 * It must not exclude node_modules; it keeps secrets and source maps out should any land here.
 */
const FUNCIGNORE = `# dist/package/.funcignore: what azd (dist: dist/package) and \`func azure functionapp publish\` leave out of
# the zip. node_modules stays: it holds onnxruntime-node's native binding, which cannot be bundled.
.azure
.azurite
.env
.env.*
local.settings.json
*.map
*.ts
`;

/**
 * esbuild plugin: each of LAZY_MODULES becomes a small stub module, `module.exports = require("<prefix><file>")`,
 * so the bundle loads vendor/<file> only when the code first requires or imports the module. A stub rather than an
 * external path: an external `import()` would stay a native dynamic import, which sees a CommonJS vendor bundle
 * as `{ default }` only; through the stub, esbuild's own interop gives the named exports.
 */
function lazyModules(prefix, except) {
  const names = Object.keys(LAZY_MODULES).filter((n) => n !== except);
  const filter = new RegExp(`^(${names.map((n) => n.replace(/[/.]/g, "\\$&")).join("|")})$`);
  return {
    name: "lazy-modules",
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace: "lazy-module" }));
      b.onLoad({ filter: /.*/, namespace: "lazy-module" }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(prefix + LAZY_MODULES[args.path])});`,
        loader: "js",
      }));
      b.onResolve({ filter: /^\.\.?\/.*\.js$/, namespace: "lazy-module" }, (args) => ({
        path: args.path,
        external: true,
      }));
    },
  };
}

async function bundleHosts(out) {
  const options = {
    ...COMMON,
    absWorkingDir: ROOT,
    sourcemap: false,
    metafile: true,
    external: ["onnxruntime-node", "@azure/functions-core"],
  };
  const plugins = [lazyModules("../vendor/")];
  return Promise.all([
    build({ ...options, plugins, entryPoints: ["server/main.ts"], outfile: path.join(out, "server", "main.js") }),
    build({
      ...options,
      plugins,
      entryPoints: ["functions/index.ts"],
      outfile: path.join(out, "functions", "index.js"),
    }),
    ...Object.entries(LAZY_MODULES).map(([name, file]) =>
      build({
        ...options,
        plugins: [lazyModules("./", name)],
        stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: ROOT, loader: "js" },
        outfile: path.join(out, "vendor", file),
      }),
    ),
  ]);
}

/** The node_modules package directories whose code esbuild inlined into any of the bundles. */
function bundledPackages(results) {
  const dirs = new Set();
  for (const { metafile } of results) {
    for (const input of Object.keys(metafile.inputs)) {
      const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.split(path.sep).join("/"));
      if (m) dirs.add(path.resolve(ROOT, m[1]));
    }
  }
  return [...dirs].sort();
}

/**
 * THIRD-PARTY-NOTICES.txt: name, version and licence text of every package inlined into the bundles (their licences
 * ask for the notice to travel with the code; esbuild drops the files it came with). onnxruntime-* and Swagger UI
 * keep their own LICENSE files beside their code.
 */
function writeNotices(out, results) {
  const parts = [];
  for (const dir of bundledPackages(results)) {
    const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file ? readFileSync(path.join(dir, file), "utf8").trim() : `License: ${pkg.license ?? "see package"}`;
    parts.push(`${pkg.name}@${pkg.version}\n${"-".repeat(72)}\n${text}\n`);
  }
  writeFileSync(path.join(out, "THIRD-PARTY-NOTICES.txt"), `${parts.join("\n")}`);
}

/** Copies the files under `from` whose relative path passes `keep`. */
function copyTree(from, to, keep) {
  for (const entry of readdirSync(from, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const abs = path.join(entry.parentPath, entry.name);
    const rel = path.relative(from, abs).split(path.sep).join("/");
    if (!keep(rel)) continue;
    mkdirSync(path.dirname(path.join(to, rel)), { recursive: true });
    cpSync(abs, path.join(to, rel));
  }
}

/** onnxruntime-node's JS and its linux/<arch> binding, and onnxruntime-common's CommonJS build: ~45 MiB on x64. */
function copyOnnxruntime(out, arch) {
  const ortNode = path.dirname(require.resolve("onnxruntime-node/package.json"));
  // onnxruntime-common exports no ./package.json: its CommonJS entry is dist/cjs/index.js.
  const ortCommon = path.resolve(require.resolve("onnxruntime-common", { paths: [ortNode] }), "..", "..", "..");
  const modules = path.join(out, "node_modules");
  const binding = new RegExp(`^bin/napi-v\\d+/linux/${arch}/`);
  copyTree(
    ortNode,
    path.join(modules, "onnxruntime-node"),
    (rel) => rel === "package.json" || rel === "LICENSE" || /^dist\/[^/]+\.js$/.test(rel) || binding.test(rel),
  );
  copyTree(
    ortCommon,
    path.join(modules, "onnxruntime-common"),
    (rel) => rel === "package.json" || rel === "LICENSE" || /^dist\/cjs\/[^/]+\.(js|json)$/.test(rel),
  );
  const bin = path.join(modules, "onnxruntime-node", "bin");
  const found = existsSync(bin)
    ? readdirSync(bin).filter((n) => existsSync(path.join(bin, n, "linux", arch, "onnxruntime_binding.node")))
    : [];
  if (found.length === 0) throw new Error(`onnxruntime-node has no linux/${arch} binding`);
}

/** Every model file and card in model/ (model.onnx, and any model added beside it). */
function copyModels(out) {
  const files = readdirSync(path.join(ROOT, "model")).filter((f) => /\.(onnx|json)$/.test(f));
  if (!files.includes("model.onnx")) throw new Error("model/model.onnx is missing");
  for (const f of files) cpSync(path.join(ROOT, "model", f), path.join(out, "model", f));
}

function writeManifest(out) {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
  const manifest = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    description: pkg.description,
    main: "functions/index.js",
    engines: pkg.engines,
  };
  writeFileSync(path.join(out, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(path.join(ROOT, "host.json"), path.join(out, "host.json"));
  writeFileSync(path.join(out, ".funcignore"), FUNCIGNORE);
}

export async function writePackage({ out, staticDir, arch }) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeNotices(out, await bundleHosts(out));
  cpSync(staticDir, path.join(out, "static"), { recursive: true });
  copyOnnxruntime(out, arch);
  copyModels(out);
  writeManifest(out);
}
