// The benches' Prometheus arithmetic: a histogram's quantile from its cumulative buckets, as PromQL finds it.
import { describe, expect, it } from 'vitest';
import { histogramChange, histogramQuantile, histogramReading, parsePrometheus } from './measure.ts';

const buckets = (pairs: [string, number][]) => new Map(pairs);

describe('histogramQuantile', () => {
  it('interpolates linearly within the bucket the rank falls in', () => {
    // 100 observations: 50 at or under 0.1 s, 40 more under 0.5 s, the last 10 under 1 s.
    const h = buckets([['0.1', 50], ['0.5', 90], ['1', 100], ['+Inf', 100]]);
    expect(histogramQuantile(0.5, h)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.7, h)).toBeCloseTo(0.3);
    expect(histogramQuantile(0.99, h)).toBeCloseTo(0.95);
  });

  it('starts the first bucket at 0, and answers the highest finite bound for a rank in +Inf', () => {
    expect(histogramQuantile(0.5, buckets([['2', 10], ['+Inf', 10]]))).toBeCloseTo(1);
    expect(histogramQuantile(0.99, buckets([['1', 50], ['+Inf', 100]]))).toBe(1);
  });

  it('is 0 with no observations, whatever order the buckets come in', () => {
    expect(histogramQuantile(0.99, buckets([['+Inf', 0], ['1', 0]]))).toBe(0);
    expect(histogramQuantile(0.5, buckets([['+Inf', 4], ['1', 4], ['0.5', 0]]))).toBeCloseTo(0.75);
  });
});

describe('histogramReading and histogramChange', () => {
  const page = (fast: number, slow: number) => parsePrometheus([
    `h_bucket{verb="GET",le="0.1"} ${fast}`, `h_bucket{verb="GET",le="1"} ${fast}`, `h_bucket{verb="GET",le="+Inf"} ${fast}`,
    `h_sum{verb="GET"} ${fast * 0.05}`, `h_count{verb="GET"} ${fast}`,
    `h_bucket{verb="PATCH",le="0.1"} 0`, `h_bucket{verb="PATCH",le="1"} ${slow}`, `h_bucket{verb="PATCH",le="+Inf"} ${slow}`,
    `h_sum{verb="PATCH"} ${slow * 0.5}`, `h_count{verb="PATCH"} ${slow}`,
  ].join('\n'));

  it('counts only what was observed between the readings, per key and over all', () => {
    const change = histogramChange(histogramReading(page(10, 0), 'h', ['verb']), histogramReading(page(10, 10), 'h', ['verb']));
    // No GET between the readings: left out, not reported as zero.
    expect(Object.keys(change)).toEqual(['PATCH', 'all']);
    expect(change['PATCH']).toMatchObject({ count: 10, mean: 0.5 });
    expect(change['PATCH']?.p99).toBeCloseTo(0.991);
    expect(change['all']).toMatchObject({ count: 10, mean: 0.5 });
  });

  it('keeps apart the keys a filter lets through', () => {
    const reading = histogramReading(page(4, 2), 'h', ['verb'], (l) => l['verb'] === 'GET');
    expect([...reading.count]).toEqual([['GET', 4]]);
    expect([...(reading.buckets.get('GET') ?? [])]).toEqual([['0.1', 4], ['1', 4], ['+Inf', 4]]);
  });
});
