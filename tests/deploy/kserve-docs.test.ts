/**
 * docs/OPEN_INFERENCE.md's KServe manifests: no cluster here, so what decides their behaviour is checked
 * against its sources instead. KServe takes a custom container's protocol from its `PROTOCOL` env var (v1|v2,
 * CustomPredictor.GetProtocol/validateCustomProtocol), looks for the container named `kserve-container`, and a
 * ServingRuntime must list the InferenceService's `protocolVersion` in `protocolVersions`. The containers must be
 * valid Kubernetes containers, listen where the image does, and probe paths this service answers.
 */
import { readFileSync } from "node:fs";
import { Container } from "kubernetes-models/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { HOSTS, testService, type Host } from "../support/hosts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const DOC = readFileSync("docs/OPEN_INFERENCE.md", "utf8");
const manifests: Obj[] = [...DOC.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) =>
  parseAllDocuments(m[1]!).map((d) => d.toJS() as Obj),
);
const EXPOSED = Number(/^EXPOSE (\d+)$/m.exec(readFileSync("Dockerfile", "utf8"))?.[1]);
const customPredictor = manifests.find((m) => m.kind === "InferenceService" && m.spec.predictor.containers)!;
const runtime = manifests.find((m) => m.kind === "ServingRuntime")!;
const modelPredictor = manifests.find((m) => m.kind === "InferenceService" && m.spec.predictor.model)!;
const containers = (): Obj[] => [customPredictor.spec.predictor.containers[0], runtime.spec.containers[0]];

describe("the KServe manifests in docs/OPEN_INFERENCE.md", () => {
  let host: Host;
  beforeAll(async () => {
    host = await HOSTS.standalone(testService());
    await host.service.holder.load();
  });
  afterAll(() => host.close());

  it("are the three objects the page describes, with KServe's API versions", () => {
    expect(manifests.map((m) => `${m.apiVersion}/${m.kind}`)).toEqual([
      "serving.kserve.io/v1beta1/InferenceService",
      "serving.kserve.io/v1alpha1/ServingRuntime",
      "serving.kserve.io/v1beta1/InferenceService",
    ]);
  });

  it("declare v2 the way KServe reads it: PROTOCOL on a custom container, protocolVersions on a runtime", () => {
    const env = customPredictor.spec.predictor.containers[0].env as Obj[];
    expect(env.find((e) => e.name === "PROTOCOL")?.value).toBe("v2");
    expect(runtime.spec.protocolVersions).toContain(modelPredictor.spec.predictor.model.protocolVersion);
    expect(modelPredictor.spec.predictor.model.protocolVersion).toBe("v2");
    expect(modelPredictor.spec.predictor.model.runtime).toBe(runtime.metadata.name);
    expect(runtime.spec.supportedModelFormats.map((f: Obj) => f.name)).toContain(
      modelPredictor.spec.predictor.model.modelFormat.name,
    );
  });

  it("run valid Kubernetes containers named kserve-container on the image's port", () => {
    for (const c of containers()) {
      expect(c.name).toBe("kserve-container");
      expect(() => new Container(c as ConstructorParameters<typeof Container>[0]).validate()).not.toThrow();
      expect(c.ports.map((p: Obj) => p.containerPort)).toEqual([EXPOSED]);
      expect(EXPOSED).toBe(8000);
    }
  });

  it("probe paths that answer 200 on a ready service, on the serving port (Knative's rule)", async () => {
    for (const c of containers()) {
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        expect(probe.httpGet.port).toBe(c.ports[0].containerPort);
        const r = await host.send("GET", probe.httpGet.path);
        expect(r.status, probe.httpGet.path).toBe(200);
      }
      expect(c.readinessProbe.httpGet.path).toBe("/v2/health/ready");
    }
  });
});
