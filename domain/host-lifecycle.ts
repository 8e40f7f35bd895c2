/**
 * The host lifecycle as pure functions: BMO's state machine (host_state_machine.go) restated as one decision
 * function, `nextStep(state, desired, now)`, and reducers that fold an operation's outcome into the state.
 * The host workflow only executes what these decide (run an operation child, change state, wait), so the
 * whole of Metal3's semantics is testable without Temporal. Deterministic: time and randomness come in as
 * arguments.
 */
import { errorTypeFor, type ErrorCode, type Operation } from './errors.ts';
import type { HostDesired, HostEvent, HostState, ImageIntent, OperationalStatus } from './host-model.ts';

/** Timing and limits of the lifecycle; defaults follow BMO and Ironic (metal3-api.md §1.8, §1.11). */
export interface LifecycleConfig {
  /** Error backoff: base × 2^errorCount, minus up to 50% jitter (BMO: one minute). */
  errorBackoffBaseMs: number;
  /** errorCount is capped here when computing the backoff (BMO: 9, about 8.5 hours). */
  errorBackoffMaxExponent: number;
  /** Provisioning attempts for one image before "retry limit reached" (BMO -max-provisioning-retries). */
  maxProvisioningRetries: number;
  /** Failed deprovision / power-off attempts while deleting before giving up (BMO: 3). */
  maxDeleteAttempts: number;
  /** Steady-state power drift check (BMO polls every 60 s; Ironic syncs every 120 s; each check costs tasks). */
  powerCheckIntervalMs: number;
}

export const DEFAULT_LIFECYCLE_CONFIG: LifecycleConfig = {
  errorBackoffBaseMs: 60_000,
  errorBackoffMaxExponent: 9,
  maxProvisioningRetries: 5,
  maxDeleteAttempts: 3,
  powerCheckIntervalMs: 10 * 60_000,
};

export const ANNOTATION = {
  reboot: 'reboot.metal3.io',
  inspect: 'inspect.metal3.io',
  hardwareDetails: 'inspect.metal3.io/hardwaredetails',
  status: 'baremetalhost.metal3.io/status',
} as const;

/** An operation the host workflow runs as a child workflow. */
export type OperationRequest =
  | { name: 'register' }
  | { name: 'inspect' }
  | { name: 'prepare' }
  | { name: 'provision'; image: ImageIntent }
  | { name: 'deprovision' }
  | { name: 'power'; on: boolean; mode: 'soft' | 'hard'; purpose: 'online' | 'reboot' | 'delete' };

export type OperationName = OperationRequest['name'];

/** The result each operation returns on success. */
export interface OperationResults {
  register: { poweredOn: boolean; credentialsVersion: string; bmcAddress: string };
  inspect: { poweredOn: boolean; hardware?: Record<string, unknown>; skipped?: string };
  prepare: { poweredOn: boolean };
  provision: { poweredOn: boolean };
  deprovision: { poweredOn: boolean };
  power: { poweredOn: boolean };
}

export type Step =
  | { kind: 'wait'; reason: string; until?: number }
  | { kind: 'transition'; to: string; reason: string }
  | { kind: 'operation'; request: OperationRequest }
  | { kind: 'fail'; operation: Operation; code: ErrorCode; message: string }
  | { kind: 'checkPower' }
  | { kind: 'consume'; annotations: string[]; reason: string }
  | { kind: 'release' };

const STABLE = new Set(['available', 'ready', 'provisioned', 'externally provisioned']);
const DETACHABLE = STABLE;

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

function hasBmc(desired: HostDesired): boolean {
  return Boolean(desired.spec.bmc?.address && desired.spec.bmc.credentialsName);
}

function inspectionDisabled(desired: HostDesired): boolean {
  return desired.annotations.inspect === 'disabled' || desired.spec.inspectionMode === 'disabled';
}

function wantsImage(desired: HostDesired): boolean {
  return Boolean(desired.spec.image?.url || desired.spec.customDeploy?.method);
}

