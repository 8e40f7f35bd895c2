/**
 * The host workflow's status publications, waiting in order for the bridge's `publishStatus` activity. Every
 * provisioning state a host passes through is published (users watch them go by); changes within one state
 * coalesce into the latest snapshot of that state, and (with `coalesce`) a snapshot of a state already shown
 * that a later one in the queue supersedes is folded into it instead of costing a write and two Temporal
 * tasks. A publication may claim a slot under the provisioning limit: it then carries what to show instead
 * if the bridge refuses (the state before the move), and nothing folded into it is lost either way.
 * Pure (no Temporal): the workflow drives it and sends what it yields.
 */
import type { HostEvent, HostState, StatusPublication } from '../domain/host-model.ts';

/** What the workflow has gathered for the next publication besides the state. */
export interface Pending {
  events: HostEvent[];
  removeAnnotations: string[];
  hardwareData?: Record<string, unknown>;
}

/** A queued publication (without the host reference, which the workflow adds when sending). */
export type QueuedPublication = Omit<StatusPublication, 'ref'>;

/** The fields of the state that `.status` shows: a change in these is worth a publication. */
export function visibleKey(state: HostState): string {
  const {
    powerCheckedAt: _p,
    retryAfter: _r,
    errorIntent: _i,
    consumedAnnotations: _c,
    deleteAttempts: _d,
    operation: _o,
    errorCode: _e,
    cleanedAt: _cl,
    ...visible
  } = state;
  return JSON.stringify(visible);
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])];

export class PublicationQueue {
  readonly #items: QueuedPublication[] = [];

  /** `coalesce`: fold superseded snapshots of a state already shown into the next one (patch v2). */
  readonly #coalesce: boolean;

  constructor(coalesce: boolean) {
    this.#coalesce = coalesce;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Queues `state`, merged into the last queued snapshot when that one is of the same provisioning state. */
  add(state: HostState, pending: Pending): void {
    const last = this.#items.at(-1);
    if (last && last.state.provisioningState === state.provisioningState) {
      last.state = state;
      last.events.push(...pending.events);
      last.removeAnnotations = union(last.removeAnnotations, pending.removeAnnotations);
      if (pending.hardwareData) last.hardwareData = pending.hardwareData;
      return;
    }
    this.#items.push({ state, ...copy(pending) });
  }

  /**
   * Queues `state` as a claim of a slot under the provisioning limit; `before` is what the bridge shows
   * instead (delayed) when it refuses. Always a publication of its own: it needs the bridge's answer.
   */
  addClaim(state: HostState, pending: Pending, before: HostState): void {
    this.#items.push({ state, ...copy(pending), claim: { fallback: { state: before, events: [], removeAnnotations: [] } } });
  }

  /**
   * The next publication to send, or undefined when the queue is empty. `lastPublishedState` is the
   * provisioning state the bridge last showed; `force` means the next one must go out as it is.
   */
  next(lastPublishedState: string | undefined, force: boolean): QueuedPublication | undefined {
    for (;;) {
      const next = this.#items.shift();
      if (!next) return undefined;
      const following = this.#items[0];
      if (!this.#coalesce || !following || next.claim || next.state.provisioningState !== lastPublishedState || force) return next;
      // Only fields of a state already shown changed, and a later snapshot carries them too: its Events go
      // first in that one (and in what it shows if it is a refused claim), so nothing is lost.
      following.events.unshift(...next.events);
      following.removeAnnotations = union(next.removeAnnotations, following.removeAnnotations);
      if (next.hardwareData && !following.hardwareData) following.hardwareData = next.hardwareData;
      const fallback = following.claim?.fallback;
      if (fallback) {
        fallback.events.unshift(...next.events);
        fallback.removeAnnotations = union(next.removeAnnotations, fallback.removeAnnotations);
      }
    }
  }
}

/** Whether sending `publication` would change nothing the bridge shows (and it can be skipped). */
export function unchanged(publication: QueuedPublication, lastPublishedKey: string, force: boolean): boolean {
  return (
    !force &&
    !publication.claim &&
    visibleKey(publication.state) === lastPublishedKey &&
    publication.events.length === 0 &&
    publication.removeAnnotations.length === 0 &&
    !publication.hardwareData
  );
}

function copy(pending: Pending): Pending {
  return {
    events: [...pending.events],
    removeAnnotations: [...pending.removeAnnotations],
    ...(pending.hardwareData ? { hardwareData: pending.hardwareData } : {}),
  };
}
