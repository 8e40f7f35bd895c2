/**
 * The status of a host's firmware objects, as BMO's HostFirmwareSettings and HostFirmwareComponents controllers
 * compute it, and the intent the bridge sends the host workflow from them. Pure: the caller supplies the objects
 * (from the informers) and the clock.
 *
 * - HostFirmwareSettings: `status.settings` is what the BMC reported (no Password settings); `ChangeDetected` is
 *   True when a spec setting differs from it or is not in it; `Valid` is False when a spec setting is not in the
 *   status, names a Password, or breaks its FirmwareSchema rule (the message names each setting and its rule,
 *   and an Event `ValidationFailed` says it per setting). A change applies only when Valid.
 * - HostFirmwareComponents: `ChangeDetected` when `spec.updates` differ from `status.updates` (what was applied);
 *   `Valid` False for a component other than `bios`, `bmc` or `nic:<id>`.
 * - HostUpdatePolicy: `firmwareSettings` / `firmwareUpdates` `onReboot` let a provisioned host apply them when
 *   rebooted (servicing).
 */
import type { SettingSchema } from '../domain/firmware-schema.schema.ts';
import { validateFirmwareSettings, type FirmwareSettingProblem } from '../domain/firmware-schema.ts';
import { settingText } from '../domain/host-firmware.ts';
import type { FirmwareComponentReading, FirmwareFlash, FirmwareIntent, FirmwareUpdateIntent } from '../domain/host-model.ts';
import type { KubeObject } from './objects.ts';
import { jsonEqual, mergeConditions, type Condition, type ConditionCore } from './status.ts';

/** The spec and status fields of the firmware objects the bridge reads. */
export interface HfsObject extends KubeObject {
  spec?: { settings?: Record<string, string | number> };
  status?: { settings?: Record<string, string>; schema?: { name: string; namespace: string }; conditions?: Condition[]; lastUpdated?: string };
}
export interface HfcObject extends KubeObject {
  spec?: { updates?: FirmwareUpdateIntent[] };
  status?: {
    components?: { component: string; initialVersion: string; currentVersion?: string; lastVersionFlashed?: string; updatedAt?: string }[];
    updates?: FirmwareUpdateIntent[];
    conditions?: Condition[];
    lastUpdated?: string;
  };
}
export interface HupObject extends KubeObject {
  spec?: { firmwareSettings?: 'onPreparing' | 'onReboot'; firmwareUpdates?: 'onPreparing' | 'onReboot' };
}
export interface SchemaObject extends KubeObject {
  spec?: { schema?: Record<string, SettingSchema>; hardwareVendor?: string; hardwareModel?: string };
}

/** BMO's component names (v0.13: bios and bmc; NIC firmware as `nic:<id>`, as later BMO and Ironic). */
export function componentProblem(component: string): string | undefined {
  if (component === 'bios' || component === 'bmc' || /^nic:.+/.test(component)) return undefined;
  return `component ${component} is invalid, only 'bmc', 'bios' or 'nic:<id>' are allowed as update names`;
}

/** The problems of HostFirmwareSettings' spec against its status and schema (BMO's validateHostFirmwareSettings). */
export function settingsProblems(
  spec: Readonly<Record<string, string | number>>,
  statusSettings: Readonly<Record<string, string>> | undefined,
  schema: Readonly<Record<string, SettingSchema>>,
): FirmwareSettingProblem[] {
  const problems: FirmwareSettingProblem[] = [];
  const checked: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(spec)) {
    if (name.includes('Password')) problems.push({ name, rule: 'password', message: `Setting ${name} is invalid, Password fields can't be set` });
    else if (statusSettings && Object.keys(statusSettings).length > 0 && !(name in statusSettings)) {
      problems.push({ name, rule: 'unknown', message: `Setting ${name} is invalid, it is not in the Status field` });
    } else checked[name] = value;
  }
  return [...problems, ...validateFirmwareSettings(schema, checked).problems];
}

const differsFrom = (spec: Readonly<Record<string, string | number>>, status: Readonly<Record<string, string>> | undefined) =>
  Object.entries(spec).some(([name, value]) => status?.[name] !== settingText(value));

/** What the HostFirmwareSettings' conditions say, and the Events of a newly invalid spec. */
export interface HfsConditions {
  conditions: ConditionCore[];
  problems: FirmwareSettingProblem[];
}

/** BMO's HostFirmwareSettings conditions. Undefined `schema`: it is not known yet (nothing is decided). */
export function hfsConditions(hfs: HfsObject, statusSettings: Readonly<Record<string, string>> | undefined, schema: Readonly<Record<string, SettingSchema>> | undefined): HfsConditions {
  const spec = hfs.spec?.settings ?? {};
  if (!differsFrom(spec, statusSettings)) {
    return {
      conditions: [
        { type: 'Valid', status: 'True', reason: 'Success', message: '' },
        { type: 'ChangeDetected', status: 'False', reason: 'Success', message: '' },
      ],
      problems: [],
    };
  }
  const problems = schema ? settingsProblems(spec, statusSettings, schema) : [];
  const valid: ConditionCore = !schema
    ? { type: 'Valid', status: 'Unknown', reason: 'SchemaUnavailable', message: 'the FirmwareSchema of the host is not known yet' }
    : problems.length === 0
      ? { type: 'Valid', status: 'True', reason: 'Success', message: '' }
      : { type: 'Valid', status: 'False', reason: 'ConfigurationError', message: `Invalid BIOS setting: ${problems.map((p) => p.message).join('; ')}` };
  return { conditions: [valid, { type: 'ChangeDetected', status: 'True', reason: 'Success', message: '' }], problems };
}

