/**
 * Deployment scripts: shellcheck-clean, strict mode, and scripts/aks-deploy.sh's offline render
 * (RENDER_ONLY=1) produces valid prod manifests with the requested image, identity, model URL and hosts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  apiDeployments,
  byKind,
  decodeSecret,
  generated,
  one,
  parseManifests,
  read,
  rel,
  renderer,
  validateObject,
  type K8sObject,
} from "./helpers";
import { needTool } from "../support/tools";

const SCRIPTS = [
  "scripts/minikube-run.sh",
  "scripts/acr-build-push.sh",
  "scripts/aks-deploy.sh",
  "scripts/keda.sh",
  "scripts/grafana-dashboard.sh",
];

function has(cmd: string): boolean {
  try {
    execFileSync(cmd, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const shellcheck = needTool("shellcheck");

describe("deployment scripts", () => {
  it.each(SCRIPTS)("%s is bash with set -euo pipefail", (script) => {
    const text = read(script);
    expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
  });

  it.skipIf(!shellcheck)("pass shellcheck", () => {
    // Throws (with shellcheck's report) on any finding.
    execFileSync("shellcheck", ["--shell=bash", "--severity=style", ...SCRIPTS.map((s) => rel(s))], {
      encoding: "utf8",
    });
  });

  it("minikube-run.sh builds into minikube, deploys the dev overlay, checks every endpoint and cleans up", () => {
    const text = read("scripts/minikube-run.sh");
    expect(text).toMatch(/eval "\$\(minikube --profile "\$\{PROFILE\}" docker-env\)"/);
    expect(text).toMatch(/docker build --tag "\$\{IMAGE\}"/);
    expect(text).toMatch(/IMAGE="house-price-api:dev"/);
    expect(text).toMatch(/kubectl apply -k "\$\{ROOT\}\/k8s-keda\/overlays\/dev"/);
    expect(text).toMatch(/trap cleanup EXIT/);
    expect(text).toMatch(/kubectl delete namespace "\$\{NAMESPACE\}"/);
    expect(text).toMatch(/minikube stop/);
    for (const endpoint of [
      "/health",
      "/hello?name=",
      "/predict",
      "/bulk_predict",
      "/docs",
      "/openapi.json",
      "/metrics",
      "/api/healthcheck",
    ]) {
      expect(text, endpoint).toContain(endpoint);
    }
    // The host it sends is one the dev InterceptorRoute routes.
    expect(text).toMatch(/HOST_HEADER="house-price\.local"/);
  });

  it("acr-build-push.sh tags with the commit and refuses a dirty tree unless FORCE=1", () => {
    const text = read("scripts/acr-build-push.sh");
    expect(text).toMatch(/TAG="\$\(git rev-parse --short HEAD\)"/);
    expect(text).toMatch(/git status --porcelain/);
    expect(text).toMatch(/FORCE:-0\}" == "1"/);
    expect(text).toMatch(/az acr login --name/);
  });
});

describe.skipIf(!renderer || !has("bash"))("scripts/aks-deploy.sh RENDER_ONLY=1", () => {
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    RENDER_ONLY: "1",
    ACR_LOGIN_SERVER: "acrtest123.azurecr.io",
    IMAGE_TAG: "0a1b2c3",
    WORKLOAD_CLIENT_ID: "11111111-2222-3333-4444-555555555555",
    MODEL_BLOB_URL: "https://stmdtest.blob.core.windows.net/models/house-price/current/model.onnx",
    PUBLIC_HOST: "api.house-price.test",
  };
  const CANARY_URL = "https://stmdtest.blob.core.windows.net/models/house-price/1.3.0/model.onnx";
  const MANAGED_REDIS = "rediss://:s3cret@cache.westeurope.redis.azure.net:10000";
  const run = (extra: Record<string, string> = {}) =>
    parseManifests(
      execFileSync("bash", [rel("scripts/aks-deploy.sh")], {
        env: { ...env, ...extra },
        encoding: "utf8",
        timeout: 60_000,
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  const fails = (extra: Record<string, string>) => {
    const r = spawnSync("bash", [rel("scripts/aks-deploy.sh")], { env: { ...env, ...extra }, encoding: "utf8" });
    expect(r.status, r.stdout).not.toBe(0);
    return r.stderr;
  };
  const container = (d: K8sObject) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    d.spec.template.spec.containers.find((x: { name: string }) => x.name === "api") as any;

  it.each([
    ["prod", {}],
    ["prod-canary", { CANARY_MODEL_BLOB_URL: CANARY_URL }],
    ["prod", { REDIS_URL: MANAGED_REDIS }],
    ["prod-canary", { CANARY_MODEL_BLOB_URL: CANARY_URL, REDIS_URL: MANAGED_REDIS }],
  ] as const)("renders overlay %s %j with the given image, identity, model and hosts", (overlay, extra) => {
    const objs = run({ OVERLAY: overlay, ...extra });
    expect(objs.flatMap((o) => validateObject(o))).toEqual([]);
    const deployments = apiDeployments(objs);
    expect(deployments).toHaveLength(overlay === "prod" ? 1 : 2);
    for (const d of deployments) expect(container(d).image).toBe("acrtest123.azurecr.io/house-price-api:0a1b2c3");
    expect(
      one(objs, "ServiceAccount", "house-price-api").metadata.annotations["azure.workload.identity/client-id"],
    ).toBe(env.WORKLOAD_CLIENT_ID);
    expect(generated(objs, "ConfigMap", "house-price-api-config").data.MODEL_BLOB_URL).toBe(env.MODEL_BLOB_URL);
    for (const r of byKind(objs, "InterceptorRoute")) {
      expect(r.spec.rules[0].hosts).toContain(env.PUBLIC_HOST);
      expect(new Set(r.spec.rules[0].hosts).size, "hosts are a set").toBe(r.spec.rules[0].hosts.length);
    }
    const secret = generated(objs, "Secret", "house-price-api-redis");
    const managed = "REDIS_URL" in extra;
    expect(decodeSecret(secret).REDIS_URL).toBe(managed ? MANAGED_REDIS : "redis://redis.w255.svc.cluster.local:6379");
    // Managed Redis: no Redis pods, nothing waits for them.
    expect(objs.some((o) => o.kind === "Deployment" && o.metadata.name === "redis")).toBe(!managed);
    for (const d of deployments) {
      expect(d.spec.template.spec.initContainers?.length ?? 0, d.metadata.name).toBe(managed ? 0 : 2);
      // Every Deployment references the Secret by its final (hashed) name.
      const e = container(d).env.find((x: { name: string }) => x.name === "REDIS_URL");
      expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
    }
    if (overlay === "prod-canary") {
      const canaryConfig = generated(objs, "ConfigMap", "house-price-api-canary-config");
      expect(canaryConfig.data.MODEL_BLOB_URL).toBe(CANARY_URL);
      const ref = container(one(objs, "Deployment", "house-price-api-canary")).env.find(
        (x: { name: string }) => x.name === "MODEL_BLOB_URL",
      );
      expect(ref.valueFrom.configMapKeyRef.name).toBe(canaryConfig.metadata.name);
    }
  });

  it("adds PUBLIC_HOST once, and not at all when a committed overlay already routes it", () => {
    const committed = "house-price.w255.example.com";
    for (const overlay of ["prod", "prod-canary"]) {
      const objs = run({ OVERLAY: overlay, CANARY_MODEL_BLOB_URL: CANARY_URL, PUBLIC_HOST: committed });
      for (const r of byKind(objs, "InterceptorRoute")) {
        const hosts: string[] = r.spec.rules[0].hosts;
        expect(
          hosts.filter((h) => h === committed),
          `${overlay} ${r.metadata.name}`,
        ).toHaveLength(1);
      }
    }
  });

  it("refuses the tag latest, non-ACR registries, a canary without its model URL and bad Redis or host values", () => {
    expect(fails({ IMAGE_TAG: "latest" })).toMatch(/latest/);
    expect(fails({ ACR_LOGIN_SERVER: "docker.io" })).toMatch(/azurecr\.io/);
    expect(fails({ OVERLAY: "prod-canary" })).toMatch(/CANARY_MODEL_BLOB_URL/);
    expect(fails({ OVERLAY: "prod-canary", CANARY_MODEL_BLOB_URL: "http://x/model.onnx" })).toMatch(/https/);
    expect(fails({ REDIS_MODE: "managed" })).toMatch(/REDIS_URL/);
    expect(fails({ REDIS_MODE: "in-cluster", REDIS_URL: MANAGED_REDIS })).toMatch(/REDIS_MODE=managed/);
    expect(fails({ REDIS_URL: "https://cache" })).toMatch(/redis:\/\//);
    expect(fails({ PUBLIC_HOST: "https://api.example.org" })).toMatch(/PUBLIC_HOST/);
  });

  it("restarts every API Deployment after a secret change and checks KEDA before applying", () => {
    const text = read("scripts/aks-deploy.sh");
    expect(text).toMatch(/api_deployments\+=\(house-price-api-canary\)/);
    expect(text).toMatch(
      /for d in "\$\{api_deployments\[@\]\}"; do\n\s+kubectl -n "\$\{NAMESPACE\}" rollout restart "deployment\/\$\{d\}"/,
    );
    expect(text.indexOf('scripts/keda.sh" check')).toBeGreaterThan(0);
    expect(text.indexOf('scripts/keda.sh" check')).toBeLessThan(text.indexOf('kubectl apply -f "${RENDERED}"'));
  });
});

/**
 * scripts/keda.sh check against the Deployments a cluster lists. No cluster here: a `kubectl` on PATH prints
 * what `kubectl get deployments -A -o jsonpath=...` prints on a real one (namespace, name, images).
 */
