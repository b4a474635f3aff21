import type { Counter, Histogram } from "prom-client";

/** Label values of one update, as the call sites pass them to prom-client. */
type LabelValues<L extends string> = Partial<Record<L, string | number>>;

/**
 * The per-request metric updates, in plain numbers. prom-client validates the labels, builds a sorted string key
 * and allocates for every inc()/observe(): ~2 µs and a share of the GC of each /predict (bench/profile.ts). Here a
 * series is found through nested Maps keyed by its label values (nothing built per update) and counted in
 * numbers; prom-client's metric receives the counts when it is collected, i.e. when /metrics is scraped, so the
 * exposition is the same.
 */
class SeriesTable<C extends { labels: Record<string, string> }> {
  readonly all: C[] = [];
  private readonly root = new Map<unknown, unknown>();
  private single: C | undefined;

  constructor(
    private readonly names: readonly string[],
    private readonly make: (labels: Record<string, string>) => C,
  ) {}

  get(values: Partial<Record<string, string | number>> | undefined): C {
    const names = this.names;
    if (names.length === 0) return (this.single ??= this.add({}));
    if (values === undefined) throw new Error(`Missing labels ${names.join(", ")}`);
    let node = this.root;
    for (let i = 0; i < names.length - 1; i++) {
      const v = values[names[i]!];
      let next = node.get(v) as Map<unknown, unknown> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    }
    const last = values[names[names.length - 1]!];
    let cell = node.get(last) as C | undefined;
    if (!cell) node.set(last, (cell = this.add(values)));
    return cell;
  }

  private add(values: Partial<Record<string, string | number>>): C {
    // Checked once per series, as prom-client checks every update: the label names must be the metric's own.
    for (const k of Object.keys(values)) {
      if (!this.names.includes(k)) throw new Error(`Added label "${k}" is not included in initial labelset`);
    }
    const labels: Record<string, string> = {};
    for (const n of this.names) if (values[n] !== undefined) labels[n] = String(values[n]);
    const cell = this.make(labels);
    this.all.push(cell);
    return cell;
  }
}

function checkValue(v: number): void {
  if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
}

/** A counter whose increments are plain additions, handed to prom-client when it is collected. */
export function fastCounter<L extends string>(real: Counter<L>, labelNames: readonly L[]) {
  const table = new SeriesTable(labelNames, (labels) => ({ labels, pending: 0, shown: false }));
  const flush = () => {
    for (const s of table.all) {
      // A series counted only by zero increments is shown too, with 0, as prom-client shows it.
      if (s.pending === 0 && s.shown) continue;
      real.inc(s.labels as LabelValues<L>, s.pending);
      s.pending = 0;
      s.shown = true;
    }
  };
  return {
    flush,
    inc(labels?: LabelValues<L> | number, value?: number): void {
      const byLabels = typeof labels === "object";
      const n = (byLabels ? value : labels) ?? 1;
      checkValue(n);
      if (n < 0) throw new Error("It is not possible to decrease a counter");
      table.get(byLabels ? labels : undefined).pending += n;
    },
  };
}

/** prom-client's per-series histogram state (read at collection; see the test that pins the exposition). */
interface HistogramEntry {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** A histogram whose observations are counted per bucket in typed arrays, merged into prom-client when collected. */
export function fastHistogram<L extends string>(
  real: Histogram<L>,
  buckets: readonly number[],
  labelNames: readonly L[],
) {
  const table = new SeriesTable(labelNames, (labels) => ({
    labels,
    counts: new Float64Array(buckets.length),
    sum: 0,
    count: 0,
    shown: false,
  }));
  const internal = real as unknown as { hashMap: Record<string, HistogramEntry>; zero(l: LabelValues<L>): void };
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);
  const entryOf = (labels: Record<string, string>): HistogramEntry => {
    let e = Object.values(internal.hashMap).find((x) => same(x.labels, labels));
    if (!e) {
      internal.zero(labels as LabelValues<L>);
      e = Object.values(internal.hashMap).find((x) => same(x.labels, labels))!;
    }
    return e;
  };
  const flush = () => {
    for (const s of table.all) {
      // A series made by zero() is shown once with zero counts, as prom-client's zero() shows it.
      if (s.count === 0 && s.shown) continue;
      s.shown = true;
      const e = entryOf(s.labels);
      for (let i = 0; i < buckets.length; i++) e.bucketValues[buckets[i]!]! += s.counts[i]!;
      e.sum += s.sum;
      e.count += s.count;
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  };
  return {
    flush,
    /** Creates the series at zero (a latency panel shows 0 rather than no data before the first request). */
    zero(labels: LabelValues<L>): void {
      table.get(labels);
    },
    observe(labels: LabelValues<L> | number, value?: number): void {
      const byLabels = typeof labels === "object";
      const v = byLabels ? value! : labels;
      checkValue(v);
      const s = table.get(byLabels ? labels : undefined);
      // The bucket of the first upper bound ≥ v, as prom-client's findBound; above the last one only count and sum.
      let i = 0;
      while (i < buckets.length && v > buckets[i]!) i++;
      if (i < buckets.length) s.counts[i]!++;
      s.sum += v;
      s.count++;
    },
  };
}
