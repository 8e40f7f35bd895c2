/**
 * What a host does next: `decide(state, desired, now)`, BMO's host state machine (host_state_machine.go)
 * restated as pure functions. The checks BMO runs before any state's handler come first, in its order
 * (paused, checkInitiateDelete, checkDetachedHost, ensureRegistered), then one handler per provisioning state.
 * Every decision that moves the host names a trigger of the transition table (domain/host-state.ts), which
 * the one transition step (domain/host-lifecycle.ts `transition`) checks; every wait names one of `WAITS`,
 * which say what ends them. The host workflow only executes what this decides, so Metal3's semantics are
 * testable without Temporal.
 */
import type { ErrorCode, Operation } from './errors.ts';
import {
  activeReboots,
  backoffUntil,
  deployedIntentChanged,
  hasBmc,
  inspectionDisabled,
  intentFingerprint,
  needsRegistration,
  notConsumed,
  prepareSettingsChanged,
  provisioningIntentChanged,
  sameImage,
  usableCredentials,
  wantsImage,
} from './host-intent.ts';
import { ANNOTATION, DEFAULT_LIFECYCLE_CONFIG, type LifecycleConfig, type OperationRequest } from './host-lifecycle.ts';
import type { HostDesired, HostState } from './host-model.ts';
import {
  CAPACITY_LIMITED_STATES,
  STEADY_STATES,
  isOneOf,
  nextState,
  parseProvisioningState,
  type Metal3ProvisioningState,
  type ProvisioningState,
  type TransitionTrigger,
} from './host-state.ts';

/**
 * Every reason a host may wait, and what ends the wait. A host that is not waiting for one of these has a
 * way forward; the property test (domain/host-decisions.property.test.ts) holds the decisions to it.
 */
export const WAITS = {
  paused: 'the baremetalhost.metal3.io/paused annotation is set; ends when it is removed',
  unmanaged: 'no BMC details; ends when spec.bmc.address and spec.bmc.credentialsName are set',
  failed:
    'a failure decided without calling the BMC is recorded (errorType, errorMessage); ends when the spec, the ' +
    'annotations or the credentials Secret change',
  backoff:
    'after an error (BMO: 2^errorCount minutes minus jitter); ends when the backoff passes, or at once when the ' +
    'spec, the annotations or the credentials Secret change',
  delayed:
    'refused a slot under PROVISIONING_LIMIT (operationalStatus delayed); ends when the bridge offers a slot, in ' +
    'the order hosts were refused, or when the host no longer wants that state',
  detached: 'detached (baremetalhost.metal3.io/detached): no power management; ends when the annotation is removed',
  deleteDelayed: 'being deleted while detached with deleteAction: delay; ends when the detached annotation changes',
  keptOff: 'a keyed reboot annotation (reboot.metal3.io/<key>) keeps the host off; ends when its owner removes it',
  powerOffDisabled: 'online is false but disablePowerOff is set: never powered off; ends when either changes',
  steady: 'in a steady state with power as asked; ends at the next power check or on any change',
  deletionInProgress: 'on the way out of management; ends when the object is being deleted (it always is)',
  unknownState: 'a provisioning state Metal3 does not have (a corrupt restored status); ends on any change',
} as const;
export type WaitReason = keyof typeof WAITS;

/** What the host workflow does next. */
export type Step =
  /** Nothing to do until a change (a signal) or `until`; `notice` shows the reason on the host with a Warning. */
  | { kind: 'wait'; why: WaitReason; reason: string; until?: number; notice?: string }
  /** Move to the state the table names for `trigger` (through `transition`). */
  | { kind: 'transition'; trigger: TransitionTrigger; reason: string }
  | { kind: 'operation'; request: OperationRequest }
  /** Record a failure decided without calling the BMC (bad input). */
  | { kind: 'fail'; operation: Operation; code: ErrorCode; message: string }
  /** Read power from the BMC (the steady state's drift check). */
  | { kind: 'checkPower' }
  /** Hand annotations that did their work to the bridge for removal. */
  | { kind: 'consume'; annotations: string[]; reason: string }
  | { kind: 'detach' }
  | { kind: 'attach' }
  /** A delayed host no longer wants the state it waited for: it stops waiting (and shows it). */
  | { kind: 'undelay'; reason: string }
  /** The host is deleted: let the object go (the workflow ends). */
  | { kind: 'release' };

