/**
 * Where the microseconds of a /predict go: the server under test runs with `--cpu-prof` (pinned to its core,
 * production flags) while wrk (on the other core) sends one workload, as in `npm run bench`; then the
 * profile's self time is summarised per function, in µs per request (self time ÷ requests in the timed run).
 *
 *   npm run build && node --import tsx bench/profile.ts [--label before] [--seconds 5] [--kinds predict-unique,predict-hit]
 *     [--server <another build's server/main.js>] [--ceiling: the bare node:http server instead] [--top 25]
 *     [--paced <req/s>: the timed run of predict-unique is the paced generator of the bench at that rate, not wrk]
 *
 * Writes bench/results/profiles/<label>/<kind>.cpuprofile (open in Chrome DevTools) and
 * bench/results/profiles/<label>/summary.md; prints the summary.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";
import { SourceMap, type SourceMapPayload } from "node:module";
import { basename, resolve } from "node:path";
import { choosePinning, pinSelf, type Pinning } from "./lib/pinning";
import { pinServersWith, snapshotBuild, spawnScript, spawnServer, useServerScript, waitReady } from "./lib/procs";
import { markdownTable } from "./lib/stats";
import { runPaced } from "./lib/paced";
import { cpuWindow, requireWrk, runWrk, writeRowsFile, type WrkKind } from "./lib/wrk";

const arg = (flag: string, dflt: string) => {
  const i = process.argv.indexOf(flag);
  return i === -1 ? dflt : (process.argv[i + 1] ?? dflt);
};
const LABEL = arg("--label", "current");
const SECONDS = Number(arg("--seconds", "5"));
const KINDS = arg("--kinds", "predict-unique,predict-hit").split(",") as WrkKind[];
const TOP = Number(arg("--top", "25"));
/** Rows per request of the bulk kind. */
const ROWS = Number(arg("--rows", "1000"));
/** Profile the bare node:http ceiling instead of the service (the floor's own breakdown). */
const CEILING = process.argv.includes("--ceiling");
/** Sample allocations (--heap-prof) instead of CPU: which frames allocate the garbage GC then sweeps. */
const HEAP = process.argv.includes("--heap");
/** Another server bundle than dist/ (e.g. a build of the commit before a change), for a before/after pair. */
const SERVER = arg("--server", "");
/**
 * The paced generator (bench/lib/paced.ts) at this rate for predict-unique's timed run instead of wrk (other kinds
 * keep wrk): where the extra microseconds of a request go when requests arrive one by one rather than 32 at a time.
 * It runs in this process, pinned to the load core; the profile is of the server, so its own stalls only thin
 * the load (bench.ts runs it as a child for the latency target).
 */
