/**
 * Shared helpers of the deployment tests: rendering the kustomize overlays, validating every rendered object
 * against its schema, and small accessors for the API workload.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";

export const ROOT = path.resolve(__dirname, "..", "..");
export const K8S = path.join(ROOT, "k8s-keda");
export const NAMESPACE = "w255";

// ---------------------------------------------------------------- rendering

function works(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

export interface Renderer {
  tool: string;
  render(dir: string): string;
}

/** `kubectl kustomize` if kubectl is installed, else the standalone `kustomize build`, else undefined. */
export function findRenderer(): Renderer | undefined {
  if (works("kubectl", ["version", "--client"])) {
    return {
      tool: "kubectl kustomize",
      render: (dir) => execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", timeout: 60_000 }),
    };
  }
  if (works("kustomize", ["version"])) {
    return {
      tool: "kustomize build",
      render: (dir) => execFileSync("kustomize", ["build", dir], { encoding: "utf8", timeout: 60_000 }),
    };
  }
  return undefined;
}

export const renderer = findRenderer();
if (!renderer) {
  console.warn(
    "\n" +
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n" +
      "!! Neither `kubectl` nor `kustomize` is installed: the kustomize RENDER tests are SKIPPED. !!\n" +
      "!! Install kubectl (it embeds kustomize) to validate k8s-keda/ for real.                  !!\n" +
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
  );
}

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered objects are loosely typed: the tests look into many fields */
/** A rendered Kubernetes object. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: any };
  [k: string]: any;
};
/* eslint-enable @typescript-eslint/no-explicit-any */

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML error: ${d.errors.map((e) => e.message).join("; ")}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === "object");
}

const cache = new Map<string, K8sObject[]>();

/** Renders a kustomization directory (relative to k8s-keda/) once and parses it. */
export function render(rel: string): K8sObject[] {
  if (!renderer) throw new Error("no kustomize renderer");
  let objs = cache.get(rel);
  if (!objs) {
    objs = parseManifests(renderer.render(path.join(K8S, rel)));
    cache.set(rel, objs);
  }
  return objs;
}

// ---------------------------------------------------------------- schema validation

function loadCrdSchema(file: string, version: string): Record<string, unknown> {
  const crd = parseYaml(readFileSync(path.join(K8S, "schemas", file), "utf8")) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
  };
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v) throw new Error(`${file} has no version ${version}`);
  return v.schema.openAPIV3Schema;
}

/**
 * Like the API server with strict field validation: objects with declared `properties` reject unknown fields
 * (CRD schemas are structural; unknown fields are dropped or, with kubectl's default strict validation, refused).
 */
function closeObjects(schema: unknown, isRoot = true): unknown {
  if (Array.isArray(schema)) return schema.map((s) => closeObjects(s, false));
  if (!schema || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] =
      k === "properties"
        ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, closeObjects(pv, false)]))
        : closeObjects(v, false);
  }
  if (
    out.type === "object" &&
    out.properties &&
    out.additionalProperties === undefined &&
    out["x-kubernetes-preserve-unknown-fields"] !== true &&
    !isRoot
  ) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);

