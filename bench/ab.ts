/**
 * A/B of two server builds on the bench's method: each build in a fresh process on the server's core, wrk on
 * the other, rounds alternating A, B, A, B … so drift on a shared machine hits both alike. Reports, per
 * workload, the medians of req/s and of the server's CPU per request (from /proc), and B's change.
 *
 *   cp -r dist bench/results/tmp/ab-a            # build A (e.g. before a change), then change, npm run build
 *   node --import tsx bench/ab.ts --a bench/results/tmp/ab-a/server/main.js --b dist/server/main.js [--rounds 5] [--seconds 3]
 *     [--a-env KEY=VALUE,…] [--b-env KEY=VALUE,…]   (e.g. the same build with --a-env MODEL_ENGINE=onnxruntime)
 *     [--kinds predict-unique,predict-hit,bulk] [--rows 1000]   (bulk: unique rows, 8 connections)
 *
 * Both bundles must sit under the repository (the server finds model/ above its own file).
 */
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { envFromPairs } from "./lib/env-args";
import { choosePinning, pinSelf } from "./lib/pinning";
import { pinServersWith, spawnServer, useServerScript, waitReady } from "./lib/procs";
import { markdownTable, median } from "./lib/stats";
import { requireWrk, runWrk, writeRowsFile, type WrkKind } from "./lib/wrk";

const arg = (flag: string, dflt?: string) => {
  const i = process.argv.indexOf(flag);
  return i === -1 ? dflt : process.argv[i + 1];
};
const ROUNDS = Number(arg("--rounds", "5"));
const SECONDS = Number(arg("--seconds", "3"));
const KINDS = arg("--kinds", "predict-unique,predict-hit")!.split(",") as WrkKind[];
/** Rows per request of the bulk kind (8 connections, as the bench's 1,000-row bulks). */
const BULK_ROWS = Number(arg("--rows", "1000"));
const envOf = (flag: string): Record<string, string> =>
  envFromPairs((arg(flag, "") ?? "").split(",").filter(Boolean), flag);
const ENVS: Record<string, Record<string, string>> = { A: envOf("--a-env"), B: envOf("--b-env") };
const TMP = resolve("bench/results/tmp");

/** A private copy of a build (its directory), so a rebuild of dist/ during the A/B cannot change it. */
function snapshot(script: string, name: string): string {
  const from = dirname(dirname(resolve(script)));
  const to = resolve(TMP, `ab-run-${name}`);
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
  return resolve(to, "server/main.js");
}

async function main(): Promise<void> {
  requireWrk();
  const pin = choosePinning();
  pinSelf(pin);
  pinServersWith(pin.server);
  mkdirSync(TMP, { recursive: true });
  const rowsFile = resolve(TMP, "rows.lua");
  writeRowsFile(rowsFile);
  const builds = { A: snapshot(arg("--a")!, "a"), B: snapshot(arg("--b", "dist/server/main.js")!, "b") };
  const seen: Record<string, { reqPerS: number[]; cpuUs: number[] }> = {};
  let seed = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of KINDS) {
      for (const [name, script] of r % 2 === 0 ? Object.entries(builds) : Object.entries(builds).reverse()) {
        useServerScript(script);
        const server = await spawnServer(ENVS[name]);
        try {
          await waitReady(server, "GET", "/health");
          const spec = (durationS: number) => ({
            url: `http://127.0.0.1:${server.port}`,
            kind,
            connections: kind === "bulk" ? 8 : 32,
            rows: kind === "bulk" ? BULK_ROWS : undefined,
            threads: 2,
            durationS,
            seed: (seed += 10_000),
            timeoutS: 10,
            rowsFile,
          });
          await runWrk(spec(1), pin);
          const run = await runWrk(spec(SECONDS), pin, server.pid);
          const key = `${kind} ${name}`;
          seen[key] ??= { reqPerS: [], cpuUs: [] };
          seen[key].reqPerS.push(run.reqPerS);
          seen[key].cpuUs.push(run.cpuPerReqUs ?? NaN);
          process.stderr.write(
            `[ab] round ${r + 1} ${key}: ${Math.round(run.reqPerS)} req/s, ${run.cpuPerReqUs?.toFixed(1)} µs CPU/request, other on its core ${run.otherOnServerCore?.toFixed(2)}\n`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  }
  const rows = KINDS.map((kind) => {
    const a = seen[`${kind} A`]!;
    const b = seen[`${kind} B`]!;
    const [ra, rb, ca, cb] = [median(a.reqPerS), median(b.reqPerS), median(a.cpuUs), median(b.cpuUs)];
    return [
      kind,
      Math.round(ra).toLocaleString("en-US"),
      Math.round(rb).toLocaleString("en-US"),
      `${(((rb - ra) / ra) * 100).toFixed(1)} %`,
      `${ca.toFixed(1)} µs`,
      `${cb.toFixed(1)} µs`,
      `${(cb - ca).toFixed(1)} µs`,
    ];
  });
  console.log(`${pin.note}; ${ROUNDS} rounds of ${SECONDS} s per build and workload, alternating`);
  console.log(
    markdownTable(["workload", "A req/s", "B req/s", "Δ req/s", "A CPU/req", "B CPU/req", "Δ CPU/req"], rows),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
