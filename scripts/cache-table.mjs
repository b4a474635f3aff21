// Renders bench/results/cache-bench.json as the README's markdown table (p50 / p99 in ms).
import { readFileSync } from "node:fs";

const { rows, date, node } = JSON.parse(readFileSync("bench/results/cache-bench.json", "utf8"));
const workloads = [...new Set(rows.map((r) => r.workload))];
const backends = [...new Set(rows.map((r) => r.backend))];
const out = [
  `| backend | ${workloads.map((w) => `${w} p50 / p99 ms`).join(" | ")} |`,
  `| --- |${workloads.map(() => " --- |").join("")}`,
];
for (const b of backends) {
  const cells = workloads.map((w) => {
    const r = rows.find((x) => x.backend === b && x.workload === w);
    return `${r.p50_ms} / ${r.p99_ms}`;
  });
  out.push(`| ${b} | ${cells.join(" | ")} |`);
}
out.push("", `Measured ${date.slice(0, 10)}, Node ${node}, 2 cores shared with the client.`);
console.log(out.join("\n"));
