import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { freePort } from "./ports";

export interface BuiltServer {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export interface StartOptions {
  /** Added to the environment (after PORT and HOST are set, so they cannot be overridden by accident). */
  env?: Record<string, string>;
  /** Node.js flags before the script, e.g. the production heap caps. */
  flags?: readonly string[];
  /** Directory holding the script (default: the repository root). */
  cwd?: string;
  /** The server script, relative to cwd (default dist/server/main.js; the package's is server/main.js). */
  script?: string;
  /** Start from an empty environment (only PATH) instead of this process's. */
  cleanEnv?: boolean;
  /** Each complete stdout line as it arrives (the JSON logs). */
  onLine?: (line: string) => void;
  readyTimeoutMs?: number;
}

/**
 * Starts the built standalone server (`node [flags] dist/server/main.js`) on a free port and resolves once
 * `GET /health` answers 200. npm test builds first; run alone, build with `npm run build`.
 */
export async function startBuiltServer(opts: StartOptions = {}): Promise<BuiltServer> {
  const cwd = opts.cwd ?? process.cwd();
  const script = opts.script ?? "dist/server/main.js";
  if (!existsSync(path.join(cwd, script))) throw new Error("run `npm run build` first (npm test does)");
  const port = await freePort();
  const base = opts.cleanEnv ? { PATH: process.env.PATH ?? "" } : process.env;
  const child = spawn(process.execPath, [...(opts.flags ?? []), script], {
    cwd,
    env: { ...base, ...opts.env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let partial = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    if (!opts.onLine) return;
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const l of lines) opts.onLine(l);
  });
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal, at: performance.now() })),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  while (Date.now() < deadline && child.exitCode === null) {
    const ok = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, port, url, output: () => out, exited };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`the server did not become healthy:\n${out.slice(-3000)}`);
}