function sameImage(a: ImageIntent | undefined, b: ImageIntent | undefined): boolean {
  return (a?.url ?? '') === (b?.url ?? '') && (a?.checksum ?? '') === (b?.checksum ?? '') && (a?.format ?? '') === (b?.format ?? '');
}

/** Annotation keys present on the object that the workflow has not consumed yet. */
function live(desired: HostDesired, state: HostState, key: string): boolean {
  return !state.consumedAnnotations.includes(key);
}

function activeReboots(desired: HostDesired, state: HostState): string[] {
  return Object.keys(desired.annotations.reboot).filter((k) => live(desired, state, k));
}

/** Settings applied in `preparing` that differ from what was applied (BMO: available → preparing). */
function prepareSettingsChanged(state: HostState, desired: HostDesired): boolean {
  const json = (v: unknown) => JSON.stringify(v ?? null);
  return (
    json(desired.spec.rootDeviceHints) !== json(state.rootDeviceHints) ||
    json(desired.spec.raid) !== json(state.raid) ||
    (desired.spec.bootMode ?? 'UEFI') !== (state.bootMode ?? 'UEFI')
  );
}

/** Fingerprint of the user's intent: an error recorded under one intent is retried at once under another. */
export function intentFingerprint(desired: HostDesired): string {
  const { reboot: _reboot, invalid: _invalid, ...annotations } = desired.annotations;
  return JSON.stringify([desired.spec, annotations, desired.credentials?.name, desired.credentials?.version, desired.credentials?.problem, desired.deleting]);
}

function inBackoff(state: HostState, now: number): number | undefined {
  if (!state.retryAfter) return undefined;
  const until = Date.parse(state.retryAfter);
  return until > now ? until : undefined;
}

function credentialsChanged(state: HostState, desired: HostDesired): boolean {
  const c = desired.credentials;
  if (!c || !state.goodCredentials) return false;
  return c.name !== state.goodCredentials.name || (c.version !== undefined && c.version !== state.goodCredentials.version);
}

function needsRegistration(state: HostState, desired: HostDesired): boolean {
  const ps = state.provisioningState;
  if (ps === '' || ps === 'unmanaged' || ps === 'match profile' || ps === 'deleting' || ps === 'powering off before delete') return false;
  if (state.errorType === 'registration error' || state.errorType === 'provisioned registration error') return true;
  if (!state.goodCredentials) return true;
  if ((desired.spec.bmc?.address ?? '') !== (state.bmcAddress ?? '')) return true;
  return credentialsChanged(state, desired);
}

/** A failure decided without calling the BMC, unless the same failure is already recorded for this intent. */
function failOnce(state: HostState, desired: HostDesired, operation: Operation, code: ErrorCode, message: string): Step {
  if (state.errorCode === code && state.errorMessage === message && state.errorIntent === intentFingerprint(desired)) {
    return { kind: 'wait', reason: message };
  }
  return { kind: 'fail', operation, code, message };
}

/** Power enforcement and reboots in the stable states; the host's steady state. */
function steadyState(state: HostState, desired: HostDesired, now: number, config: LifecycleConfig): Step {
  if (state.detached) return { kind: 'wait', reason: 'detached: no power management' };
  const backoff = inBackoff(state, now);
  const reboots = activeReboots(desired, state);
  if (reboots.length > 0) {
    if (state.poweredOn) {
      if (backoff) return { kind: 'wait', reason: 'power management error: waiting before the next attempt', until: backoff };
      const hard = reboots.some((k) => desired.annotations.reboot[k]?.mode === 'hard');
      return { kind: 'operation', request: { name: 'power', on: false, mode: hard ? 'hard' : 'soft', purpose: 'reboot' } };
    }
    // Off: the plain annotation has done its work; keyed ones keep the host off until their owners remove them.
    if (reboots.includes(ANNOTATION.reboot)) return { kind: 'consume', annotations: [ANNOTATION.reboot], reason: 'reboot requested: host powered off' };
    return { kind: 'wait', reason: `kept powered off for ${reboots.join(', ')}` };
  }
  const wantOn = desired.spec.online;
  if (wantOn !== state.poweredOn) {
    if (!wantOn && desired.spec.disablePowerOff) return { kind: 'wait', reason: 'disablePowerOff is set: the host is never powered off' };
    if (backoff) return { kind: 'wait', reason: 'power management error: waiting before the next attempt', until: backoff };
    return { kind: 'operation', request: { name: 'power', on: wantOn, mode: 'soft', purpose: 'online' } };
  }
  const checkedAt = state.powerCheckedAt ? Date.parse(state.powerCheckedAt) : 0;
  const due = checkedAt + config.powerCheckIntervalMs;
  if (due <= now) return { kind: 'checkPower' };
  return { kind: 'wait', reason: 'steady state', until: due };
}

