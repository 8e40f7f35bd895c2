/**
 * The freshest known version of each BareMetalHost: the informer's cache, overlaid with the object returned by
 * the bridge's own last write until the watch has delivered that version. Without the overlay, a publication
 * that follows a write closely would compare against the stale cached status and could skip a needed write
 * (status A cached, B written, A published again: "unchanged"). Later events arrive after the write's own
 * event (watches are ordered), so the overlay is dropped as soon as that event is seen, and not set at all when
 * the event beat the write's response; a time limit covers relists, where the exact version may never come.
 * The same holds for the firmware objects the bridge writes (HostFirmwareSettings, ...): `HostCache<T>`.
 */
import type { HostObject, KubeObject } from './objects.ts';
import { keyOf } from './objects.ts';

/** How many delivered versions per host are remembered (a write's response is rarely more than one event late). */
const RECENT_VERSIONS = 8;

export interface HostSource<T extends KubeObject = HostObject> {
  get(key: string): T | undefined;
}

export class HostCache<T extends KubeObject = HostObject> {
  readonly #informer: HostSource<T>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #written = new Map<string, { object: T; at: number }>();
  /** The last few resourceVersions the informer delivered per key: a write's own event may beat its response. */
  readonly #seen = new Map<string, string[]>();

  constructor(informer: HostSource<T>, options: { ttlMs?: number; now?: () => number } = {}) {
    this.#informer = informer;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  get(key: string): T | undefined {
    const written = this.#written.get(key);
    if (written && this.#now() - written.at < this.#ttlMs) return written.object;
    if (written) this.#written.delete(key);
    return this.#informer.get(key);
  }

  /** Records the object a write of ours returned (unless the watch already delivered that version). */
  wrote(object: T): void {
    const key = keyOf(object);
    if (this.#seen.get(key)?.includes(object.metadata.resourceVersion ?? '')) return;
    this.#written.set(key, { object, at: this.#now() });
  }

  /** Feeds the informer's changes: the overlay goes once the watch caught up with it (or the object changed identity). */
  observed(kind: 'add' | 'update' | 'delete', object: T): void {
    const key = keyOf(object);
    if (kind === 'delete') {
      this.#seen.delete(key);
    } else {
      const seen = this.#seen.get(key) ?? [];
      seen.push(object.metadata.resourceVersion ?? '');
      if (seen.length > RECENT_VERSIONS) seen.shift();
      this.#seen.set(key, seen);
    }
    const written = this.#written.get(key);
    if (!written) return;
    if (kind === 'delete' || written.object.metadata.uid !== object.metadata.uid || written.object.metadata.resourceVersion === object.metadata.resourceVersion) {
      this.#written.delete(key);
    }
  }

  clear(): void {
    this.#written.clear();
    this.#seen.clear();
  }
}
