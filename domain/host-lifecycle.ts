/**
 * The host's state and the pure functions that change it: `transition`, the one transition step (every
 * provisioning-state change goes through it and is checked against the table in domain/host-state.ts), and
 * the reducers that fold an operation's outcome into the state (`applySuccess`, `applyFailure`), which move
 * the host by naming a trigger too. What to do next is decided in domain/host-decisions.ts. Deterministic:
 * time and randomness come in as arguments.
 */
import { errorTypeFor, type ErrorCode, type Operation } from './errors.ts';
import { recordFirmwareReading, type FirmwareOutcome } from './host-firmware.ts';
import { inspectionDisabled, intentFingerprint, sameImage } from './host-intent.ts';
import type { FirmwareReading, HostDesired, HostEvent, HostState, ImageIntent, OperationalStatus } from './host-model.ts';
import { moveBy, parseProvisioningState, type ProvisioningState, type TransitionTrigger } from './host-state.ts';

/** Timing and limits of the lifecycle; defaults follow BMO and Ironic (metal3-api.md §1.8, §1.11). */
export interface LifecycleConfig {
  /** Error backoff: base × 2^errorCount, minus up to 50% jitter (BMO: one minute). */
  errorBackoffBaseMs: number;
  /** errorCount is capped here when computing the backoff (BMO: 9, about 8.5 hours). */
  errorBackoffMaxExponent: number;
  /** Provisioning attempts for one image before "retry limit reached" (BMO -max-provisioning-retries). */
  maxProvisioningRetries: number;
  /** Failed deprovision / power-off / registration attempts while deleting before giving up (BMO: 3). */
  maxDeleteAttempts: number;
  /** Steady-state power drift check (BMO polls every 60 s; Ironic syncs every 120 s; each check costs tasks). */
  powerCheckIntervalMs: number;
  /**
   * Beyond Metal3 (the host workflow turns them on behind `patched`): a host being deleted whose BMC does not
   * answer gives up a deletion step after one attempt, not three (BMO #1666), and the `tempered.dev/replace-bmc`
   * annotation is consumed once the host has registered with its replacement BMC (BMO #1458).
   */
  bmcEscapeHatches: boolean;
}

export const DEFAULT_LIFECYCLE_CONFIG: LifecycleConfig = {
  errorBackoffBaseMs: 60_000,
  errorBackoffMaxExponent: 9,
  maxProvisioningRetries: 5,
  maxDeleteAttempts: 3,
  powerCheckIntervalMs: 10 * 60_000,
  bmcEscapeHatches: true,
};

export const ANNOTATION = {
  reboot: 'reboot.metal3.io',
  inspect: 'inspect.metal3.io',
  hardwareDetails: 'inspect.metal3.io/hardwaredetails',
  status: 'baremetalhost.metal3.io/status',
  /** Tempered's own (HostAnnotations `replaceBmc`): a BMC replacement, without the detach dance. */
  replaceBmc: 'tempered.dev/replace-bmc',
} as const;

/**
 * An operation the host workflow runs (as a child workflow, or folded at once when no BMC call is needed).
 * `prepare` applies RAID, BIOS settings and firmware updates (manual cleaning); `servicing` applies BIOS settings
 * and firmware updates to a provisioned host (operationalStatus `servicing`, BMO v0.13). Room for what comes
 * next: `provision` will run a deploy-agent deploy (disk image, customDeploy).
 */
export type OperationRequest =
  | { name: 'register' }
  | { name: 'inspect' }
  | { name: 'prepare' }
  | { name: 'provision'; image?: ImageIntent; customDeploy?: { method: string } }
  | { name: 'deprovision' }
  | { name: 'servicing' }
  | { name: 'power'; on: boolean; mode: 'soft' | 'hard'; purpose: 'online' | 'reboot' | 'delete' | 'servicing' };

export type OperationName = OperationRequest['name'];

