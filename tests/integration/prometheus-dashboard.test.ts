/**
 * The dashboard and the alerts against a REAL Prometheus scraping the REAL server: Debian's `prometheus` scrapes
 * the built server (tests/support/server-process.ts, with a real redis-server as shared cache) through a static
 * target carrying the metadata Kubernetes service discovery would give an API pod, relabelled by the very
 * relabel_configs of monitoring/prometheus-scrape-config.yaml. After a little load, every query of
 * monitoring/grafana-dashboard.json over the service's own metrics, and every ratio the alerts divide, must
 * return data through Prometheus's HTTP API. Panels on kube-state-metrics (kube_*) cannot run here: they are
 * listed, not evaluated.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { dashboardExprs } from "../deploy/helpers";
import { eventually } from "../support/eventually";
import { freePort } from "../support/ports";
import { SKIP_REDIS, startRedis, type RedisProcess } from "../support/redis-server";
import { startBuiltServer, type BuiltServer } from "../support/server-process";
import { SEED_HOUSE } from "../../shared/input/features";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ROOT = path.resolve(__dirname, "..", "..");
const hasPrometheus = spawnSync("prometheus", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasPrometheus) {
  const message =
    "prometheus is not installed (Debian package `prometheus`: apt-get install prometheus): the real-Prometheus dashboard test is SKIPPED";
  if (process.env.CI === "true") throw new Error(message + " - and CI=true requires it");
  console.warn(`\n!!! ${message} !!!\n`);
}

/** The dashboard's template variables, as Grafana substitutes them. */
const substitute = (expr: string) => expr.replaceAll("$namespace", "w255").replaceAll("$__rate_interval", "30s");
const EXPRS = dashboardExprs();
/** Panels on kube-state-metrics series: no kube-state-metrics here. */
const KUBE_EXPRS = EXPRS.filter((e) => /\bkube_/.test(e));
const OWN_EXPRS = EXPRS.filter((e) => !/\bkube_/.test(e));

/** What Kubernetes pod discovery would attach to an API pod (k8s-keda/base/api/deployment.yaml). */
function podMetadata(port: number): Record<string, string> {
  return {
    __meta_kubernetes_namespace: "w255",
    __meta_kubernetes_pod_name: "house-price-api-7d9f8b6c5d-x2x4q",
    __meta_kubernetes_pod_label_app_kubernetes_io_name: "house-price-api",
    __meta_kubernetes_pod_label_app_kubernetes_io_instance: "house-price-api",
    __meta_kubernetes_pod_annotation_prometheus_io_scrape: "true",
    __meta_kubernetes_pod_annotation_prometheus_io_path: "/metrics",
    __meta_kubernetes_pod_annotation_prometheus_io_port: String(port),
  };
}

/** monitoring/'s scrape job with a static target in place of kubernetes_sd_configs, scraping every second. */
function scrapeConfig(port: number): string {
  const source = parseYaml(readFileSync(path.join(ROOT, "monitoring", "prometheus-scrape-config.yaml"), "utf8"));
  const job = source.scrape_configs.find((j: Json) => j.job_name === "house-price-api");
  const rest = { ...job };
  delete rest.kubernetes_sd_configs;
  return stringify({
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    scrape_configs: [
      {
        ...rest,
        scrape_interval: "1s",
        scrape_timeout: "1s",
        // The port annotation's relabel rule rewrites __address__ from it, as on a cluster.
        static_configs: [{ targets: [`127.0.0.1:${port}`], labels: podMetadata(port) }],
      },
    ],
  });
}

async function startPrometheus(dir: string, config: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  writeFileSync(path.join(dir, "prometheus.yml"), config);
  const child = spawn(
    "prometheus",
    [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (r.status !== 200) throw new Error(`not ready: ${r.status}`);
    },
    30_000,
    200,
  );
  return { child, url };
}

