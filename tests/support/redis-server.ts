/**
 * A real redis-server per test file: spawned on a free 127.0.0.1 port, no persistence, always cleaned up
 * (on stop/kill, on process exit, and by a watchdog shell if this process dies without running exit hooks).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createClient } from "redis";
import { freePort } from "./ports";
import { needTool } from "./tools";

/**
 * Whether the tests that need a redis-server skip: SKIP_REDIS=1, or no redis-server installed (a loud warning
 * naming the Debian package; under CI=true needTool throws, so the run fails instead of skipping).
 */
export const SKIP_REDIS =
  process.env.SKIP_REDIS === "1" || (!process.env.REDIS_SERVER_BIN && !needTool("redis-server"));

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** REDIS_SERVER_BIN, else redis-server on PATH, else /usr/bin/redis-server; undefined when none exists. */
export function findRedisServer(): string | undefined {
  const fromEnv = process.env.REDIS_SERVER_BIN;
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "redis-server"))) return join(dir, "redis-server");
  }
  return isExecutable("/usr/bin/redis-server") ? "/usr/bin/redis-server" : undefined;
}

function requireRedisServer(): string {
  const bin = findRedisServer();
  if (!bin) {
    throw new Error(
      "redis-server not found (looked at $REDIS_SERVER_BIN, PATH and /usr/bin/redis-server). " +
        "Install it (apt-get install redis-server) or set SKIP_REDIS=1 to skip the tests that need it.",
    );
  }
  return bin;
}

function makeClient(url: string) {
  const client = createClient({
    url,
    RESP: 2,
    maintNotifications: "disabled",
    socket: { connectTimeout: 2_000, reconnectStrategy: false },
  });
  client.on("error", () => {
    // test helper connections: failures surface as rejected commands
  });
  return client;
}
export type AdminClient = ReturnType<typeof makeClient>;

export interface StartRedisOptions {
  /** Fixed port; default a free one. */
  port?: number;
  /** Extra redis-server arguments. */
  args?: string[];
  /** How long to wait for PING to answer (default 10 s). */
  startTimeoutMs?: number;
}

export interface RedisProcess {
  readonly url: string;
  readonly port: number;
  /** Whether the server process is up (between start/restart and stop/kill). */
  readonly running: boolean;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (a crash, as far as clients can tell). */
  kill(): Promise<void>;
  /** Start again on the SAME port (stopping it first if running); the data is gone. */
  restart(): Promise<void>;
  /** CLIENT PAUSE <ms> ALL, sent over a separate connection: every client's commands stall for ms. */
  pause(ms: number): Promise<void>;
  flushall(): Promise<void>;
  keys(pattern?: string): Promise<string[]>;
  /** TTL in seconds (-2 absent, -1 no expiry). */
  ttl(key: string): Promise<number>;
  /** How many times a command has run since start (INFO commandstats `calls`), e.g. commandCalls("mget"). */
  commandCalls(command: string): Promise<number>;
  /** A new connected node-redis client (RESP2, no reconnect); closed by stop/kill if not before. */
  client(): Promise<AdminClient>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A detached shell that SIGKILLs `pid` once this process is gone (covers SIGKILLed test workers). */
function watchdog(pid: number): ChildProcess {
  const dog = spawn(
    "/bin/sh",
    ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null`],
    {
      detached: true,
      stdio: "ignore",
    },
  );
  dog.unref();
  return dog;
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      reply += d.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  const bin = requireRedisServer();
  installExitHook();
  let dir: string | undefined;
  const clients = new Set<AdminClient>();
  let child: ChildProcess | undefined;
  let dog: ChildProcess | undefined;
  let port = opts.port ?? (await freePort());

  async function spawnOn(p: number): Promise<void> {
    const workDir = mkdtempSync(join(tmpdir(), "redis-test-"));
    dir = workDir;
    dirs.add(workDir);
    const proc = spawn(
      bin,
      [
        "--port",
        String(p),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workDir,
        ...(opts.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-4_000);
    };
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    let spawnError: Error | undefined;
    proc.once("error", (err) => {
      spawnError = err;
    });
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    child = proc;
    if (proc.pid !== undefined) dog = watchdog(proc.pid);

    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (spawnError) throw new Error(`could not spawn ${bin}: ${spawnError.message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `redis-server exited at start (port ${p}, code ${proc.exitCode ?? proc.signalCode}):\n${output}`,
        );
      }
      if (await pingOnce(p)) return;
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`redis-server did not answer PING on port ${p} within the start timeout:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    for (const c of clients) c.destroy();
    clients.clear();
    const proc = child;
    child = undefined;
    if (dog?.pid !== undefined) {
      try {
        process.kill(dog.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    dog = undefined;
    if (proc) {
      const exited = waitForExit(proc);
      proc.kill(signal);
      await exited;
    }
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
      dir = undefined;
    }
  }

  // A freshly picked port can be taken between freePort() and spawn: try a few.
  for (let attempt = 0; ; attempt++) {
    try {
      await spawnOn(port);
      break;
    } catch (err) {
      await halt("SIGKILL");
      if (opts.port !== undefined || attempt >= 2) {
        throw err;
      }
      port = await freePort();
    }
  }

  const url = `redis://127.0.0.1:${port}`;

  async function withClient<T>(fn: (c: AdminClient) => Promise<T>): Promise<T> {
    const c = makeClient(url);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      c.destroy();
    }
  }

  return {
    url,
    port,
    get running() {
      return child !== undefined;
    },
    stop: () => halt("SIGTERM"),
    kill: () => halt("SIGKILL"),
    async restart() {
      await halt("SIGTERM");
      await spawnOn(port);
    },
    async pause(ms) {
      await withClient((c) => c.sendCommand(["CLIENT", "PAUSE", String(ms), "ALL"]));
    },
    async flushall() {
      await withClient((c) => c.sendCommand(["FLUSHALL"]));
    },
    keys: (pattern = "*") => withClient(async (c) => (await c.sendCommand(["KEYS", pattern])) as string[]),
    ttl: (key) => withClient(async (c) => Number(await c.sendCommand(["TTL", key]))),
    commandCalls: (command) =>
      withClient(async (c) => {
        const info = String(await c.sendCommand(["INFO", "commandstats"]));
        const m = new RegExp(`^cmdstat_${command.toLowerCase()}:calls=(\\d+)`, "m").exec(info);
        return m?.[1] ? Number(m[1]) : 0;
      }),
    async client() {
      const c = makeClient(url);
      await c.connect();
      clients.add(c);
      return c;
    },
  };
}
