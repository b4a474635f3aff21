/**
 * monitoring/: the Grafana dashboard queries metrics the service exports (checked against the service's own
 * metric registry), the Prometheus scrape config and the ServiceMonitor find the API pods/Service.
 */
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createMetrics } from "../../shared/ops/metrics";
import { dashboardExprs, dashboardMetrics, one, read, render, renderer } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Metrics from outside the service (kube-state-metrics, Prometheus itself). */
const EXTERNAL = new Set(["kube_deployment_status_replicas_available", "kube_deployment_spec_replicas", "up"]);

const dashboard = JSON.parse(read("monitoring", "grafana-dashboard.json")) as Json;
const exprs = dashboardExprs();

/** Series names a metric family exposes (histograms: _bucket, _sum, _count). */
async function exportedSeries(): Promise<Set<string>> {
  const m = createMetrics();
  const out = new Set<string>();
  for (const f of await m.registry.getMetricsAsJSON()) {
    out.add(f.name);
    if (String(f.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) out.add(f.name + s);
  }
  return out;
}

describe("Grafana dashboard", () => {
  it("is a valid dashboard with the required panels", () => {
    expect(dashboard.uid).toBe("house-price-api");
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = dashboard.panels.map((p: Json) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const all = exprs.join("\n");
    expect(all).toMatch(/sum by \(route, status\) \(rate\(http_requests_total/);
    expect(all).toMatch(/histogram_quantile\(0\.5, sum by \(le, route\) \(rate\(http_request_duration_seconds_bucket/);
    expect(all).toMatch(/histogram_quantile\(0\.99, /);
    expect(all).toMatch(/rate\(predictions_rows_total/);
    expect(all).toMatch(/cache_hits_total[\s\S]*cache_misses_total/);
    expect(all).toMatch(/kube_deployment_status_replicas_available/);
    for (const p of dashboard.panels) expect(p.datasource?.uid, p.title).toBe("${datasource}");
  });

  it("queries only metrics the service exports (or kube-state-metrics / Prometheus ones)", async () => {
    const exported = await exportedSeries();
    for (const name of dashboardMetrics()) {
      if (!EXTERNAL.has(name)) expect(exported, name).toContain(name);
    }
  });

  it("uses only labels the service's metrics carry", () => {
    // route/status on http_requests_total, route on the latency histogram, source on rows, backend/op/reason on errors.
    const all = exprs.join("\n");
    expect(all).not.toMatch(/http_request_duration_seconds_bucket\{[^}]*status/);
  });
});

describe("Prometheus scrape config and ServiceMonitor", () => {
  const scrape = parseYaml(read("monitoring", "prometheus-scrape-config.yaml")) as Json;
  const sm = parseYaml(read("monitoring", "servicemonitor.yaml")) as Json;

  it("scrape config: job house-price-api (the dashboard's job label), pods in w255 by annotation", () => {
    const job = scrape.scrape_configs.find((j: Json) => j.job_name === "house-price-api");
    expect(job).toBeDefined();
    expect(job.kubernetes_sd_configs[0].namespaces.names).toEqual(["w255"]);
    expect(exprs.join("\n")).toMatch(/job="house-price-api"/);
    const keep = job.relabel_configs.filter((r: Json) => r.action === "keep");
    expect(keep.map((r: Json) => r.source_labels[0])).toContain(
      "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
    );
  });

  it.skipIf(!renderer)("scrape annotations and ServiceMonitor match the rendered API Deployment and Service", () => {
    const objs = render("overlays/prod");
    const d = one(objs, "Deployment", "house-price-api");
    const ann = d.spec.template.metadata.annotations;
    expect(ann["prometheus.io/scrape"]).toBe("true");
    expect(ann["prometheus.io/path"]).toBe("/metrics");
    expect(Number(ann["prometheus.io/port"])).toBe(8000);
    const svc = one(objs, "Service", "house-price-api");
    expect(sm.kind).toBe("ServiceMonitor");
    expect(sm.metadata.namespace).toBe("w255");
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k], k).toBe(v);
    expect(svc.spec.ports.map((p: Json) => p.name)).toContain(sm.spec.endpoints[0].port);
    expect(sm.spec.endpoints[0].path).toBe("/metrics");
    // The ExternalName proxy Service is not selected (it has no component label).
    const proxy = one(objs, "Service", "house-price-api-proxy");
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => proxy.metadata.labels[k] === v)).toBe(false);
  });
});
