/**
 * The served OpenAPI document, read by a real consumer: `@redocly/cli lint` with its recommended rules
 * (redocly.yaml; waivers there, each with its reason) must report no error and no warning.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "../../shared/docs/openapi";
import { parseConfig } from "../../shared/ops/config";
import { startBuiltServer, type BuiltServer } from "../support/server-process";

const run = promisify(execFile);
const CLI = path.resolve("node_modules", "@redocly", "cli", "bin", "cli.js");

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
}

async function lint(document: string): Promise<LintReport> {
  const dir = mkdtempSync(path.join(tmpdir(), "openapi-lint-"));
  try {
    const file = path.join(dir, "openapi.json");
    writeFileSync(file, document);
    // Exit status 1 means "problems found": the JSON report on stdout says which, so it is read either way.
    const out = await run(process.execPath, [CLI, "lint", file, "--config", "redocly.yaml", "--format", "json"], {
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
    return JSON.parse(out.stdout) as LintReport;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const describeProblems = (r: LintReport) =>
  r.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`).join("\n");

describe("the served OpenAPI document under @redocly/cli lint", () => {
  let server: BuiltServer;
  let doc: string;
  beforeAll(async () => {
    server = await startBuiltServer({
      env: { LOG_LEVEL: "warn", API_KEYS: "k", METRICS_TOKEN: "t", MAX_BATCH: "250" },
    });
    doc = await (await fetch(`${server.url}/openapi.json`)).text();
  });
  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
  });

  it("has no errors and no warnings with the recommended rules", async () => {
    const report = await lint(doc);
    expect(describeProblems(report)).toBe("");
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it("is as clean for an open service (no API_KEYS, no METRICS_TOKEN), where keys are optional", async () => {
    const open = openApiDocument(parseConfig({}));
    const report = await lint(open);
    expect(describeProblems(report)).toBe("");
    const predict = JSON.parse(open).paths["/predict"];
    expect(predict.post.security).toEqual([{}, { apiKey: [] }, { bearer: [] }]);
    expect(JSON.parse(doc).paths["/predict"].get.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
  });

  it("names every operation, declares both key schemes and servers, and bounds houses by MAX_BATCH", () => {
    const spec = JSON.parse(doc);
    const ops = Object.values(spec.paths as Record<string, Record<string, { operationId?: string }>>).flatMap((p) =>
      Object.values(p),
    );
    expect(ops.length).toBeGreaterThanOrEqual(9);
    const ids = ops.map((o) => o.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(spec.components.securitySchemes).toMatchObject({
      apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
      bearer: { type: "http", scheme: "bearer" },
    });
    expect(spec.servers.length).toBeGreaterThan(0);
    const houses = spec.components.schemas.BulkRequest.properties.houses;
    expect(houses.maxItems).toBe(250);
    expect(houses.minItems).toBe(1);
  });

  it("declares a 4xx on every operation a client can get wrong (parameters, a body or a required key)", () => {
    type Op = { parameters?: unknown[]; requestBody?: unknown; security?: object[]; responses: object };
    const spec = JSON.parse(doc) as { paths: Record<string, Record<string, Op>> };
    const missing = Object.entries(spec.paths).flatMap(([p, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.parameters?.length || op.requestBody || op.security?.some((r) => Object.keys(r).length))
        .filter(([, op]) => !Object.keys(op.responses).some((code) => code.startsWith("4")))
        .map(([method]) => `${method.toUpperCase()} ${p}`),
    );
    expect(missing).toEqual([]);
  });

  it("a linter that finds a problem reports it (the check can fail)", async () => {
    const spec = JSON.parse(doc);
    delete spec.paths["/predict"].post.operationId;
    const report = await lint(JSON.stringify(spec));
    expect(report.problems.map((p) => p.ruleId)).toContain("operation-operationId");
  });
});
