/**
 * A static root for in-process services (tests, benches), laid out as the build writes dist/static:
 * `.tmp/test-static/swagger-ui` (git-ignored) links to the swagger-ui-dist package the build copies its files from,
 * so /docs needs no build; `app` links to the page the build writes (dist/static/app: `npm test` builds before the
 * tests run). Built services read dist/static itself (tests/deploy/package.test.ts checks the package's).
 */
import { mkdirSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

export function testStaticRoot(): string {
  const dir = path.join(ROOT, ".tmp", "test-static");
  const swaggerUiDist = path.dirname(createRequire(__filename).resolve("swagger-ui-dist/package.json"));
  mkdirSync(dir, { recursive: true });
  link(swaggerUiDist, path.join(dir, "swagger-ui"));
  link(path.join(ROOT, "dist", "static", "app"), path.join(dir, "app"));
  return dir;
}

function link(target: string, at: string): void {
  try {
    symlinkSync(target, at, "dir");
  } catch (err) {
    // Another test worker made it first.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}
