/**
 * A Prometheus histogram with one series per host, each series kept as a few numbers.
 *
 * BMO labels its operation durations with the host (one series per host), so the bridge keeps thousands of
 * series. prom-client's Histogram keeps a series' bucket counts in an object keyed by upper bound, and V8
 * backs an object with integer keys by an array as long as its largest key: BMO's slow buckets end at 1440,
 * so every host cost 17 KiB per histogram, most of the bridge's heap per host (a heap snapshot at 400 hosts:
 * 811 such arrays, 13.5 of 99 MiB; docs/performance.md). Here a series is a Float64Array of its bucket counts,
 * its count and its sum; it is exposed exactly as prom-client exposes a histogram (it registers with the same
 * registry, so `/metrics` serves it beside the others).
 */
import type { Registry } from 'prom-client';

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative), then the count, then the sum. */
  values: Float64Array;
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export class HostHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(options: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registers: Registry[] }) {
    if (options.buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= options.buckets[i - 1]!))) {
      throw new Error(`${options.name}: buckets must be finite and increasing`);
    }
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    this.#bounds = options.buckets;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  observe(labels: Record<L, string>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: not a finite value: ${value}`);
    const key = this.#labelNames.map((n) => labels[n]).join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: Object.fromEntries(this.#labelNames.map((n) => [n, labels[n]])), values: new Float64Array(this.#bounds.length + 2) };
      this.#series.set(key, series);
    }
    const bucket = this.#bounds.findIndex((b) => value <= b);
    if (bucket >= 0) series.values[bucket]! += 1;
    series.values[this.#bounds.length]! += 1;
    series.values[this.#bounds.length + 1]! += value;
  }

  /** The series in prom-client's shape: per series its cumulative buckets, `+Inf`, the sum and the count. */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] } {
    const values: Sample[] = [];
    const n = this.#bounds.length;
    for (const { labels, values: v } of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < n; i++) {
        cumulative += v[i]!;
        values.push({ labels: { ...labels, le: this.#bounds[i]! }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: v[n]!, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...labels }, value: v[n + 1]!, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: v[n]!, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}
