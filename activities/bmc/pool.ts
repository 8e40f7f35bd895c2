/**
 * A per-process pool of BMC drivers, keyed by address, user and TLS choice, so sessions, keep-alive connections
 * and discovery survive across activity calls (the register→provisioned pipeline's request budget depends on it).
 * Idle drivers are closed (Redfish session DELETEd) after `idleMs`; a changed password replaces the driver.
 *
 * A steady host keeps its driver between power checks, as Ironic keeps its sushy connections: a check is then one
 * GET of the system instead of service root, login, GET and logout. A session the BMC expired meanwhile costs one
 * re-login (the client's retry on 401). The driver holds no socket while idle (keep-alive ends after 30 s).
 */
import { createHash } from 'node:crypto';
import { DEFAULT_LIFECYCLE_CONFIG } from '../../domain/host-lifecycle.ts';
import type { BmcDriver } from './driver.ts';
import { createBmcDriver, type BmcDriverOptions } from './factory.ts';

/**
 * How long an unused driver is kept by default: a power check interval and half of one more, so the next check of a
 * steady host (due one interval after the last, later when the worker is busy) finds its driver still there.
 */
export const DEFAULT_POOL_IDLE_MS = Math.round(DEFAULT_LIFECYCLE_CONFIG.powerCheckIntervalMs * 1.5);

export interface BmcPoolOptions {
  /** Close a driver unused for this long (default {@link DEFAULT_POOL_IDLE_MS}). */
  idleMs?: number;
  /** Options applied to every driver the pool creates (timings, client knobs, ipmitool path). */
  defaults?: Pick<BmcDriverOptions, 'redfish' | 'ipmi'>;
  /** Builds drivers (tests substitute fakes). */
  create?: (options: BmcDriverOptions) => BmcDriver;
  /** The clock idle times are measured with (tests substitute a fake one). */
  now?: () => number;
}

interface Entry {
  driver: BmcDriver;
  fingerprint: string;
  leases: number;
  lastUsed: number;
}

function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}

export class BmcConnectionPool {
  readonly #entries = new Map<string, Entry>();
  readonly #idleMs: number;
  readonly #defaults: BmcPoolOptions['defaults'];
  readonly #create: (options: BmcDriverOptions) => BmcDriver;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: BmcPoolOptions = {}) {
    this.#idleMs = options.idleMs ?? DEFAULT_POOL_IDLE_MS;
    this.#defaults = options.defaults;
    this.#create = options.create ?? createBmcDriver;
    this.#now = options.now ?? Date.now;
  }

  /** Number of open drivers. */
  get size(): number {
    return this.#entries.size;
  }

  static key(options: BmcDriverOptions): string {
    const address = typeof options.address === 'string' ? options.address : options.address.raw;
    return `${address}|${options.credentials.username}|${options.disableCertificateVerification ? 'insecure' : 'verify'}`;
  }

  /** Runs `fn` with the pooled driver for `options` (creating it on first use). */
  async use<T>(options: BmcDriverOptions, fn: (driver: BmcDriver) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the BMC connection pool is closed');
    const key = BmcConnectionPool.key(options);
    const print = fingerprint(options.credentials.password);
    let entry = this.#entries.get(key);
    if (entry && entry.fingerprint !== print) {
      // The Secret changed: drop the old session once nobody uses it.
      const stale = entry;
      this.#entries.delete(key);
      if (stale.leases === 0) void stale.driver.close();
      entry = undefined;
    }
    if (!entry) {
      entry = {
        driver: this.#create({ ...this.#defaults, ...options, redfish: { ...this.#defaults?.redfish, ...options.redfish }, ipmi: { ...this.#defaults?.ipmi, ...options.ipmi } }),
        fingerprint: print,
        leases: 0,
        lastUsed: this.#now(),
      };
      this.#entries.set(key, entry);
      this.#schedule();
    }
    entry.leases++;
    try {
      return await fn(entry.driver);
    } catch (err) {
      // What the driver learnt of the BMC (its system and manager paths, slots, inventory links) lives as long as
      // the driver, which for a steady host is as long as the host: a resource gone (404/410: a BMC firmware update,
      // a replaced board) drops the driver, so the next call learns the BMC afresh.
      if ((err as { code?: unknown }).code === 'BmcNotFound' && this.#entries.get(key) === entry) this.#entries.delete(key);
      throw err;
    } finally {
      entry.leases--;
      entry.lastUsed = this.#now();
      if (this.#entries.get(key) !== entry && entry.leases === 0) void entry.driver.close();
    }
  }

  /** Closes drivers idle for longer than `idleMs`. */
  async sweep(now: number = this.#now()): Promise<number> {
    const closing: Promise<void>[] = [];
    for (const [key, entry] of this.#entries) {
      if (entry.leases === 0 && now - entry.lastUsed >= this.#idleMs) {
        this.#entries.delete(key);
        closing.push(entry.driver.close());
      }
    }
    await Promise.allSettled(closing);
    return closing.length;
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      void this.sweep();
      if (this.#entries.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }, Math.max(1000, Math.min(this.#idleMs, 30_000)));
    this.#timer.unref();
  }

  /**
   * Closes every driver (worker shutdown), `concurrency` at a time: a worker holds a driver per steady host, and
   * 5,000 session DELETEs at once would open 5,000 connections together. A session not deleted before the process
   * ends expires on the BMC.
   */
  async close(concurrency = 32): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const all = [...this.#entries.values()];
    this.#entries.clear();
    let next = 0;
    const closer = async () => {
      for (let entry = all[next++]; entry; entry = all[next++]) await entry.driver.close().catch(() => undefined);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, all.length) }, closer));
  }
}