const wait = (why: WaitReason, reason: string, until?: number): Step =>
  until === undefined ? { kind: 'wait', why, reason } : { kind: 'wait', why, reason, until };
const move = (trigger: TransitionTrigger, reason: string): Step => ({ kind: 'transition', trigger, reason });
const run = (request: OperationRequest): Step => ({ kind: 'operation', request });

/** What a handler knows. */
interface Context {
  state: HostState;
  desired: HostDesired;
  now: number;
  config: LifecycleConfig;
  ps: ProvisioningState;
  /** The end of the error backoff, while it lasts. */
  backoff: number | undefined;
}

/** Waits out the error backoff, saying which error it follows. */
function backoffWait(c: Context, what: string): Step | undefined {
  if (c.backoff === undefined) return undefined;
  return wait('backoff', `${what}: next attempt at ${new Date(c.backoff).toISOString()}`, c.backoff);
}

/** A failure decided without calling the BMC, unless the same failure is already recorded for this intent. */
function failOnce(c: Context, operation: Operation, code: ErrorCode, message: string): Step {
  const s = c.state;
  if (s.errorCode === code && s.errorMessage === message && s.errorIntent === intentFingerprint(c.desired)) {
    return wait('failed', message);
  }
  return { kind: 'fail', operation, code, message };
}

/** Power enforcement and reboots in the steady states (BMO's actionManageSteadyState). */
function steadyState(c: Context): Step {
  const { state, desired } = c;
  const reboots = activeReboots(desired, state);
  if (reboots.length > 0) {
    if (state.poweredOn) {
      const hard = reboots.some((k) => desired.annotations.reboot[k]?.mode === 'hard');
      return backoffWait(c, 'power management error') ?? run({ name: 'power', on: false, mode: hard ? 'hard' : 'soft', purpose: 'reboot' });
    }
    // Off: the plain annotation has done its work; keyed ones keep the host off until their owners remove them.
    if (reboots.includes(ANNOTATION.reboot)) {
      return { kind: 'consume', annotations: [ANNOTATION.reboot], reason: 'reboot requested: host powered off' };
    }
    return wait('keptOff', `kept powered off for ${reboots.join(', ')}`);
  }
  const wantOn = desired.spec.online;
  if (wantOn !== state.poweredOn) {
    if (!wantOn && desired.spec.disablePowerOff) return wait('powerOffDisabled', 'disablePowerOff is set: the host is never powered off');
    return backoffWait(c, 'power management error') ?? run({ name: 'power', on: wantOn, mode: 'soft', purpose: 'online' });
  }
  const checkedAt = state.powerCheckedAt ? Date.parse(state.powerCheckedAt) : 0;
  const due = checkedAt + c.config.powerCheckIntervalMs;
  if (due <= c.now) return { kind: 'checkPower' };
  return wait('steady', 'steady state', due);
}