/** The result each operation returns on success. */
export interface OperationResults {
  /** `firmware`: the BMC's firmware read after registering (BMO creates the firmware objects then). */
  register: { poweredOn: boolean; credentialsVersion: string; bmcAddress: string; serialNumber?: string; firmware?: FirmwareReading };
  inspect: { poweredOn: boolean; hardware?: Record<string, unknown>; skipped?: string };
  /** `cleaned`: automated cleaning ran (which step); `firmware`: what RAID, BIOS and firmware work did. */
  prepare: { poweredOn: boolean; cleaned?: string; firmware?: FirmwareOutcome };
  provision: { poweredOn: boolean };
  deprovision: { poweredOn: boolean; cleaned?: string };
  servicing: { poweredOn: boolean; firmware?: FirmwareOutcome };
  power: { poweredOn: boolean };
}

/** A new state with the Events it emits and the annotations it consumed (for the bridge to remove). */
export interface Moved {
  state: HostState;
  events: HostEvent[];
  consume: string[];
}

/** A fresh host: no state yet, as BMO's `""` provisioning state. */
export function initialHostState(provisioningId: string): HostState {
  return {
    provisioningState: '',
    operationalStatus: '',
    errorType: '',
    errorMessage: '',
    errorCount: 0,
    poweredOn: false,
    provisioningId,
    operationHistory: { register: {}, inspect: {}, provision: {}, deprovision: {} },
    provisioningFailCount: 0,
    consumedAnnotations: [],
    deleteAttempts: 0,
    detached: false,
  };
}

/** BMO's error backoff: base × 2^min(errorCount, max), minus up to 50% jitter (`random` in [0, 1)). */
export function errorBackoffMs(errorCount: number, random: number, config: LifecycleConfig = DEFAULT_LIFECYCLE_CONFIG): number {
  const exponent = Math.min(Math.max(errorCount, 1), config.errorBackoffMaxExponent);
  const full = config.errorBackoffBaseMs * 2 ** exponent;
  return Math.round(full - full * 0.5 * random);
}

/**
 * The operational status a state implies (BMO §1.7): `servicing` while a provisioned host is serviced (the
 * state stays `provisioned`), `error` once servicing failed.
 */
export function operationalStatusOf(state: HostState): OperationalStatus {
  if (state.detached) return 'detached';
  if (state.delayed) return 'delayed';
  if (state.errorType) return 'error';
  if (state.servicingSince) return 'servicing';
  if (state.provisioningState === 'unmanaged') return 'discovered';
  return 'OK';
}

/**
 * A prepare or servicing operation starts: servicing shows operationalStatus `servicing` (BMO), and a rollout's
 * request that is part of the work is marked started (its reply follows the operation's outcome).
 */
export function beginFirmwareOperation(state: HostState, operation: 'prepare' | 'servicing', includesRollout: boolean, now: number): HostState {
  let next = state;
  if (operation === 'servicing') next = { ...next, servicingSince: nowIso(now) };
  if (includesRollout && next.rollout) next = { ...next, rollout: { ...next.rollout, started: true } };
  return withStatus(next);
}

/** The state after a prepare or servicing operation ended: servicing over, a started rollout request answered. */
function endFirmwareOperation(state: HostState): HostState {
  const next: HostState = { ...state, servicingSince: undefined };
  if (next.rollout?.started) next.rollout = undefined;
  return next;
}

const nowIso = (now: number) => new Date(now).toISOString();

function withStatus(state: HostState): HostState {
  return { ...state, operationalStatus: operationalStatusOf(state) };
}

function clearError(state: HostState): HostState {
  return { ...state, errorType: '', errorMessage: '', errorCode: undefined, errorCount: 0, retryAfter: undefined, errorIntent: undefined };
}

/**
 * Errors belong to the state they happened in and are cleared on entering the next one, except those that
 * say the BMC cannot be reached (registration errors) and a failed deploy's (its backoff and retry count
 * carry through deprovisioning into the next attempt).
 */
function clearsOnEntry(errorType: HostState['errorType']): boolean {
  return errorType !== '' && errorType !== 'registration error' && errorType !== 'provisioned registration error' && errorType !== 'provisioning error';
}

/**
 * The Warning a deletion that skips a step leaves on the host, saying what was skipped and why (the last error):
 * an operator reads it in `kubectl describe` after the object is gone from `kubectl get`.
 */
