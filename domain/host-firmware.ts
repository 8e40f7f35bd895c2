/**
 * A host's firmware work, decided from what the bridge sent (HostFirmwareSettings, HostFirmwareComponents,
 * HostUpdatePolicy, see `FirmwareIntent`), what the host workflow last read from its BMC (`FirmwareRecord`) and
 * a rollout's request: which BIOS settings differ from the host's, which updates were not applied yet (BMO's
 * `getUpdatesDifference`), and whether a provisioned host may take them through servicing. Pure: shared by the
 * decisions (domain/host-decisions.ts), the transition step and the host workflow.
 *
 * BMO's rules: an invalid HostFirmwareSettings or HostFirmwareComponents is not acted on (its Valid condition
 * says why); settings and updates apply in `preparing`, and on a provisioned host only when its
 * HostUpdatePolicy says `onReboot` for them, once the host is rebooted (servicing).
 */
import type {
  FirmwareFlash,
  FirmwareReading,
  FirmwareRecord,
  FirmwareSettingIntent,
  FirmwareUpdateIntent,
  HostDesired,
  HostState,
  RolloutRequest,
} from './host-model.ts';

/** Where the work is done: manual cleaning of an available host, or servicing of a provisioned one. */
export type FirmwareWhen = 'preparing' | 'servicing';

/** The firmware work of one operation. */
export interface FirmwareWork {
  /** BIOS settings to apply (names to values, in the schema's types). */
  settings: Record<string, FirmwareSettingIntent>;
  /** Updates to flash, in order. */
  updates: FirmwareUpdateIntent[];
  /** Which of `updates` come from HostFirmwareComponents (recorded as its `status.updates` once done). */
  componentUpdates: FirmwareUpdateIntent[];
  /** The work includes a rollout's request. */
  rollout: boolean;
}

