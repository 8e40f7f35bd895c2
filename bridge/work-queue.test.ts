import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './work-queue.ts';
import { flush } from '../test/fake-clock.ts';

// `flush` lets every pending promise callback run (the queue hands work on through promises, not timers); the
// backoff and requeue tests move a fake clock, so their timings are exact and nothing waits for real time.
afterEach(() => {
  vi.useRealTimers();
});

/** Fake setTimeout and Date only: `flush` (setImmediate) stays real. */
const useFakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });

/** A handler whose calls can be held open, recording order and per-key concurrency. */
function recorder(options: { state?: Map<string, number>; hold?: boolean } = {}) {
  const calls: { key: string; seen: number | undefined }[] = [];
  const inFlight = new Map<string, number>();
  let maxPerKey = 0;
  let maxTotal = 0;
  const releases: (() => void)[] = [];
  const handler = async (key: string) => {
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
    maxPerKey = Math.max(maxPerKey, inFlight.get(key) ?? 0);
    maxTotal = Math.max(maxTotal, [...inFlight.values()].reduce((a, b) => a + b, 0));
    // The reconcile reads the object when it runs: the latest state.
    calls.push({ key, seen: options.state?.get(key) });
    if (options.hold) await new Promise<void>((resolve) => releases.push(resolve));
    inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
  };
  return { calls, handler, releases, stats: () => ({ maxPerKey, maxTotal }) };
}

describe('WorkQueue', () => {
  it('coalesces adds of a queued key into one reconcile', async () => {
    const r = recorder();
    const queue = new WorkQueue({ concurrency: 2, handler: r.handler });
    for (let i = 0; i < 5; i++) queue.add('ns/a');
    queue.add('ns/b');
    expect(queue.length).toBe(2);
    queue.start();
    await queue.idle();
    expect(r.calls.map((c) => c.key).sort()).toEqual(['ns/a', 'ns/b']);
    await queue.stop();
  });

  it('runs one reconcile per key at a time; adds during it run once more, with the latest state', async () => {
    const state = new Map([['ns/a', 1]]);
    const r = recorder({ state, hold: true });
    const queue = new WorkQueue({ concurrency: 4, handler: r.handler });
    queue.start();
    queue.add('ns/a');
    await flush();
    for (let v = 2; v <= 4; v++) {
      state.set('ns/a', v);
      queue.add('ns/a');
    }
    await flush();
    expect(r.releases).toHaveLength(1);
    r.releases.shift()?.();
    await flush();
    expect(r.releases).toHaveLength(1);
    r.releases.shift()?.();
    await queue.idle();
    expect(r.calls).toEqual([
      { key: 'ns/a', seen: 1 },
      { key: 'ns/a', seen: 4 },
    ]);
    expect(r.stats().maxPerKey).toBe(1);
    await queue.stop();
  });

  it('runs different keys concurrently up to the limit', async () => {
    const r = recorder({ hold: true });
    const queue = new WorkQueue({ concurrency: 2, handler: r.handler });
    queue.start();
    for (const k of ['a', 'b', 'c', 'd']) queue.add(k);
    await flush();
    expect(r.releases).toHaveLength(2);
    expect(queue.length).toBe(2);
    while (r.releases.length > 0 || queue.length > 0) {
      r.releases.shift()?.();
      await flush();
    }
    await queue.idle();
    expect(r.calls).toHaveLength(4);
    expect(r.stats().maxTotal).toBe(2);
    await queue.stop();
  });

  it('retries a failing key with exponential backoff and resets after success', async () => {
    useFakeClock();
    const start = Date.now();
    const times: number[] = [];
    let fail = 2;
    const errors: { failures: number; retryInMs: number }[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      backoff: { baseMs: 20, maxMs: 1000 },
      handler: async () => {
        times.push(Date.now());
        if (fail-- > 0) throw new Error('apiserver down');
      },
      onError: (_k, _e, failures, retryInMs) => errors.push({ failures, retryInMs }),
    });
    queue.start();
    queue.add('k');
    await vi.advanceTimersByTimeAsync(0);
    expect(times).toHaveLength(1);
    expect(queue.failures('k')).toBe(1);
    await vi.advanceTimersByTimeAsync(19);
    expect(times).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(times).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(40);
    expect(times.map((t) => t - start)).toEqual([0, 20, 60]);
    expect(errors).toEqual([
      { failures: 1, retryInMs: 20 },
      { failures: 2, retryInMs: 40 },
    ]);
    expect(queue.failures('k')).toBe(0);
    // Success left no retry behind.
    expect(vi.getTimerCount()).toBe(0);
    await queue.stop();
  });

  it('requeues after the delay a reconcile asks for', async () => {
    useFakeClock();
    let n = 0;
    const queue = new WorkQueue({ concurrency: 1, handler: async () => (++n < 3 ? { requeueAfterMs: 10 } : undefined) });
    queue.start();
    queue.add('k');
    await vi.advanceTimersByTimeAsync(0);
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(9);
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(n).toBe(2);
    await vi.advanceTimersByTimeAsync(10);
    expect(n).toBe(3);
    // The third pass asked for nothing more: no timer is left.
    expect(vi.getTimerCount()).toBe(0);
    await queue.stop();
  });

  it('stop() waits for reconciles in flight and drops the rest', async () => {
    const r = recorder({ hold: true });
    const queue = new WorkQueue({ concurrency: 1, handler: r.handler });
    queue.start();
    queue.add('a');
    queue.add('b');
    await flush();
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    r.releases.shift()?.();
    await stopping;
    expect(r.calls.map((c) => c.key)).toEqual(['a']);
    queue.add('c');
    await flush();
    expect(r.calls.map((c) => c.key)).toEqual(['a']);
  });
});