/** What the host workflow should do next. Pure: same inputs, same step. */
export function nextStep(state: HostState, desired: HostDesired, now: number, config: LifecycleConfig = DEFAULT_LIFECYCLE_CONFIG): Step {
  const ps = state.provisioningState;
  const annotations = desired.annotations;

  if (annotations.paused) return { kind: 'wait', reason: 'paused (baremetalhost.metal3.io/paused)' };

  // Deletion: BMO's checkInitiateDelete and the two deletion states.
  if (desired.deleting) {
    if (ps === 'deleting') return { kind: 'release' };
    if (state.detached) {
      if (annotations.detached?.deleteAction === 'delay') return { kind: 'wait', reason: 'deletion delayed while detached (deleteAction: delay)' };
      return { kind: 'transition', to: 'deleting', reason: 'deleting a detached host: no deprovisioning or power-off' };
    }
    if (ps === '' || ps === 'unmanaged' || ps === 'registering') return { kind: 'transition', to: 'deleting', reason: 'deleting an unregistered host' };
    if (ps === 'provisioning' || ps === 'provisioned') return { kind: 'transition', to: 'deprovisioning', reason: 'deprovisioning before delete' };
    if (ps === 'deprovisioning') {
      if (state.deleteAttempts >= config.maxDeleteAttempts) return { kind: 'transition', to: 'powering off before delete', reason: `giving up on host clean up after ${state.deleteAttempts} failed attempts` };
      return { kind: 'operation', request: { name: 'deprovision' } };
    }
    if (ps === 'powering off before delete') {
      if (!hasBmc(desired) || desired.credentials?.problem) return { kind: 'transition', to: 'deleting', reason: 'no usable BMC credentials: deleting without powering off' };
      if (!state.poweredOn) return { kind: 'transition', to: 'deleting', reason: 'powered off' };
      if (state.deleteAttempts >= config.maxDeleteAttempts) return { kind: 'transition', to: 'deleting', reason: `could not power off after ${state.deleteAttempts} attempts: deleting anyway` };
      return { kind: 'operation', request: { name: 'power', on: false, mode: 'hard', purpose: 'delete' } };
    }
    return { kind: 'transition', to: 'powering off before delete', reason: 'deletion requested' };
  }
  if (ps === 'powering off before delete' || ps === 'deleting') return { kind: 'wait', reason: 'deletion in progress' };

  // Detach / re-attach (BMO's checkDetachedHost).
  if (annotations.detached && !state.detached && (DETACHABLE.has(ps) || annotations.detached.force)) {
    return { kind: 'transition', to: ps, reason: 'detached' };
  }
  if (!annotations.detached && state.detached) return { kind: 'transition', to: ps, reason: 're-attached' };
  if (state.detached) return { kind: 'wait', reason: 'detached (baremetalhost.metal3.io/detached)' };

  if (ps === '') return { kind: 'transition', to: hasBmc(desired) ? 'registering' : 'unmanaged', reason: hasBmc(desired) ? 'BMC details set' : 'no BMC details' };
  if (ps === 'unmanaged') {
    return hasBmc(desired) ? { kind: 'transition', to: 'registering', reason: 'BMC details added' } : { kind: 'wait', reason: 'unmanaged: set spec.bmc.address and spec.bmc.credentialsName' };
  }

  // BMO's ensureRegistered: in any managed state, when credentials or the address changed, or after a registration error.
  if (needsRegistration(state, desired)) {
    if (!hasBmc(desired)) return failOnce(state, desired, 'register', 'BmcAddressInvalid', 'spec.bmc.address and spec.bmc.credentialsName are required to manage the host');
    if (desired.credentials?.problem) {
      return failOnce(state, desired, 'register', 'BmcCredentialsMissing', desired.credentials.problem);
    }
    const backoff = inBackoff(state, now);
    if (backoff) return { kind: 'wait', reason: `registration error: next attempt at ${new Date(backoff).toISOString()}`, until: backoff };
    return { kind: 'operation', request: { name: 'register' } };
  }

  const backoff = inBackoff(state, now);
  const waitBackoff = (what: string): Step | undefined =>
    backoff ? { kind: 'wait', reason: `${what}: next attempt at ${new Date(backoff).toISOString()}`, until: backoff } : undefined;

  switch (ps) {
    case 'registering':
      // Registration succeeded (needsRegistration is false): where to go from here.
      if (desired.spec.externallyProvisioned) return { kind: 'transition', to: 'externally provisioned', reason: 'spec.externallyProvisioned' };
      if (inspectionDisabled(desired)) return { kind: 'transition', to: 'preparing', reason: 'inspection disabled' };
      return { kind: 'transition', to: 'inspecting', reason: 'registered' };
    case 'inspecting':
      return waitBackoff('inspection error') ?? { kind: 'operation', request: { name: 'inspect' } };
    case 'match profile':
      return { kind: 'transition', to: 'preparing', reason: 'match profile is a no-op' };
    case 'preparing':
      return waitBackoff('preparation error') ?? { kind: 'operation', request: { name: 'prepare' } };
    case 'ready':
    case 'available': {
      if (desired.spec.externallyProvisioned) return { kind: 'transition', to: 'externally provisioned', reason: 'spec.externallyProvisioned' };
      if (annotations.inspect === '' && live(desired, state, ANNOTATION.inspect)) return { kind: 'transition', to: 'inspecting', reason: 're-inspection requested (inspect.metal3.io)' };
      if (prepareSettingsChanged(state, desired)) return { kind: 'transition', to: 'preparing', reason: 'root device hints, RAID or boot mode changed' };
      if (desired.spec.online && wantsImage(desired)) {
        const sameAsFailed = sameImage(desired.spec.image, state.lastAttemptedImage);
        if (sameAsFailed && state.provisioningFailCount >= config.maxProvisioningRetries) {
          return failOnce(state, desired, 'provision', 'BmcTaskFailed', `retry limit reached: provisioning failed ${state.provisioningFailCount} times for ${desired.spec.image?.url}; change the image to try again`);
        }
        const wait = sameAsFailed ? waitBackoff('provisioning error') : undefined;
        return wait ?? { kind: 'transition', to: 'provisioning', reason: 'image set and online' };
      }
      return steadyState(state, desired, now, config);
    }
    case 'provisioning': {
      if (!wantsImage(desired) || !sameImage(desired.spec.image, state.lastAttemptedImage)) {
        if (state.lastAttemptedImage) return { kind: 'transition', to: 'deprovisioning', reason: 'image removed or changed during provisioning' };
      }
      const image = desired.spec.image;
      if (!image?.url) return { kind: 'transition', to: 'available', reason: 'no image to provision' };
      return waitBackoff('provisioning error') ?? { kind: 'operation', request: { name: 'provision', image } };
    }
    case 'provisioned':
      if (!wantsImage(desired) || (desired.spec.image?.url ?? '') !== (state.image?.url ?? '')) {
        return { kind: 'transition', to: 'deprovisioning', reason: 'image removed or changed' };
      }
      return steadyState(state, desired, now, config);
    case 'externally provisioned':
      if (!desired.spec.externallyProvisioned) return { kind: 'transition', to: 'provisioned', reason: 'externallyProvisioned turned off' };
      return steadyState(state, desired, now, config);
    case 'deprovisioning':
      return waitBackoff('deprovisioning error') ?? { kind: 'operation', request: { name: 'deprovision' } };
    default:
      return { kind: 'wait', reason: `unknown provisioning state '${ps}'` };
  }
}

