/**
 * Deployment scripts: shellcheck-clean, strict mode, and scripts/aks-deploy.sh's offline render
 * (RENDER_ONLY=1) produces valid prod manifests with the requested image, identity, model URL and hosts.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
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
} from "./helpers";
import { needTool } from "../support/tools";

const SCRIPTS = ["scripts/minikube-run.sh", "scripts/acr-build-push.sh", "scripts/aks-deploy.sh"];

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
    MODEL_BLOB_URL: "https://stmdtest.blob.core.windows.net/models/house-price/1.2.0/model.onnx",
    PUBLIC_HOST: "api.house-price.test",
    REDIS_URL: "rediss://:s3cret@cache.westeurope.redis.azure.net:10000",
  };
  const run = (extra: Record<string, string> = {}) =>
    parseManifests(
      execFileSync("bash", [rel("scripts/aks-deploy.sh")], {
        env: { ...env, ...extra },
        encoding: "utf8",
        timeout: 60_000,
      }),
    );

  it.each(["prod", "prod-canary"])("renders overlay %s with the given image, identity, model and hosts", (overlay) => {
    const objs = run({ OVERLAY: overlay });
    expect(objs.flatMap((o) => validateObject(o))).toEqual([]);
    for (const d of apiDeployments(objs)) {
      const c = d.spec.template.spec.containers.find((x: { name: string }) => x.name === "api");
      expect(c.image).toBe("acrtest123.azurecr.io/house-price-api:0a1b2c3");
    }
    expect(
      one(objs, "ServiceAccount", "house-price-api").metadata.annotations["azure.workload.identity/client-id"],
    ).toBe(env.WORKLOAD_CLIENT_ID);
    expect(generated(objs, "ConfigMap", "house-price-api-config").data.MODEL_BLOB_URL).toBe(env.MODEL_BLOB_URL);
    for (const r of byKind(objs, "InterceptorRoute")) expect(r.spec.rules[0].hosts).toContain(env.PUBLIC_HOST);
    const secret = generated(objs, "Secret", "house-price-api-redis");
    expect(decodeSecret(secret).REDIS_URL).toBe(env.REDIS_URL);
    // Every Deployment references the replaced Secret by its final (hashed) name.
    for (const d of apiDeployments(objs)) {
      const e = d.spec.template.spec.containers[0].env.find((x: { name: string }) => x.name === "REDIS_URL");
      expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
    }
  });

  it("refuses the tag latest and non-ACR registries", () => {
    expect(() => run({ IMAGE_TAG: "latest" })).toThrow();
    expect(() => run({ ACR_LOGIN_SERVER: "docker.io" })).toThrow();
  });
});
