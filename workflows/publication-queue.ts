/**
 * The host workflow's status publications, waiting in order for the bridge's `publishStatus` activity. Every
 * provisioning state a host passes through is published (users watch them go by); changes within one state
 * coalesce into the latest snapshot of that state, and (with `coalesce`) a snapshot of a state already shown
 * that a later one in the queue supersedes is folded into it instead of costing a write and two Temporal
 * tasks. A publication may claim a slot under the provisioning limit: it then carries what to show instead
 * if the bridge refuses (the state before the move), and nothing folded into it is lost either way.
 * Pure (no Temporal): the workflow drives it and sends what it yields.
 */
import type { FirmwarePublication, HostEvent, HostState, StatusPublication } from '../domain/host-model.ts';

/** What the workflow has gathered for the next publication besides the state. */
export interface Pending {
  events: HostEvent[];
  removeAnnotations: string[];
  hardwareData?: Record<string, unknown>;
  firmware?: FirmwarePublication;
}

/**
 * Two firmware publications as one: the later reading, every flash, the later applied updates; a schema's rules
 * read earlier are kept when the later reading names the same schema without them.
 */
export function mergeFirmware(earlier: FirmwarePublication | undefined, later: FirmwarePublication | undefined): FirmwarePublication | undefined {
  if (!earlier || !later) return later ?? earlier;
  const reading = { ...later.reading };
  if (!reading.schema && earlier.reading.schema && earlier.reading.schemaName === reading.schemaName) reading.schema = earlier.reading.schema;
  const applied = later.appliedUpdates ?? earlier.appliedUpdates;
  return { reading, flashed: [...earlier.flashed, ...later.flashed], ...(applied ? { appliedUpdates: applied } : {}) };
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
    // What the workflow keeps of its firmware and a rollout's request: shown through the firmware objects.
    firmware: _f,
    rollout: _ro,
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
      const firmware = mergeFirmware(last.firmware, pending.firmware);
      if (firmware) last.firmware = firmware;
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

  /** Whether a claim waits in the queue. */
  hasClaim(): boolean {
    return this.#items.some((item) => item.claim !== undefined);
  }

  /** Puts a publication taken with `next` back at the head of the queue. */
  putBack(publication: QueuedPublication): void {
    this.#items.unshift(publication);
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
      const firmware = mergeFirmware(next.firmware, following.firmware);
      if (firmware) following.firmware = firmware;
      const fallback = following.claim?.fallback;
      if (fallback) {
        fallback.events.unshift(...next.events);
        fallback.removeAnnotations = union(next.removeAnnotations, fallback.removeAnnotations);
      }
    }
  }
}

/**
 * Takes what to send in one activity (patch v4): the next publication and the ones queued behind it, in order,
 * each of a state the one before it shows; unchanged ones dropped. A claim goes alone (it needs the bridge's
 * answer of its own), and nothing is taken past one. `lastPublishedKey` and `lastPublishedState` are what the
 * bridge last showed; `force` means the first one must go out as it is.
 */
export function takeBatch(queue: PublicationQueue, lastPublishedState: string | undefined, lastPublishedKey: string, force: boolean): QueuedPublication[] {
  const batch: QueuedPublication[] = [];
  let shownState = lastPublishedState;
  let shownKey = lastPublishedKey;
  let forced = force;
  for (;;) {
    if (batch.length > 0 && (batch.at(-1)?.claim || queue.hasClaim())) return batch;
    const next = queue.next(shownState, forced);
    if (!next) return batch;
    if (next.claim && batch.length > 0) {
      queue.putBack(next);
      return batch;
    }
    if (unchanged(next, shownKey, forced)) continue;
    batch.push(next);
    shownState = next.state.provisioningState;
    shownKey = visibleKey(next.state);
    forced = false;
  }
}

/** Every snapshot a publication carries, in the order the bridge writes them: its `earlier` ones, then itself. */
export function snapshotsOf(publication: StatusPublication): StatusPublication[] {
  const { earlier, ...last } = publication;
  return [...(earlier ?? []).map((snapshot) => ({ ref: publication.ref, ...snapshot })), last];
}

/** Whether sending `publication` would change nothing the bridge shows (and it can be skipped). */
export function unchanged(publication: QueuedPublication, lastPublishedKey: string, force: boolean): boolean {
  return (
    !force &&
    !publication.claim &&
    visibleKey(publication.state) === lastPublishedKey &&
    publication.events.length === 0 &&
    publication.removeAnnotations.length === 0 &&
    !publication.hardwareData &&
    !publication.firmware
  );
}

function copy(pending: Pending): Pending {
  return {
    events: [...pending.events],
    removeAnnotations: [...pending.removeAnnotations],
    ...(pending.hardwareData ? { hardwareData: pending.hardwareData } : {}),
    ...(pending.firmware ? { firmware: pending.firmware } : {}),
  };
}