/** BMO's error backoff: base × 2^min(errorCount, max), minus up to 50% jitter (`random` in [0, 1)). */
export function errorBackoffMs(errorCount: number, random: number, config: LifecycleConfig = DEFAULT_LIFECYCLE_CONFIG): number {
  const exponent = Math.min(Math.max(errorCount, 1), config.errorBackoffMaxExponent);
  const full = config.errorBackoffBaseMs * 2 ** exponent;
  return Math.round(full - full * 0.5 * random);
}

/** The operational status a state implies (BMO §1.7). */
export function operationalStatusOf(state: HostState): OperationalStatus {
  if (state.errorType) return 'error';
  if (state.detached) return 'detached';
  if (state.provisioningState === 'unmanaged') return 'discovered';
  return 'OK';
}

const nowIso = (now: number) => new Date(now).toISOString();

function withStatus(state: HostState): HostState {
  return { ...state, operationalStatus: operationalStatusOf(state) };
}

function clearError(state: HostState): HostState {
  return { ...state, errorType: '', errorMessage: '', errorCode: undefined, errorCount: 0, retryAfter: undefined, errorIntent: undefined };
}

/** Events BMO emits on entering a state (reason, message). */
const ENTER_EVENTS: Record<string, [string, string] | undefined> = {
  inspecting: ['InspectionStarted', 'Hardware inspection started'],
  provisioning: ['ProvisioningStarted', 'Image provisioning started'],
  deprovisioning: ['DeprovisioningStarted', 'Image deprovisioning started'],
  deleting: ['Deleting', 'Removing the host from management'],
};

