/**
 * Per-BMC serialisation and cancellable waiting, shared by the Redfish and IPMI drivers. The lock belongs to the
 * BMC (its endpoint), not to a driver: the drivers of several systems behind one BMC (a multi-node chassis, each
 * system with its own address) share it, so the BMC still sees one request at a time.
 */

/** A FIFO mutex: one operation at a time against a BMC (DESIGN.md: per-BMC concurrency of one). */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = 0;

  /** Runs `fn` once every earlier holder has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(async () => {
      this.#held++;
      try {
        return await fn();
      } finally {
        this.#held--;
      }
    });
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  get busy(): boolean {
    return this.#held > 0;
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

interface SharedMutex {
  readonly mutex: Mutex;
  users: number;
}

const byBmc = new Map<string, SharedMutex>();

/** A lease on the mutex of one BMC, shared by every driver of that BMC in this process. */
export interface BmcLockLease {
  readonly mutex: Mutex;
  /** Gives the lease back (the driver closed); the mutex is forgotten when nobody holds a lease. */
  release(): void;
}

/** The mutex of the BMC at `key` (its endpoint: scheme, host and port), leased until `release()`. */
export function leaseBmcLock(key: string): BmcLockLease {
  let entry = byBmc.get(key);
  if (!entry) {
    entry = { mutex: new Mutex(), users: 0 };
    byBmc.set(key, entry);
  }
  entry.users += 1;
  const held = entry;
  let released = false;
  return {
    mutex: held.mutex,
    release() {
      if (released) return;
      released = true;
      held.users -= 1;
      if (held.users === 0 && byBmc.get(key) === held) byBmc.delete(key);
    },
  };
}

/** Number of BMCs with a leased mutex (for tests: leases must not leak). */
export function leasedBmcLocks(): number {
  return byBmc.size;
}