describe.skipIf(!has("bash"))("scripts/keda.sh check", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "keda-check-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, "kubectl"), '#!/bin/sh\ncat "$DEPLOYMENTS_FILE"\n');
  chmodSync(path.join(dir, "kubectl"), 0o755);
  const helm = [
    "keda\tkeda-operator\tghcr.io/kedacore/keda:2.20.2 ",
    "keda\tkeda-operator-metrics-apiserver\tghcr.io/kedacore/keda-metrics-apiserver:2.20.2 ",
    "keda\tkeda-add-ons-http-external-scaler\tghcr.io/kedacore/http-add-on-scaler:0.15.0 ",
    "keda\tkeda-add-ons-http-interceptor\tghcr.io/kedacore/http-add-on-interceptor:0.15.0 ",
    "keda\tkeda-add-ons-http-operator\tghcr.io/kedacore/http-add-on-operator:0.15.0 ",
  ];
  const check = (lines: string[]) => {
    const file = path.join(dir, `deployments-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(file, lines.join("\n") + "\n");
    return spawnSync("bash", [rel("scripts/keda.sh"), "check"], {
      env: { PATH: `${dir}:${process.env.PATH ?? ""}`, DEPLOYMENTS_FILE: file },
      encoding: "utf8",
    });
  };

  it("passes for the pinned Helm install", () => {
    const r = check(helm);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/KEDA 2\.20\.2 \(namespace keda\) and HTTP add-on 0\.15\.0/);
  });

  it("passes at exactly the minimums (KEDA 2.17.0, add-on 0.15.0)", () => {
    expect(check(helm.map((l) => l.replace("keda:2.20.2", "keda:v2.17.0"))).status).toBe(0);
  });

  it.each([
    [
      "KEDA 2.16.1 (float metrics read as 0)",
      (l: string) => l.replace("keda:2.20.2", "keda:2.16.1"),
      /KEDA 2\.16\.1 is too old/,
    ],
    ["HTTP add-on scaler 0.14.0", (l: string) => l.replace("scaler:0.15.0", "scaler:0.14.0"), /0\.14\.0 .*too old/],
    [
      "HTTP add-on interceptor 0.14.2",
      (l: string) => l.replace("interceptor:0.15.0", "interceptor:0.14.2"),
      /0\.14\.2 .*too old/,
    ],
  ])("stops with a clear message for %s", (_name, edit, message) => {
    const r = check(helm.map(edit));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it("stops when the AKS-managed KEDA add-on runs too (two operators), or runs alone at a KEDA below 2.17", () => {
    const aks = (v: string) => `kube-system\tkeda-operator\tmcr.microsoft.com/aks/keda/keda:${v} `;
    const withoutOurs = helm.filter((l) => !l.includes("\tkeda-operator\t"));
    const both = check([...helm, aks("2.17.1")]);
    expect(both.status).toBe(1);
    expect(both.stderr).toMatch(/more than one KEDA operator/);
    const old = check([aks("2.16.0"), ...withoutOurs]);
    expect(old.status).toBe(1);
    expect(old.stderr).toMatch(/AKS-managed KEDA add-on runs KEDA 2\.16\.0.*--disable-keda/);
    // The add-on alone on Kubernetes >= 1.33 (KEDA 2.17) is new enough.
    const fine = check([aks("2.17.1"), ...withoutOurs]);
    expect(fine.status, fine.stderr).toBe(0);
    expect(fine.stdout).toMatch(/KEDA 2\.17\.1 \(namespace kube-system\)/);
  });

  it("stops when KEDA or the HTTP add-on is missing", () => {
    expect(check(helm.filter((l) => !l.includes("\tkeda-operator\t"))).stderr).toMatch(/no KEDA operator found/);
    expect(check(helm.filter((l) => !l.includes("external-scaler"))).stderr).toMatch(/external-scaler not found/);
  });

  it("pins chart versions at or above the minimums", () => {
    const r = spawnSync("bash", [rel("scripts/keda.sh"), "versions"], { encoding: "utf8" });
    expect(r.stdout).toMatch(/KEDA chart 2\.20\.2 \(minimum running 2\.17\.0\)/);
    expect(r.stdout).toMatch(/HTTP add-on chart 0\.15\.0 \(minimum running 0\.15\.0\)/);
  });
});
