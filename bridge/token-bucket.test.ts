import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/fake-clock.ts';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('serves a burst at once, then paces at qps (BMO: 20/30)', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 20, burst: 30, clock });
    const waits = Array.from({ length: 33 }, () => bucket.reserve());
    expect(waits.slice(0, 30).every((w) => w === 0)).toBe(true);
    expect(waits.slice(30)).toEqual([50, 100, 150]);
  });

  it('refills with time, never above burst', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 5, clock });
    for (let i = 0; i < 5; i++) bucket.reserve();
    expect(bucket.available()).toBe(0);
    await clock.advance(300);
    expect(bucket.available()).toBeCloseTo(3);
    await clock.advance(10_000);
    expect(bucket.available()).toBe(5);
  });

  it('makes take() wait for its reservation, in arrival order', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 2, burst: 1, clock });
    const done: number[] = [];
    const takes = [0, 1, 2].map((i) => bucket.take().then(() => done.push(i)));
    await clock.advance(0);
    expect(done).toEqual([0]);
    await clock.advance(499);
    expect(done).toEqual([0]);
    await clock.advance(1);
    expect(done).toEqual([0, 1]);
    await clock.advance(500);
    await Promise.all(takes);
    expect(done).toEqual([0, 1, 2]);
  });

  it('does not limit when qps is 0', () => {
    const bucket = new TokenBucket({ qps: 0, burst: 1, clock: new FakeClock() });
    expect(Array.from({ length: 1000 }, () => bucket.reserve()).every((w) => w === 0)).toBe(true);
  });
});
