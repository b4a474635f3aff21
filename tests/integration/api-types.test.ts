import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TYPES_FILE, apiTypesFrom } from "../../tools/api-types";
import { startBuiltServer, type BuiltServer } from "../support/server-process";

describe("the page's typed API client", () => {
  let server: BuiltServer;
  beforeAll(async () => {
    // A fresh deployment's defaults: the checked-in types are generated from the default configuration.
    server = await startBuiltServer({ cleanEnv: true, env: { LOG_LEVEL: "warn" } });
  });
  afterAll(() => {
    server?.child.kill("SIGKILL");
  });

  it("is generated from the document the server serves (run `npm run gen:api` after changing the API)", async () => {
    const served = await (await fetch(`${server.url}/openapi.json`)).text();
    const checkedIn = readFileSync(API_TYPES_FILE, "utf8");
    expect(checkedIn, "web/api/schema.d.ts is stale: run `npm run gen:api`").toBe(await apiTypesFrom(served));
  });
});
