/**
 * k8s-keda/: every overlay renders with kustomize, every rendered object validates against its schema
 * (kubernetes-models, @kubernetes-models/keda, the KEDA HTTP add-on's InterceptorRoute CRD), and the
 * deployment requirements hold on the rendered output.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, parseConfig } from "../../shared/ops/config";
import {
  K8S,
  NAMESPACE,
  apiDeployments,
  byKind,
  decodeSecret,
  one,
  render,
  renderer,
  validateObject,
  type K8sObject,
} from "./helpers";

const OVERLAYS = [
  "overlays/dev",
  "overlays/prod",
  "overlays/prod-canary",
  "overlays/prod-managed-redis",
  "overlays/prod-canary-managed-redis",
] as const;
/** Overlays with components/in-cluster-redis (the others use a managed Redis: components/managed-redis). */
const IN_CLUSTER_REDIS = new Set<string>(["overlays/dev", "overlays/prod", "overlays/prod-canary"]);
const AKS_OVERLAYS = OVERLAYS.filter((o) => o !== "overlays/dev");
const IN_CLUSTER_REDIS_URL = "redis://redis.w255.svc.cluster.local:6379";
const KEYS = new Set<string>(CONFIG_KEYS);
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 20_000;
const SCALER_ADDRESS = "keda-add-ons-http-external-scaler.keda:9090";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Container = Record<string, any>;
const podSpec = (d: K8sObject) => d.spec.template.spec;
const allContainers = (d: K8sObject): Container[] => [...(podSpec(d).initContainers ?? []), ...podSpec(d).containers];
const apiContainer = (d: K8sObject): Container => {
  const c = (podSpec(d).containers as Container[]).find((x) => x.name === "api");
  if (!c) throw new Error(`${d.metadata.name} has no container "api"`);
  return c;
};
const commandText = (c: Container) => [...(c.command ?? []), ...(c.args ?? [])].join(" ");

/** The ConfigMap an API container loads with envFrom. */
function apiConfigMap(objs: K8sObject[], d: K8sObject): K8sObject {
  const refs = (apiContainer(d).envFrom ?? [])
    .filter((e: Container) => e.configMapRef)
    .map((e: Container) => e.configMapRef.name as string);
  expect(refs, `${d.metadata.name}: one ConfigMap via envFrom`).toHaveLength(1);
  return one(objs, "ConfigMap", refs[0]!);
}

/** The environment an API container gets from its manifests (ConfigMap, literal env, secretKeyRef). */
function apiEnvironment(objs: K8sObject[], d: K8sObject): Record<string, string> {
  const env: Record<string, string> = { ...apiConfigMap(objs, d).data };
  for (const e of apiContainer(d).env ?? []) {
    if (typeof e.value === "string") env[e.name] = e.value;
    else if (e.valueFrom?.configMapKeyRef) {
      const cm = one(objs, "ConfigMap", e.valueFrom.configMapKeyRef.name);
      env[e.name] = cm.data[e.valueFrom.configMapKeyRef.key];
    } else if (e.valueFrom?.secretKeyRef) {
      const s = objs.find((o) => o.kind === "Secret" && o.metadata.name === e.valueFrom.secretKeyRef.name);
      if (s) env[e.name] = decodeSecret(s)[e.valueFrom.secretKeyRef.key]!;
    }
  }
  return env;
}