/** One handler per provisioning state (BMO's handle<State>), run once the checks before it let it. */
const HANDLERS: Record<ProvisioningState, (c: Context) => Step> = {
  '': (c) => (hasBmc(c.desired) ? move('bmcDetailsFound', 'BMC details set') : move('bmcDetailsMissing', 'no BMC details')),

  unmanaged: (c) =>
    hasBmc(c.desired)
      ? move('bmcDetailsFound', 'BMC details added')
      : wait('unmanaged', 'unmanaged: set spec.bmc.address and spec.bmc.credentialsName'),

  // Reaching the handler means the host registered with the current credentials: where to go from here.
  registering: (c) => {
    if (c.desired.spec.externallyProvisioned) return move('externallyProvisioned', 'spec.externallyProvisioned');
    if (inspectionDisabled(c.desired)) return move('inspectionDisabled', 'inspection disabled');
    return move('registered', 'registered');
  },

  inspecting: (c) => backoffWait(c, 'inspection error') ?? run({ name: 'inspect' }),

  'match profile': () => move('legacyMatchProfile', 'match profile is a no-op'),

  // Cleaning and firmware, BIOS and RAID steps will run here (within the prepare operation).
  preparing: (c) => backoffWait(c, 'preparation error') ?? run({ name: 'prepare' }),

  available: (c) => {
    const { state, desired } = c;
    if (desired.spec.externallyProvisioned) return move('externallyProvisioned', 'spec.externallyProvisioned');
    if (desired.annotations.inspect === '' && notConsumed(state, ANNOTATION.inspect)) {
      return move('inspectionRequested', 're-inspection requested (inspect.metal3.io)');
    }
    if (prepareSettingsChanged(state, desired)) return move('settingsChanged', 'root device hints, RAID or boot mode changed');
    if (desired.spec.online && wantsImage(desired)) {
      const sameAsFailed = sameImage(desired.spec.image, state.lastAttemptedImage);
      if (sameAsFailed && state.provisioningFailCount >= c.config.maxProvisioningRetries) {
        const url = desired.spec.image?.url ?? desired.spec.customDeploy?.method;
        const message = `retry limit reached: provisioning failed ${state.provisioningFailCount} times for ${url}; change the image to try again`;
        return failOnce(c, 'provision', 'BmcTaskFailed', message);
      }
      return (sameAsFailed ? backoffWait(c, 'provisioning error') : undefined) ?? move('provisionRequested', 'image set and online');
    }
    return steadyState(c);
  },

  // The deploy runs here: a live ISO by virtual media, a disk image or a custom deploy through the agent.
  provisioning: (c) => {
    const { state, desired } = c;
    if (provisioningIntentChanged(state, desired)) return move('provisioningCancelled', 'image removed or changed during provisioning');
    const { image, customDeploy } = desired.spec;
    const request = { name: 'provision' as const, ...(image?.url ? { image } : {}), ...(customDeploy?.method ? { customDeploy } : {}) };
    return backoffWait(c, 'provisioning error') ?? run(request);
  },

  // Servicing (firmware, BIOS on a provisioned host, operationalStatus servicing) will start here.
  provisioned: (c) => (deployedIntentChanged(c.state, c.desired) ? move('provisioningCancelled', 'image removed or changed') : steadyState(c)),

  'externally provisioned': (c) =>
    c.desired.spec.externallyProvisioned ? steadyState(c) : move('externallyProvisionedCleared', 'externallyProvisioned turned off'),

  // Automated cleaning will run here (within the deprovision operation).
  deprovisioning: (c) => {
    const { state, desired } = c;
    if (desired.deleting) {
      if (state.deleteAttempts >= c.config.maxDeleteAttempts) {
        return move('cleanupGaveUp', `giving up on host clean up after ${state.deleteAttempts} failed attempts`);
      }
      if (!usableCredentials(desired)) return move('unregisteredWithoutCredentials', 'no usable BMC credentials: deleting without clean up');
      return run({ name: 'deprovision' });
    }
    return backoffWait(c, 'deprovisioning error') ?? run({ name: 'deprovision' });
  },

  'powering off before delete': (c) => {
    const { state, desired } = c;
    if (!desired.deleting) return wait('deletionInProgress', 'deletion in progress');
    if (!usableCredentials(desired)) return move('unregisteredWithoutCredentials', 'no usable BMC credentials: deleting without powering off');
    if (!state.poweredOn) return move('poweredOff', 'powered off');
    if (state.deleteAttempts >= c.config.maxDeleteAttempts) {
      return move('powerOffGaveUp', `could not power off after ${state.deleteAttempts} attempts: deleting anyway`);
    }
    return run({ name: 'power', on: false, mode: 'hard', purpose: 'delete' });
  },

  deleting: (c) => (c.desired.deleting ? { kind: 'release' } : wait('deletionInProgress', 'deletion in progress')),
};

