/**
 * The activities the bridge serves on its own task queue (`BridgeActivities`): `publishStatus` projects a
 * host workflow's state onto the BareMetalHost (status merge patch of only our fields, only when changed, at
 * most one status write; HardwareData; consumed annotations; Events) and `releaseHost` lets a deleted host go.
 * Failures carry a Kubernetes error type for the workflow's retry policy; a host that is gone is success; a
 * field that does not fit the CRD is logged and left as it was, never blocking the rest of the publication.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { delay } from '../domain/host-lifecycle.ts';
import type { BridgeActivities, HostRef, PublishResult, StatusPublication, StatusSnapshot } from '../domain/host-model.ts';
import { METAL3_API_VERSION } from '../domain/names.ts';
import { snapshotsOf } from '../workflows/publication-queue.ts';
import { hostEvent, type EventBody } from './events.ts';
import type { FirmwareObjects } from './firmware.ts';
import type { HostCache } from './host-cache.ts';
import type { BridgeMetrics } from './metrics.ts';
import { KubeError, toKubeError, type Kube } from './kube.ts';
import { HARDWARE_DATA_FINALIZER, HOST_FINALIZER, hasFinalizer, objectKey, type HostObject, type KubeObject } from './objects.ts';
import type { ProvisioningLimiter } from './provisioning-limit.ts';
import type { RolloutBridge } from './rollouts.ts';
import { mergeDiff, metaTime, projectStatus, statusPatch, validHardware } from './status.ts';

export interface BridgeActivityDeps {
  kube: Pick<Kube, 'hosts' | 'hardwareData' | 'createEvent'>;
  hosts: HostCache;
  /** The generation the workflow was last sent for a host, if this bridge sent it. */
  sentGeneration: (key: string, uid: string) => number | undefined;
  /** This bridge's identity (Events' reportingInstance). */
  identity: string;
  logger: Logger;
  now?: () => Date;
  /** Events waiting to be sent beyond this are dropped (and counted): they are best effort. */
  maxPendingEvents?: number;
  /** The provisioning limit: slot claims are granted or refused here (none: every claim is granted). */
  slots?: SlotArbiter;
  /** Writes a host's firmware objects from a publication's firmware reading (made from the Events sink given). */
  firmware?: (emit: (body: EventBody, log: Logger) => void) => FirmwareObjects;
  /** FirmwareRollouts: their status and the failure budget's pauses. */
  rollouts?: RolloutBridge;
  /** Where publications are counted and BMO's post-save metrics observed (bridge/metrics.ts). */
  metrics?: Pick<BridgeMetrics, 'published'>;
}

/** When the workflow scheduled this activity (its first attempt): the state change a publication carries. */
function scheduledAt(): number | undefined {
  try {
    return Context.current().info.scheduledTimestampMs;
  } catch {
    return undefined; // called outside an activity (unit tests)
  }
}

/** How a snapshot's writes of other objects (HardwareData, firmware objects) ended; never a rejected promise. */
type SideWrites = { firmwareSchemaMissing: boolean } | { error: unknown };

/** `work` as a promise that resolves either way, so it can run beside later writes without an unhandled rejection. */
function settle(work: Promise<{ firmwareSchemaMissing: boolean }>): Promise<SideWrites> {
  return work.catch((error: unknown) => ({ error }));
}

/** A publication's writes of other objects than the host: every one started, and the last of each kind. */
interface SideWriteChains {
  all: Promise<SideWrites>[];
  hardwareData?: Promise<SideWrites>;
  firmware?: Promise<SideWrites>;
}

/** Starts `write` once the publication's earlier write of the same kind has ended (either way). */
function chain(sides: SideWriteChains, kind: 'hardwareData' | 'firmware', write: () => Promise<{ firmwareSchemaMissing: boolean }>): void {
  const next = settle((sides[kind] ?? Promise.resolve()).then(write));
  sides[kind] = next;
  sides.all.push(next);
}

/** The bridge's side of the provisioning limit, as the status activity sees it. */
export interface SlotArbiter {
  limiter: ProvisioningLimiter;
  /** Offers the slots free now to the delayed hosts first in line (a signal each). */
  offerFree(): void;
}

/** Turns a Kubernetes failure into a typed ApplicationFailure the workflow's retry policy can match. */
function kubeFailure(error: unknown, what: string): never {
  const e = toKubeError(error, what);
  const type = e.code === 409 ? 'KubernetesConflict' : e.retryable ? 'KubernetesUnavailable' : 'KubernetesRejected';
  throw ApplicationFailure.create({ type, message: e.message, details: [{ code: e.code, reason: e.reason }] });
}