describe.skipIf(!renderer)(`kustomize render (${renderer?.tool ?? "no renderer"})`, () => {
  describe.each(OVERLAYS)("%s", (overlay) => {
    const objs = () => render(overlay);

    it("renders, with the expected kinds", () => {
      const kinds = new Set(objs().map((o) => o.kind));
      for (const k of [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "InterceptorRoute",
        "ScaledObject",
      ]) {
        expect(kinds, k).toContain(k);
      }
      // The Redis NetworkPolicy comes with the in-cluster Redis only.
      expect(kinds.has("NetworkPolicy"), "NetworkPolicy").toBe(IN_CLUSTER_REDIS.has(overlay));
      // The deprecated HTTPScaledObject API is not used (InterceptorRoute + ScaledObject instead).
      expect(kinds).not.toContain("HTTPScaledObject");
    });

    it("validates every object against its schema", () => {
      const failures = objs()
        .map((o) => ({ id: `${o.kind}/${o.metadata.name}`, errors: validateObject(o) }))
        .filter((r) => r.errors.length > 0);
      expect(failures).toEqual([]);
    });

    it(`puts everything in namespace ${NAMESPACE}`, () => {
      for (const o of objs()) {
        if (o.kind === "Namespace") expect(o.metadata.name).toBe(NAMESPACE);
        else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
      }
      // Pod Security "restricted" is enforced on the namespace.
      expect(one(objs(), "Namespace", NAMESPACE).metadata.labels["pod-security.kubernetes.io/enforce"]).toBe(
        "restricted",
      );
    });

    it("has unique names per kind", () => {
      const ids = objs().map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(ids).size).toBe(ids.length);
    });

    // Each overlay gets the one Redis case that applies to it.
    const inCluster = IN_CLUSTER_REDIS.has(overlay);
    if (inCluster)
      it("in-cluster Redis: every API Deployment waits for it with two busybox init containers: DNS, then PING/PONG over nc", () => {
        expect(one(objs(), "Service", "redis").spec.ports.map((p: Container) => p.port)).toContain(6379);
        expect(one(objs(), "Deployment", "redis")).toBeDefined();
        expect(apiDeployments(objs()).length).toBeGreaterThan(0);
        for (const d of apiDeployments(objs())) {
          const init: Container[] = podSpec(d).initContainers ?? [];
          expect(init, d.metadata.name).toHaveLength(2);
          for (const c of init) expect(c.image).toMatch(/^busybox:\d+\.\d+/);
          const [dns, pong] = init.map(commandText) as [string, string];
          expect(dns).toMatch(/\b(nslookup|getent)\b/);
          expect(dns).toMatch(/\bredis\b/);
          expect(dns).toMatch(/until /);
          expect(pong).toMatch(/printf 'PING\\r\\n' \| nc -w 1 redis 6379 \| grep -q PONG/);
          expect(pong).toMatch(/until /);
        }
      });

    if (!inCluster)
      it("managed Redis: no Redis objects and no init container waiting for one", () => {
        expect(objs().filter((o) => o.metadata.name === "redis" || o.kind === "NetworkPolicy")).toEqual([]);
        for (const d of apiDeployments(objs())) expect(podSpec(d).initContainers, d.metadata.name).toBeUndefined();
        expect(
          objs()
            .map((o) => JSON.stringify(o))
            .join("\n"),
        ).not.toContain("redis.w255");
      });

    it("probes /health (startup, readiness, tolerant liveness) on the container's HTTP port", () => {
      for (const d of apiDeployments(objs())) {
        const c = apiContainer(d);
        const port = (c.ports as Container[]).find((p) => p.name === "http");
        expect(port?.containerPort).toBe(8000);
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
          expect(c[probe]?.httpGet?.path, `${d.metadata.name} ${probe}`).toBe("/health");
          expect(["http", 8000]).toContain(c[probe].httpGet.port);
        }
        // Liveness tolerates at least 30 s of failures before a restart; startup allows >= 60 s for the model.
        const l = c.livenessProbe;
        expect((l.failureThreshold ?? 3) * (l.periodSeconds ?? 10)).toBeGreaterThanOrEqual(30);
        const s = c.startupProbe;
        expect((s.failureThreshold ?? 3) * (s.periodSeconds ?? 10)).toBeGreaterThanOrEqual(60);
      }
    });

    it("sets requests and limits (cpu, memory) on every container", () => {
      for (const d of byKind(objs(), "Deployment")) {
        for (const c of allContainers(d)) {
          for (const kind of ["requests", "limits"]) {
            expect(c.resources?.[kind]?.cpu, `${d.metadata.name}/${c.name} ${kind}.cpu`).toBeDefined();
            expect(c.resources?.[kind]?.memory, `${d.metadata.name}/${c.name} ${kind}.memory`).toBeDefined();
          }
        }
      }
    });

    it("runs every container non-root, read-only, without privilege escalation, capabilities dropped, seccomp RuntimeDefault", () => {
      for (const d of byKind(objs(), "Deployment")) {
        const pod = podSpec(d);
        expect(pod.securityContext?.seccompProfile?.type, d.metadata.name).toBe("RuntimeDefault");
        expect(pod.automountServiceAccountToken, d.metadata.name).toBe(false);
        for (const c of allContainers(d)) {
          const sc = c.securityContext ?? {};
          const id = `${d.metadata.name}/${c.name}`;
          expect(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, id).toBe(true);
          expect(sc.runAsUser ?? pod.securityContext?.runAsUser, id).toBeGreaterThan(0);
          expect(sc.readOnlyRootFilesystem, id).toBe(true);
          expect(sc.allowPrivilegeEscalation, id).toBe(false);
          expect(sc.capabilities?.drop, id).toContain("ALL");
          expect(sc.privileged ?? false, id).toBe(false);
        }
      }
    });

    it("gives the API a writable /tmp (emptyDir) and nothing else writable", () => {
      for (const d of apiDeployments(objs())) {
        const mounts: Container[] = apiContainer(d).volumeMounts ?? [];
        const tmp = mounts.find((m) => m.mountPath === "/tmp");
        expect(tmp, d.metadata.name).toBeDefined();
        const vol = (podSpec(d).volumes as Container[]).find((v) => v.name === tmp!.name);
        expect(vol?.emptyDir).toBeDefined();
      }
    });

    it("drains before SIGKILL: terminationGracePeriodSeconds*1000 > preStop sleep + SHUTDOWN_TIMEOUT_MS", () => {
      for (const d of apiDeployments(objs())) {
        const env = apiEnvironment(objs(), d);
        const shutdownMs =
          env.SHUTDOWN_TIMEOUT_MS !== undefined ? Number(env.SHUTDOWN_TIMEOUT_MS) : DEFAULT_SHUTDOWN_TIMEOUT_MS;
        const preStop = apiContainer(d).lifecycle?.preStop;
        expect(preStop, "preStop hook").toBeDefined();
        const cmd: string[] = preStop.exec?.command ?? [];
        const sleepS = preStop.sleep?.seconds ?? (cmd[0] === "sleep" ? Number(cmd[1]) : NaN);
        expect(sleepS).toBeGreaterThan(0);
        const grace = podSpec(d).terminationGracePeriodSeconds ?? 30;
        expect(grace * 1000).toBeGreaterThan(shutdownMs + sleepS * 1000);
      }
    });

    it("sets only configuration keys of shared/ops/config.ts, with values it accepts", () => {
      for (const d of apiDeployments(objs())) {
        const cm = apiConfigMap(objs(), d);
        for (const key of Object.keys(cm.data ?? {})) expect(KEYS, `ConfigMap key ${key}`).toContain(key);
        for (const e of apiContainer(d).env ?? []) expect(KEYS, `env ${e.name}`).toContain(e.name);
        for (const e of apiContainer(d).envFrom ?? []) {
          if (e.secretRef) {
            const s = objs().find((o) => o.kind === "Secret" && o.metadata.name === e.secretRef.name);
            // Out-of-band secrets (not rendered) must be optional, so a missing one does not block the pod.
            if (!s) expect(e.secretRef.optional, `secret ${e.secretRef.name}`).toBe(true);
            else for (const k of Object.keys(decodeSecret(s))) expect(KEYS, `Secret key ${k}`).toContain(k);
          }
        }
        const env = apiEnvironment(objs(), d);
        expect(() => parseConfig(env)).not.toThrow();
        const cfg = parseConfig(env);
        expect(cfg.PORT).toBe(8000);
        if (IN_CLUSTER_REDIS.has(overlay)) expect(cfg.REDIS_URL).toBe(IN_CLUSTER_REDIS_URL);
        // Managed: empty until scripts/aks-deploy.sh writes the URL (the API then runs on its in-process cache).
        else expect(cfg.REDIS_URL ?? "").toBe("");
      }
    });

    it("takes REDIS_URL from the rendered Secret (in-cluster Redis, or empty for a managed one)", () => {
      for (const d of apiDeployments(objs())) {
        const e = (apiContainer(d).env as Container[]).find((x) => x.name === "REDIS_URL");
        expect(e?.valueFrom?.secretKeyRef?.key).toBe("REDIS_URL");
        expect(objs().some((o) => o.kind === "Secret" && o.metadata.name === e?.valueFrom?.secretKeyRef?.name)).toBe(
          true,
        );
        expect(apiEnvironment(objs(), d).REDIS_URL).toBe(IN_CLUSTER_REDIS.has(overlay) ? IN_CLUSTER_REDIS_URL : "");
      }
      expect(apiConfigMap(objs(), apiDeployments(objs())[0]!).data.REDIS_URL).toBeUndefined();
    });

    it("routes the Service to the API pods and the InterceptorRoute to the Service", () => {
      for (const route of byKind(objs(), "InterceptorRoute")) {
        const svc = one(objs(), "Service", route.spec.target.service);
        expect(svc.spec.ports.map((p: Container) => p.port)).toContain(route.spec.target.port);
        const selected = apiDeployments(objs()).filter((d) =>
          Object.entries<string>(svc.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v),
        );
        expect(selected, `Service ${svc.metadata.name} selects one API Deployment`).toHaveLength(1);
        const port = (svc.spec.ports as Container[]).find((p) => p.port === route.spec.target.port)!;
        expect(apiContainer(selected[0]!).ports.map((p: Container) => p.name)).toContain(port.targetPort);
        expect(route.spec.rules?.[0]?.hosts?.length ?? 0).toBeGreaterThan(0);
      }
      // Deployment selectors never overlap (stable vs canary).
      const deps = apiDeployments(objs());
      for (const a of deps)
        for (const b of deps)
          if (a !== b) {
            const sel = a.spec.selector.matchLabels as Record<string, string>;
            expect(Object.entries(sel).every(([k, v]) => b.spec.template.metadata.labels[k] === v)).toBe(false);
          }
    });

    it("routes in-cluster callers to the interceptor through house-price-api-proxy", () => {
      const proxy = one(objs(), "Service", "house-price-api-proxy");
      expect(proxy.spec.type).toBe("ExternalName");
      expect(proxy.spec.externalName).toBe("keda-add-ons-http-interceptor-proxy.keda.svc.cluster.local");
      const stable = one(objs(), "InterceptorRoute", "house-price-api");
      expect(stable.spec.rules[0].hosts).toContain("house-price-api-proxy.w255");
    });

    it("scales each API Deployment with a ScaledObject bound to its InterceptorRoute (external-push trigger)", () => {
      const scaled = byKind(objs(), "ScaledObject");
      expect(scaled.length).toBe(apiDeployments(objs()).length);
      for (const so of scaled) {
        const target = one(objs(), "Deployment", so.spec.scaleTargetRef.name);
        expect(target.spec.replicas, "KEDA owns the replica count").toBeUndefined();
        expect(so.spec.triggers).toHaveLength(1);
        const t = so.spec.triggers[0];
        expect(t.type).toBe("external-push");
        expect(t.metadata.scalerAddress).toBe(SCALER_ADDRESS);
        const route = one(objs(), "InterceptorRoute", t.metadata.interceptorRoute);
        // The route points at the Service that selects this very Deployment.
        const svc = one(objs(), "Service", route.spec.target.service);
        expect(
          Object.entries<string>(svc.spec.selector).every(([k, v]) => target.spec.template.metadata.labels[k] === v),
        ).toBe(true);
      }
    });

    it("orders each InterceptorRoute before the ScaledObject that uses it (kubectl apply order)", () => {
      const order = objs().map((o) => `${o.kind}/${o.metadata.name}`);
      for (const so of byKind(objs(), "ScaledObject")) {
        const route = `InterceptorRoute/${so.spec.triggers[0].metadata.interceptorRoute}`;
        expect(order.indexOf(route)).toBeGreaterThanOrEqual(0);
        expect(order.indexOf(route)).toBeLessThan(order.indexOf(`ScaledObject/${so.metadata.name}`));
      }
    });

    it("pins every image to an explicit tag (never latest)", () => {
      for (const d of byKind(objs(), "Deployment"))
        for (const c of allContainers(d)) {
          expect(c.image, `${d.metadata.name}/${c.name}`).toMatch(/^[^@]+:[A-Za-z0-9._-]+$|@sha256:[0-9a-f]{64}$/);
          expect(c.image).not.toMatch(/:latest$/);
        }
    });
  });

  it("prod overlays: the stable ScaledObject scales 1..5 replicas", () => {
    for (const overlay of AKS_OVERLAYS) {
      const so = one(render(overlay), "ScaledObject", "house-price-api");
      expect([so.spec.minReplicaCount, so.spec.maxReplicaCount], overlay).toEqual([1, 5]);
    }
  });

  it("dev: scale to zero allowed, local image never pulled", () => {
    const objs = render("overlays/dev");
    expect(one(objs, "ScaledObject", "house-price-api").spec.minReplicaCount).toBe(0);
    const c = apiContainer(one(objs, "Deployment", "house-price-api"));
    expect(c.image).toBe("house-price-api:dev");
    expect(["Never", "IfNotPresent"]).toContain(c.imagePullPolicy);
    expect(one(objs, "InterceptorRoute", "house-price-api").spec.rules[0].hosts).toContain("house-price.local");
  });

  it("TRUST_PROXY counts the proxies in front of the pods: 1 on dev (interceptor), 2 on AKS (ingress + interceptor)", () => {
    const trust = (overlay: string) =>
      apiConfigMap(render(overlay), one(render(overlay), "Deployment", "house-price-api")).data.TRUST_PROXY;
    expect(trust("overlays/dev")).toBe("1");
    for (const overlay of AKS_OVERLAYS) expect(trust(overlay), overlay).toBe("2");
  });

  describe.each(AKS_OVERLAYS)("%s (AKS)", (overlay) => {
    const objs = () => render(overlay);

    it("pulls the API image from ACR, pinned to a commit tag", () => {
      for (const d of apiDeployments(objs())) {
        const image: string = apiContainer(d).image;
        const m = /^([a-z0-9]+)\.azurecr\.io\/house-price-api:([^:@]+)$/.exec(image);
        expect(m, image).not.toBeNull();
        expect(m![2]).not.toBe("latest");
        expect(m![2]).toMatch(/^[0-9a-f]{7,40}$/);
      }
    });

    it("uses Azure workload identity to read the model from Blob Storage", () => {
      const sa = one(objs(), "ServiceAccount", "house-price-api");
      expect(sa.metadata.annotations?.["azure.workload.identity/client-id"]).toMatch(/^[0-9a-f-]{36}$/);
      for (const d of apiDeployments(objs())) {
        expect(podSpec(d).serviceAccountName).toBe("house-price-api");
        expect(d.spec.template.metadata.labels["azure.workload.identity/use"]).toBe("true");
        expect(
          d.spec.selector.matchLabels["azure.workload.identity/use"],
          "not in the immutable selector",
        ).toBeUndefined();
      }
      // The committed stable URL is a placeholder (scripts/aks-deploy.sh sets the real one); no account name is
      // committed anywhere under k8s-keda/.
      const stable = apiEnvironment(objs(), one(objs(), "Deployment", "house-price-api")).MODEL_BLOB_URL;
      expect(stable).toBe("https://example.invalid/models/house-price/current/model.onnx");
    });

    it("has a PodDisruptionBudget that selects the API pods and never blocks a drain", () => {
      const pdb = one(objs(), "PodDisruptionBudget", "house-price-api");
      const d = one(objs(), "Deployment", "house-price-api");
      expect(
        Object.entries<string>(pdb.spec.selector.matchLabels).every(
          ([k, v]) => d.spec.template.metadata.labels[k] === v,
        ),
      ).toBe(true);
      expect(pdb.spec.maxUnavailable ?? 0).toBeGreaterThanOrEqual(1);
    });
  });

  it.each(["overlays/prod-canary", "overlays/prod-canary-managed-redis"])(
    "%s: the canary gets only requests with X-Model-Track: canary and its own model",
    (overlay) => {
      const objs = render(overlay);
      const stable = one(objs, "InterceptorRoute", "house-price-api");
      const canary = one(objs, "InterceptorRoute", "house-price-api-canary");
      expect(canary.spec.target.service).toBe("house-price-api-canary");
      expect(canary.spec.rules[0].headers).toEqual([{ name: "X-Model-Track", value: "canary" }]);
      expect(stable.spec.rules[0].headers).toBeUndefined();
      for (const h of stable.spec.rules[0].hosts) expect(canary.spec.rules[0].hosts).toContain(h);
      const stableEnv = apiEnvironment(objs, one(objs, "Deployment", "house-price-api"));
      const canaryEnv = apiEnvironment(objs, one(objs, "Deployment", "house-price-api-canary"));
      expect(canaryEnv.MODEL_BLOB_URL).not.toBe(stableEnv.MODEL_BLOB_URL);
      // The canary's model comes from its own ConfigMap (set by scripts/aks-deploy.sh), not a literal env value.
      const modelEnv = apiContainer(one(objs, "Deployment", "house-price-api-canary")).env.find(
        (e: Container) => e.name === "MODEL_BLOB_URL",
      );
      expect(modelEnv.value).toBeUndefined();
      expect(modelEnv.valueFrom.configMapKeyRef.name).toMatch(/^house-price-api-canary-config-[a-z0-9]{10}$/);
      expect(canaryEnv.REDIS_URL).toBe(stableEnv.REDIS_URL);
      const so = one(objs, "ScaledObject", "house-price-api-canary");
      expect(so.spec.scaleTargetRef.name).toBe("house-price-api-canary");
      expect(so.spec.minReplicaCount).toBe(0);
    },
  );
});