/** Applies a `transition` step; returns the new state and the events it emits. */
export function applyTransition(state: HostState, step: Extract<Step, { kind: 'transition' }>, desired: HostDesired, now: number): { state: HostState; events: HostEvent[]; consume: string[] } {
  const events: HostEvent[] = [];
  const consume: string[] = [];
  let next: HostState = { ...state, waitingReason: undefined };
  if (step.reason === 'detached') {
    next.detached = true;
    events.push({ type: 'Normal', reason: 'Detached', message: 'Host detached: no power management until the annotation is removed' });
  } else if (step.reason === 're-attached') {
    next.detached = false;
    next.goodCredentials = undefined; // re-register, as BMO does when the annotation is removed
    events.push({ type: 'Normal', reason: 'Attached', message: 'Host re-attached: registering with the BMC again' });
  } else {
    next.provisioningState = step.to;
    const enter = ENTER_EVENTS[step.to];
    if (enter) events.push({ type: 'Normal', reason: enter[0], message: enter[1] });
    if (step.to === 'inspecting') {
      next.operationHistory = { ...next.operationHistory, inspect: { start: nowIso(now) } };
      if (desired.annotations.inspect === '') consume.push(ANNOTATION.inspect);
    }
    if (step.to === 'registering') next.operationHistory = { ...next.operationHistory, register: { start: nowIso(now) } };
    if (step.to === 'provisioning') {
      next.lastAttemptedImage = desired.spec.image;
      if (!sameImage(desired.spec.image, state.lastAttemptedImage)) next.provisioningFailCount = 0;
      next.operationHistory = { ...next.operationHistory, provision: { start: nowIso(now) } };
    }
    if (step.to === 'deprovisioning') next.operationHistory = { ...next.operationHistory, deprovision: { start: nowIso(now) } };
    if (step.to === 'preparing' && inspectionDisabled(desired) && desired.annotations.hardwareDetails && !state.hardware) {
      next.hardware = desired.annotations.hardwareDetails;
      consume.push(ANNOTATION.hardwareDetails);
      events.push({ type: 'Normal', reason: 'UpdateHardwareDetails', message: 'Hardware details set from the inspect.metal3.io/hardwaredetails annotation' });
    }
    if (step.to === 'provisioned' && state.provisioningState === 'externally provisioned') next.image = desired.spec.image;
    if (step.to === 'deleting' || step.to === 'powering off before delete') next.deleteAttempts = 0;
    if (step.to === 'available' && state.provisioningState === 'provisioning') next.lastAttemptedImage = undefined;
    // Errors belong to the state they happened in, except those that say the BMC cannot be reached.
    if (next.errorType && next.errorType !== 'registration error' && next.errorType !== 'provisioned registration error' && next.errorType !== 'provisioning error') {
      next = clearError(next);
    }
  }
  return { state: withStatus(next), events, consume };
}

