/** Test support: a manual clock for the token bucket, the informer and leader election. */
import type { Clock } from '../bridge/token-bucket.ts';

/** Lets pending promise callbacks and I/O callbacks run. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Time moves only when `advance` is called; sleepers wake in time order as it passes them. */
export class FakeClock implements Clock {
  #now: number;
  #sleepers: { at: number; resolve: () => void }[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper = { at: this.#now + Math.max(0, ms), resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener(
        'abort',
        () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves time forward by `ms`, waking each sleeper at its time and letting it run before going on. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      this.#sleepers.sort((a, b) => a.at - b.at);
      const next = this.#sleepers[0];
      if (!next || next.at > target) break;
      this.#sleepers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.resolve();
      for (let i = 0; i < 5; i++) await flush();
    }
    this.#now = target;
    await flush();
  }

  /** Sleepers waiting now. */
  get pending(): number {
    return this.#sleepers.length;
  }
}