async function query(
  url: string,
  expr: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`, {
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await r.json()) as Json;
  if (body.status !== "success") throw new Error(`${expr}: ${JSON.stringify(body)}`);
  return body.data.result;
}

const HOUSE = SEED_HOUSE;

/** A little load on 127.0.0.1: single and bulk predictions (some repeated: cache hits), bad input, other routes. */
async function load(base: string): Promise<void> {
  const post = (route: string, body: unknown) =>
    fetch(base + route, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    }).then((r) => r.arrayBuffer().then(() => r.status));
  const statuses: number[] = [];
  for (let i = 0; i < 40; i++) {
    statuses.push(await post("/predict", { ...HOUSE, HouseAge: 1 + (i % 20) }));
    statuses.push(await post("/bulk_predict", { houses: [HOUSE, { ...HOUSE, MedInc: 1 + i }] }));
  }
  statuses.push(await post("/predict", { ...HOUSE, MedInc: "lots" }));
  for (const route of ["/health", "/hello?name=prom", "/model", "/no-such-route"]) {
    statuses.push(await fetch(base + route).then((r) => r.arrayBuffer().then(() => r.status)));
  }
  expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(80);
  expect(
    statuses.some((s) => s === 400 || s === 422),
    "bad input answered 4xx",
  ).toBe(true);
  expect(statuses).toContain(404);
}

describe.skipIf(!hasPrometheus || SKIP_REDIS)("dashboard and alert queries on a real Prometheus", () => {
  let dir: string;
  let redis: RedisProcess | undefined;
  let server: BuiltServer | undefined;
  let prometheus: { child: ChildProcess; url: string } | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "prometheus-test-"));
    redis = await startRedis();
    server = await startBuiltServer({ env: { REDIS_URL: redis.url, LOG_LEVEL: "warn", METRICS_TOKEN: "" } });
    prometheus = await startPrometheus(dir, scrapeConfig(server.port));
    const { url } = prometheus;
    const scrapes = async (atLeast: number) =>
      eventually(
        async () => {
          const r = await query(url, 'count_over_time(up{job="house-price-api"}[1m])');
          const n = Number(r[0]?.value[1] ?? 0);
          if (n < atLeast) throw new Error("not enough scrapes yet");
          return n;
        },
        30_000,
        250,
      );
    // Scrapes before and after the load, so every rate() over the load has a before and an after.
    await scrapes(2);
    await load(server.url);
    const afterLoad = await scrapes(1);
    await scrapes(afterLoad + 2);
  }, 90_000);

  afterAll(async () => {
    prometheus?.child.kill("SIGTERM");
    server?.child.kill("SIGTERM");
    await Promise.all([
      prometheus && prometheus.child.exitCode === null ? new Promise((r) => prometheus!.child.once("exit", r)) : null,
      server?.exited,
    ]);
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("scrapes the server with the labels of monitoring/ (job, namespace, pod, instance_name)", async () => {
    const up = await query(prometheus!.url, 'up{job="house-price-api"}');
    expect(up).toHaveLength(1);
    expect(up[0]!.value[1]).toBe("1");
    expect(up[0]!.metric).toMatchObject({
      job: "house-price-api",
      namespace: "w255",
      pod: "house-price-api-7d9f8b6c5d-x2x4q",
      instance_name: "house-price-api",
      instance: `127.0.0.1:${server!.port}`,
    });
  });

  it("lists the panels it cannot evaluate here (kube-state-metrics)", () => {
    expect(KUBE_EXPRS).toEqual([
      'kube_deployment_status_replicas_available{namespace="$namespace",deployment="house-price-api"}',
      'kube_deployment_spec_replicas{namespace="$namespace",deployment=~"house-price-api.*"}',
      'kube_deployment_status_replicas_available{namespace="$namespace",deployment=~"house-price-api.*"}',
    ]);
    expect(OWN_EXPRS.length).toBeGreaterThanOrEqual(10);
  });

  it.each(OWN_EXPRS)("dashboard query returns data: %s", async (expr) => {
    const result = await query(prometheus!.url, substitute(expr));
    expect(result.length, substitute(expr)).toBeGreaterThan(0);
    // A number, not only NaN (a quantile of a route without requests in the window is NaN; others must count).
    expect(
      result.some((s) => !Number.isNaN(Number(s.value[1]))),
      JSON.stringify(result),
    ).toBe(true);
  });

  // The ratios the alerts divide (monitoring/alerts/rules.yaml): a healthy service answers 0, not "no data".
  it.each([
    [
      "prediction 5xx ratio (availability SLO)",
      'sum by (namespace, job) (rate(http_requests_total{job="house-price-api",route=~"/predict|/bulk_predict|/v2/models/.+/infer",status=~"5.."}[1m])) / sum by (namespace, job) (rate(http_requests_total{job="house-price-api",route=~"/predict|/bulk_predict|/v2/models/.+/infer"}[1m]))',
    ],
    [
      "refusal ratio",
      'sum by (namespace, job) (rate(http_requests_total{job="house-price-api",route!~"/health|/metrics",status=~"429|503"}[1m])) / sum by (namespace, job) (rate(http_requests_total{job="house-price-api",route!~"/health|/metrics"}[1m]))',
    ],
    [
      "cache error ratio",
      'sum by (namespace, job) (rate(cache_errors_total{job="house-price-api"}[1m])) / sum by (namespace, job) (rate(cache_calls_total{job="house-price-api"}[1m]))',
    ],
    ["model readiness", 'max by (namespace, job, pod) (model_ready{job="house-price-api"})'],
  ])("alert input has data on a healthy service: %s", async (name, expr) => {
    const result = await query(prometheus!.url, expr);
    expect(result.length, name).toBe(1);
    expect(Number(result[0]!.value[1]), name).toBe(name === "model readiness" ? 1 : 0);
  });
});