let interceptorRouteValidator: ValidateFunction | undefined;
export function validateInterceptorRoute(obj: K8sObject): string[] {
  interceptorRouteValidator ??= ajv.compile(
    closeObjects(loadCrdSchema("http.keda.sh_interceptorroutes.yaml", "v1beta1")) as object,
  );
  const errors: string[] = [];
  if (!interceptorRouteValidator(obj)) {
    errors.push(
      ...(interceptorRouteValidator.errors ?? []).map(
        (e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`,
      ),
    );
  }
  // The CRD's x-kubernetes-validations (CEL) rules, which JSON Schema cannot express:
  const spec = obj.spec ?? {};
  const t = spec.target ?? {};
  if ("port" in t === "portName" in t) errors.push("spec.target: exactly one of 'port' or 'portName' must be set");
  const m = spec.scalingMetric ?? {};
  if (!("concurrency" in m) && !("requestRate" in m))
    errors.push("spec.scalingMetric: at least one of 'concurrency' or 'requestRate' must be set");
  if (spec.coldStart && !spec.coldStart.fallback && !spec.coldStart.placeholder)
    errors.push("spec.coldStart: fallback or placeholder required");
  return errors;
}

type Validatable = { validate(): void };
const CORE: Record<string, (o: K8sObject) => Validatable> = {
  "v1/Namespace": (o) => new Namespace(o as never),
  "v1/ServiceAccount": (o) => new ServiceAccount(o as never),
  "v1/ConfigMap": (o) => new ConfigMap(o as never),
  "v1/Secret": (o) => new Secret(o as never),
  "v1/Service": (o) => new Service(o as never),
  "apps/v1/Deployment": (o) => new Deployment(o as never),
  "policy/v1/PodDisruptionBudget": (o) => new PodDisruptionBudget(o as never),
  "networking.k8s.io/v1/NetworkPolicy": (o) => new NetworkPolicy(o as never),
  "keda.sh/v1alpha1/ScaledObject": (o) => new ScaledObject(o as never),
};

/** Schema errors of one object; an object of a kind without a validator is an error too. */
export function validateObject(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (key === "http.keda.sh/v1beta1/InterceptorRoute") return validateInterceptorRoute(obj);
  const make = CORE[key];
  if (!make) return [`no schema validator for ${key}: add one in tests/deploy/helpers.ts`];
  if (key === "v1/Secret" && obj.data) {
    // kustomize wraps long base64 values over lines; the API server's base64 decoder ignores the newlines.
    obj = {
      ...obj,
      data: Object.fromEntries(Object.entries<string>(obj.data).map(([k, v]) => [k, v.replace(/\s+/g, "")])),
    };
  }
  try {
    make(obj).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

// ---------------------------------------------------------------- accessors

export const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

export function one(objs: K8sObject[], kind: string, name: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${found.length}`);
  return found[0]!;
}

/** The API Deployments (stable and canary): component=api. */
export const apiDeployments = (objs: K8sObject[]) =>
  byKind(objs, "Deployment").filter(
    (d) => d.spec?.template?.metadata?.labels?.["app.kubernetes.io/component"] === "api",
  );

/** A generated object by its generator name (kustomize appends a content hash). */
export function generated(objs: K8sObject[], kind: "ConfigMap" | "Secret", name: string): K8sObject {
  const found = objs.filter(
    (o) => o.kind === kind && (o.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata.name)),
  );
  if (found.length !== 1) throw new Error(`expected one generated ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}

export function decodeSecret(secret: K8sObject): Record<string, string> {
  const out: Record<string, string> = { ...(secret.stringData ?? {}) };
  for (const [k, v] of Object.entries<string>(secret.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
  return out;
}

export const rel = (...p: string[]) => path.join(ROOT, ...p);
export const read = (...p: string[]) => readFileSync(rel(...p), "utf8");

// ---------------------------------------------------------------- monitoring

const PROMQL_WORDS = new Set([
  "sum",
  "rate",
  "histogram_quantile",
  "clamp_min",
  "count",
  "max",
  "by",
  "without",
  "irate",
  "increase",
  "avg",
  "min",
]);

/** The PromQL expressions of monitoring/grafana-dashboard.json. */
export function dashboardExprs(): string[] {
  const dashboard = JSON.parse(read("monitoring", "grafana-dashboard.json")) as {
    panels: { targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

/** Metric names used in the dashboard's PromQL. */
export function dashboardMetrics(): string[] {
  const names = new Set<string>();
  for (const e of dashboardExprs())
    for (const m of e.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)) if (!PROMQL_WORDS.has(m[1]!)) names.add(m[1]!);
  return [...names];
}

// ---------------------------------------------------------------- docker build context

/**
 * A matcher for .dockerignore with the pattern forms this project uses: literal paths, `*` within one path
 * segment, a leading `**\/` (any depth), and `!` exceptions. A path is ignored when it or an ancestor matches.
 */
export function dockerignore(text: string): (relPath: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pat = (negate ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
      const re = pat
        .split("/")
        .map((seg) =>
          seg === "**"
            ? "(?:.*)"
            : seg
                .replace(/[.+^${}()|[\]\\]/g, "\\$&")
                .replace(/\*/g, "[^/]*")
                .replace(/\?/g, "[^/]"),
        )
        .join("/")
        .replace(/\(\?:\.\*\)\//g, "(?:.*/)?");
      return { negate, re: new RegExp(`^${re}$`) };
    });
  const matches = (p: string) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(p)) ignored = !r.negate;
    return ignored;
  };
  return (relPath: string) => {
    const parts = relPath.split("/");
    for (let i = 1; i <= parts.length; i++) if (matches(parts.slice(0, i).join("/"))) return true;
    return false;
  };
}
