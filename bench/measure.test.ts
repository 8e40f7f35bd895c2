// The benches' Prometheus arithmetic: a histogram's quantile from its cumulative buckets, as PromQL finds it.
import { describe, expect, it } from 'vitest';
import { histogramQuantile } from './measure.ts';

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
