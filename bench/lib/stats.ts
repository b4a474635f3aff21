/** Latency summaries and number formatting for the bench output. */

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in [0, 100]). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Summarises latencies in ms (the input is sorted in place). */
export function summarise(ms: Float64Array): LatencySummary {
  ms.sort();
  let sum = 0;
  for (const v of ms) sum += v;
  const r = (v: number) => Number(v.toFixed(3));
  return {
    count: ms.length,
    p50: r(percentile(ms, 50)),
    p90: r(percentile(ms, 90)),
    p99: r(percentile(ms, 99)),
    max: r(ms.length ? ms[ms.length - 1]! : NaN),
    mean: r(ms.length ? sum / ms.length : NaN),
  };
}

/** A growable Float64Array: latencies of a few hundred thousand responses without boxing. */
export class Samples {
  private buf = new Float64Array(1 << 14);
  private n = 0;

  push(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }

  append(other: Samples): void {
    for (let i = 0; i < other.n; i++) this.push(other.buf[i]!);
  }

  get length(): number {
    return this.n;
  }

  summary(): LatencySummary {
    return summarise(this.buf.slice(0, this.n));
  }
}

/** 12345.6 → "12,346"; small values keep 2–3 significant digits. */
export function fmtNum(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtMs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "–";
  if (v >= 100) return `${Math.round(v)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

export const fmtMB = (bytes: number | undefined): string =>
  bytes === undefined || !Number.isFinite(bytes) ? "–" : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** A GitHub-flavoured Markdown table: readable in a terminal and pasteable into BENCHMARKS.md. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const sep = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(header), sep, ...rows.map(line)].join("\n");
}
