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

/**
 * A growable Float64Array: latencies of a few hundred thousand responses without boxing. Give the expected
 * count when it is known: each growth copies the whole buffer, and a copy of tens of MB stalls the process
 * that records (the paced generator's own stall would be charged to the server).
 */
export class Samples {
  private buf: Float64Array;
  private n = 0;

  constructor(expected = 1 << 14) {
    this.buf = new Float64Array(Math.max(16, Math.ceil(expected)));
  }

  push(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }

  get length(): number {
    return this.n;
  }

  summary(): LatencySummary {
    return summarise(this.buf.slice(0, this.n));
  }

  /** The samples in ascending order (a copy). */
  sorted(): Float64Array {
    return this.buf.slice(0, this.n).sort();
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

/**
 * Durations in ms counted in 1 µs buckets up to `spanMs` (the rest kept exactly): fixed memory however many
 * are counted. For the paced generator's loop gaps, about a million a second: storing each one grew an
 * array to tens of MB and its copies stalled the generator for ~20 ms, the very stall it reports.
 */
export class GapHistogram {
  private readonly buckets: Uint32Array;
  private readonly long = new Samples(1024);
  private n = 0;
  private sum = 0;

  constructor(private readonly spanMs = 10) {
    this.buckets = new Uint32Array(Math.ceil(spanMs * 1000));
  }

  push(ms: number): void {
    this.n++;
    this.sum += ms;
    const b = Math.floor(ms * 1000);
    if (b < this.buckets.length) this.buckets[b]!++;
    else this.long.push(ms);
  }

  summary(): LatencySummary {
    // The gaps of spanMs or more, kept exactly, ascending: the tail's percentiles come from them.
    const long = this.long.sorted();
    const bucketed = this.n - long.length;
    const at = (p: number): number => {
      if (this.n === 0) return NaN;
      const rank = Math.max(1, Math.ceil((p / 100) * this.n));
      if (rank > bucketed) return long[rank - bucketed - 1]!;
      let seen = 0;
      for (let b = 0; b < this.buckets.length; b++) {
        seen += this.buckets[b]!;
        if (seen >= rank) return (b + 1) / 1000; // the bucket's upper edge: never under-reports
      }
      return NaN; // unreachable: rank <= bucketed
    };
    let top = long.length > 0 ? long[long.length - 1]! : NaN;
    if (long.length === 0)
      for (let b = this.buckets.length - 1; b >= 0; b--)
        if (this.buckets[b]) {
          top = (b + 1) / 1000;
          break;
        }
    const r = (v: number) => Number(v.toFixed(3));
    return {
      count: this.n,
      p50: r(at(50)),
      p90: r(at(90)),
      p99: r(at(99)),
      max: r(top),
      mean: r(this.n ? this.sum / this.n : NaN),
    };
  }
}