const SKIPPED_ON_DELETE: Partial<Record<TransitionTrigger, [string, string]>> = {
  cleanupGaveUp: [
    'DeprovisioningSkipped',
    'Deleting without deprovisioning: the image may remain on the disk and virtual media inserted',
  ],
  powerOffGaveUp: ['PowerOffSkipped', 'Deleting without powering off: the machine may still be running'],
  registrationGaveUp: [
    'PowerOffSkipped',
    'Deleting without powering off or deprovisioning: the BMC could not be registered',
  ],
  unregisteredWithoutCredentials: [
    'PowerOffSkipped',
    'Deleting without powering off or deprovisioning: no usable BMC credentials',
  ],
};

/** Events BMO emits on entering a state (reason, message). */
const ENTER_EVENTS: Partial<Record<ProvisioningState, [string, string]>> = {
  inspecting: ['InspectionStarted', 'Hardware inspection started'],
  provisioning: ['ProvisioningStarted', 'Image provisioning started'],
  deprovisioning: ['DeprovisioningStarted', 'Image deprovisioning started'],
  deleting: ['Deleting', 'Removing the host from management'],
};

/**
 * The one transition step: moves the host by `trigger` to the state the table names (throwing
 * `IllegalTransition` when the table has no such move from where the host is), with what entering that state
 * does: its Event, its operationHistory start, the annotations it consumes, the errors it clears.
 */
export function transition(state: HostState, trigger: TransitionTrigger, desired: HostDesired, now: number): Moved {
  const from = state.provisioningState;
  const to = moveBy(from, trigger);
  const events: HostEvent[] = [];
  const consume: string[] = [];
  let next: HostState = { ...state, provisioningState: to, waitingReason: undefined, delayed: undefined };
  const skipped = SKIPPED_ON_DELETE[trigger];
  if (skipped) {
    const cause = state.errorMessage ? ` (last error: ${state.errorMessage})` : '';
    events.push({ type: 'Warning', reason: skipped[0], message: `${skipped[1]}${cause}` });
  }
  const enter = ENTER_EVENTS[to];
  if (enter) events.push({ type: 'Normal', reason: enter[0], message: enter[1] });
  const history = next.operationHistory;
  switch (to) {
    case 'registering':
      next.operationHistory = { ...history, register: { start: nowIso(now) } };
      break;
    case 'inspecting':
      next.operationHistory = { ...history, inspect: { start: nowIso(now) } };
      if (desired.annotations.inspect === '') consume.push(ANNOTATION.inspect);
      break;
    case 'preparing':
      if (inspectionDisabled(desired) && desired.annotations.hardwareDetails && !state.hardware) {
        next.hardware = desired.annotations.hardwareDetails;
        consume.push(ANNOTATION.hardwareDetails);
        events.push({ type: 'Normal', reason: 'UpdateHardwareDetails', message: 'Hardware details set from the inspect.metal3.io/hardwaredetails annotation' });
      }
      break;
    case 'provisioning':
      next.lastAttemptedImage = desired.spec.image;
      if (!sameImage(desired.spec.image, state.lastAttemptedImage)) next.provisioningFailCount = 0;
      next.operationHistory = { ...history, provision: { start: nowIso(now) } };
      break;
    case 'provisioned':
      // BMO copies the spec's image when a host stops being externally provisioned.
      if (trigger === 'externallyProvisionedCleared') next.image = desired.spec.image;
      break;
    case 'deprovisioning':
      next.operationHistory = { ...history, deprovision: { start: nowIso(now) } };
      break;
    case 'powering off before delete':
    case 'deleting':
      next.deleteAttempts = 0;
      break;
    default:
      break;
  }
  if (clearsOnEntry(next.errorType)) next = clearError(next);
  return { state: withStatus(next), events, consume };
}

/** Detaches the host (BMO's checkDetachedHost): its state is kept, power is no longer managed. */
export function detach(state: HostState): Moved {
  return {
    state: withStatus({ ...state, detached: true, waitingReason: undefined, delayed: undefined }),
    events: [{ type: 'Normal', reason: 'Detached', message: 'Host detached: no power management until the annotation is removed' }],
    consume: [],
  };
}

