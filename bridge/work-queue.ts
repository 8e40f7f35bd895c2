/**
 * A work queue of object keys with client-go's semantics: a key is queued at most once however often it is
 * added (coalescing), at most one reconcile per key is in flight, a key added while it is being processed runs
 * again after it (so the latest state always wins), failures are retried with per-key exponential backoff, and
 * `stop` drains what is in flight. The handler reads the object's current state when it runs, not when queued.
 */

/** What a reconcile asks for: nothing more, or another pass after a delay. */
export type ReconcileOutcome = void | { requeueAfterMs: number };

export interface WorkQueueOptions {
  /** How many different keys may be reconciled at once. */
  concurrency: number;
  handler: (key: string) => Promise<ReconcileOutcome>;
  /** Per-key retry delay after failure n (1-based): `baseMs * 2^(n-1)`, capped at `maxMs`. */
  backoff?: { baseMs: number; maxMs: number };
  /** Called when a handler fails, with the delay before its retry. */
  onError?: (key: string, error: unknown, failures: number, retryInMs: number) => void;
  /** Told of adds, of how long a key waited and was worked on, and of retries (client-go's queue metrics). */
  observer?: WorkQueueObserver;
}

/** What the queue reports for metrics (bridge/metrics.ts). */
export interface WorkQueueObserver {
  added(): void;
  started(waitedMs: number): void;
  finished(workMs: number): void;
  retried(): void;
}

/** A coalescing, rate-limited work queue (see the file header). */
export class WorkQueue {
  readonly #options: Required<Omit<WorkQueueOptions, 'onError' | 'observer'>> &
    Pick<WorkQueueOptions, 'onError' | 'observer'>;
  readonly #queue: string[] = [];
  /** When each queued key was queued (for the wait it reports). */
  readonly #queuedAt = new Map<string, number>();
  readonly #dirty = new Set<string>();
  readonly #processing = new Map<string, Promise<void>>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #idleWaiters: (() => void)[] = [];
  #running = false;
  #stopping = false;

  constructor(options: WorkQueueOptions) {
    this.#options = { backoff: { baseMs: 1000, maxMs: 300_000 }, ...options };
  }

  /** Starts processing (keys added before are kept). */
  start(): void {
    if (this.#stopping) throw new Error('a stopped work queue cannot be restarted');
    this.#running = true;
    this.#pump();
  }

  /** Queues `key` unless it is already queued; a key being processed runs once more afterwards. */
  add(key: string): void {
    if (this.#stopping || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    this.#options.observer?.added();
    if (this.#processing.has(key)) return;
    this.#enqueue(key);
    this.#pump();
  }

  /** Queues `key` after `delayMs`; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopping) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const pending = this.#timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Consecutive failures of `key` since its last success. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Keys waiting (not counting those in flight or delayed). */
  get length(): number {
    return this.#queue.length;
  }

  /** Resolves when nothing is queued or in flight (delayed retries do not count). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops taking work, drops queued and delayed keys, and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#running = false;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#queuedAt.clear();
    this.#dirty.clear();
    await Promise.allSettled([...this.#processing.values()]);
    this.#notifyIdle();
  }

  #pump(): void {
    while (this.#running && this.#processing.size < this.#options.concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      this.#dirty.delete(key);
      const queuedAt = this.#queuedAt.get(key);
      this.#queuedAt.delete(key);
      if (queuedAt !== undefined) this.#options.observer?.started(Date.now() - queuedAt);
      this.#processing.set(key, this.#process(key));
    }
    this.#notifyIdle();
  }

  #enqueue(key: string): void {
    this.#queue.push(key);
    this.#queuedAt.set(key, Date.now());
  }

  async #process(key: string): Promise<void> {
    const started = Date.now();
    try {
      const outcome = await this.#options.handler(key);
      this.#failures.delete(key);
      if (outcome && outcome.requeueAfterMs >= 0) this.addAfter(key, outcome.requeueAfterMs);
    } catch (error) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const { baseMs, maxMs } = this.#options.backoff;
      const retryInMs = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
      this.#options.onError?.(key, error, failures, retryInMs);
      this.#options.observer?.retried();
      this.addAfter(key, retryInMs);
    } finally {
      this.#options.observer?.finished(Date.now() - started);
      // Deferred so that the map entry set by #pump exists before it is removed.
      await Promise.resolve();
      this.#processing.delete(key);
      if (this.#dirty.has(key) && !this.#stopping) this.#enqueue(key);
      this.#pump();
    }
  }

  #notifyIdle(): void {
    if (this.#queue.length === 0 && this.#processing.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
