/**
 * Dockerfile and .dockerignore, checked statically (no Docker engine here; tests/deploy/package.test.ts
 * builds and runs the same production artifact without Docker).
 */
import { describe, expect, it } from "vitest";
import { NODE_ENV_VARS, NODE_FLAGS } from "../../server/node-flags";
import { dockerignore, read } from "./helpers";

interface Stage {
  from: string;
  name: string | undefined;
  lines: string[];
}

/** Dockerfile instructions (continuations joined, comments dropped), split into stages. */
function stages(text: string): Stage[] {
  const joined = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ");
  const out: Stage[] = [];
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1]!, name: from[2], lines: [] });
    else if (out.length > 0) out[out.length - 1]!.lines.push(line);
  }
  return out;
}

describe("Dockerfile", () => {
  const text = read("Dockerfile");
  const all = stages(text);
  const final = all[all.length - 1]!;
  const instr = (s: Stage, name: string) => s.lines.filter((l) => l.toUpperCase().startsWith(`${name} `));

  it("is multi-stage on the glibc node:22-bookworm-slim image", () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    for (const s of all) expect(s.from).toBe("${NODE_IMAGE}");
    expect(text).not.toMatch(/^FROM\s+\S*alpine/im);
  });

  it("builds the package with the full install in the build stage, for the target arch, on the build platform", () => {
    const build = all[0]!;
    const text = build.lines.join("\n");
    expect(text).toMatch(/COPY package\.json package-lock\.json \.npmrc/);
    expect(text).toMatch(/ENV ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(text).toMatch(/npm ci\b/);
    expect(text).toMatch(/npm run package -- "--arch=\$\{ort_arch\}"/);
    expect(text).toMatch(/amd64\) ort_arch=x64 ;; arm64\) ort_arch=arm64/);
    expect(read("Dockerfile")).toMatch(/^FROM --platform=\$BUILDPLATFORM \$\{NODE_IMAGE\} AS build$/m);
  });

  it("runs the package alone: no npm in the final stage, one COPY of dist/package", () => {
    expect(instr(final, "RUN").join("\n")).not.toMatch(/\bnpm\b/);
    expect(instr(final, "COPY")).toEqual(["COPY --from=build /src/dist/package ./"]);
  });

  it("runs as a non-root numeric user, port 8000, no HEALTHCHECK", () => {
    const user = instr(final, "USER");
    expect(user).toHaveLength(1);
    const u = user[0]!.split(/\s+/)[1]!.split(":")[0]!;
    expect(u).toMatch(/^\d+$/);
    expect(Number(u)).toBeGreaterThan(0);
    // USER comes after every RUN (nothing runs as root afterwards).
    const idx = final.lines.findIndex((l) => l.startsWith("USER "));
    expect(final.lines.slice(idx).some((l) => l.startsWith("RUN "))).toBe(false);
    expect(final.lines.join("\n")).toMatch(/PORT=8000/);
    expect(instr(final, "EXPOSE")).toEqual(["EXPOSE 8000"]);
    expect(text).not.toMatch(/^\s*HEALTHCHECK/im);
    expect(final.lines.join("\n")).toMatch(/WORKDIR \/app/);
  });

  it("runs node server/main.js directly (exec form: node is PID 1 and gets SIGTERM)", () => {
    const cmd = instr(final, "CMD");
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]!.slice(4))).toEqual(["node", "server/main.js"]);
    expect(instr(final, "ENTRYPOINT")).toEqual([]);
  });
});

describe(".dockerignore", () => {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const norm = (p: string) => p.replace(/^\*\*\//, "").replace(/\/$/, "");

  it("keeps node_modules, dist, .git and secrets out of the build context", () => {
    for (const p of ["node_modules", "dist", ".git", ".env", ".env.*", ".azure", ".azurite", "local.settings.json"])
      expect(patterns.map(norm), p).toContain(p);
  });

  it("keeps in everything the build needs", () => {
    const ignored = dockerignore(read(".dockerignore"));
    for (const needed of [
      "package.json",
      "package-lock.json",
      ".npmrc",
      "tsconfig.json",
      "scripts/build.mjs",
      "scripts/build-config.mjs",
      "scripts/package.mjs",
      "host.json",
      "shared/ops/config.ts",
      "server/main.ts",
      "functions/index.ts",
      "model/model.onnx",
      "model/model.json",
    ]) {
      expect(ignored(needed), needed).toBe(false);
    }
    for (const out of [
      "node_modules/x/index.js",
      "shared/node_modules/x",
      "dist/server/main.js",
      ".git/HEAD",
      "tests/deploy/k8s.test.ts",
      "model/data/cal_housing.data",
      "debug.log",
      ".env.local",
      "k8s-keda/base/kustomization.yaml",
    ]) {
      expect(ignored(out), out).toBe(true);
    }
  });
});

describe("V8 heap caps (server/node-flags.ts)", () => {
  const flags = NODE_FLAGS.join(" ");

  it("are the container's NODE_OPTIONS, next to its malloc settings", () => {
    const docker = read("Dockerfile");
    expect(docker).toContain(`ENV NODE_OPTIONS="${flags}"`);
    for (const [k, v] of Object.entries(NODE_ENV_VARS))
      expect(docker).toMatch(new RegExp(`^\\s+${k}=${v}( \\\\)?$`, "m"));
  });

  it("are what `npm start` runs the server with", () => {
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain(`node ${flags} dist/server/main.js`);
  });

  it("are the Function App's Node.js worker arguments", () => {
    const fnApp = read("infra", "bicep", "modules", "functionapp.bicep");
    expect(fnApp).toContain(`param nodeArguments string = '${flags}'`);
    expect(fnApp).toMatch(/name: 'languageWorkers__node__arguments'\s*\n\s*value: nodeArguments/);
    for (const [k, v] of Object.entries(NODE_ENV_VARS)) {
      expect(fnApp).toMatch(new RegExp(`name: '${k}'\\s*\\n\\s*value: '${v}'`));
    }
  });
});