const PACED = Number(arg("--paced", "0"));
const OUT = resolve("bench/results/profiles", LABEL);
const TMP = resolve("bench/results/tmp");

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame of the bundle comes from (its source map), e.g. "shared/app.ts:212" or "prom-client/lib/counter.js:40". */
function locate(maps: Map<string, SourceMap | null>, url: string, line: number, column: number): string {
  if (!url) return "";
  const path = url.replace(/^file:\/\//, "");
  if (!maps.has(path)) {
    let map: SourceMap | null = null;
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8")) as SourceMapPayload);
    } catch {
      // no source map: node internals, onnxruntime's own files
    }
    maps.set(path, map);
  }
  const entry = maps.get(path)?.findEntry(line, column);
  if (entry && "originalSource" in entry) {
    const src = entry.originalSource.replace(/^.*?(node_modules\/|\.\.\/)+/, "").replace(/^webpack:\/\//, "");
    return `${src}:${entry.originalLine + 1}`;
  }
  return path.startsWith("node:") ? `${path}:${line + 1}` : `${basename(path)}:${line + 1}`;
}

/** The source group of a location: a file of ours, a package, a node internal module, or V8's own entries. */
function group(frame: string, where: string): string {
  if (!where) return frame.startsWith("(") ? frame : "native";
  if (where.startsWith("node:")) return where.replace(/:\d+$/, "");
  const pkg = /^((?:@[^/]+\/)?[^/]+)\/(?!.*\.ts:)/.exec(where)?.[1];
  if (pkg && !where.startsWith("shared/") && !where.startsWith("server/")) return pkg;
  return where.replace(/:\d+$/, "");
}

/** Self time per function (name + source location) and per source group, in µs, idle excluded. */
function selfTimes(p: CpuProfile) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const maps = new Map<string, SourceMap | null>();
  const frames = new Map<number, { frame: string; group: string }>();
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  p.samples.forEach((id, i) => {
    let f = frames.get(id);
    if (!f) {
      const n = byId.get(id);
      if (!n) return;
      const { functionName, url, lineNumber, columnNumber } = n.callFrame;
      const where = locate(maps, url, lineNumber, columnNumber);
      const name = functionName || "(anonymous)";
      f = { frame: where ? `${name} ${where}` : name, group: group(name, where) };
      frames.set(id, f);
    }
    if (f.frame === "(idle)") return;
    // The delta before the next sample is the time this sample stands for.
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(f.frame, (self.get(f.frame) ?? 0) + dt);
    groups.set(f.group, (groups.get(f.group) ?? 0) + dt);
  });
  const sorted = (m: Map<string, number>) =>
    [...m.entries()].map(([frame, us]) => ({ frame, us })).sort((a, b) => b.us - a.us);
  return { frames: sorted(self), groups: sorted(groups) };
}

interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
}

/** Bytes allocated per frame and per source group (sampled; collected objects included). */
function allocations(p: HeapProfile) {
  const maps = new Map<string, SourceMap | null>();
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  const walk = (n: HeapNode) => {
    if (n.selfSize > 0) {
      const { functionName, url, lineNumber, columnNumber } = n.callFrame;
      const where = locate(maps, url, lineNumber, columnNumber);
      const name = functionName || "(anonymous)";
      const frame = where ? `${name} ${where}` : name;
      self.set(frame, (self.get(frame) ?? 0) + n.selfSize);
      const g = group(name, where);
      groups.set(g, (groups.get(g) ?? 0) + n.selfSize);
    }
    n.children.forEach(walk);
  };
  walk(p.head);
  const sorted = (m: Map<string, number>) =>
    [...m.entries()].map(([frame, us]) => ({ frame, us })).sort((a, b) => b.us - a.us);
  return { frames: sorted(self), groups: sorted(groups) };
}

let ceilingScript: string | undefined;
async function ceilingBundle(): Promise<string> {
  ceilingScript ??= resolve(TMP, "ceiling-server.js");
  await build({
    entryPoints: [resolve("bench/ceiling-server.ts")],
    outfile: ceilingScript,
    bundle: true,
    platform: "node",
    format: "cjs",
    logLevel: "warning",
  });
  return ceilingScript;
}

/** The paced generator in this process (pinned to the load core) for SECONDS at PACED req/s. */
async function pacedRun(pin: Pinning, port: number, pid: number, seed: number) {
  const window = cpuWindow(pid, pin);
  const r = await runPaced({
    host: "127.0.0.1",
    port,
    connections: 32,
    rate: PACED,
    warmupS: 0,
    durationS: SECONDS,
    seed,
  });
  const used = window.stop();
  return { requests: r.ok, reqPerS: r.achievedPerS, cpuPerReqUs: ((used.cpuSecs ?? NaN) / r.ok) * 1e6 };
}