/** Re-attaches a detached host: it registers with the BMC again, as BMO does when the annotation goes. */
export function attach(state: HostState): Moved {
  return {
    state: withStatus({ ...state, detached: false, goodCredentials: undefined, waitingReason: undefined }),
    events: [{ type: 'Normal', reason: 'Attached', message: 'Host re-attached: registering with the BMC again' }],
    consume: [],
  };
}

/**
 * A host refused a slot under the provisioning limit: it stays in its state with operationalStatus
 * `delayed` and the reason, until a slot is offered (`offered`: already, while its claim was answered) or the
 * decision changes (BMO's recordActionDelayed).
 */
export function delay(state: HostState, target: string, reason: string, offered = false): HostState {
  return withStatus({ ...state, delayed: { state: target, reason, ...(offered ? { offered } : {}) } });
}

/** A delayed host that no longer waits for a slot (one was offered, or it wants something else now). */
export function undelay(state: HostState): HostState {
  return state.delayed ? withStatus({ ...state, delayed: undefined }) : state;
}

/** Folds a successful operation into the state; the operations that end a state move the host on. */
export function applySuccess<N extends OperationName>(
  state: HostState,
  request: Extract<OperationRequest, { name: N }>,
  result: OperationResults[N],
  desired: HostDesired,
  now: number,
): Moved {
  const events: HostEvent[] = [];
  const base: HostState = { ...state, operation: undefined, waitingReason: undefined, poweredOn: result.poweredOn, powerCheckedAt: nowIso(now) };
  // Cleaning up after a failed deploy does not clear the deploy's error: its backoff still holds.
  const keepsError = request.name === 'deprovision' && state.errorType === 'provisioning error' && state.provisioningFailCount > 0;
  let next: HostState = keepsError ? base : clearError(base);
  const history = next.operationHistory;
  const ended = (key: keyof HostState['operationHistory']) => ({ ...history, [key]: { ...history[key], end: nowIso(now) } });
  let trigger: TransitionTrigger | undefined;
  switch (request.name) {
    case 'register': {
      const r = result as OperationResults['register'];
      const bmc = desired.spec.bmc;
      const credentials = { name: bmc?.credentialsName ?? '', namespace: desired.ref.namespace, version: r.credentialsVersion };
      next = { ...next, goodCredentials: credentials, triedCredentials: credentials, bmcAddress: r.bmcAddress };
      if (r.firmware) next.firmware = recordFirmwareReading(next, desired, r.firmware, nowIso(now));
      if (state.provisioningState === 'registering') next.operationHistory = ended('register');
      events.push({ type: 'Normal', reason: 'Registered', message: `Registered with the BMC at ${r.bmcAddress}` });
      if (desired.annotations.replaceBmc !== undefined && state.goodCredentials) {
        const moved = state.bmcAddress && state.bmcAddress !== r.bmcAddress;
        const what = moved ? `the BMC at ${r.bmcAddress} (was ${state.bmcAddress})` : 'the new BMC credentials';
        const message = `BMC replaced: the host manages the machine through ${what}, still ${state.provisioningState}`;
        events.push({ type: 'Normal', reason: 'BmcReplaced', message });
        return { state: withStatus(next), events, consume: [ANNOTATION.replaceBmc] };
      }
      break;
    }
    case 'inspect': {
      const r = result as OperationResults['inspect'];
      if (r.hardware) next.hardware = r.hardware;
      next.operationHistory = ended('inspect');
      events.push(
        r.skipped
          ? { type: 'Normal', reason: 'InspectionSkipped', message: r.skipped }
          : { type: 'Normal', reason: 'InspectionComplete', message: 'Hardware inspection completed' },
      );
      trigger = 'inspected';
      break;
    }
    case 'prepare': {
      const r = result as OperationResults['prepare'];
      next = {
        ...next,
        rootDeviceHints: desired.spec.rootDeviceHints,
        raid: desired.spec.raid,
        bootMode: desired.spec.bootMode ?? 'UEFI',
        ...(r.cleaned ? { cleanedAt: nowIso(now) } : {}),
      };
      next = withFirmwareOutcome(next, desired, r.firmware, now, events);
      trigger = 'prepared';
      break;
    }
    case 'servicing': {
      const r = result as OperationResults['servicing'];
      next = withFirmwareOutcome(next, desired, r.firmware, now, events);
      if (state.servicingSince) events.push({ type: 'Normal', reason: 'ServicingComplete', message: 'Servicing completed' });
      break;
    }
    case 'provision': {
      const { image, customDeploy } = request as Extract<OperationRequest, { name: 'provision' }>;
      next = { ...next, image, provisioningFailCount: 0, customDeploy: customDeploy ?? desired.spec.customDeploy, operationHistory: ended('provision') };
      const what = customDeploy ? `custom deploy ${customDeploy.method}` : (image?.url ?? 'no image');
      events.push({ type: 'Normal', reason: 'ProvisioningComplete', message: `Image provisioning completed for ${what}` });
      trigger = 'deployed';
      break;
    }
    case 'deprovision':
      next = { ...next, image: undefined, customDeploy: undefined, deleteAttempts: 0, operationHistory: ended('deprovision') };
      if ((result as OperationResults['deprovision']).cleaned) next.cleanedAt = nowIso(now);
      events.push({ type: 'Normal', reason: 'DeprovisioningComplete', message: 'Image deprovisioning completed' });
      trigger = desired.deleting ? 'deprovisionedForDelete' : 'deprovisioned';
      break;
    case 'power': {
      const p = request as Extract<OperationRequest, { name: 'power' }>;
      const how = `${result.poweredOn ? 'on' : 'off'}${p.purpose === 'reboot' ? ' for a reboot' : ''}`;
      events.push({ type: 'Normal', reason: result.poweredOn ? 'PowerOn' : 'PowerOff', message: `Host powered ${how}` });
      break;
    }
  }
  if (!trigger) return { state: withStatus(next), events, consume: [] };
  const moved = transition(next, trigger, desired, now);
  return { ...moved, events: [...events, ...moved.events] };
}

