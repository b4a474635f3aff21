/**
 * The optional Azure Front Door (deployFrontDoor), checked offline like the rest of infra/bicep: what it caches,
 * how the Function App is locked to it, and that its CORS rules expose what the service exposes.
 */
import { describe, expect, it } from "vitest";
import { CORS_EXPOSED_HEADERS } from "../../shared/http/cors";
import { parse as parseYaml } from "yaml";
import { read } from "./helpers";

const main = read("infra", "bicep", "main.bicep");
const fd = read("infra", "bicep", "modules", "frontdoor.bicep");
const profile = read("infra", "bicep", "modules", "frontdoor-profile.bicep");
const fnApp = read("infra", "bicep", "modules", "functionapp.bicep");

/** The body of `resource <name> '<type>' = ... {` up to the next top-level resource/output. */
function resourceText(text: string, name: string): string {
  const start = text.search(new RegExp(`^resource ${name} `, "m"));
  expect(start, name).toBeGreaterThanOrEqual(0);
  const rest = text.slice(start + 1);
  const end = rest.search(/^(resource|output|@batchSize|\/\/ )/m);
  return end < 0 ? rest : rest.slice(0, end);
}

describe("Azure Front Door option (deployFrontDoor)", () => {
  it("is off by default and, when on, deploys a Standard profile, then the app, then the endpoint", () => {
    expect(main).toMatch(/^param deployFrontDoor bool = false$/m);
    expect(main).toMatch(/module frontDoorProfile 'modules\/frontdoor-profile\.bicep' = if \(deployFrontDoor\)/);
    expect(main).toMatch(/module frontDoor 'modules\/frontdoor\.bicep' = if \(deployFrontDoor\)/);
    expect(main).toMatch(/frontDoorId: deployFrontDoor \? frontDoorProfile\.outputs\.frontDoorId : ''/);
    expect(main).toMatch(/originHostName: functionApp\.outputs\.defaultHostName/);
    expect(profile).toMatch(/name: 'Standard_AzureFrontDoor'/);
    expect(profile).toMatch(/output frontDoorId string = profile\.properties\.frontDoorId/);
    expect(read("infra", "bicep", "main.parameters.json")).toContain('"${DEPLOY_FRONT_DOOR=false}"');
  });

  it("routes every path with caching off, and caches only GET /predict, keyed on the query, honouring the origin", () => {
    const route = resourceText(fd, "route");
    expect(route).toMatch(/patternsToMatch: \['\/\*'\]/);
    expect(route).not.toMatch(/cacheConfiguration/);
    expect(route).toMatch(/ruleSets: \[\s*\{\s*id: ruleSet\.id/);
    expect(route).toMatch(/forwardingProtocol: 'HttpsOnly'/);
    // The conditions: request path "predict" (no leading slash, per the rules-engine docs), method GET.
    expect(fd).toMatch(/name: 'UrlPath'[\s\S]*?operator: 'Equal'[\s\S]*?matchValues: \['predict'\][\s\S]*?'Lowercase'/);
    expect(fd).toMatch(/name: 'RequestMethod'[\s\S]*?matchValues: \['GET'\]/);
    const rule = resourceText(fd, "cachePredict");
    expect(rule).toMatch(/conditions: predictGet/);
    expect(rule).toMatch(/queryStringCachingBehavior: 'UseQueryString'/);
    expect(rule).toMatch(/cacheBehavior: 'HonorOrigin'/);
    expect(rule).not.toMatch(/cacheDuration/);
    // No other rule turns caching on.
    expect(fd.match(/cacheConfiguration:/g)).toHaveLength(1);
  });

  it("drops the caller-specific RateLimit-* headers from GET /predict answers", () => {
    const rule = resourceText(fd, "dropCallerHeaders");
    expect(rule).toMatch(/conditions: predictGet/);
    expect(rule).toMatch(
      /for header in \['RateLimit-Policy', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'\]/,
    );
    expect(rule).toMatch(/headerAction: 'Delete'\s*headerName: header/);
  });

  it("locks the Function App to this Front Door: service tag AND X-Azure-FDID, everything else denied", () => {
    expect(fnApp).toMatch(
      /tag: 'ServiceTag'\s*ipAddress: 'AzureFrontDoor\.Backend'\s*action: 'Allow'\s*priority: \d+\s*headers: \{\s*'x-azure-fdid': \[frontDoorId\]/,
    );
    expect(fnApp).toMatch(/ipSecurityRestrictions: empty\(frontDoorId\) \? \[\] : frontDoorOnly/);
    expect(fnApp).toMatch(/ipSecurityRestrictionsDefaultAction: empty\(frontDoorId\) \? 'Allow' : 'Deny'/);
    // Platform CORS stays empty: the service answers CORS itself.
    expect(fnApp).toMatch(/cors: \{\s*allowedOrigins: \[\]/);
  });

  it("tells the app which X-Forwarded-For entry is the client: 2 behind Front Door, the last one otherwise", () => {
    expect(main).toMatch(/trustProxy: deployFrontDoor \? '2' : '1'/);
    expect(fnApp).toMatch(/name: 'TRUST_PROXY'\s*value: trustProxy/);
  });

  it("manages Access-Control-Allow-Origin of cached answers per allowed origin, exposing what the service exposes", () => {
    expect(fd).toMatch(/var corsOrigins = filter\(map\(split\(corsAllowedOrigins, ','\)/);
    expect(fd).toContain(`var exposedHeaders = '${CORS_EXPOSED_HEADERS}'`);
    const reset = resourceText(fd, "corsReset");
    expect(reset).toMatch(/headerAction: 'Delete'\s*headerName: 'Access-Control-Allow-Origin'/);
    const allow = resourceText(fd, "corsAllow");
    expect(allow).toMatch(/for \(allowed, i\) in corsOrigins/);
    expect(allow).toMatch(/selector: 'Origin'\s*operator: 'Equal'[\s\S]*?matchValues: \[allowed\]/);
    expect(allow).toMatch(/headerAction: 'Overwrite'\s*headerName: 'Access-Control-Allow-Origin'\s*value: allowed/);
    expect(main).toMatch(/corsAllowedOrigins: corsAllowedOrigins/);
  });

  it("purges GET /predict from the edge after every azd deploy, with names main.bicep outputs", () => {
    const azd = parseYaml(read("azure.yaml")) as { hooks: Record<string, { posix: { run: string } }> };
    const run = azd.hooks.postdeploy!.posix.run;
    expect(run).toMatch(/if \[ -n "\$\{FRONT_DOOR_ENDPOINT_NAME:-\}" \]/);
    expect(run).toMatch(/az afd endpoint purge[\s\S]*--content-paths '\/predict'/);
    for (const name of ["FRONT_DOOR_PROFILE_NAME", "FRONT_DOOR_ENDPOINT_NAME", "AZURE_RESOURCE_GROUP"]) {
      expect(run).toContain(name);
      expect(main).toMatch(new RegExp(`^output ${name} string`, "m"));
    }
  });
});
