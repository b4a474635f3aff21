// Bundles both hosts with esbuild: dist/server/main.js (the container) and dist/functions/index.js (Azure Functions).
import { build } from "esbuild";
import { rmSync } from "node:fs";

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

await Promise.all([
  build({ ...common, entryPoints: ["server/main.ts"], outfile: "dist/server/main.js" }),
  build({ ...common, entryPoints: ["functions/index.ts"], outfile: "dist/functions/index.js" }),
]);
