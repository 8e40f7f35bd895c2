/**
 * The bridge's side of a host's firmware objects: what a host workflow read from its BMC (a `FirmwarePublication`
 * of `publishStatus`) written as BMO writes it. The FirmwareSchema of the host's registry (named after its rules,
 * shared by the hosts of one model in a namespace, owned by their HostFirmwareSettings), the HostFirmwareSettings
 * and HostFirmwareComponents of the host (same name, owned by the BareMetalHost, created when missing), and their
 * status: settings and components read, conditions (bridge/firmware-status.ts), Events `ValidationFailed` on the
 * object when its spec becomes invalid. `reconcile` keeps the conditions true when a spec changes.
 *
 * The bridge is the only writer of these statuses. Reads come from the informers (with the bridge's own last
 * writes overlaid), so the bridge needs no `get` on these kinds.
 */
import type { Logger } from 'pino';
import type { FirmwarePublication, FirmwareUpdateIntent } from '../domain/host-model.ts';
import { METAL3_API_VERSION } from '../domain/names.ts';
import { EVENT_SOURCE_COMPONENT, type EventBody } from './events.ts';
import {
  componentStatuses,
  hfcConditions,
  hfsConditions,
  statusUpdatesOf,
  withConditions,
  type HfcObject,
  type HfsObject,
  type SchemaObject,
} from './firmware-status.ts';
import type { HostCache } from './host-cache.ts';
import { KubeError, type Kube } from './kube.ts';
import { objectKey, type HostObject, type KubeObject } from './objects.ts';
import { mergeDiff, metaTime } from './status.ts';

export interface FirmwareObjectsDeps {
  kube: Pick<Kube, 'firmwareSchemas' | 'hostFirmwareSettings' | 'hostFirmwareComponents'>;
  hfs: HostCache<HfsObject>;
  hfc: HostCache<HfcObject>;
  schemas: HostCache<SchemaObject>;
  /** Sends an Event (best effort, under the Events' own budget). */
  emit: (body: EventBody, log: Logger) => void;
  identity: string;
  logger: Logger;
  now?: () => Date;
}

const CONTROLLER: Record<string, string> = {
  HostFirmwareSettings: 'metal3.io/hostfirmwaresettings-controller',
  HostFirmwareComponents: 'metal3.io/hostfirmwarecomponents-controller',
};

function owner(object: KubeObject, kind: string, controller: boolean): Record<string, unknown> {
  return { apiVersion: METAL3_API_VERSION, kind, name: object.metadata.name, uid: object.metadata.uid ?? '', ...(controller ? { controller: true } : {}) };
}

const validOf = (conditions: readonly { type: string; status: string }[] | undefined) => conditions?.find((c) => c.type === 'Valid')?.status;

/**
 * Waits for both writes either way, so a retried publication never races a write still going on, then throws
 * the first failure, if any.
 */
async function allSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

export class FirmwareObjects {
  readonly #deps: FirmwareObjectsDeps;
  /** Per FirmwareSchema: owners waiting to be added, and the last write queued (see #ownSchema). */
  readonly #schemaOwners = new Map<string, { pending: Map<string, Record<string, unknown>>; tail: Promise<void> }>();

  constructor(deps: FirmwareObjectsDeps) {
    this.#deps = deps;
  }

