/**
 * The Debian tools the real-component suites need (table: tests/support/tools.json; `npm test` installs them
 * first when it runs as root). `needTool("promtool")` answers whether a suite can run: when the tool is missing
 * it warns loudly, naming the package, and the suite skips (`describe.skipIf(!needTool("promtool"))`); under
 * CI=true it throws instead, so a missing package fails the run rather than passing with fewer tests.
 */
import { accessSync, constants } from "node:fs";
import path from "node:path";
import table from "./tools.json";

export interface Tool {
  command: string;
  package: string;
  suites: string[];
}

export const TOOLS: readonly Tool[] = table.tools;

/** The tool's absolute path on PATH, or undefined. */
export function findTool(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const warned = new Set<string>();

/** Whether `command` is installed; if not, a loud warning (once per process), or an error under CI=true. */
export function needTool(command: string): boolean {
  if (findTool(command)) return true;
  const tool = TOOLS.find((t) => t.command === command);
  if (!tool) throw new Error(`needTool("${command}"): add it to tests/support/tools.json first`);
  const message = `${command} (Debian package ${tool.package}) is not installed: these tests are SKIPPED. Install it with \`sudo apt-get install ${tool.package}\` (npm test does it when run as root).`;
  if (process.env.CI === "true") throw new Error(`CI=true: ${message}`);
  if (!warned.has(command)) {
    warned.add(command);
    console.warn(`\n${"!".repeat(100)}\n!! ${message}\n${"!".repeat(100)}\n`);
  }
  return false;
}
