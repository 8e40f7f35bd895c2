/**
 * Per-BMC serialisation and cancellable waiting, shared by the Redfish and IPMI drivers. The lock belongs to the
 * BMC, not to a driver: the drivers of several systems behind one BMC (a multi-node chassis, each system with its
 * own address) share it, so the BMC still sees one request at a time; the BMCs of an emulator that serves many
 * on one endpoint (sushy-tools) each have their own, as they would on separate ports.
 */

/** A FIFO mutex: one operation at a time (DESIGN.md: per-BMC concurrency of one). */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** Runs `fn` once every earlier holder has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A fair shared/exclusive lock: exclusive holders run alone, shared holders together; waiters are served in
 * arrival order, so a queued exclusive holder is not starved by shared ones arriving after it.
 */
export class SharedExclusiveLock {
  #shared = 0;
  #exclusive = false;
  readonly #queue: { exclusive: boolean; wake: () => void }[] = [];

  async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.#acquire(exclusive);
    try {
      return await fn();
    } finally {
      if (exclusive) this.#exclusive = false;
      else this.#shared--;
      this.#serve();
    }
  }

  #acquire(exclusive: boolean): Promise<void> {
    return new Promise((wake) => {
      this.#queue.push({ exclusive, wake });
      this.#serve();
    });
  }

  #serve(): void {
    for (let next = this.#queue[0]; next; next = this.#queue[0]) {
      if (this.#exclusive || (next.exclusive && this.#shared > 0)) return;
      if (next.exclusive) this.#exclusive = true;
      else this.#shared++;
      this.#queue.shift();
      next.wake();
    }
  }
}

/**
 * The locks of one BMC endpoint (scheme, host and port). Behind one endpoint may be one BMC (the usual case),
 * several systems of one BMC (a multi-node chassis: their systems name the same Manager), or several BMCs
 * (sushy-tools and the simulator's shared layout: each system has a Manager of its own). A call whose BMC is
 * known, the Redfish Manager of its system, holds that Manager's mutex and shares the endpoint with the other
 * Managers' calls; a call whose BMC is not known yet (the first of a connection, IPMI) holds the whole endpoint.
 */
interface EndpointLocks {
  readonly endpoint: SharedExclusiveLock;
  readonly managers: Map<string, Mutex>;
  users: number;
}

const byEndpoint = new Map<string, EndpointLocks>();

/** A lease on the locks of one BMC endpoint, shared by every driver of that endpoint in this process. */
export interface BmcLockLease {
  /**
   * Runs `fn` once no other call to the same BMC is in flight: with `manager` (the Manager of the system, once
   * discovered) one at a time per Manager, else alone on the endpoint.
   */
  run<T>(fn: () => Promise<T>, manager?: string): Promise<T>;
  /** Gives the lease back (the driver closed); the locks are forgotten when nobody holds a lease. */
  release(): void;
}

/** The locks of the BMC endpoint at `key` (scheme, host and port, and a scope), leased until `release()`. */
export function leaseBmcLock(key: string): BmcLockLease {
  let entry = byEndpoint.get(key);
  if (!entry) {
    entry = { endpoint: new SharedExclusiveLock(), managers: new Map(), users: 0 };
    byEndpoint.set(key, entry);
  }
  entry.users += 1;
  const held = entry;
  let released = false;
  return {
    run<T>(fn: () => Promise<T>, manager?: string): Promise<T> {
      if (manager === undefined) return held.endpoint.run(true, fn);
      let mutex = held.managers.get(manager);
      if (!mutex) {
        mutex = new Mutex();
        held.managers.set(manager, mutex);
      }
      return mutex.run(() => held.endpoint.run(false, fn));
    },
    release() {
      if (released) return;
      released = true;
      held.users -= 1;
      if (held.users === 0 && byEndpoint.get(key) === held) byEndpoint.delete(key);
    },
  };
}

/** Number of BMC endpoints with leased locks (for tests: leases must not leak). */
export function leasedBmcLocks(): number {
  return byEndpoint.size;
}