/** The value as HostFirmwareSettings' status shows it (map[string]string). */
export function settingText(value: FirmwareSettingIntent | unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** BMO's `getUpdatesDifference`: the spec's updates whose component was not applied with that URL. */
export function updatesDifference(
  spec: readonly FirmwareUpdateIntent[],
  applied: readonly FirmwareUpdateIntent[] | undefined,
): FirmwareUpdateIntent[] {
  const done = new Map((applied ?? []).map((u) => [u.component, u.url]));
  return spec.filter((u) => done.get(u.component) !== u.url);
}

/** HostFirmwareSettings' values that differ from the host's (a setting never read counts as different). */
export function settingsToApply(state: HostState, desired: HostDesired): Record<string, FirmwareSettingIntent> {
  const settings = desired.firmware?.settings;
  if (!state.firmware?.supported || !settings || settings.invalid !== undefined) return {};
  const current = state.firmware.settings;
  return Object.fromEntries(Object.entries(settings.values).filter(([name, value]) => current[name] !== settingText(value)));
}

/** HostFirmwareComponents' updates not applied yet. */
export function updatesToApply(state: HostState, desired: HostDesired): FirmwareUpdateIntent[] {
  const updates = desired.firmware?.updates;
  if (!state.firmware?.supported || !updates || updates.invalid !== undefined) return [];
  return updatesDifference(updates.spec, state.firmware.appliedUpdates ?? updates.applied);
}

/**
 * The firmware work for `when`: HostFirmwareSettings and HostFirmwareComponents changes (on a provisioned host only
 * those its HostUpdatePolicy allows on reboot), then a rollout's request, whose settings win over the object's.
 */
export function firmwareWork(state: HostState, desired: HostDesired, when: FirmwareWhen): FirmwareWork {
  const policy = desired.firmware?.policy;
  const settingsAllowed = when === 'preparing' || policy?.firmwareSettings === 'onReboot';
  const updatesAllowed = when === 'preparing' || policy?.firmwareUpdates === 'onReboot';
  const settings = settingsAllowed ? settingsToApply(state, desired) : {};
  const componentUpdates = updatesAllowed ? updatesToApply(state, desired) : [];
  const request = state.rollout;
  if (!request) return { settings, updates: componentUpdates, componentUpdates, rollout: false };
  const extra = request.updates.filter((u) => !componentUpdates.some((c) => c.component === u.component && c.url === u.url));
  return {
    settings: { ...settings, ...request.settings },
    updates: [...componentUpdates, ...extra],
    componentUpdates,
    rollout: true,
  };
}

/** Whether `work` asks for anything. */
export function hasFirmwareWork(work: FirmwareWork): boolean {
  return work.rollout || work.updates.length > 0 || Object.keys(work.settings).length > 0;
}

/** The setting names whose current values the host keeps: the ones HostFirmwareSettings and a rollout name. */
function watchedSettings(state: HostState, desired: HostDesired): string[] {
  return [...new Set([...Object.keys(desired.firmware?.settings?.values ?? {}), ...Object.keys(state.rollout?.settings ?? {})])];
}

/**
 * The host's firmware record after a reading from the BMC (at registration, or after preparing or servicing):
 * the current values of the settings asked for, the schema's name, what was applied.
 */
export function recordFirmwareReading(
  state: HostState,
  desired: HostDesired,
  reading: FirmwareReading | undefined,
  now: string,
  applied?: { flashed: readonly FirmwareFlash[]; componentUpdates: readonly FirmwareUpdateIntent[] },
): FirmwareRecord | undefined {
  if (!reading) return state.firmware;
  const supported = reading.settings !== undefined || reading.components.length > 0;
  const settings: Record<string, string> = {};
  for (const name of watchedSettings(state, desired)) {
    const value = reading.settings?.[name];
    if (value !== undefined) settings[name] = value;
  }
  let appliedUpdates = state.firmware?.appliedUpdates ?? desired.firmware?.updates?.applied;
  if (applied && applied.componentUpdates.length > 0) {
    const done = applied.componentUpdates.filter((u) => applied.flashed.some((f) => f.component === u.component && f.url === u.url));
    const kept = (appliedUpdates ?? []).filter((u) => !done.some((d) => d.component === u.component));
    appliedUpdates = [...kept, ...done];
  }
  const record: FirmwareRecord = { supported, settings, readAt: now };
  const schemaName = reading.schemaName ?? state.firmware?.schemaName;
  if (schemaName) record.schemaName = schemaName;
  if (appliedUpdates) record.appliedUpdates = appliedUpdates;
  return record;
}

/**
 * Whether a rollout's request can be taken by a host in this state; the reason it cannot, otherwise. A host on
 * its way to a steady state (registering, inspecting, preparing, provisioning) takes it and applies it there.
 */
export function rolloutRefusal(state: HostState, desired: HostDesired): string | undefined {
  if (desired.deleting) return 'the host is being deleted';
  if (state.detached) return 'the host is detached';
  if (desired.annotations.paused) return 'the host is paused (baremetalhost.metal3.io/paused)';
  if (state.firmware && !state.firmware.supported) return 'the BMC has no firmware update or BIOS settings (not Redfish)';
  const takes = ['registering', 'inspecting', 'match profile', 'preparing', 'available', 'provisioning', 'provisioned', 'externally provisioned'];
  if (!takes.includes(state.provisioningState)) return `the host is ${state.provisioningState || 'new'}`;
  return undefined;
}

/** The host with the rollout's request recorded (a newer attempt or another rollout replaces a waiting one). */
export function withRolloutRequest(state: HostState, request: RolloutRequest): HostState {
  return { ...state, rollout: { ...request, started: false } };
}

/** What a prepare or servicing operation did to the firmware, in its result. */
export interface FirmwareOutcome {
  /** The BMC read after the changes (undefined when the operation had no firmware work). */
  reading?: FirmwareReading;
  /** Every component flashed, with the version read back. */
  flashed: FirmwareFlash[];
  /** The HostFirmwareComponents updates the operation was asked for. */
  componentUpdates: FirmwareUpdateIntent[];
  /** Stopped after the current flash, as a rollout asked (the rest of the work was not done). */
  stopped?: boolean;
}