async function main(): Promise<void> {
  requireWrk();
  const pin = choosePinning();
  pinSelf(pin);
  pinServersWith(pin.server);
  await snapshotBuild(resolve(TMP, "build"));
  if (SERVER) useServerScript(SERVER);
  mkdirSync(TMP, { recursive: true });
  const rowsFile = resolve(TMP, "rows.lua");
  writeRowsFile(rowsFile);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const what = `${HEAP ? "Allocation" : "CPU"} profiles of ${CEILING ? "the bare node:http ceiling" : "the service"}`;
  const sections: string[] = [`# ${what}: ${LABEL}`, "", pin.note, ""];
  let seed = 0;
  for (const kind of KINDS) {
    const dir = resolve(OUT, `${kind}.tmp`);
    const flags = HEAP
      ? ["--heap-prof", `--heap-prof-dir=${dir}`, "--heap-prof-interval=4096"]
      : ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=100"];
    const server = CEILING
      ? await spawnScript(await ceilingBundle(), {}, flags)
      : await spawnServer({}, undefined, flags);
    const spec = (durationS: number) => ({
      url: `http://127.0.0.1:${server.port}`,
      kind,
      connections: kind === "bulk" ? 8 : 32,
      threads: 2,
      rows: ROWS,
      durationS,
      seed: (seed += 10_000),
      timeoutS: 10,
      rowsFile,
    });
    let measured: { requests: number; reqPerS: number; cpuPerReq?: number };
    try {
      await waitReady(server, "GET", "/health");
      const warm = await runWrk(spec(1), pin);
      const run =
        PACED > 0 && kind === "predict-unique"
          ? await pacedRun(pin, server.port, server.pid, (seed += 10_000))
          : await runWrk(spec(SECONDS), pin, server.pid);
      measured = { requests: warm.requests + run.requests, reqPerS: run.reqPerS, cpuPerReq: run.cpuPerReqUs };
    } finally {
      await server.stop(); // SIGTERM: the server drains and exits, and node writes the profile
    }
    const { requests, reqPerS, cpuPerReq } = measured;
    const ext = HEAP ? ".heapprofile" : ".cpuprofile";
    const file = readdirSync(dir).find((f) => f.endsWith(ext));
    if (!file) throw new Error(`no profile written for ${kind}: ${server.stderr()}`);
    const target = resolve(OUT, `${kind}${ext}`);
    renameSync(resolve(dir, file), target);
    rmSync(dir, { recursive: true, force: true });
    const { frames, groups } = HEAP
      ? allocations(JSON.parse(readFileSync(target, "utf8")) as HeapProfile)
      : selfTimes(JSON.parse(readFileSync(target, "utf8")) as CpuProfile);
    const busy = frames.reduce((s, f) => s + f.us, 0);
    // The profile spans start-up, warm-up, run and shutdown; requests = warm-up + run.
    const perReq = (us: number) => us / Math.max(1, requests);
    const unit = HEAP ? "bytes" : "µs";
    const row = (f: { frame: string; us: number }) => [
      f.frame,
      `${((f.us / busy) * 100).toFixed(1)} %`,
      `${perReq(f.us).toFixed(HEAP ? 0 : 2)} ${unit}`,
    ];
    sections.push(
      `## ${kind}: ${Math.round(reqPerS).toLocaleString("en-US")} req/s under profiling, ` +
        `server CPU ${cpuPerReq?.toFixed(1) ?? "–"} µs/request (from /proc, timed run), ${requests.toLocaleString("en-US")} requests profiled`,
      "",
      HEAP
        ? `Bytes allocated on the JS heap (sampled every 4 KiB, objects collected since included) over the whole run; bytes/request = ÷ requests of warm-up + run.`
        : `Self time on the main thread over the whole profile (start-up, warm-up, run, shutdown); µs/request = self time ÷ requests of warm-up + run. Share = of the non-idle samples (GC and native code included as V8 reports them).`,
      "",
      markdownTable(["source", "share", `${unit}/request`], groups.slice(0, 15).map(row)),
      "",
      markdownTable(
        [HEAP ? "frame (allocated)" : "frame (self time)", "share", `${unit}/request`],
        frames.slice(0, TOP).map(row),
      ),
      "",
    );
  }
  const summary = sections.join("\n");
  writeFileSync(resolve(OUT, "summary.md"), summary);
  console.log(summary);
  console.log(`wrote ${OUT}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