  #now(): Date {
    return this.#deps.now?.() ?? new Date();
  }

  #event(object: KubeObject, kind: string, reason: string, message: string, type: 'Normal' | 'Warning', log: Logger): void {
    const at = this.#now();
    const namespace = object.metadata.namespace ?? '';
    this.#deps.emit(
      {
        metadata: { generateName: `${reason}-`, namespace },
        involvedObject: { apiVersion: METAL3_API_VERSION, kind, namespace, name: object.metadata.name, uid: object.metadata.uid ?? '' },
        reason,
        message: message.length > 1024 ? `${message.slice(0, 1023)}…` : message,
        type,
        source: { component: EVENT_SOURCE_COMPONENT },
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
        reportingComponent: CONTROLLER[kind] ?? 'metal3.io/baremetal-controller',
        reportingInstance: this.#deps.identity.slice(0, 128),
      },
      log,
    );
  }

  /** Creates `body` unless it exists (AlreadyExists: another writer won; its current version comes by watch). */
  async #create<T extends KubeObject>(client: Kube['hostFirmwareSettings'], cache: HostCache<T>, namespace: string, body: Record<string, unknown>): Promise<T | undefined> {
    try {
      const created = (await client.create(namespace, body)) as T;
      cache.wrote(created);
      return created;
    } catch (error) {
      if (error instanceof KubeError && error.code === 409) return undefined;
      throw error;
    }
  }

  /** Writes the status fields that changed (merge patch), and remembers the result. */
  async #patchStatus<T extends KubeObject>(client: Kube['hostFirmwareSettings'], cache: HostCache<T>, object: T, status: Record<string, unknown>): Promise<T> {
    const current = (object as { status?: Record<string, unknown> }).status ?? {};
    const { lastUpdated: _last, ...compared } = status;
    const patch = mergeDiff(Object.fromEntries(Object.entries(current).filter(([k]) => k !== 'lastUpdated')), compared);
    if (patch === undefined) return object;
    const stamped = { ...(patch as Record<string, unknown>), lastUpdated: status['lastUpdated'] };
    const result = (await client.patchStatus(object.metadata.namespace ?? '', object.metadata.name, { status: stamped })) as T | undefined;
    if (result) cache.wrote(result);
    return result ?? object;
  }

  /**
   * Writes what a host workflow read from its BMC. `schemaMissing`: the reading names a FirmwareSchema that does
   * not exist and did not carry its rules (the workflow sends them with its next reading).
   */
  async publish(host: HostObject, publication: FirmwarePublication, log: Logger): Promise<{ schemaMissing: boolean }> {
    const { kube } = this.#deps;
    const namespace = host.metadata.namespace ?? '';
    const key = objectKey(namespace, host.metadata.name);
    const { reading } = publication;
    const stamp = metaTime(this.#now()) as string;
    let schemaMissing = false;

    const schemaOf = async (): Promise<SchemaObject | undefined> => {
      if (!reading.schemaName) return undefined;
      let schema = this.#deps.schemas.get(objectKey(namespace, reading.schemaName));
      if (!schema && reading.schema) {
        const spec: Record<string, unknown> = { schema: reading.schema };
        if (reading.vendor) spec['hardwareVendor'] = reading.vendor;
        if (reading.model) spec['hardwareModel'] = reading.model;
        schema =
          (await this.#create<SchemaObject>(kube.firmwareSchemas, this.#deps.schemas, namespace, {
            apiVersion: METAL3_API_VERSION,
            kind: 'FirmwareSchema',
            metadata: { name: reading.schemaName, namespace },
            spec,
          })) ?? undefined;
        if (schema) log.info({ schema: reading.schemaName, settings: Object.keys(reading.schema).length }, 'created FirmwareSchema');
      }
      if (!schema && !reading.schema) schemaMissing = true;
      return schema;
    };

    // HostFirmwareSettings and HostFirmwareComponents are different objects: written side by side. So are the
    // settings object and its schema, until the settings' status, which is checked against the schema's rules;
    // the schema's new owner is written beside that status.
    const settings = async () => {
      const hfsOf = async (): Promise<HfsObject | undefined> => {
        if (reading.settings === undefined) return undefined;
        const existing = this.#deps.hfs.get(key);
        if (existing) return existing;
        const created = await this.#create<HfsObject>(kube.hostFirmwareSettings, this.#deps.hfs, namespace, {
          apiVersion: METAL3_API_VERSION,
          kind: 'HostFirmwareSettings',
          metadata: { name: host.metadata.name, namespace, ownerReferences: [owner(host, 'BareMetalHost', true)] },
          spec: { settings: {} },
        });
        if (created) log.info('created HostFirmwareSettings');
        return created;
      };
      const [schema, hfs] = await allSettled(schemaOf(), hfsOf());
      if (reading.settings === undefined || !hfs) return;
      const schemaRef = reading.schemaName ? { name: reading.schemaName, namespace } : hfs.status?.schema;
      await allSettled(this.#writeHfs(hfs, reading.settings, schemaRef, schema, stamp, log), schema ? this.#ownSchema(schema, hfs) : Promise.resolve());
    };
    const components = async () => {
      if (reading.components.length === 0) return;
      let hfc = this.#deps.hfc.get(key);
      if (!hfc) {
        hfc = await this.#create<HfcObject>(kube.hostFirmwareComponents, this.#deps.hfc, namespace, {
          apiVersion: METAL3_API_VERSION,
          kind: 'HostFirmwareComponents',
          metadata: { name: host.metadata.name, namespace, ownerReferences: [owner(host, 'BareMetalHost', true)] },
          spec: { updates: [] },
        });
        if (hfc) log.info('created HostFirmwareComponents');
      }
      if (hfc) {
        const updates = publication.appliedUpdates ? statusUpdatesOf(hfc.spec?.updates, publication.appliedUpdates) : hfc.status?.updates;
        const statuses = componentStatuses(hfc.status?.components, reading.components, publication.flashed);
        await this.#writeHfc(hfc, { components: statuses, ...(updates ? { updates } : {}) }, stamp, log);
      }
    };
    await allSettled(settings(), components());
    return { schemaMissing };
  }

  /** Keeps the conditions of a host's firmware objects true after a spec (or its schema) changed. */
  async reconcile(key: string, log: Logger): Promise<void> {
    const stamp = metaTime(this.#now()) as string;
    const hfs = this.#deps.hfs.get(key);
    if (hfs?.status?.settings) {
      const schemaRef = hfs.status.schema;
      const schema = schemaRef ? this.#deps.schemas.get(objectKey(schemaRef.namespace, schemaRef.name)) : undefined;
      await this.#writeHfs(hfs, hfs.status.settings, schemaRef, schema, stamp, log);
    }
    const hfc = this.#deps.hfc.get(key);
    if (hfc?.status?.components) {
      const { conditions: _c, lastUpdated: _l, ...rest } = hfc.status;
      await this.#writeHfc(hfc, rest, stamp, log);
    }
  }

  async #writeHfs(
    hfs: HfsObject,
    settings: Record<string, string>,
    schemaRef: { name: string; namespace: string } | undefined,
    schema: SchemaObject | undefined,
    stamp: string,
    log: Logger,
  ): Promise<void> {
    const computed = hfsConditions(hfs, settings, schemaRef && schema?.spec ? (schema.spec.schema ?? {}) : undefined);
    const status: Record<string, unknown> = {
      settings,
      ...(schemaRef ? { schema: schemaRef } : {}),
      conditions: withConditions(computed.conditions, hfs.status?.conditions, stamp, hfs.metadata.generation ?? 0),
      lastUpdated: stamp,
    };
    const before = validOf(hfs.status?.conditions);
    const written = await this.#patchStatus(this.#deps.kube.hostFirmwareSettings, this.#deps.hfs, hfs, status);
    // BMO raises one Event per invalid setting, when the spec turns invalid (and only once the BMC was read).
    if (before !== 'False' && validOf(written.status?.conditions) === 'False' && Object.keys(settings).length > 0) {
      for (const p of computed.problems) this.#event(written, 'HostFirmwareSettings', 'ValidationFailed', `Invalid BIOS setting: ${p.message}`, 'Warning', log);
    }
  }

  async #writeHfc(hfc: HfcObject, fields: Record<string, unknown>, stamp: string, log: Logger): Promise<void> {
    const updates = fields['updates'] as FirmwareUpdateIntent[] | undefined;
    const computed = hfcConditions(hfc, updates);
    const status = { ...fields, conditions: withConditions(computed.conditions, hfc.status?.conditions, stamp, hfc.metadata.generation ?? 0), lastUpdated: stamp };
    const before = validOf(hfc.status?.conditions);
    const written = await this.#patchStatus(this.#deps.kube.hostFirmwareComponents, this.#deps.hfc, hfc, status);
    if (before !== 'False' && validOf(written.status?.conditions) === 'False' && computed.problem) {
      this.#event(written, 'HostFirmwareComponents', 'ValidationFailed', `Invalid Firmware Components: ${computed.problem}`, 'Warning', log);
    }
  }

  /**
   * The FirmwareSchema is owned by every HostFirmwareSettings that uses it (garbage-collected with the last).
   * One schema serves every host of a model in a namespace, so many publications want to add an owner at once:
   * the additions wait in one queue per schema and are written together, one merge patch at a time, each from
   * the owners last written. Concurrent patches of that one object, each from its own stale copy, dropped one
   * another's owners and, at 1,000 hosts, timed out in the apiserver (504) and stalled every status behind them.
   */
  async #ownSchema(schema: SchemaObject, hfs: HfsObject): Promise<void> {
    if ((schema.metadata.ownerReferences ?? []).some((o) => o.uid === hfs.metadata.uid)) return;
    const namespace = schema.metadata.namespace ?? '';
    const key = objectKey(namespace, schema.metadata.name);
    let queue = this.#schemaOwners.get(key);
    if (!queue) {
      queue = { pending: new Map(), tail: Promise.resolve() };
      this.#schemaOwners.set(key, queue);
    }
    queue.pending.set(hfs.metadata.uid ?? '', owner(hfs, 'HostFirmwareSettings', false));
    const entry = queue;
    const flush = async (): Promise<void> => {
      if (entry.pending.size === 0) return; // an earlier flush wrote this caller's owner
      const adding = [...entry.pending.values()];
      entry.pending.clear();
      try {
        const current = this.#deps.schemas.get(key) ?? schema;
        const owners = current.metadata.ownerReferences ?? [];
        const missing = adding.filter((a) => !owners.some((o) => o.uid === a['uid']));
        if (missing.length === 0) return;
        const result = (await this.#deps.kube.firmwareSchemas.patch(namespace, schema.metadata.name, { metadata: { ownerReferences: [...owners, ...missing] } })) as
          | SchemaObject
          | undefined;
        if (result) this.#deps.schemas.wrote(result);
      } catch (error) {
        // Not written: the next flush takes them again (this caller's activity fails and is retried).
        for (const a of adding) if (!entry.pending.has(String(a['uid']))) entry.pending.set(String(a['uid']), a);
        throw error;
      }
    };
    const run = entry.tail.then(flush, flush);
    entry.tail = run.catch(() => {});
    await run;
  }
}