/** Folds a successful operation into the state. */
export function applySuccess<N extends OperationName>(state: HostState, request: Extract<OperationRequest, { name: N }>, result: OperationResults[N], desired: HostDesired, now: number): { state: HostState; events: HostEvent[] } {
  const events: HostEvent[] = [];
  const base: HostState = { ...state, operation: undefined, waitingReason: undefined, poweredOn: result.poweredOn, powerCheckedAt: nowIso(now) };
  // Cleaning up after a failed deploy does not clear the deploy's error: its backoff still holds.
  const keepsError = request.name === 'deprovision' && state.errorType === 'provisioning error' && state.provisioningFailCount > 0;
  let next: HostState = keepsError ? base : clearError(base);
  const history = next.operationHistory;
  switch (request.name) {
    case 'register': {
      const r = result as OperationResults['register'];
      const bmc = desired.spec.bmc;
      const credentials = { name: bmc?.credentialsName ?? '', namespace: desired.ref.namespace, version: r.credentialsVersion };
      next = { ...next, goodCredentials: credentials, triedCredentials: credentials, bmcAddress: r.bmcAddress };
      if (state.provisioningState === 'registering') next.operationHistory = { ...history, register: { ...history.register, end: nowIso(now) } };
      events.push({ type: 'Normal', reason: 'Registered', message: `Registered with the BMC at ${r.bmcAddress}` });
      break;
    }
    case 'inspect': {
      const r = result as OperationResults['inspect'];
      if (r.hardware) next.hardware = r.hardware;
      next = { ...next, provisioningState: 'preparing', operationHistory: { ...history, inspect: { ...history.inspect, end: nowIso(now) } } };
      events.push(r.skipped
        ? { type: 'Normal', reason: 'InspectionSkipped', message: r.skipped }
        : { type: 'Normal', reason: 'InspectionComplete', message: 'Hardware inspection completed' });
      break;
    }
    case 'prepare':
      next = { ...next, provisioningState: 'available', rootDeviceHints: desired.spec.rootDeviceHints, raid: desired.spec.raid, bootMode: desired.spec.bootMode ?? 'UEFI' };
      break;
    case 'provision': {
      const image = (request as Extract<OperationRequest, { name: 'provision' }>).image;
      next = { ...next, provisioningState: 'provisioned', image, provisioningFailCount: 0, customDeploy: desired.spec.customDeploy, operationHistory: { ...history, provision: { ...history.provision, end: nowIso(now) } } };
      events.push({ type: 'Normal', reason: 'ProvisioningComplete', message: `Image provisioning completed for ${image.url}` });
      break;
    }
    case 'deprovision':
      next = { ...next, provisioningState: desired.deleting ? 'powering off before delete' : 'available', image: undefined, customDeploy: undefined, deleteAttempts: 0, operationHistory: { ...history, deprovision: { ...history.deprovision, end: nowIso(now) } } };
      events.push({ type: 'Normal', reason: 'DeprovisioningComplete', message: 'Image deprovisioning completed' });
      break;
    case 'power': {
      const p = request as Extract<OperationRequest, { name: 'power' }>;
      events.push({ type: 'Normal', reason: result.poweredOn ? 'PowerOn' : 'PowerOff', message: `Host powered ${result.poweredOn ? 'on' : 'off'}${p.purpose === 'reboot' ? ' for a reboot' : ''}` });
      break;
    }
  }
  return { state: withStatus(next), events };
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

/** Folds a failure (from an operation, or decided without one) into the state, with BMO's backoff. */
export function applyFailure(state: HostState, operation: Operation, failure: { code: ErrorCode; message: string }, desired: HostDesired, now: number, random: number, config: LifecycleConfig = DEFAULT_LIFECYCLE_CONFIG): { state: HostState; events: HostEvent[] } {
  const provisioned = state.provisioningState === 'provisioned' || state.provisioningState === 'externally provisioned';
  const errorCount = state.errorCount + 1;
  let next: HostState = {
    ...state,
    operation: undefined,
    errorType: errorTypeFor(operation, { provisioned }),
    errorCode: failure.code,
    errorMessage: failure.message,
    errorCount,
    errorIntent: intentFingerprint(desired),
    retryAfter: nowIso(now + errorBackoffMs(errorCount, random, config)),
  };
  if (operation === 'register' && desired.spec.bmc) {
    next.triedCredentials = { name: desired.spec.bmc.credentialsName, namespace: desired.ref.namespace, version: desired.credentials?.version ?? '' };
  }
  if (operation === 'provision') {
    next.provisioningFailCount = state.provisioningFailCount + 1;
    // BMO: a failed deploy is cleaned up (deprovisioned) before it is tried again.
    if (state.provisioningState === 'provisioning') next.provisioningState = 'deprovisioning';
  }
  if (desired.deleting && (operation === 'deprovision' || operation === 'delete')) next.deleteAttempts = state.deleteAttempts + 1;
  next = withStatus(next);
  return { state: next, events: [{ type: 'Warning', reason: FAILURE_EVENT[operation], message: failure.message }] };
}

/** A new intent from the user clears the backoff of an error recorded under another intent (recovery). */
export function onDesiredChanged(state: HostState, desired: HostDesired): HostState {
  const stillPresent = new Set([...Object.keys(desired.annotations.reboot), ...(desired.annotations.inspect !== undefined ? [ANNOTATION.inspect] : []), ...(desired.annotations.hardwareDetails ? [ANNOTATION.hardwareDetails] : []), ...(desired.restoredStatus ? [ANNOTATION.status] : [])]);
  let next = state;
  const consumed = state.consumedAnnotations.filter((k) => stillPresent.has(k));
  if (consumed.length !== state.consumedAnnotations.length) next = { ...next, consumedAnnotations: consumed };
  if (next.errorIntent && next.errorIntent !== intentFingerprint(desired)) next = { ...next, retryAfter: undefined, errorIntent: undefined };
  return next;
}

/** Rebuilds a state from a Metal3 status (the status annotation after a pivot, or an adopted object). */
export function stateFromStatus(status: Record<string, unknown>, provisioningId: string): HostState {
  const s = status as {
    provisioning?: { state?: string; image?: ImageIntent; bootMode?: string; rootDeviceHints?: Record<string, unknown>; raid?: Record<string, unknown>; customDeploy?: { method: string } };
    poweredOn?: boolean;
    hardware?: Record<string, unknown>;
    operationHistory?: HostState['operationHistory'];
  };
  const base = initialHostState(provisioningId);
  const restored = s.provisioning?.state ?? '';
  return withStatus({
    ...base,
    // The BMC must be registered again from this engine: keep the state, not the credentials.
    provisioningState: restored === '' ? '' : restored,
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
