/**
 * BMO's provisioning limit (PROVISIONING_LIMIT, default 20), arbitrated by the bridge: at most `limit` hosts
 * in the provisioning-heavy states (inspecting, provisioning, deprovisioning) at once. A host workflow claims
 * a slot on the publication of the state it enters (no extra Temporal task); the bridge grants it or shows
 * the host `delayed` and queues it. When a slot frees, the first host in the queue is offered it (the slot is
 * reserved for it, for `offerTtlMs`) with one `offerSlot` signal: no polling, in order.
 *
 * The slots are not a second source of truth: a host holds one when its status (as this bridge wrote or
 * listed it) is in one of those states and not delayed, so a new leader rebuilds the whole picture from its
 * informer's list (`seed`), and a deleted host frees its slot with the delete event. Which hosts count
 * follows Ironic's busy-node count behind BMO's HasCapacity: hosts that boot through virtual media are not
 * counted unless asked (`countVirtualMedia`), as BMO does.
 */
import { checkBmcAddress } from '../domain/bmc-address.ts';
import { CAPACITY_LIMITED_STATES, isOneOf } from '../domain/host-state.ts';
import type { HostObject } from './objects.ts';

export interface ProvisioningLimitOptions {
  /** Hosts in the provisioning-heavy states at once (BMO's PROVISIONING_LIMIT). */
  limit: number;
  /** Count hosts whose BMC boots virtual media too (BMO and Ironic do not: they need no DHCP). */
  countVirtualMedia?: boolean;
  /** How long a slot offered to a delayed host stays reserved for it before the next host gets a turn. */
  offerTtlMs?: number;
  now?: () => number;
}

/** What a host shows, as far as the limit is concerned. */
export interface SlotView {
  /** `status.provisioning.state`. */
  state: string;
  /** `status.operationalStatus` is `delayed`. */
  delayed: boolean;
}

export type Verdict = { granted: true } | { granted: false; reason: string };

/** BMO's default PROVISIONING_LIMIT. */
export const DEFAULT_PROVISIONING_LIMIT = 20;

export class ProvisioningLimiter {
  readonly limit: number;
  readonly countVirtualMedia: boolean;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Hosts shown in a provisioning-heavy state (or granted one and about to show it). */
  readonly #holders = new Set<string>();
  /** Delayed hosts, first refused first. */
  #waiting: string[] = [];
  /** Delayed hosts offered a slot (reserved for them), with when. */
  readonly #offered = new Map<string, number>();

  constructor(options: ProvisioningLimitOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new Error(`the provisioning limit must be a positive integer, not ${options.limit}`);
    this.limit = options.limit;
    this.countVirtualMedia = options.countVirtualMedia ?? false;
    this.#ttlMs = options.offerTtlMs ?? 120_000;
    this.#now = options.now ?? Date.now;
  }

  /** Whether `host` counts towards the limit (by its BMC address; an unparsable one counts). */
  counts(host: HostObject): boolean {
    if (this.countVirtualMedia) return true;
    const address = (host.spec as { bmc?: { address?: unknown } } | undefined)?.bmc?.address;
    const parsed = checkBmcAddress(typeof address === 'string' ? address : '');
    return !(parsed.ok && parsed.address.capabilities.virtualMedia);
  }

  /** Slots taken: hosts holding one and slots reserved for delayed hosts. */
  get busy(): number {
    this.#expire();
    return this.#holders.size + this.#offered.size;
  }

  /** A host claims a slot to enter a provisioning-heavy state. */
  claim(key: string): Verdict {
    this.#expire();
    if (this.#holders.has(key)) return { granted: true };
    const ahead = this.#waiting.filter((k) => k !== key && !this.#offered.has(k)).length;
    if (this.#offered.delete(key) || (this.busy < this.limit && ahead === 0)) {
      this.#holders.add(key);
      this.#waiting = this.#waiting.filter((k) => k !== key);
      return { granted: true };
    }
    if (!this.#waiting.includes(key)) this.#waiting.push(key);
    const position = this.#waiting.filter((k) => !this.#offered.has(k)).indexOf(key) + 1;
    return {
      granted: false,
      reason:
        `waiting for a provisioning slot: ${this.busy} of ${this.limit} hosts are inspecting, provisioning or ` +
        `deprovisioning (PROVISIONING_LIMIT=${this.limit}); number ${position} in line`,
    };
  }

  /** What a host shows now (a publication was written, or a listed object): its slot follows. */
  observe(key: string, view: SlotView): void {
    if (view.delayed) {
      this.#holders.delete(key);
      if (!this.#waiting.includes(key)) this.#waiting.push(key);
      return;
    }
    this.#waiting = this.#waiting.filter((k) => k !== key);
    this.#offered.delete(key);
    if (isOneOf(view.state, CAPACITY_LIMITED_STATES)) this.#holders.add(key);
    else this.#holders.delete(key);
  }

  /** The host is gone (or no longer counts): whatever it held is free. */
  forget(key: string): void {
    this.#holders.delete(key);
    this.#offered.delete(key);
    this.#waiting = this.#waiting.filter((k) => k !== key);
  }

  /**
   * A new term's picture, from the informer's list: hosts shown in a provisioning-heavy state hold a slot;
   * delayed ones queue in the order their status was last written (when they were refused).
   */
  seed(hosts: { key: string; view: SlotView; since: string }[]): void {
    const delayed = hosts.filter((h) => h.view.delayed).sort((a, b) => a.since.localeCompare(b.since) || a.key.localeCompare(b.key));
    for (const h of hosts) if (!h.view.delayed) this.observe(h.key, h.view);
    for (const h of delayed) this.observe(h.key, h.view);
  }

  /** The delayed hosts to offer a slot now, in order; their slots are reserved until they claim them. */
  offers(): string[] {
    this.#expire();
    const out: string[] = [];
    for (const key of this.#waiting) {
      if (this.busy >= this.limit) break;
      if (this.#offered.has(key)) continue;
      this.#offered.set(key, this.#now());
      out.push(key);
    }
    return out;
  }

  /** For tests and logs. */
  snapshot(): { holders: string[]; waiting: string[]; offered: string[] } {
    this.#expire();
    return { holders: [...this.#holders].sort(), waiting: [...this.#waiting], offered: [...this.#offered.keys()] };
  }

  /** Offers not taken in time go back to the end of the line, so a host that does not answer blocks no one. */
  #expire(): void {
    const now = this.#now();
    for (const [key, at] of this.#offered) {
      if (now - at < this.#ttlMs) continue;
      this.#offered.delete(key);
      this.#waiting = [...this.#waiting.filter((k) => k !== key), key];
    }
  }
}

/** What a listed BareMetalHost shows, for `seed`. */
export function slotViewOf(host: HostObject): { view: SlotView; since: string } | undefined {
  const status = host.status as { provisioning?: { state?: unknown }; operationalStatus?: unknown; lastUpdated?: unknown } | undefined;
  const state = status?.provisioning?.state;
  if (typeof state !== 'string') return undefined;
  return {
    view: { state, delayed: status?.operationalStatus === 'delayed' },
    since: typeof status?.lastUpdated === 'string' ? status.lastUpdated : '',
  };
}
