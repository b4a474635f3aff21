/**
 * A static root for in-process services (tests, benches), laid out as the build writes dist/static, without
 * needing a build: `<tmp>/swagger-ui` links to the swagger-ui-dist package the build copies its files from.
 * Built services read dist/static instead (tests/deploy/package.test.ts checks the copied files).
 */
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

let root: string | undefined;

export function testStaticRoot(): string {
  if (root) return root;
  const dir = mkdtempSync(path.join(os.tmpdir(), "house-price-static-"));
  const swaggerUiDist = path.dirname(createRequire(__filename).resolve("swagger-ui-dist/package.json"));
  symlinkSync(swaggerUiDist, path.join(dir, "swagger-ui"), "dir");
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  root = dir;
  return dir;
}
