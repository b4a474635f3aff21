/**
 * The test-tools check `npm test` runs first (scripts/test-tools.mjs, table tests/support/tools.json) and the
 * suites' needTool(): a missing Debian package is named with the suites it skips, and fails the run under CI=true.
 * Run with a PATH that holds only node (and no apt-get), so nothing is installed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers";
import { TOOLS, findTool, needTool } from "../support/tools";

const bare = mkdtempSync(path.join(os.tmpdir(), "house-price-path-"));
symlinkSync(process.execPath, path.join(bare, "node"));
afterAll(() => rmSync(bare, { recursive: true, force: true }));

const check = (env: Record<string, string>) =>
  spawnSync(path.join(bare, "node"), ["scripts/test-tools.mjs"], {
    cwd: ROOT,
    env: { PATH: bare, ...env },
    encoding: "utf8",
  });

describe("scripts/test-tools.mjs", () => {
  it("names every missing package and the suites that skip, and lets the run go on", () => {
    const run = check({});
    expect(run.status).toBe(0);
    for (const t of TOOLS) {
      expect(run.stderr).toContain(
        `${t.command} (Debian package ${t.package}) is missing: SKIPPED ${t.suites.join(", ")}`,
      );
    }
    expect(run.stderr).toContain("apt-get install redis-server shellcheck prometheus chromium");
  });

  it("fails the run under CI=true", () => {
    const run = check({ CI: "true" });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/CI=true/);
  });

  it.skipIf(TOOLS.some((t) => !findTool(t.command)))("is silent when every tool is installed", () => {
    const run = spawnSync(process.execPath, ["scripts/test-tools.mjs"], { cwd: ROOT, encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe("");
  });
});

describe("needTool", () => {
  it("answers false for a missing tool (the suite skips), and throws under CI=true", () => {
    const saved = { PATH: process.env.PATH, CI: process.env.CI };
    try {
      process.env.PATH = bare;
      delete process.env.CI;
      expect(needTool("promtool")).toBe(false);
      process.env.CI = "true";
      expect(() => needTool("promtool")).toThrow(/CI=true: promtool \(Debian package prometheus\) is not installed/);
      expect(() => needTool("no-such-tool")).toThrow(/tools\.json/);
      process.env.PATH = saved.PATH;
      for (const t of TOOLS) expect(needTool(t.command)).toBe(findTool(t.command) !== undefined);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.CI === undefined) delete process.env.CI;
      else process.env.CI = saved.CI;
    }
  });
});
