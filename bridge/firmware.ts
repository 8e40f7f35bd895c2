/**
 * The bridge's side of a host's firmware objects: what a host workflow read from its BMC (a `FirmwarePublication`
 * of `publishStatus`) written as BMO writes it. The FirmwareSchema of the host's registry (named after its rules,
 * shared by the hosts of one model in a namespace, owned by their HostFirmwareSettings: bridge/schema-owners.ts),
 * the HostFirmwareSettings and HostFirmwareComponents of the host (same name, owned by the BareMetalHost, created
 * when missing), and their status: settings and components read, conditions (bridge/firmware-status.ts), Events
 * `ValidationFailed` on the object when its spec becomes invalid. `reconcile` keeps the conditions true when a spec
 * changes.
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

/** The host as the controlling owner of its firmware objects. */
function hostOwner(host: HostObject): Record<string, unknown> {
  return { apiVersion: METAL3_API_VERSION, kind: 'BareMetalHost', name: host.metadata.name, uid: host.metadata.uid ?? '', controller: true };
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
    // settings object and its schema, until the settings' status, which is checked against the schema's rules.
    // The settings become an owner of the schema apart, once their status names it (bridge/schema-owners.ts).
    const settings = async () => {
      const hfsOf = async (): Promise<HfsObject | undefined> => {
        if (reading.settings === undefined) return undefined;
        const existing = this.#deps.hfs.get(key);
        if (existing) return existing;
        const created = await this.#create<HfsObject>(kube.hostFirmwareSettings, this.#deps.hfs, namespace, {
          apiVersion: METAL3_API_VERSION,
          kind: 'HostFirmwareSettings',
          metadata: { name: host.metadata.name, namespace, ownerReferences: [hostOwner(host)] },
          spec: { settings: {} },
        });
        if (created) log.info('created HostFirmwareSettings');
        return created;
      };
      const [schema, hfs] = await allSettled(schemaOf(), hfsOf());
      if (reading.settings === undefined || !hfs) return;
      const schemaRef = reading.schemaName ? { name: reading.schemaName, namespace } : hfs.status?.schema;
      await this.#writeHfs(hfs, reading.settings, schemaRef, schema, stamp, log);
    };
    const components = async () => {
      if (reading.components.length === 0) return;
      let hfc = this.#deps.hfc.get(key);
      if (!hfc) {
        hfc = await this.#create<HfcObject>(kube.hostFirmwareComponents, this.#deps.hfc, namespace, {
          apiVersion: METAL3_API_VERSION,
          kind: 'HostFirmwareComponents',
          metadata: { name: host.metadata.name, namespace, ownerReferences: [hostOwner(host)] },
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
}