/** Folds a prepare or servicing operation's firmware outcome into the state, with an Event per flash. */
function withFirmwareOutcome(state: HostState, desired: HostDesired, outcome: FirmwareOutcome | undefined, now: number, events: HostEvent[]): HostState {
  const ended = endFirmwareOperation(state);
  if (!outcome) return ended;
  for (const f of outcome.flashed) {
    events.push({ type: 'Normal', reason: 'FirmwareUpdated', message: `Firmware ${f.component} flashed from ${f.url}: version ${f.version}` });
  }
  const firmware = recordFirmwareReading(state, desired, outcome.reading, nowIso(now), outcome);
  return firmware ? { ...ended, firmware } : ended;
}

const FAILURE_EVENT: Record<Operation, string> = {
  register: 'RegistrationError',
  inspect: 'InspectionError',
  prepare: 'PreparationError',
  provision: 'ProvisioningError',
  deprovision: 'DeprovisioningError',
  power: 'PowerManagementError',
  servicing: 'ServicingError',
  delete: 'PowerManagementError',
};

/** The errorType bucket an operation request reports into. */
export function operationOf(request: OperationRequest): Operation {
  if (request.name === 'power') return request.purpose === 'delete' ? 'delete' : 'power';
  return request.name;
}

const STATE_OPERATION: Record<ProvisioningState, Operation> = {
  '': 'register',
  unmanaged: 'register',
  registering: 'register',
  'match profile': 'prepare',
  inspecting: 'inspect',
  preparing: 'prepare',
  available: 'provision',
  provisioning: 'provision',
  provisioned: 'power',
  'externally provisioned': 'power',
  deprovisioning: 'deprovision',
  'powering off before delete': 'delete',
  deleting: 'delete',
};

/** The errorType bucket for a failure that belongs to a state rather than an operation (an engine bug). */
export function operationOfState(state: string): Operation {
  const parsed = parseProvisioningState(state);
  return parsed === undefined ? 'power' : STATE_OPERATION[parsed];
}

