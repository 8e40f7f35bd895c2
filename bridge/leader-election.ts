/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's algorithm and timings (lease 15 s,
 * renew deadline 10 s, retry 2 s): a candidate takes the Lease when it is free or when its record has not
 * changed for a whole lease duration *as observed on the candidate's own clock* (so clock skew between
 * bridges does not matter); the leader renews every retry period and steps down when it could not renew for
 * the renew deadline, which is shorter than the lease duration, so two bridges never both act as leader.
 */
import { systemClock, type Clock } from './token-bucket.ts';

/** The Lease fields leader election reads and writes (times as ISO strings). */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  resourceVersion?: string;
}

/** Access to one Lease object; `update` fails with a conflict when `resourceVersion` is stale. */
export interface LeaseClient {
  get(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface LeaderElectionOptions {
  identity: string;
  lease: LeaseClient;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  /** Called when this candidate becomes leader; `signal` aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called after leadership ended (lost or released); awaited before the candidate tries again. */
  onStoppedLeading: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  onError?: (error: unknown, phase: 'acquire' | 'renew' | 'release') => void;
}

function sameRecord(a: LeaseRecord | undefined, b: LeaseRecord | undefined): boolean {
  return (
    a?.holderIdentity === b?.holderIdentity &&
    a?.leaseDurationSeconds === b?.leaseDurationSeconds &&
    a?.acquireTime === b?.acquireTime &&
    a?.renewTime === b?.renewTime &&
    a?.leaseTransitions === b?.leaseTransitions
  );
}

/** A leader-election candidate (see the file header). */
export class LeaderElector {
  readonly identity: string;
  readonly #options: Required<Omit<LeaderElectionOptions, 'onNewLeader' | 'onError'>> & Pick<LeaderElectionOptions, 'onNewLeader' | 'onError'>;
  #observed: LeaseRecord | undefined;
  #observedAt = 0;
  #leading = false;
  #lastLeader: string | undefined;

  constructor(options: LeaderElectionOptions) {
    this.identity = options.identity;
    this.#options = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, clock: systemClock, ...options };
    if (this.#options.renewDeadlineMs >= this.#options.leaseDurationMs) throw new Error('the renew deadline must be shorter than the lease duration');
  }

  /** Whether this candidate currently holds the Lease (as of its last successful acquire or renew). */
  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder seen in the Lease at the last observation. */
  get observedLeader(): string | undefined {
    return this.#observed?.holderIdentity || undefined;
  }

  /**
   * One attempt to acquire or renew (client-go's tryAcquireOrRenew): true when this candidate holds the Lease
   * afterwards. Throws only when the Lease could not be read or written for a reason other than a lost race.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { clock, lease, leaseDurationMs } = this.#options;
    const now = clock.now();
    const nowIso = new Date(now).toISOString();
    const record: LeaseRecord = { holderIdentity: this.identity, leaseDurationSeconds: Math.round(leaseDurationMs / 1000), acquireTime: nowIso, renewTime: nowIso };

    const old = await lease.get();
    if (!old) {
      try {
        const created = await lease.create({ ...record, leaseTransitions: 0 });
        this.#observe(created, now);
        return true;
      } catch (error) {
        if (isRace(error)) return false;
        throw error;
      }
    }
    if (!sameRecord(old, this.#observed)) this.#observe(old, now);
    const holder = old.holderIdentity ?? '';
    const heldByUs = holder === this.identity;
    const observedDurationMs = (old.leaseDurationSeconds ?? Math.round(leaseDurationMs / 1000)) * 1000;
    if (holder !== '' && !heldByUs && this.#observedAt + observedDurationMs > now) return false;

    const next: LeaseRecord = heldByUs
      ? { ...record, acquireTime: old.acquireTime ?? nowIso, leaseTransitions: old.leaseTransitions ?? 0, resourceVersion: old.resourceVersion }
      : { ...record, leaseTransitions: (old.leaseTransitions ?? 0) + 1, resourceVersion: old.resourceVersion };
    try {
      const updated = await lease.update(next);
      this.#observe(updated, now);
      return true;
    } catch (error) {
      if (isRace(error)) return false;
      throw error;
    }
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead (renewing) until the Lease is lost, step down, campaign again.
   * On abort while leading, the Lease is released (holder cleared) so another bridge takes over at once.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, retryPeriodMs, renewDeadlineMs } = this.#options;
    while (!signal.aborted) {
      // Campaign: retry every retryPeriod (jittered like client-go's wait.JitterUntil with factor 1.2).
      while (!signal.aborted && !(await this.#attempt('acquire'))) {
        await clock.sleep(retryPeriodMs * (1 + Math.random() * 1.2), signal);
      }
      if (signal.aborted) break;

      this.#leading = true;
      const leadership = new AbortController();
      const onAbort = () => leadership.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      let lastRenew = clock.now();
      const started = Promise.resolve().then(() => this.#options.onStartedLeading(leadership.signal));

      // Lead: renew every retryPeriod; give up once renewing has failed for the renew deadline.
      while (!signal.aborted) {
        await clock.sleep(retryPeriodMs, signal);
        if (signal.aborted) break;
        if (await this.#attempt('renew', renewDeadlineMs)) {
          lastRenew = clock.now();
        } else if (clock.now() - lastRenew >= renewDeadlineMs) {
          break;
        }
      }
      signal.removeEventListener('abort', onAbort);
      this.#leading = false;
      leadership.abort();
      await started.catch((error: unknown) => this.#options.onError?.(error, 'renew'));
      await this.#options.onStoppedLeading();
      if (signal.aborted) await this.release();
    }
  }

  /** Gives the Lease up if this candidate holds it (client-go ReleaseOnCancel). */
  async release(): Promise<void> {
    try {
      const old = await this.#options.lease.get();
      if (!old || old.holderIdentity !== this.identity) return;
      const nowIso = new Date(this.#options.clock.now()).toISOString();
      const released = await this.#options.lease.update({
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: nowIso,
        renewTime: nowIso,
        leaseTransitions: old.leaseTransitions ?? 0,
        resourceVersion: old.resourceVersion,
      });
      this.#observe(released, this.#options.clock.now());
    } catch (error) {
      this.#options.onError?.(error, 'release');
    }
  }

  async #attempt(phase: 'acquire' | 'renew', timeoutMs?: number): Promise<boolean> {
    try {
      const attempt = this.tryAcquireOrRenew();
      if (timeoutMs === undefined) return await attempt;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([attempt, timeout]);
      } finally {
        clearTimeout(timer);
        attempt.catch(() => {});
      }
    } catch (error) {
      this.#options.onError?.(error, phase);
      return false;
    }
  }

  #observe(record: LeaseRecord, at: number): void {
    this.#observed = record;
    this.#observedAt = at;
    const leader = record.holderIdentity ?? '';
    if (leader !== '' && leader !== this.#lastLeader) {
      this.#lastLeader = leader;
      this.#options.onNewLeader?.(leader);
    }
  }
}

/** A lost race for the Lease (someone else wrote it first): not an error, just not the leader. */
function isRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 409;
}
