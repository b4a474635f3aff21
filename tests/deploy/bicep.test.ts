/**
 * infra/bicep and azure.yaml, checked offline (no Bicep compiler here): app settings are config keys,
 * module calls match module parameters, and the security/scaling settings the deployment relies on are there.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CONFIG_KEYS } from "../../shared/ops/config";
import { ROOT, read } from "./helpers";

const BICEP = path.join(ROOT, "infra", "bicep");
const KEYS = new Set<string>(CONFIG_KEYS);

/** App settings that configure the Azure platform (Functions host, App Insights, identity), not the service. */
const PLATFORM_SETTINGS = new Set([
  "languageWorkers__node__arguments",
  "MALLOC_ARENA_MAX",
  "MALLOC_TRIM_THRESHOLD_",
  "AzureWebJobsStorage__accountName",
  "AzureWebJobsStorage__credential",
  "AzureWebJobsStorage__clientId",
  "AzureWebJobsStorage__blobServiceUri",
  "AzureWebJobsStorage__queueServiceUri",
  "AzureWebJobsStorage__tableServiceUri",
  "APPLICATIONINSIGHTS_CONNECTION_STRING",
  "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
  "AZURE_CLIENT_ID",
  "FUNCTIONS_EXTENSION_VERSION",
  "FUNCTIONS_WORKER_RUNTIME",
  "WEBSITE_RUN_FROM_PACKAGE",
]);

const bicepFiles = (): string[] => [
  path.join(BICEP, "main.bicep"),
  ...readdirSync(path.join(BICEP, "modules"))
    .filter((f) => f.endsWith(".bicep"))
    .map((f) => path.join(BICEP, "modules", f)),
];

/** `{ name: 'KEY' ... value: ... }` entries: the app settings arrays. */
function appSettingNames(text: string): string[] {
  return [...text.matchAll(/\{\s*(?:\/\/[^\n]*\n\s*)*name:\s*'([A-Za-z0-9_]+)'\s*\n\s*value:/g)].map((m) => m[1]!);
}

/** The text between the brace at `open` and its match. */
function block(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error("unbalanced braces");
}

/** Keys at the top level of an object block. */
function topLevelKeys(body: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (const line of body.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(line);
    if (depth === 0 && m) keys.push(m[1]!);
    for (const ch of line) {
      if (ch === "{" || ch === "[") depth++;
      else if (ch === "}" || ch === "]") depth--;
    }
  }
  return keys;
}

/** Declared params of a Bicep file: name -> has a default value. */
function params(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const m of text.matchAll(/^param\s+([A-Za-z_][A-Za-z0-9_]*)\s+\w+(\s*=)?/gm)) out.set(m[1]!, Boolean(m[2]));
  return out;
}

/**
 * Property names repeated within one object of a Bicep file (Bicep refuses them, BCP025): the `name:` lines one indent
 * deeper than an opening `{` line, up to its closing brace at the opener's indent.
 */
function repeatedProperties(text: string): string[] {
  const lines = text.split("\n");
  const repeated: string[] = [];
  lines.forEach((line, i) => {
    if (!/\{\s*$/.test(line)) return;
    const indent = line.length - line.trimStart().length;
    const seen = new Set<string>();
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j]!;
      const at = l.length - l.trimStart().length;
      if (l.trim() !== "" && at <= indent) break;
      const m = at === indent + 2 ? /^\s*([A-Za-z_][\w]*|'[^']+'):/.exec(l) : null;
      if (!m) continue;
      if (seen.has(m[1]!)) repeated.push(`line ${j + 1}: ${m[1]}`);
      seen.add(m[1]!);
    }
  });
  return repeated;
}