/** Folds a failure (from an operation, or decided without one) into the state, with BMO's backoff. */
export function applyFailure(
  state: HostState,
  operation: Operation,
  failure: { code: ErrorCode; message: string },
  desired: HostDesired,
  now: number,
  random: number,
  config: LifecycleConfig = DEFAULT_LIFECYCLE_CONFIG,
): Moved {
  const provisioned = state.provisioningState === 'provisioned' || state.provisioningState === 'externally provisioned';
  const errorCount = state.errorCount + 1;
  const base = operation === 'prepare' || operation === 'servicing' ? endFirmwareOperation(state) : state;
  const next: HostState = {
    ...base,
    operation: undefined,
    errorType: errorTypeFor(operation, { provisioned }),
    errorCode: failure.code,
    errorMessage: failure.message,
    errorCount,
    errorIntent: intentFingerprint(desired),
    retryAfter: nowIso(now + errorBackoffMs(errorCount, random, config)),
  };
  if (operation === 'register' && desired.spec.bmc) {
    const bmc = desired.spec.bmc;
    next.triedCredentials = { name: bmc.credentialsName, namespace: desired.ref.namespace, version: desired.credentials?.version ?? '' };
  }
  if (desired.deleting && (operation === 'deprovision' || operation === 'delete')) next.deleteAttempts = state.deleteAttempts + 1;
  const events: HostEvent[] = [{ type: 'Warning', reason: FAILURE_EVENT[operation], message: failure.message }];
  // BMO: a failed deploy counts towards the retry limit (the limit's own failure, decided in available, does
  // not: it would change its message and be recorded again and again), and is cleaned up (deprovisioned)
  // before it is tried again.
  if (operation === 'provision' && state.provisioningState === 'provisioning') {
    next.provisioningFailCount = state.provisioningFailCount + 1;
    const moved = transition(next, 'provisioningFailed', desired, now);
    return { ...moved, events: [...events, ...moved.events] };
  }
  return { state: withStatus(next), events, consume: [] };
}

/** A new intent from the user clears the backoff of an error recorded under another intent (recovery). */
export function onDesiredChanged(state: HostState, desired: HostDesired): HostState {
  const a = desired.annotations;
  const stillPresent = new Set([
    ...Object.keys(a.reboot),
    ...(a.inspect !== undefined ? [ANNOTATION.inspect] : []),
    ...(a.hardwareDetails ? [ANNOTATION.hardwareDetails] : []),
    ...(desired.restoredStatus ? [ANNOTATION.status] : []),
    ...(desired.annotations.replaceBmc !== undefined ? [ANNOTATION.replaceBmc] : []),
  ]);
  let next = state;
  const consumed = state.consumedAnnotations.filter((k) => stillPresent.has(k));
  if (consumed.length !== state.consumedAnnotations.length) next = { ...next, consumedAnnotations: consumed };
  if (next.errorIntent && next.errorIntent !== intentFingerprint(desired)) next = { ...next, retryAfter: undefined, errorIntent: undefined };
  return next;
}

/** Rebuilds a state from a Metal3 status (the status annotation after a pivot, or an adopted object). */
export function stateFromStatus(status: Record<string, unknown>, provisioningId: string): HostState {
  const s = status as {
    provisioning?: {
      state?: string;
      image?: ImageIntent;
      bootMode?: string;
      rootDeviceHints?: Record<string, unknown>;
      raid?: Record<string, unknown>;
      customDeploy?: { method: string };
    };
    poweredOn?: boolean;
    hardware?: Record<string, unknown>;
    operationHistory?: HostState['operationHistory'];
  };
  const base = initialHostState(provisioningId);
  return withStatus({
    ...base,
    // The BMC must be registered again from this engine: keep the state, not the credentials. A `delayed`
    // host asks for its slot again.
    provisioningState: s.provisioning?.state ?? '',
    poweredOn: Boolean(s.poweredOn),
    image: s.provisioning?.image,
    bootMode: s.provisioning?.bootMode,
    rootDeviceHints: s.provisioning?.rootDeviceHints,
    raid: s.provisioning?.raid,
    customDeploy: s.provisioning?.customDeploy,
    hardware: s.hardware,
    operationHistory: { ...base.operationHistory, ...(s.operationHistory ?? {}) },
    lastAttemptedImage: s.provisioning?.image,
  });
}