describe("k8s-keda sources (no renderer needed)", () => {
  it("ships the KEDA HTTP add-on CRDs it validates against", () => {
    for (const f of ["http.keda.sh_interceptorroutes.yaml", "http.keda.sh_httpscaledobjects.yaml"]) {
      const text = readFileSync(path.join(K8S, "schemas", f), "utf8");
      expect(text).toContain("kind: CustomResourceDefinition");
      expect(text).toContain("openAPIV3Schema");
    }
  });

  it("keeps the base ConfigMap file to shared/ops/config.ts keys", () => {
    const lines = readFileSync(path.join(K8S, "base", "api.env"), "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"));
    const env = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    for (const k of Object.keys(env)) expect(KEYS, k).toContain(k);
    expect(() => parseConfig(env)).not.toThrow();
  });

  it("commits no storage account name (the model URLs are parameters of scripts/aks-deploy.sh)", () => {
    const files = execFileSync("git", ["ls-files", "k8s-keda"], { cwd: path.join(K8S, ".."), encoding: "utf8" })
      .split("\n")
      .filter((f) => f.endsWith(".yaml") && !f.includes("/schemas/"));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files)
      expect(readFileSync(path.join(K8S, "..", f), "utf8"), f).not.toMatch(/[a-z0-9]{3,24}\.blob\.core\.windows\.net/);
  });

  it("keeps the ServiceMonitor out of the kustomizations", () => {
    for (const dir of [
      "base",
      "components/in-cluster-redis",
      "components/managed-redis",
      "components/canary",
      "overlays/aks",
      ...OVERLAYS,
    ]) {
      const k = path.join(K8S, dir, "kustomization.yaml");
      expect(existsSync(k)).toBe(true);
      expect(readFileSync(k, "utf8")).not.toMatch(/servicemonitor/i);
    }
  });
});
