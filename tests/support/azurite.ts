/**
 * Starts a real Azurite blob service (node_modules/.bin/azurite-blob) on a free localhost port with its own
 * temporary data folder, for tests that talk to Blob Storage without mocks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";

export { freePort };

/** The well-known Azurite development account. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const AZURITE_BIN = path.resolve(__dirname, "../../node_modules/.bin/azurite-blob");

export interface Azurite {
  blobPort: number;
  /** Data folder (kept across stop/restart; removed by dispose). */
  location: string;
  /** Path-style URL of a blob: http://127.0.0.1:<port>/devstoreaccount1/<container>/<blob>. */
  blobUrl(container: string, blob: string): string;
  connectionString: string;
  /** Graceful stop (SIGTERM), resolves when the process has exited. Data is kept. */
  stop(): Promise<void>;
  /** SIGKILL, immediately (simulates a crash). Data is kept. */
  kill(): void;
  /** Starts again on the same port with the same data folder (stopping first if still running). */
  restart(): Promise<void>;
  /** Stops and deletes the data folder. */
  dispose(): Promise<void>;
}

export function azuriteConnectionString(port: number): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`
  );
}

/** Resolves when an HTTP request to the port gets any answer (Azurite answers 4xx to an unauthenticated GET). */
async function waitUntilAnswering(port: number, child: ChildProcess, output: () => string, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`azurite-blob exited (${child.exitCode ?? child.signalCode}) before listening:\n${output()}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}?comp=list`, {
        signal: AbortSignal.timeout(1000),
      });
      await res.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until)
      throw new Error(`azurite-blob did not answer on port ${port} within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Spawns Azurite. With no `port`, picks a free one (retrying with another if it was taken in the meantime).
 * With `start: false`, only reserves the settings (port, folder, connection string): call `restart()` to start it,
 * which is how tests get "the store is down at first, then comes up".
 */
export async function startAzurite(opts: { port?: number; start?: boolean } = {}): Promise<Azurite> {
  const location = mkdtempSync(path.join(os.tmpdir(), "azurite-"));
  let port = opts.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let output = "";

  const spawnOnce = async () => {
    output = "";
    const proc = spawn(
      process.execPath,
      [
        realpathSync(AZURITE_BIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(port),
        "--location",
        location,
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    try {
      await waitUntilAnswering(port, proc, () => output, 20_000);
    } catch (e) {
      proc.kill("SIGKILL");
      await exited(proc);
      throw e;
    }
  };

  const killNow = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", killNow);

  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const force = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited(proc);
    clearTimeout(force);
  };

  if (opts.start !== false) {
    for (let tries = 1; ; tries++) {
      try {
        await spawnOnce();
        break;
      } catch (e) {
        // Someone else may have taken the free port between freePort() and Azurite's listen().
        if (opts.port !== undefined || tries >= 3) throw e;
        port = await freePort();
      }
    }
  }

  return {
    get blobPort() {
      return port;
    },
    location,
    blobUrl: (container, blob) => `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}/${container}/${blob}`,
    get connectionString() {
      return azuriteConnectionString(port);
    },
    stop,
    kill: killNow,
    restart: async () => {
      await stop();
      await spawnOnce();
    },
    dispose: async () => {
      await stop();
      process.removeListener("exit", killNow);
      rmSync(location, { recursive: true, force: true });
    },
  };
}
