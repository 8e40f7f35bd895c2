import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HostHistogram } from './host-histogram.ts';

const BUCKETS = [30, 90, 180, 360, 720, 1440];

/** The exposition's samples as a set of `name{sorted labels} value` lines (order of labels and series aside). */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) return l;
      const labels = (m[2] ?? '').split(/,(?=\w+=)/).filter(Boolean).sort().join(',');
      return `${m[1]}{${labels}} ${m[3]}`;
    })
    .sort();
}

describe('the per-host histogram', () => {
  it("is exposed exactly as prom-client's Histogram for the same observations", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const options = { name: 'metal3_operation_inspect_duration_seconds', help: 'Length of time per hardware inspection per host', labelNames: ['namespace', 'host'] as const };
    const reference = new Histogram({ ...options, labelNames: [...options.labelNames], buckets: BUCKETS, registers: [theirs] });
    const compact = new HostHistogram({ ...options, buckets: BUCKETS, registers: [ours] });
    const observations: [string, string, number][] = [
      ['ns', 'host-0', 12.5], ['ns', 'host-0', 30], ['ns', 'host-1', 30.001], ['other', 'host-0', 1440],
      ['ns', 'host-2', 5000], ['ns', 'host-1', 0], ['ns', 'host-0', 719.75],
    ];
    for (const [namespace, host, seconds] of observations) {
      reference.observe({ namespace, host }, seconds);
      compact.observe({ namespace, host }, seconds);
    }
    const expected = await samples(theirs);
    expect(expected.length).toBeGreaterThan(20);
    expect(await samples(ours)).toEqual(expected);
  });

  it('counts a value on a bound in that bound, and one past the last only in +Inf', async () => {
    const registry = new Registry();
    const h = new HostHistogram({ name: 'x_seconds', help: 'x', labelNames: ['host'], buckets: [1, 2], registers: [registry] });
    h.observe({ host: 'a' }, 2);
    h.observe({ host: 'a' }, 3);
    expect(await samples(registry)).toEqual(
      ['x_seconds_bucket{host="a",le="+Inf"} 2', 'x_seconds_bucket{host="a",le="1"} 0', 'x_seconds_bucket{host="a",le="2"} 1', 'x_seconds_count{host="a"} 2', 'x_seconds_sum{host="a"} 5', '# HELP x_seconds x', '# TYPE x_seconds histogram'].sort(),
    );
    h.reset();
    expect(h.get().values).toEqual([]);
  });

  it('refuses a non-finite value and buckets out of order', () => {
    const h = new HostHistogram({ name: 'y_seconds', help: 'y', labelNames: ['host'], buckets: [1], registers: [] });
    expect(() => h.observe({ host: 'a' }, Number.NaN)).toThrow(/not a finite value/);
    expect(() => new HostHistogram({ name: 'z', help: 'z', labelNames: ['host'], buckets: [2, 1], registers: [] })).toThrow(/increasing/);
  });
});
