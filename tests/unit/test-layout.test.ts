import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const TESTS = path.resolve(__dirname, "..");
const PROJECTS = ["unit", "integration", "deploy"];

/** Every *.test.ts under tests/, relative to it. */
function testFiles(dir: string, rel = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return e.name === "node_modules" ? [] : testFiles(path.join(dir, e.name), r);
    return e.name.endsWith(".test.ts") ? [r] : [];
  });
}

describe("test layout", () => {
  // vitest.config.mts runs only these three folders: a test file anywhere else would silently never run.
  it("puts every test file in one of the vitest projects (tests/unit, tests/integration, tests/deploy)", () => {
    const files = testFiles(TESTS);
    expect(files.length).toBeGreaterThan(30);
    expect(files.filter((f) => !PROJECTS.includes(f.split("/")[0]!))).toEqual([]);
  });
});