function ownerReference(host: HostObject): Record<string, unknown> {
  return { apiVersion: METAL3_API_VERSION, kind: 'BareMetalHost', name: host.metadata.name, uid: host.metadata.uid ?? '' };
}

/** HardwareData belongs to the host with `uid` unless it names another BareMetalHost as owner. */
function belongsTo(hardwareData: KubeObject, uid: string): boolean {
  const owners = (hardwareData.metadata.ownerReferences ?? []).filter((o) => o.kind === 'BareMetalHost');
  return owners.length === 0 || owners.some((o) => o.uid === uid);
}

/** Creates the bridge's activities from their dependencies. */
export function createBridgeActivities(deps: BridgeActivityDeps): { activities: BridgeActivities; eventsIdle(): Promise<void>; firmware: FirmwareObjects | undefined } {
  const { kube, hosts, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const maxPending = deps.maxPendingEvents ?? 10_000;
  let pendingEvents = 0;
  let droppedEvents = 0;
  let idle: Promise<void> = Promise.resolve();

  /**
   * Sends an Event in the background under its own budget (kube.ts), so a publication never waits for its
   * Events: status first, Events best effort and in order, as client-go's event recorder does.
   */
  function emit(body: Parameters<Kube['createEvent']>[0], log: Logger): void {
    if (pendingEvents >= maxPending) {
      droppedEvents += 1;
      if (droppedEvents % 100 === 1) log.warn({ dropped: droppedEvents }, 'too many Events waiting: dropping');
      return;
    }
    pendingEvents += 1;
    idle = idle.then(() =>
      kube.createEvent(body).then(
        () => undefined,
        (error: unknown) => log.warn({ reason: body.reason, err: toKubeError(error, 'create event').message }, 'could not record event'),
      ).finally(() => {
        pendingEvents -= 1;
      }),
    );
  }

  const firmware = deps.firmware?.(emit);

  async function currentHost(ref: HostRef): Promise<HostObject | undefined> {
    const host = hosts.get(objectKey(ref.namespace, ref.name)) ?? (await kube.hosts.get(ref.namespace, ref.name));
    return host && host.metadata.uid === ref.uid ? host : undefined;
  }

  async function upsertHardwareData(host: HostObject, details: Record<string, unknown>, log: Logger): Promise<void> {
    const { namespace = '', name } = host.metadata;
    const owner = ownerReference(host);
    const desiredOwners = (current: KubeObject) => [...(current.metadata.ownerReferences ?? []).filter((o) => o.kind !== 'BareMetalHost'), owner];
    // A host's first inspection is the common case: create first, and read what is there only when it exists
    // (a re-inspection, an adopted host), so the first inspection costs one request, not two.
    const fresh = validHardware(details, undefined);
    try {
      await kube.hardwareData.create(namespace, {
        apiVersion: METAL3_API_VERSION,
        kind: 'HardwareData',
        metadata: { name, namespace, finalizers: [HARDWARE_DATA_FINALIZER], ownerReferences: [owner] },
        spec: { hardware: fresh.status },
      });
      if (fresh.problems.length > 0) log.error({ problems: fresh.problems }, 'hardware data does not fit HardwareDetails; writing the parts that do');
      logger.info({ host: objectKey(namespace, name) }, 'created HardwareData');
      return;
    } catch (error) {
      if (!(error instanceof KubeError && error.code === 409)) throw error;
      // It exists (AlreadyExists): update it below, keeping what it holds where the new reading does not fit.
    }
    const existing = await kube.hardwareData.get(namespace, name);
    const existingHardware = (existing?.['spec'] as { hardware?: Record<string, unknown> } | undefined)?.hardware;
    const { status: hardware, problems } = validHardware(details, existingHardware);
    if (problems.length > 0) log.error({ problems }, 'hardware data does not fit HardwareDetails; writing the parts that do');
    await kube.hardwareData.update(
      namespace,
      name,
      (current) => {
        const patch: Record<string, unknown> = {};
        const metadata: Record<string, unknown> = {};
        const spec = current['spec'] as { hardware?: unknown } | undefined;
        const hardwarePatch = mergeDiff(spec?.hardware, hardware);
        if (hardwarePatch !== undefined) patch['spec'] = { hardware: hardwarePatch };
        if (!hasFinalizer(current, HARDWARE_DATA_FINALIZER)) metadata['finalizers'] = [...(current.metadata.finalizers ?? []), HARDWARE_DATA_FINALIZER];
        const owners = desiredOwners(current);
        if (mergeDiff(current.metadata.ownerReferences ?? [], owners) !== undefined) metadata['ownerReferences'] = owners;
        if (Object.keys(metadata).length > 0) patch['metadata'] = metadata;
        return Object.keys(patch).length > 0 ? patch : undefined;
      },
      existing,
    );
  }

  /** What writing `state` would change in the host's status (undefined: it shows it already). */
  function patchFor(host: HostObject, ref: HostRef, state: StatusSnapshot['state'], stamp: string, log?: Logger) {
    const generation = deps.sentGeneration(objectKey(ref.namespace, ref.name), ref.uid) ?? host.metadata.generation ?? 0;
    const projected = projectStatus(state, { now: stamp, generation, current: host.status });
    // An engine bug, not the user's: the rest of the status is still written, the bad field kept as it was.
    if (projected.problems.length > 0) log?.error({ problems: projected.problems }, 'host state does not fit BareMetalHost status; writing the fields that do');
    return statusPatch(host.status, projected.status);
  }

  const activities: BridgeActivities = {
    async publishStatus(publication: StatusPublication): Promise<PublishResult> {
      const { ref } = publication;
      const key = objectKey(ref.namespace, ref.name);
      const log = logger.child({ host: key });
      try {
        let host = await currentHost(ref);
        if (!host) {
          log.debug('host is gone; nothing to publish');
          deps.metrics?.published(publication, { result: 'gone', events: [] });
          return { written: false };
        }
        const before = host.status;
        // A move into a provisioning-heavy state claims a slot: refused, the host shows where it was, delayed.
        const slots = deps.slots;
        const counted = slots !== undefined && slots.limiter.counts(host);
        let { state, events: hostEvents, removeAnnotations } = publication;
        let delayed: string | undefined;
        if (publication.claim && counted) {
          const verdict = slots.limiter.claim(key);
          if (!verdict.granted) {
            delayed = verdict.reason;
            const { fallback } = publication.claim;
            state = delay(fallback.state, publication.state.provisioningState, verdict.reason);
            hostEvents = fallback.events;
            removeAnnotations = fallback.removeAnnotations;
            log.info({ wants: publication.state.provisioningState, reason: delayed }, 'delayed: no provisioning slot free');
          }
        }
        const at = now();
        const stamp = metaTime(at) as string;
        // A publication carries the snapshots the host queued while the one before it was in flight (or while an
        // operation held its workflow task): the states it passed, in order, then where it stands now. The status
        // shows where it stands, in one write; the states passed are told by their Events and counted as state
        // changes, not replayed in the status one write after another (docs/decisions.md, "A status shows where
        // the host stands"). Writes of other objects and consumed annotations are every snapshot's, in order.
        const snapshots = snapshotsOf({ ...publication, state, events: hostEvents, removeAnnotations });
        const newest = snapshots.at(-1) as StatusSnapshot;
        const passed = snapshots.map((s) => s.state.provisioningState);
        // HardwareData and the firmware objects are other objects: their writes go on beside the status write,
        // one chain per kind (a kind keeps the batch's order, kinds go side by side). Every one started is
        // waited for, whatever happens to the status: a retry must not race an earlier attempt's writes, and a
        // failed one fails the publication (to be retried), before its Events are sent.
        const sides: SideWriteChains = { all: [] };
        const owner = host;
        for (const { hardwareData, firmware: reading } of snapshots) {
          if (hardwareData) chain(sides, 'hardwareData', () => upsertHardwareData(owner, hardwareData, log).then(() => ({ firmwareSchemaMissing: false })));
          if (reading && firmware) chain(sides, 'firmware', () => firmware.publish(owner, reading, log).then((r) => ({ firmwareSchemaMissing: r.schemaMissing })));
        }
        let firmwareSchemaMissing = false;
        const sidesDone = async () => {
          for (const outcome of await Promise.all(sides.all)) {
            if ('error' in outcome) throw outcome.error;
            firmwareSchemaMissing ||= outcome.firmwareSchemaMissing;
          }
        };
        let written = false;
        let settledAt: number;
        try {
          // A retried publication whose earlier attempt wrote the status finds nothing to change here.
          const patch = patchFor(host, ref, newest.state, stamp, log);
          if (patch) {
            const result = await kube.hosts.patchStatus(ref.namespace, ref.name, { status: { ...patch, lastUpdated: stamp } });
            if (!result || result.metadata.uid !== ref.uid) {
              await sidesDone();
              return { written: false };
            }
            hosts.wrote(result);
            host = result;
            written = true;
            log.info({ state: newest.state.provisioningState, operationalStatus: newest.state.operationalStatus, fields: Object.keys(patch), ...(passed.length > 1 ? { passed: passed.slice(0, -1) } : {}) }, 'status written');
          }
          settledAt = now().getTime(); // the status lag ends when the status is written
          // Annotations a snapshot consumed go once the status shows what they asked for.
          const consumed = new Set(snapshots.flatMap((s) => s.removeAnnotations));
          const annotations = host.metadata.annotations ?? {};
          const remove = [...consumed].filter((k) => annotations[k] !== undefined);
          if (remove.length > 0) {
            const result = await kube.hosts.patch(ref.namespace, ref.name, { metadata: { annotations: Object.fromEntries(remove.map((k) => [k, null])) } });
            if (result) {
              hosts.wrote(result);
              host = result;
            }
            log.info({ annotations: remove }, 'removed consumed annotations');
          }
        } finally {
          await Promise.all(sides.all);
        }
        await sidesDone();
        // Events go last, after every write, so a retried activity does not repeat them.
        const emitted = snapshots.flatMap((s) => s.events);
        for (const event of emitted) emit(hostEvent(host, event, at, deps.identity), log);

        if (slots) {
          if (counted) slots.limiter.observe(key, { state: state.provisioningState, delayed: Boolean(state.delayed) });
          else slots.limiter.forget(key);
          slots.offerFree();
        }
        const scheduled = scheduledAt();
        deps.metrics?.published(publication, {
          result: delayed !== undefined ? 'delayed' : written ? 'written' : 'unchanged',
          ...(written ? { before, after: host.status, states: passed } : {}),
          events: emitted,
          ...(scheduled !== undefined ? { lagSeconds: (settledAt - scheduled) / 1000 } : {}),
        });
        return { written, ...(delayed !== undefined ? { delayed } : {}), ...(firmwareSchemaMissing ? { firmwareSchemaMissing } : {}) };
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        kubeFailure(error, `publish status of ${key}`);
      }
    },

    async releaseHost(ref: HostRef): Promise<void> {
      const key = objectKey(ref.namespace, ref.name);
      const log = logger.child({ host: key });
      try {
        // A fresh read, not the cache: releasing on a stale view could strand a host with its finalizer.
        const host = await kube.hosts.get(ref.namespace, ref.name);
        if (!host || host.metadata.uid !== ref.uid) {
          log.debug('host is already gone');
          return;
        }
        if (!host.metadata.deletionTimestamp) {
          throw ApplicationFailure.nonRetryable(`cannot release ${key}: it is not being deleted`, 'HostNotDeleting');
        }
        const hardwareData = await kube.hardwareData.get(ref.namespace, ref.name);
        if (hardwareData && belongsTo(hardwareData, ref.uid)) {
          await kube.hardwareData.update(
            ref.namespace,
            ref.name,
            (current) => (hasFinalizer(current, HARDWARE_DATA_FINALIZER) ? { metadata: { finalizers: (current.metadata.finalizers ?? []).filter((f) => f !== HARDWARE_DATA_FINALIZER) } } : undefined),
            hardwareData,
          );
          await kube.hardwareData.delete(ref.namespace, ref.name);
          log.info('deleted HardwareData');
        }
        await kube.hosts.update(
          ref.namespace,
          ref.name,
          (current) =>
            current.metadata.uid === ref.uid && hasFinalizer(current, HOST_FINALIZER)
              ? { metadata: { finalizers: (current.metadata.finalizers ?? []).filter((f) => f !== HOST_FINALIZER) } }
              : undefined,
          host,
        );
        log.info('removed finalizer; the host is released');
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        kubeFailure(error, `release ${key}`);
      }
    },

    async publishRolloutStatus({ ref, status }) {
      const key = objectKey(ref.namespace, ref.name);
      if (!deps.rollouts) throw ApplicationFailure.nonRetryable('this bridge does not serve FirmwareRollouts', 'KubernetesRejected');
      try {
        return await deps.rollouts.publishStatus(ref, status, logger.child({ rollout: key }));
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        kubeFailure(error, `publish status of rollout ${key}`);
      }
    },
  };
  /** Resolves once every Event queued so far was sent or given up (shutdown, tests). */
  return { activities, eventsIdle: () => idle, firmware };
}
