/**
 * A static root for in-process services (tests, benches), laid out as the build writes dist/static, without
 * needing a build: `.tmp/test-static/swagger-ui` (git-ignored) links to the swagger-ui-dist package the build
 * copies its files from. Built services read dist/static instead (tests/deploy/package.test.ts checks those).
 */
import { mkdirSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

export function testStaticRoot(): string {
  const dir = path.join(ROOT, ".tmp", "test-static");
  const link = path.join(dir, "swagger-ui");
  const swaggerUiDist = path.dirname(createRequire(__filename).resolve("swagger-ui-dist/package.json"));
  mkdirSync(dir, { recursive: true });
  try {
    symlinkSync(swaggerUiDist, link, "dir");
  } catch (err) {
    // Another test worker made it first.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return dir;
}
