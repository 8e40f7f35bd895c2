/**
 * A host's firmware objects and FirmwareRollouts from a test's point of view, as a Metal3 user drives them:
 * HostFirmwareSettings, HostFirmwareComponents and HostUpdatePolicy by the host's name, FirmwareSchemas,
 * FirmwareRollouts (tempered.dev), and the Events of an object. For tests that run Tempered's real processes.
 */
import * as k8s from '@kubernetes/client-node';
import type { FirmwareRolloutStatus } from '../domain/firmware-rollout.schema.ts';
import type { SimulatedBmc } from '../sim/index.ts';
import type { bmhClient } from './bmh.ts';

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface Hfs {
  metadata: { name: string; uid?: string; ownerReferences?: { kind: string; name: string }[] };
  spec?: { settings?: Record<string, string | number> };
  status?: {
    settings?: Record<string, string>;
    schema?: { name: string; namespace: string };
    conditions?: Condition[];
  };
}

export interface Hfc {
  metadata: { name: string };
  spec?: { updates?: { component: string; url: string }[] };
  status?: {
    components?: {
      component: string;
      initialVersion: string;
      currentVersion?: string;
      lastVersionFlashed?: string;
      updatedAt?: string;
    }[];
    updates?: { component: string; url: string }[];
    conditions?: Condition[];
  };
}

/** One attribute's rules in a FirmwareSchema (Metal3's field names). */
export interface SchemaRule {
  attribute_type?: string;
  allowable_values?: string[];
  read_only?: boolean;
  upper_bound?: number;
  lower_bound?: number;
}

export interface Schema {
  metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
  spec?: { hardwareVendor?: string; hardwareModel?: string; schema?: Record<string, SchemaRule> };
}

export interface Rollout {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: Partial<FirmwareRolloutStatus>;
}

/** The calls a test makes on one namespace's firmware objects and rollouts, as the admin. */
export function firmwareClient(kubeconfig: string, namespace: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const metal3 = (plural: string) => ({ group: 'metal3.io', version: 'v1alpha1', namespace, plural });
  const rollouts = { group: 'tempered.dev', version: 'v1alpha1', namespace, plural: 'firmwarerollouts' };
  const get = async <T>(ref: ReturnType<typeof metal3>, name: string): Promise<T | undefined> =>
    (await objects.getNamespacedCustomObject({ ...ref, name }).catch((e: { code?: number }) => {
      if (e.code === 404) return undefined;
      throw e;
    })) as T | undefined;
  return {
    hfs: (name: string) => get<Hfs>(metal3('hostfirmwaresettings'), name),
    hfc: (name: string) => get<Hfc>(metal3('hostfirmwarecomponents'), name),
    schema: (name: string) => get<Schema>(metal3('firmwareschemas'), name),
    rollout: (name: string) => get<Rollout>(rollouts, name),
    async setSettings(name: string, settings: Record<string, string | number | null>): Promise<void> {
      const body = { spec: { settings } };
      await objects.patchNamespacedCustomObject({ ...metal3('hostfirmwaresettings'), name, body }, mergePatch);
    },
    /** Replaces a FirmwareSchema's owner references (a hand edit). */
    async setSchemaOwners(name: string, ownerReferences: unknown[]): Promise<void> {
      await objects.patchNamespacedCustomObject({ ...metal3('firmwareschemas'), name, body: { metadata: { ownerReferences } } }, mergePatch);
    },
    async setUpdates(name: string, updates: { component: string; url: string }[]): Promise<void> {
      const body = { spec: { updates } };
      await objects.patchNamespacedCustomObject({ ...metal3('hostfirmwarecomponents'), name, body }, mergePatch);
    },
    async createUpdatePolicy(name: string, spec: { firmwareSettings?: string; firmwareUpdates?: string }) {
      const body = { apiVersion: 'metal3.io/v1alpha1', kind: 'HostUpdatePolicy', metadata: { name }, spec };
      await objects.createNamespacedCustomObject({ ...metal3('hostupdatepolicies'), body });
    },
    async createRollout(name: string, spec: Record<string, unknown>): Promise<void> {
      const body = { apiVersion: 'tempered.dev/v1alpha1', kind: 'FirmwareRollout', metadata: { name }, spec };
      await objects.createNamespacedCustomObject({ ...rollouts, body });
    },
    async patchRollout(name: string, spec: Record<string, unknown>): Promise<void> {
      await objects.patchNamespacedCustomObject({ ...rollouts, name, body: { spec } }, mergePatch);
    },
    async labelHost(name: string, labels: Record<string, string>): Promise<void> {
      const body = { metadata: { labels } };
      await objects.patchNamespacedCustomObject({ ...metal3('baremetalhosts'), name, body }, mergePatch);
    },
    /** Events about an object of `kind` and `name`, oldest first. */
    async events(kind: string, name: string): Promise<{ reason: string; message: string; type: string }[]> {
      const fieldSelector = `involvedObject.kind=${kind},involvedObject.name=${name}`;
      const list = await core.listNamespacedEvent({ namespace, fieldSelector });
      return list.items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', type: e.type ?? '' }));
    },
  };
}

/** A condition of a status, by type. */
export function condition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * A valid BIOS settings change for a host: a writable enumeration the host has, set to another value its
 * FirmwareSchema allows; undefined when the schema has none.
 */
export function settingChange(
  schema: Schema,
  current: Record<string, string>,
): { name: string; value: string } | undefined {
  const found = Object.entries(schema.spec?.schema ?? {}).find(
    ([n, r]) =>
      r.attribute_type === 'Enumeration' && !r.read_only && (r.allowable_values ?? []).length > 1 && current[n] !== undefined,
  );
  if (!found) return undefined;
  const [name, rule] = found;
  const value = (rule.allowable_values ?? []).find((v) => v !== current[name]);
  return value === undefined ? undefined : { name, value };
}

/**
 * A BareMetalHost on a simulated BMC (its credentials in `<name>-bmc`), inspection disabled (its MAC given)
 * and no automated cleaning (the deploy agent's part of preparing, proven elsewhere): firmware tests need neither.
 */
export async function createFirmwareHost(
  hosts: ReturnType<typeof bmhClient>,
  name: string,
  bmc: Pick<SimulatedBmc, 'username' | 'address' | 'bootMACAddress'>,
  password: string,
  spec: Record<string, unknown> = {},
): Promise<void> {
  await hosts.secret(`${name}-bmc`, bmc.username, password);
  await hosts.create(name, {
    online: false,
    inspectionMode: 'disabled',
    automatedCleaningMode: 'disabled',
    bootMACAddress: bmc.bootMACAddress,
    bmc: { address: bmc.address, credentialsName: `${name}-bmc` },
    ...spec,
  });
}
