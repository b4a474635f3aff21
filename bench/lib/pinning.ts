/**
 * Which core runs what. With two or more usable cores the server under test (and every ceiling: the bare
 * node:http server, the model) runs on one core and the load generator on another, so neither steals the
 * other's CPU and a ratio does not move with how the scheduler splits two busy processes over the cores.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Pinning {
  /** Whether processes are pinned at all. */
  pinned: boolean;
  /** Core of the server under test and of every ceiling (undefined when not pinned). */
  serverCore?: number;
  /** Core of the load generator and of the bench itself. */
  loadCore?: number;
  /** Command prefix that runs a program on the server's core (`taskset -c N`), empty when not pinned. */
  server: string[];
  /** Command prefix that runs a program on the load generator's core. */
  load: string[];
  /** One sentence for the output: what was pinned where, or why nothing was. */
  note: string;
}

/** The cores this process may run on (Cpus_allowed_list of /proc/self/status, e.g. "0-1" or "0,2-3"). */
export function allowedCores(): number[] {
  let list: string;
  try {
    list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "";
  } catch {
    return [];
  }
  const cores: number[] = [];
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b ?? a); c++) cores.push(c);
  }
  return cores;
}

const hasTaskset = () => spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0;

/** Server on the last allowed core, load generator on the first; nothing pinned with fewer than two or no taskset. */
export function choosePinning(): Pinning {
  const cores = allowedCores();
  if (cores.length < 2) {
    return {
      pinned: false,
      server: [],
      load: [],
      note: `not pinned: only ${cores.length || "an unknown number of"} core(s) usable, so the server and the load generator share them`,
    };
  }
  if (!hasTaskset()) {
    return {
      pinned: false,
      server: [],
      load: [],
      note: "not pinned: `taskset` (Debian package util-linux) is missing, so the server and the load generator share the cores",
    };
  }
  const serverCore = cores[cores.length - 1]!;
  const loadCore = cores[0]!;
  return {
    pinned: true,
    serverCore,
    loadCore,
    server: ["taskset", "-c", String(serverCore)],
    load: ["taskset", "-c", String(loadCore)],
    note: `pinned: server under test and ceilings on core ${serverCore}, load generator and bench on core ${loadCore} (taskset)`,
  };
}

/** Moves every thread of this process (the bench) to the load generator's core, away from the server's. */
export function pinSelf(p: Pinning): void {
  if (!p.pinned) return;
  spawnSync("taskset", ["-a", "-p", "-c", String(p.loadCore), String(process.pid)], { stdio: "ignore" });
}

/** Busy CPU seconds of each core so far (/proc/stat cpuN lines; idle and iowait excluded). */
export function coreBusySeconds(): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    out.set(Number(m[1]), (total - (f[3] ?? 0) - (f[4] ?? 0)) / 100);
  }
  return out;
}