describe("infra/bicep", () => {
  it("no object sets a property twice (the compiler refuses it)", () => {
    const files = [
      ...readdirSync(BICEP).filter((f) => f.endsWith(".bicep")),
      ...readdirSync(path.join(BICEP, "modules")).map((f) => path.join("modules", f)),
    ].filter((f) => f.endsWith(".bicep"));
    for (const f of files) expect(repeatedProperties(readFileSync(path.join(BICEP, f), "utf8")), f).toEqual([]);
    expect(repeatedProperties("x: {\n  a: 1\n  b: 2\n  a: 3\n}\n")).toEqual(["line 4: a"]);
  });

  const main = read("infra", "bicep", "main.bicep");
  const fnApp = read("infra", "bicep", "modules", "functionapp.bicep");
  const aks = read("infra", "bicep", "modules", "aks.bicep");

  it("sets only shared/ops/config.ts keys (besides an explicit list of platform settings) as app settings", () => {
    const names = bicepFiles().flatMap((f) => appSettingNames(readFileSync(f, "utf8")));
    expect(names.length).toBeGreaterThan(10);
    const service = names.filter((n) => !PLATFORM_SETTINGS.has(n));
    for (const n of service) expect(KEYS, `app setting ${n}`).toContain(n);
    expect(new Set(names).size, "no duplicate app settings").toBe(names.length);
    for (const k of ["MODEL_BLOB_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "LOG_LEVEL", "MAX_BATCH"])
      expect(service).toContain(k);
  });

  it("passes secrets as @secure() parameters", () => {
    for (const text of [main, fnApp]) {
      for (const p of ["upstashRedisRestToken", "apiKeys", "metricsToken"]) {
        expect(text, p).toMatch(new RegExp(`@secure\\(\\)\\s*\\n(?:@[^\\n]*\\n)*param ${p} string`));
      }
    }
  });

  it("uses identity-based host storage (no keys) with the user-assigned identity", () => {
    expect(fnApp).toMatch(/name: 'AzureWebJobsStorage__credential'\s*\n\s*value: 'managedidentity'/);
    expect(fnApp).toMatch(/name: 'AzureWebJobsStorage__accountName'/);
    expect(fnApp).toMatch(/name: 'AzureWebJobsStorage__clientId'\s*\n\s*value: identityClientId/);
    expect(fnApp).not.toMatch(/AzureWebJobsStorage'\s*\n\s*value/);
    expect(fnApp).not.toMatch(/AccountKey=|listKeys\(/);
    expect(read("infra", "bicep", "modules", "storage.bicep")).toMatch(/allowSharedKeyAccess: false/);
  });

  it("is a Flex Consumption (FC1) Node 22 app deploying from blob with a user-assigned identity", () => {
    expect(fnApp).toMatch(/name: 'FC1'/);
    expect(fnApp).toMatch(/tier: 'FlexConsumption'/);
    expect(fnApp).toMatch(/runtime: \{\s*name: 'node'\s*version: '22'\s*\}/);
    expect(fnApp).toMatch(/type: 'blobContainer'/);
    expect(fnApp).toMatch(
      /authentication: \{\s*type: 'UserAssignedIdentity'\s*userAssignedIdentityResourceId: identityId\s*\}/,
    );
    expect(fnApp).toMatch(/maximumInstanceCount: maximumInstanceCount/);
    expect(fnApp).toMatch(/instanceMemoryMB: instanceMemoryMB/);
    expect(fnApp).toMatch(/'azd-service-name': 'api'/);
    // The container runs the same Node major version.
    expect(read("Dockerfile")).toMatch(/node:22-bookworm-slim/);
  });

  it("grants least-privilege data roles (built-in role ids)", () => {
    const roles = read("infra", "bicep", "modules", "role-assignments.bicep");
    expect(roles).toContain("var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'");
    expect(roles).toContain("var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'");
    expect(roles).toContain("var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'");
    // The reader role is scoped to the model container only.
    expect(roles).toMatch(/resource modelReader[\s\S]*?scope: modelStorage::blobServices::modelContainer/);
    expect(aks).toContain("var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'");
    expect(aks).toMatch(/principalId: aks\.properties\.identityProfile\.kubeletidentity\.objectId/);
  });

  it("AKS: no managed KEDA add-on (KEDA from the pinned Helm charts, never two operators), OIDC issuer, workload identity federated with the w255/house-price-api ServiceAccount", () => {
    expect(aks).toMatch(/workloadAutoScalerProfile: \{\s*keda: \{\s*enabled: false/);
    expect(aks).toMatch(/azureMonitorProfile: \{\s*metrics: \{\s*enabled: true/);
    expect(aks).toMatch(/oidcIssuerProfile: \{\s*enabled: true/);
    expect(aks).toMatch(/workloadIdentity: \{\s*enabled: true/);
    expect(aks).toMatch(/subject: 'system:serviceaccount:\$\{serviceAccountNamespace\}:\$\{serviceAccountName\}'/);
    expect(aks).toMatch(/param serviceAccountNamespace string = 'w255'/);
    expect(aks).toMatch(/param serviceAccountName string = 'house-price-api'/);
    expect(aks).toContain("api://AzureADTokenExchange");
    // Same names as the manifests.
    const sa = parseYaml(read("k8s-keda", "base", "serviceaccount.yaml")) as { metadata: { name: string } };
    expect(sa.metadata.name).toBe("house-price-api");
  });

  it("wires managed Prometheus end to end: workspace <- DCR (via DCE) <- DCR association on the cluster", () => {
    // As Microsoft's reference template (Azure/prometheus-collector AddonBicepTemplate/FullAzureMonitorMetricsProfile.bicep).
    const mp = read("infra", "bicep", "modules", "managed-prometheus.bicep");
    expect(mp).toMatch(/resource workspace 'Microsoft\.Monitor\/accounts@2023-04-03'/);
    expect(mp).toMatch(/resource dce 'Microsoft\.Insights\/dataCollectionEndpoints@2022-06-01'[\s\S]*?kind: 'Linux'/);
    const dcr = mp.slice(mp.indexOf("resource dcr "), mp.indexOf("resource dcra "));
    expect(dcr).toMatch(/'Microsoft\.Insights\/dataCollectionRules@2022-06-01'/);
    expect(dcr).toMatch(/kind: 'Linux'/);
    expect(dcr).toMatch(/dataCollectionEndpointId: dce\.id/);
    expect(dcr).toMatch(
      /prometheusForwarder: \[\s*\{\s*name: 'PrometheusDataSource'\s*streams: \[\s*'Microsoft-PrometheusMetrics'/,
    );
    expect(dcr).toMatch(/monitoringAccounts: \[\s*\{\s*accountResourceId: workspace\.id\s*name: 'MonitoringAccount1'/);
    expect(dcr).toMatch(
      /dataFlows: \[\s*\{\s*streams: \[\s*'Microsoft-PrometheusMetrics'\s*\]\s*destinations: \[\s*'MonitoringAccount1'/,
    );
    const dcra = mp.slice(mp.indexOf("resource dcra "), mp.indexOf("module rules"));
    expect(dcra).toMatch(/'Microsoft\.Insights\/dataCollectionRuleAssociations@2022-06-01'/);
    expect(dcra).toMatch(/scope: aks\b/);
    expect(dcra).toMatch(/dataCollectionRuleId: dcr\.id/);
    expect(mp).toMatch(
      /resource aks 'Microsoft\.ContainerService\/managedClusters@[\d-]+' existing = \{\s*name: clusterName/,
    );
    // Alert rule groups on the workspace; optional Grafana reading it (Monitoring Data Reader), admin for the user.
    expect(mp).toMatch(/module rules 'prometheus-rules\.bicep'[\s\S]*?azureMonitorWorkspaceId: workspace\.id/);
    expect(mp).toMatch(
      /'Microsoft\.Dashboard\/grafana@[\d-]+' = if \(deployGrafana\)[\s\S]*?azureMonitorWorkspaceResourceId: workspace\.id/,
    );
    expect(mp).toContain("var monitoringDataReader = 'b0d8363b-8ddd-447d-831f-62ca05bff136'");
    expect(mp).toContain("var grafanaAdmin = '22926164-76b3-42b3-bc55-97df8dab3e41'");
    // main.bicep deploys it with the AKS path and names everything in its outputs.
    expect(main).toMatch(/module managedPrometheus 'modules\/managed-prometheus\.bicep' = if \(deployAks\)/);
    for (const o of [
      "AZURE_MONITOR_WORKSPACE_ID",
      "AZURE_MONITOR_WORKSPACE_NAME",
      "PROMETHEUS_QUERY_ENDPOINT",
      "PROMETHEUS_DATA_COLLECTION_ENDPOINT_NAME",
      "PROMETHEUS_DATA_COLLECTION_RULE_NAME",
      "PROMETHEUS_DATA_COLLECTION_RULE_ASSOCIATION_NAME",
      "PROMETHEUS_RULE_GROUP_NAMES",
      "GRAFANA_NAME",
      "GRAFANA_ENDPOINT",
    ])
      expect(main).toMatch(new RegExp(`^output ${o} `, "m"));
  });

  it("calls every module with parameters it declares, and all its required ones", () => {
    const files = bicepFiles().map((f) => ({ f, text: readFileSync(f, "utf8") }));
    let calls = 0;
    for (const { f, text } of files) {
      for (const m of text.matchAll(/^module\s+\w+\s+'([^']+)'\s*=\s*(?:if\s*\([^)]*\)\s*)?\{/gm)) {
        calls++;
        const target = path.resolve(path.dirname(f), m[1]!);
        expect(existsSync(target), target).toBe(true);
        const declared = params(readFileSync(target, "utf8"));
        const body = block(text, m.index! + m[0].length - 1);
        const pIdx = body.search(/\bparams:\s*\{/);
        expect(pIdx, `${m[1]} params`).toBeGreaterThanOrEqual(0);
        const passed = topLevelKeys(block(body, body.indexOf("{", pIdx)));
        for (const p of passed)
          expect(declared.has(p), `${path.basename(f)} passes unknown param ${p} to ${m[1]}`).toBe(true);
        for (const [p, hasDefault] of declared) if (!hasDefault) expect(passed, `${m[1]} needs ${p}`).toContain(p);
      }
    }
    expect(calls).toBeGreaterThanOrEqual(6);
  });

  it("main.parameters.json sets only declared parameters of main.bicep, and every required one", () => {
    const file = JSON.parse(read("infra", "bicep", "main.parameters.json")) as { parameters: Record<string, unknown> };
    const declared = params(main);
    for (const p of Object.keys(file.parameters)) expect(declared.has(p), p).toBe(true);
    for (const [p, hasDefault] of declared) if (!hasDefault) expect(Object.keys(file.parameters), p).toContain(p);
    expect(main).toMatch(/^targetScope = 'subscription'/m);
  });

  it("keeps Bicep braces and brackets balanced in every file", () => {
    for (const f of bicepFiles()) {
      const text = readFileSync(f, "utf8");
      let depth = 0;
      let i = 0;
      while (i < text.length) {
        if (text.startsWith("//", i)) i = text.indexOf("\n", i) < 0 ? text.length : text.indexOf("\n", i);
        else if (text.startsWith("/*", i)) i = text.indexOf("*/", i) + 2;
        else if (text.startsWith("'''", i)) i = text.indexOf("'''", i + 3) + 3;
        else if (text[i] === "'") {
          i++;
          while (i < text.length && text[i] !== "'") i += text[i] === "\\" ? 2 : 1;
          i++;
        } else {
          const ch = text[i++]!;
          if ("{[(".includes(ch)) depth++;
          else if ("}])".includes(ch)) depth--;
          expect(depth, `${path.basename(f)} at ${i}`).toBeGreaterThanOrEqual(0);
        }
      }
      expect(depth, path.basename(f)).toBe(0);
    }
  });
});

describe("azure.yaml", () => {
  it("deploys service api as a Function App from the project root with the Bicep in infra/bicep", () => {
    const azd = parseYaml(read("azure.yaml")) as {
      name: string;
      infra: { provider: string; path: string; module: string };
      services: Record<string, { project: string; language: string; host: string }>;
    };
    expect(azd.name).toBeTruthy();
    expect(azd.infra).toMatchObject({ provider: "bicep", path: "infra/bicep", module: "main" });
    expect(existsSync(path.join(ROOT, azd.infra.path, `${azd.infra.module}.bicep`))).toBe(true);
    expect(azd.services.api).toMatchObject({ project: ".", host: "function" });
    expect(["ts", "js", "typescript", "javascript"]).toContain(azd.services.api!.language);
    // package.json main is the Functions entry azd ships.
    const pkg = JSON.parse(read("package.json")) as { main: string };
    expect(pkg.main).toBe("dist/functions/index.js");
  });
});
