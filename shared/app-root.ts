import { existsSync } from "node:fs";
import path from "node:path";

/** The nearest directory at or above `start` holding package.json: the repo root, /app or wwwroot. */
export function findAppRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

/**
 * The build's static files (dist/static: swagger-ui/, pages) for a host bundle in `bundleDir`: `<bundleDir>/../static`,
 * i.e. dist/static for dist/server/main.js and dist/package/static for dist/package/server/main.js.
 */
export function findStaticRoot(bundleDir: string): string {
  return path.resolve(bundleDir, "..", "static");
}