/** BMO's checkInitiateDelete: where a deletion request sends the host, or undefined to go on. */
function initiateDelete(c: Context): Step | undefined {
  const { state, desired, ps } = c;
  if (!desired.deleting || ps === 'deleting') return undefined;
  if (state.detached) {
    if (desired.annotations.detached?.deleteAction === 'delay') {
      return wait('deleteDelayed', 'deletion delayed while detached (deleteAction: delay)');
    }
    return move('deleteRequestedWhileDetached', 'deleting a detached host: no deprovisioning or power-off');
  }
  if (ps === 'deprovisioning' || ps === 'powering off before delete') {
    // Already on the way out: its handler goes on, unless the BMC cannot even be registered.
    if (state.errorType === 'registration error' && state.errorCount > c.config.maxDeleteAttempts) {
      return move('registrationGaveUp', `could not register after ${state.errorCount} attempts: deleting anyway`);
    }
    return undefined;
  }
  const to = nextState(ps, 'deleteRequested');
  const why = to === 'deleting' ? 'deleting an unregistered host' : to === 'deprovisioning' ? 'deprovisioning before delete' : 'deletion requested';
  return move('deleteRequested', why);
}

/**
 * BMO's checkDetachedHost: detach in a steady state (or anywhere with `force`), re-attach, or wait. A host
 * already `deleting` is neither detached nor held: its handler lets it go.
 */
function checkDetached(c: Context): Step | undefined {
  const { state, desired, ps } = c;
  if (ps === 'deleting') return undefined;
  const annotation = desired.annotations.detached;
  if (annotation && !state.detached && (isOneOf(ps, STEADY_STATES) || annotation.force)) return { kind: 'detach' };
  if (!annotation && state.detached) return { kind: 'attach' };
  if (state.detached) return wait('detached', 'detached (baremetalhost.metal3.io/detached)');
  return undefined;
}

/** BMO's ensureRegistered: register again when needed, before any state's handler runs. */
function ensureRegistered(c: Context): Step | undefined {
  const { state, desired, ps } = c;
  if (!needsRegistration(state, desired)) return undefined;
  if (!usableCredentials(desired)) {
    if (desired.deleting && (ps === 'deprovisioning' || ps === 'powering off before delete')) {
      return move('unregisteredWithoutCredentials', 'not registered and no usable BMC credentials: deleting');
    }
    if (!hasBmc(desired)) {
      return failOnce(c, 'register', 'BmcAddressInvalid', 'spec.bmc.address and spec.bmc.credentialsName are required to manage the host');
    }
    return failOnce(c, 'register', 'BmcCredentialsMissing', desired.credentials?.problem ?? 'the credentials Secret cannot be used');
  }
  return backoffWait(c, 'registration error') ?? run({ name: 'register' });
}

/** The decision before the provisioning limit has its say. */
function decideMove(state: HostState, desired: HostDesired, now: number, config: LifecycleConfig): Step {
  if (desired.annotations.paused) return wait('paused', 'paused (baremetalhost.metal3.io/paused)');
  const ps = parseProvisioningState(state.provisioningState);
  if (ps === undefined) return wait('unknownState', `unknown provisioning state '${state.provisioningState}'`);
  const c: Context = { state, desired, now, config, ps, backoff: backoffUntil(state, now) };
  return initiateDelete(c) ?? checkDetached(c) ?? ensureRegistered(c) ?? HANDLERS[ps](c);
}

/** What the host workflow should do next. Pure: same inputs, same step. */
export function decide(state: HostState, desired: HostDesired, now: number, config: LifecycleConfig = DEFAULT_LIFECYCLE_CONFIG): Step {
  const step = decideMove(state, desired, now, config);
  if (!state.delayed) return step;
  // A delayed host waits for its slot as long as it still wants that state (and claims it once offered);
  // otherwise it stops waiting.
  const from = state.provisioningState as Metal3ProvisioningState;
  if (step.kind === 'transition' && nextState(from, step.trigger) === state.delayed.state) {
    return state.delayed.offered ? step : wait('delayed', `delayed: ${state.delayed.reason}`);
  }
  return { kind: 'undelay', reason: `no longer waiting to enter ${state.delayed.state}` };
}

/**
 * Whether moving by `trigger` needs a slot under the provisioning limit: it enters a provisioning-heavy
 * state from outside them (a host moving between them keeps the slot it holds).
 */
export function claimsSlot(state: HostState, trigger: TransitionTrigger): boolean {
  const from = state.provisioningState as Metal3ProvisioningState;
  const to = nextState(from, trigger);
  return to !== undefined && isOneOf(to, CAPACITY_LIMITED_STATES) && !isOneOf(from, CAPACITY_LIMITED_STATES);
}