/** BMO's HostFirmwareComponents conditions, and the problem of an invalid spec. */
export function hfcConditions(hfc: HfcObject, statusUpdates: readonly FirmwareUpdateIntent[] | undefined): { conditions: ConditionCore[]; problem?: string } {
  const spec = hfc.spec?.updates ?? [];
  const mismatch = !(spec.length === 0 && (statusUpdates ?? []).length === 0) && !jsonEqual(spec, statusUpdates ?? []);
  if (!mismatch) {
    return {
      conditions: [
        { type: 'Valid', status: 'True', reason: 'OK', message: '' },
        { type: 'ChangeDetected', status: 'False', reason: 'OK', message: '' },
      ],
    };
  }
  const problem = spec.map((u) => componentProblem(u.component)).find((p) => p !== undefined);
  const valid: ConditionCore = problem
    ? { type: 'Valid', status: 'False', reason: 'InvalidComponent', message: `Invalid Firmware Components: ${problem}` }
    : { type: 'Valid', status: 'True', reason: 'OK', message: '' };
  return { conditions: [valid, { type: 'ChangeDetected', status: 'True', reason: 'OK', message: '' }], ...(problem ? { problem } : {}) };
}

/** Conditions as written: BMO's types first (lastTransitionTime kept while the status holds), others kept. */
export function withConditions(computed: ConditionCore[], current: unknown, now: string, generation: number): Condition[] {
  return mergeConditions(computed, current, now, generation);
}

/**
 * HostFirmwareComponents `status.components` after a reading: every component read, its first version kept as
 * `initialVersion`, and for the ones flashed the version flashed and when.
 */
export type ComponentStatus = NonNullable<NonNullable<HfcObject['status']>['components']>[number];

export function componentStatuses(
  current: readonly ComponentStatus[] | undefined,
  read: readonly FirmwareComponentReading[],
  flashed: readonly FirmwareFlash[],
): ComponentStatus[] {
  return read.map((c) => {
    const before = current?.find((x) => x.component === c.component);
    const flash = [...flashed].reverse().find((f) => f.component === c.component || f.component === `nic:${c.component}`);
    return {
      component: c.component,
      initialVersion: before?.initialVersion ?? c.version,
      currentVersion: c.version,
      ...(flash ? { lastVersionFlashed: flash.version, updatedAt: flash.at } : {}),
      ...(!flash && before?.lastVersionFlashed ? { lastVersionFlashed: before.lastVersionFlashed } : {}),
      ...(!flash && before?.updatedAt ? { updatedAt: before.updatedAt } : {}),
    };
  });
}

/** `status.updates` as BMO writes it: the spec's list itself once every one of its updates was applied. */
export function statusUpdatesOf(spec: readonly FirmwareUpdateIntent[] | undefined, applied: readonly FirmwareUpdateIntent[]): FirmwareUpdateIntent[] {
  const done = new Map(applied.map((u) => [u.component, u.url]));
  if (spec && spec.length > 0 && spec.every((u) => done.get(u.component) === u.url)) return [...spec];
  return [...applied];
}

/**
 * The host workflow's view of its firmware objects: HostFirmwareSettings' spec converted to the schema's types
 * (or why it is invalid), HostFirmwareComponents' spec and status updates, the HostUpdatePolicy. Undefined when
 * the host has none of them. Settings wait until the schema is known.
 */
export function firmwareIntentOf(objects: { hfs?: HfsObject; hfc?: HfcObject; hup?: HupObject; schema?: SchemaObject }): FirmwareIntent | undefined {
  const intent: FirmwareIntent = {};
  const { hfs, hfc, hup, schema } = objects;
  const settings = hfs?.spec?.settings ?? {};
  if (hfs && Object.keys(settings).length > 0 && schema?.spec) {
    const rules = schema.spec.schema ?? {};
    const problems = settingsProblems(settings, hfs.status?.settings, rules);
    if (problems.length > 0) intent.settings = { values: {}, invalid: problems.map((p) => p.message).join('; ') };
    else intent.settings = { values: validateFirmwareSettings(rules, settings).values };
  }
  const spec = hfc?.spec?.updates ?? [];
  // An object that asks for nothing and records nothing applied is no intent: the one the bridge creates at
  // registration then sends the workflow no signal (nothing for it to do).
  if (hfc && (spec.length > 0 || (hfc.status?.updates ?? []).length > 0)) {
    const problem = spec.map((u) => componentProblem(u.component)).find((p) => p !== undefined);
    intent.updates = {
      spec: spec.map((u) => ({ component: u.component, url: u.url })),
      ...(problem ? { invalid: problem } : {}),
      ...(hfc.status?.updates ? { applied: hfc.status.updates.map((u) => ({ component: u.component, url: u.url })) } : {}),
    };
  }
  if (hup?.spec) {
    const policy: NonNullable<FirmwareIntent['policy']> = {};
    if (hup.spec.firmwareSettings) policy.firmwareSettings = hup.spec.firmwareSettings;
    if (hup.spec.firmwareUpdates) policy.firmwareUpdates = hup.spec.firmwareUpdates;
    intent.policy = policy;
  }
  return Object.keys(intent).length > 0 ? intent : undefined;
}
