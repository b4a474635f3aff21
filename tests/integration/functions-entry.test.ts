import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { testService } from "../support/hosts";

describe("the Azure Functions entry point", () => {
  it("is package.json main, and the built bundle registers one function per endpoint plus the 404 catch-all", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { main: string };
    expect(pkg.main).toBe("dist/functions/index.js");
    expect(existsSync(pkg.main), "run npm run build first (npm test does)").toBe(true);
    // Outside the Functions host, @azure/functions runs in test mode and names each registration it skips.
    const run = spawnSync(
      process.execPath,
      ["-e", `require("./${pkg.main}"); setTimeout(() => process.exit(0), 300)`],
      {
        env: { ...process.env, LOG_LEVEL: "silent" },
        encoding: "utf8",
      },
    );
    expect(run.status).toBe(0);
    const out = run.stdout + run.stderr;
    const registered = [...out.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]);
    const service = testService();
    expect(registered).toEqual([...service.endpoints.map((e) => e.name), "not_found"]);
    void service.close();
  });

  it("sets routePrefix to the root in host.json", () => {
    const host = JSON.parse(readFileSync("host.json", "utf8"));
    expect(host.extensions.http.routePrefix).toBe("");
    expect(host.version).toBe("2.0");
  });
});
