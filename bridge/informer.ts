/**
 * An informer: a local cache of one resource kept current by list + watch from the list's resourceVersion.
 * When the apiserver answers 410 Gone (the version is too old, e.g. after a long disconnection or etcd
 * compaction) it lists again and reconciles the cache with the list (synthesizing the adds, updates and
 * deletes it missed); on any other failure it retries with capped exponential backoff. It never exits the
 * process. Objects pass through `project` on arrival, so a cache can keep a slim view (Secrets: no content).
 */
import { isGone, type ListWatch, type WatchEvent } from './kube.ts';
import { systemClock, type Clock } from './token-bucket.ts';

export type ChangeKind = 'add' | 'update' | 'delete';
export type ChangeHandler<T> = (kind: ChangeKind, object: T, old: T | undefined) => void;

export interface InformerOptions<T> {
  listWatch: ListWatch;
  /** Turns a raw object into what is cached; undefined drops it. */
  project: (raw: unknown) => T | undefined;
  key: (object: T) => string;
  resourceVersion: (object: T) => string;
  clock?: Clock;
  /** A watch the server ended sooner than this after it started is followed by this pause (default 1 s). */
  quietRestartMs?: number;
  /** Backoff after failures: base doubling up to max (client-go: 800 ms to 30 s). */
  backoff?: { baseMs: number; maxMs: number };
  onError?: (error: unknown, retryInMs: number) => void;
  /** Called after each (re)list with the number of objects, and whether it followed a 410. */
  onList?: (count: number, afterGone: boolean) => void;
}

/** A list+watch cache of one resource in one scope (see the file header). */
export class Informer<T> {
  readonly #options: InformerOptions<T> & { clock: Clock; backoff: { baseMs: number; maxMs: number } };
  readonly #store = new Map<string, T>();
  readonly #handlers: ChangeHandler<T>[] = [];
  #abort = new AbortController();
  #running: Promise<void> | undefined;
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  /** Counts of relists after 410 Gone, for tests and logs. */
  relistsAfterGone = 0;

  constructor(options: InformerOptions<T>) {
    this.#options = { clock: systemClock, backoff: { baseMs: 800, maxMs: 30_000 }, ...options };
  }

  get description(): string {
    return this.#options.listWatch.description;
  }

  /** True once the first list has been loaded. */
  get hasSynced(): boolean {
    return this.#synced;
  }

  onChange(handler: ChangeHandler<T>): void {
    this.#handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  start(): void {
    if (this.#running) return;
    this.#abort = new AbortController();
    this.#running = this.#loop(this.#abort.signal);
  }

  /** Resolves after the first list (or when stopped before it). */
  waitForSync(): Promise<void> {
    if (this.#synced || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#releaseSyncWaiters();
    await this.#running;
    this.#running = undefined;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const { listWatch, clock, backoff } = this.#options;
    const quietRestartMs = this.#options.quietRestartMs ?? 1000;
    let resourceVersion: string | undefined;
    let afterGone = false;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined) {
          const listed = await listWatch.list();
          if (signal.aborted) break;
          this.#replace(listed.items);
          resourceVersion = listed.resourceVersion;
          this.#options.onList?.(this.#store.size, afterGone);
          afterGone = false;
          if (!this.#synced) {
            this.#synced = true;
            this.#releaseSyncWaiters();
          }
        }
        // One watch; an event handler cannot throw into the client (it would swallow it), so it stops the watch.
        const stream = new AbortController();
        const stopStream = () => stream.abort();
        signal.addEventListener('abort', stopStream, { once: true });
        let gone = false;
        let failure: unknown;
        const watchStarted = clock.now();
        try {
          await listWatch.watch(
            resourceVersion,
            (event) => {
              if (gone || failure !== undefined || stream.signal.aborted) return;
              try {
                const next = this.#apply(event);
                if (next === 'gone') {
                  gone = true;
                  stream.abort();
                } else if (next !== undefined) {
                  resourceVersion = next;
                }
              } catch (error) {
                failure = error;
                stream.abort();
              }
            },
            stream.signal,
          );
        } finally {
          signal.removeEventListener('abort', stopStream);
        }
        if (failure !== undefined) throw failure;
        failures = 0;
        if (gone) {
          resourceVersion = undefined;
          afterGone = true;
          this.relistsAfterGone++;
        } else if (clock.now() - watchStarted < quietRestartMs) {
          // A stream the server ends at once, again and again, must not become a busy loop.
          await clock.sleep(quietRestartMs, signal);
        }
      } catch (error) {
        if (signal.aborted) break;
        if (isGone(error)) {
          resourceVersion = undefined;
          afterGone = true;
          this.relistsAfterGone++;
          continue;
        }
        failures++;
        const retryInMs = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(failures - 1, 20));
        this.#options.onError?.(error, retryInMs);
        await clock.sleep(retryInMs * (0.75 + Math.random() * 0.5), signal);
      }
    }
  }

  /** Applies one watch event; returns the new resourceVersion, 'gone' on 410, or undefined. */
  #apply(event: WatchEvent): string | 'gone' | undefined {
    if (event.type === 'ERROR') {
      const code = (event.object as { code?: unknown } | null)?.code;
      if (code === 410) return 'gone';
      const message = (event.object as { message?: unknown } | null)?.message;
      throw new Error(`watch ${this.description}: error event ${String(code)}: ${String(message)}`);
    }
    if (event.type === 'BOOKMARK') {
      const rv = (event.object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
      return typeof rv === 'string' ? rv : undefined;
    }
    const object = this.#options.project(event.object);
    if (object === undefined) return undefined;
    const key = this.#options.key(object);
    const old = this.#store.get(key);
    if (event.type === 'DELETED') {
      this.#store.delete(key);
      this.#emit('delete', object, old);
    } else {
      this.#store.set(key, object);
      this.#emit(old === undefined ? 'add' : 'update', object, old);
    }
    return this.#options.resourceVersion(object);
  }

  /** Makes the cache equal to a fresh list, emitting what changed since the cache was last current. */
  #replace(items: unknown[]): void {
    const seen = new Set<string>();
    for (const raw of items) {
      const object = this.#options.project(raw);
      if (object === undefined) continue;
      const key = this.#options.key(object);
      seen.add(key);
      const old = this.#store.get(key);
      this.#store.set(key, object);
      if (old === undefined) this.#emit('add', object, undefined);
      else if (this.#options.resourceVersion(old) !== this.#options.resourceVersion(object)) this.#emit('update', object, old);
    }
    for (const [key, old] of [...this.#store]) {
      if (seen.has(key)) continue;
      this.#store.delete(key);
      this.#emit('delete', old, old);
    }
  }

  #emit(kind: ChangeKind, object: T, old: T | undefined): void {
    for (const handler of this.#handlers) handler(kind, object, old);
  }

  #releaseSyncWaiters(): void {
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Several informers of one resource (one per watched namespace) read as one cache. */
export class InformerGroup<T> {
  readonly informers: Informer<T>[];
  constructor(informers: Informer<T>[]) {
    this.informers = informers;
  }
  onChange(handler: ChangeHandler<T>): void {
    for (const informer of this.informers) informer.onChange(handler);
  }
  get(key: string): T | undefined {
    for (const informer of this.informers) {
      const found = informer.get(key);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  list(): T[] {
    return this.informers.flatMap((i) => i.list());
  }
  get hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }
  get relistsAfterGone(): number {
    return this.informers.reduce((n, i) => n + i.relistsAfterGone, 0);
  }
  start(): void {
    for (const informer of this.informers) informer.start();
  }
  async waitForSync(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
  }
  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
