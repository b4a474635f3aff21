/** Child processes of the bench: the server under test, the ceiling server, load drivers; RSS sampling. */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import http from "node:http";
import { resolve } from "node:path";
import { NODE_ENV_VARS, NODE_FLAGS } from "../../server/node-flags";
import { freePort } from "../../tests/support/ports";

export const HOST = "127.0.0.1";

// A port that was free a moment ago: the tests' helper, one implementation for both.
export { freePort };

export interface Reply {
  status: number;
  body: string;
}

/** One request on a fresh connection (no keep-alive), so a refused connection fails fast. */
export function request(port: number, method: string, path: string, body?: string, timeoutMs = 2000): Promise<Reply> {
  return new Promise((res, rej) => {
    const req = http.request(
      {
        host: HOST,
        port,
        method,
        path,
        agent: false,
        timeout: timeoutMs,
        headers:
          body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => res({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        r.on("error", rej);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", rej);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  child: ChildProcess;
  pid: number;
  port: number;
  stderr: () => string;
  stop(): Promise<void>;
}

function track(child: ChildProcess, port: number): Proc {
  let err = "";
  child.stderr?.on("data", (c: Buffer) => {
    err = (err + c.toString("utf8")).slice(-4000);
  });
  child.stdout?.resume();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    pid: child.pid ?? 0,
    port,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

let serverScript = resolve("dist/server/main.js");
/** Command prefix of the server under test and the ceilings, e.g. `taskset -c 1` (bench/lib/pinning.ts). */
let prefix: string[] = [];

/** Runs every server and ceiling spawned from now on under `cmd` (e.g. ["taskset", "-c", "1"]; [] for none). */
export function pinServersWith(cmd: string[]): void {
  prefix = cmd;
}

/** spawn() of node with args, under the pinning prefix (taskset execs node: the pid is node's). */
function spawnNode(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const [cmd, ...pre] = [...prefix, process.execPath];
  return spawn(cmd!, [...pre, ...args], { cwd: process.cwd(), env, stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Other engineers rebuild dist/ (rm -rf, then esbuild) while the bench runs: the bench runs its own
 * copy of the bundle it just built, byte for byte. It stays under the repo (bench/results/tmp/dist),
 * so the server still finds the repo root (package.json, model/) and node_modules above it.
 */
export async function snapshotBuild(into: string, waitMs = 60_000): Promise<string> {
  const files = ["dist/server/main.js", "dist/server/main.js.map", "dist/functions/index.js"];
  const deadline = Date.now() + waitMs;
  while (!files.every((f) => existsSync(resolve(f)))) {
    if (Date.now() > deadline) throw new Error("dist/ is missing: run npm run build");
    await sleep(200);
  }
  rmSync(into, { recursive: true, force: true });
  cpSync(resolve("dist"), into, { recursive: true });
  serverScript = resolve(into, "server/main.js");
  return serverScript;
}

/** Makes spawnServer run this bundle (e.g. one of two builds an A/B compares). */
export function useServerScript(path: string): void {
  serverScript = resolve(path);
}

/** Starts `node <NODE_FLAGS> dist/server/main.js` (the snapshot) on a free port (LOG_LEVEL=warn, loopback only). */
export async function spawnServer(
  env: Record<string, string> = {},
  port?: number,
  /** More node flags after the production ones, e.g. --cpu-prof. */
  extraFlags: string[] = [],
): Promise<Proc> {
  port ??= await freePort();
  // The production V8 flags (server/node-flags.ts); BENCH_NODE_FLAGS="…" replaces them for an experiment.
  const flags = process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? NODE_FLAGS;
  const child = spawnNode([...flags, ...extraFlags, serverScript], {
    ...process.env,
    ...NODE_ENV_VARS,
    PORT: String(port),
    HOST,
    LOG_LEVEL: "warn",
    ...env,
  });
  return track(child, port);
}

/** Starts a plain-node script (e.g. the bundled ceiling server) with PORT set. */
export async function spawnScript(
  script: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<Proc> {
  const port = await freePort();
  const child = spawnNode([...args, script], { ...process.env, PORT: String(port), HOST, ...env });
  return track(child, port);
}

/**
 * Whether process `pid` holds the listening socket of `port` (from /proc/net/tcp{,6} and its fds).
 * Other engineers' test servers share this machine: a port found free a moment ago may be taken
 * by one of them, and an answer from their server must not pass for ours.
 */
export function ownsListeningPort(pid: number, port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is field 1, st (0A = LISTEN) field 3, inode field 9.
      if (f[1]?.endsWith(hex) && f[3] === "0A" && f[9]) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return false;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) return true;
    }
  } catch {
    return false;
  }
  return false;
}

/** Polls (every 20 ms, up to timeoutMs) until the process listens on its port and `path` answers 200. */
export async function waitReady(proc: Proc, method: string, path: string, body?: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`process exited early: ${proc.stderr()}`);
    if (!ownsListeningPort(proc.pid, proc.port)) {
      if (Date.now() > deadline) throw new Error(`port ${proc.port} not listened on by ${proc.pid}: ${proc.stderr()}`);
      await sleep(20);
      continue;
    }
    try {
      const r = await request(proc.port, method, path, body);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${path} not ready after ${timeoutMs} ms: ${proc.stderr()}`);
    await sleep(20);
  }
}

/** Samples VmRSS of a process every intervalMs; peak() is the largest sample. */
export function rssSampler(pid: number, intervalMs = 100) {
  const read = (): number | undefined => {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? Number(m[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  };
  let peak = 0;
  const stop = everyInterval(intervalMs, () => {
    const v = read();
    if (v !== undefined && v > peak) peak = v;
  });
  return {
    /** Largest VmRSS sample so far, bytes. */
    peak: () => peak,
    stop,
  };
}

/** Calls `sample` now and every `intervalMs`; the function returned stops it after one last call. */
function everyInterval(intervalMs: number, sample: () => void): () => void {
  sample();
  const timer = setInterval(sample, intervalMs);
  return () => {
    sample();
    clearInterval(timer);
  };
}

const CLK_TCK = 100; // getconf CLK_TCK on Linux

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat, idle and iowait excluded). */
export function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / CLK_TCK;
}

/** Cores the machine keeps busy over `ms` (everything: other engineers' tests included). */
export async function machineBusyCores(ms: number): Promise<number> {
  const b0 = machineBusySeconds();
  const t0 = performance.now();
  await sleep(ms);
  return (machineBusySeconds() - b0) / ((performance.now() - t0) / 1000);
}

/**
 * Waits (up to maxMs) until the machine is quiet: other processes keep below `cores` busy over sampleMs.
 * The bench shares 2 cores with whatever else runs; a measurement next to someone's test suite is noise.
 * Returns the busy cores last seen.
 */
export async function waitQuiet(
  cores = 0.25,
  maxMs = 120_000,
  onWait?: (busy: number) => void,
  sampleMs = 1000,
): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const busy = await machineBusyCores(sampleMs);
    if (busy < cores || Date.now() > deadline) return busy;
    onWait?.(busy);
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (undefined once gone). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/**
 * The main thread's CPU time (ns, the first field of /proc/<pid>/schedstat: nanosecond resolution, where utime
 * and stime count 10 ms ticks) against the wall clock (epoch ms), every `intervalMs`. The main thread runs all of
 * the server's JavaScript, so its time per request is the per-request cost a slice of a run paid.
 */
export function threadCpuSampler(pid: number, intervalMs = 50) {
  const samples: { epochMs: number; ns: number }[] = [];
  const stop = everyInterval(intervalMs, () => {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
      samples.push({ epochMs: performance.timeOrigin + performance.now(), ns });
    } catch {
      // The process is gone: the samples so far are what there is.
    }
  });
  return {
    stop() {
      stop();
      return samples;
    },
  };
}
