/**
 * Input drift (issue 15): the dashboard panel and the alert over input_out_of_range_total /
 * input_rows_out_of_range_total. promtool (Debian's prometheus package) runs the alert's unit tests and parses
 * the panel's queries.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createMetrics } from "../../shared/ops/metrics";
import { read, ROOT } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const hasPromtool = (() => {
  try {
    execFileSync("promtool", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const dashboard = JSON.parse(read("monitoring", "grafana-dashboard.json")) as Json;
const panel = dashboard.panels.find((p: Json) => p.title === "Inputs out of training range");
const RULES = path.join(ROOT, "monitoring", "alerts", "rules.yaml");

describe("input drift monitoring", () => {
  it("has a dashboard panel for the share of rows out of range, overall and by feature", () => {
    expect(panel).toBeDefined();
    const exprs = panel.targets.map((t: Json) => t.expr as string);
    expect(exprs[0]).toMatch(/input_rows_out_of_range_total[\s\S]*predictions_rows_total/);
    expect(exprs[1]).toMatch(/sum by \(feature\) \(rate\(input_out_of_range_total/);
    expect(panel.fieldConfig.defaults.thresholds.steps.map((s: Json) => s.value)).toContain(0.05);
  });

  it("alerts on rows the service counts, with the threshold of the issue (5 % for 30 minutes)", async () => {
    const names = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const groups = (parseYaml(read("monitoring", "alerts", "rules.yaml")) as Json).groups;
    const rules = groups.flatMap((g: Json) => g.rules);
    const alert = rules.find((r: Json) => r.alert === "HousePriceInputsOutOfRange");
    expect(alert.for).toBe("30m");
    expect(alert.expr).toMatch(/> 0\.05$/);
    const text = rules.map((r: Json) => r.expr).join("\n");
    for (const m of text.match(/[a-z_]+_total/g) ?? []) expect(names, m).toContain(m);
  });

  it.skipIf(!hasPromtool)("passes its promtool unit tests, and the panel's queries parse", () => {
    execFileSync("promtool", ["test", "rules", path.join(ROOT, "monitoring", "alerts", "rules.test.yaml")]);
    execFileSync("promtool", ["check", "rules", RULES]);
    const dir = mkdtempSync(path.join(tmpdir(), "drift-"));
    const exprs = panel.targets.map((t: Json) =>
      (t.expr as string).replaceAll("$__rate_interval", "5m").replaceAll("$namespace", "w255"),
    );
    const file = path.join(dir, "panel.rules.yaml");
    const rules = exprs.map((e: string, i: number) => ({ record: `panel:query${i}`, expr: e }));
    writeFileSync(file, JSON.stringify({ groups: [{ name: "panel", rules }] }));
    execFileSync("promtool", ["check", "rules", file]);
  });
});
