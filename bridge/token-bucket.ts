/**
 * A client-side request budget: a token bucket with `qps` tokens per second and room for `burst`, like
 * client-go's QPS/burst limiter (BMO runs with 20/30). Callers reserve a token and wait until it is theirs, so
 * waiters are served in arrival order and a burst of writes spreads out instead of hammering the apiserver.
 */

/** Time source, injectable so tests run on a fake clock. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. `sleep` resolves early (without error) when `signal` aborts. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export interface TokenBucketOptions {
  /** Tokens added per second; 0 or less means no limit. */
  qps: number;
  /** Most tokens the bucket holds (the largest burst served without waiting); at least 1. */
  burst: number;
  clock?: Clock;
}

/** A token bucket that hands out reservations (x/time/rate style): tokens may go negative, which is a queue. */
export class TokenBucket {
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(options: TokenBucketOptions) {
    this.#qps = options.qps;
    this.#burst = Math.max(1, Math.floor(options.burst));
    this.#clock = options.clock ?? systemClock;
    this.#tokens = this.#burst;
    this.#last = this.#clock.now();
  }

  /** Reserves one token and returns how long the caller must wait before using it (ms). */
  reserve(): number {
    if (this.#qps <= 0) return 0;
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#qps) * 1000);
  }

  /** Waits for a token. */
  async take(signal?: AbortSignal): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await this.#clock.sleep(wait, signal);
  }

  /** Tokens available now (negative when callers are queued), for metrics and tests. */
  available(): number {
    if (this.#qps <= 0) return Infinity;
    const now = this.#clock.now();
    return Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
  }
}
