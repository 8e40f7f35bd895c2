/**
 * BareMetalHost provisioning states with Metal3's strings verbatim, the transition table of BMO's host
 * state machine as data (reference §1.6, `host_state_machine.go`), and the operational statuses (§1.7).
 * The table is the engine: every move a host makes names a trigger, and `moveBy` is the only way to get the
 * next state (domain/host-lifecycle.ts `transition` applies it); a move the table lacks throws
 * `IllegalTransition`. Pure data and functions.
 */

/** The 13 provisioning states (`status.provisioning.state`), in lifecycle order. `""` is "none". */
export const PROVISIONING_STATES = [
  '',
  'unmanaged',
  'registering',
  'match profile',
  'inspecting',
  'preparing',
  'available',
  'provisioning',
  'provisioned',
  'externally provisioned',
  'deprovisioning',
  'powering off before delete',
  'deleting',
] as const;
export type ProvisioningState = (typeof PROVISIONING_STATES)[number];

/** Deprecated spellings still found on old objects, and the state each means. */
export const DEPRECATED_STATE_ALIASES = { ready: 'available' } as const satisfies Record<string, ProvisioningState>;

/** Every string Metal3 may show in `status.provisioning.state`, including deprecated aliases. */
export type Metal3ProvisioningState = ProvisioningState | keyof typeof DEPRECATED_STATE_ALIASES;

/** Named constants for the states, for readable code (`STATE.ExternallyProvisioned`). */
export const STATE = {
  None: '',
  Unmanaged: 'unmanaged',
  Registering: 'registering',
  MatchProfile: 'match profile',
  Inspecting: 'inspecting',
  Preparing: 'preparing',
  Available: 'available',
  Provisioning: 'provisioning',
  Provisioned: 'provisioned',
  ExternallyProvisioned: 'externally provisioned',
  Deprovisioning: 'deprovisioning',
  PoweringOffBeforeDelete: 'powering off before delete',
  Deleting: 'deleting',
} as const satisfies Record<string, ProvisioningState>;

/** How a state behaves: where a host rests, passes through, or ends. */
export type StateKind = 'stable' | 'transient' | 'legacy' | 'terminal';
export const STATE_KIND: Readonly<Record<ProvisioningState, StateKind>> = {
  '': 'transient',
  unmanaged: 'stable',
  registering: 'transient',
  'match profile': 'legacy',
  inspecting: 'transient',
  preparing: 'transient',
  available: 'stable',
  provisioning: 'transient',
  provisioned: 'stable',
  'externally provisioned': 'stable',
  deprovisioning: 'transient',
  'powering off before delete': 'transient',
  deleting: 'terminal',
};

/**
 * The steady states: `spec.online` is enforced and reboot annotations are honoured there, and a host may be
 * detached there without `force` (BMO's actionManageSteadyState and checkDetachedHost use the same list).
 */
export const STEADY_STATES: readonly ProvisioningState[] = ['available', 'provisioned', 'externally provisioned'];

/**
 * The provisioning-heavy states: at most PROVISIONING_LIMIT hosts are in them at once. Entering one from
 * elsewhere needs a free slot, else the host stays put with operationalStatus `delayed` (BMO's
 * updateHostStateFrom; Ironic counts the nodes cleaning, inspecting, deploying or tearing down behind them).
 */
export const CAPACITY_LIMITED_STATES: readonly ProvisioningState[] = ['inspecting', 'provisioning', 'deprovisioning'];

/**
 * States in which the host is never (re-)registered with its BMC (BMO's ensureRegistered): not managed yet,
 * the legacy no-op state, or already being removed.
 */
export const NO_REGISTRATION_STATES: readonly ProvisioningState[] = ['', 'unmanaged', 'match profile', 'deleting'];

/** Whether `state` (an alias resolves) is one of `states`. */
export function isOneOf(state: string, states: readonly ProvisioningState[]): boolean {
  const parsed = parseProvisioningState(state);
  return parsed !== undefined && states.includes(parsed);
}

export function isProvisioningState(value: string): value is ProvisioningState {
  return (PROVISIONING_STATES as readonly string[]).includes(value);
}

/**
 * The state a `status.provisioning.state` string means: deprecated aliases resolve (`ready` is
 * `available`); an unknown string gives undefined.
 */
export function parseProvisioningState(value: string): ProvisioningState | undefined {
  if (isProvisioningState(value)) return value;
  return Object.hasOwn(DEPRECATED_STATE_ALIASES, value)
    ? DEPRECATED_STATE_ALIASES[value as keyof typeof DEPRECATED_STATE_ALIASES]
    : undefined;
}

/** What makes a host move. Each trigger leads to at most one state from a given state. */
export const TRIGGERS = {
  bmcDetailsFound: 'BMC address and credentials are set',
  bmcDetailsMissing: 'BMC address or credentials are not set (operationalStatus discovered)',
  externallyProvisioned: 'spec.externallyProvisioned is true',
  inspectionDisabled: 'inspection is disabled (inspectionMode: disabled or inspect.metal3.io: disabled)',
  registered: 'the BMC is reachable with the current credentials',
  inspected: 'inspection finished (errorCount reset)',
  legacyMatchProfile: 'always: the state is kept only for old objects',
  prepared: 'cleaning, RAID, BIOS settings and firmware steps are done',
  inspectionRequested: 'the inspect.metal3.io annotation is set to "" (re-inspect)',
  settingsChanged: 'RAID, root device hints or boot mode differ, or HostFirmwareSettings/Components are dirty',
  provisionRequested: 'online is true and image.url or customDeploy.method is set, retry limit not reached',
  deployed: 'the image is written or the custom deploy finished (errorCount reset)',
  provisioningFailed: 'provisioning failed (errorType is set)',
  provisioningCancelled: 'image URL or customDeploy method changed or removed',
  externallyProvisionedCleared: 'spec.externallyProvisioned turned false (spec image copied to status)',
  deprovisioned: 'deprovisioning finished and the host is not being deleted',
  deprovisionedForDelete: 'deprovisioning finished and the host is being deleted',
  cleanupGaveUp: 'deprovisioning failed more than 3 times while the host is being deleted',
  poweredOff: 'the host is powered off',
  powerOffGaveUp: 'powering off failed more than 3 times',
  unregisteredWithoutCredentials: 'there are no usable BMC credentials to register the host or power it off',
  registrationGaveUp: 'registration failed more than 3 times while the host is being deleted',
  deleteRequested: 'the object has a deletionTimestamp',
  deleteRequestedWhileDetached: 'the object has a deletionTimestamp while detached (unless deleteAction: delay)',
} as const;
export type TransitionTrigger = keyof typeof TRIGGERS;

/** One edge of the state machine. */
export interface Transition {
  from: ProvisioningState;
  to: ProvisioningState;
  trigger: TransitionTrigger;
}

const edge = (from: ProvisioningState, to: ProvisioningState, trigger: TransitionTrigger): Transition => ({ from, to, trigger });

/**
 * Every transition of BMO's host state machine. "Deprovisioning to provisioning" (a new image during
 * deprovisioning) is not an edge: BMO goes through available, so it is the path deprovisioned + provisionRequested.
 */
export const TRANSITIONS: readonly Transition[] = [
  edge('', 'registering', 'bmcDetailsFound'),
  edge('', 'unmanaged', 'bmcDetailsMissing'),
  edge('unmanaged', 'registering', 'bmcDetailsFound'),
  edge('registering', 'externally provisioned', 'externallyProvisioned'),
  edge('registering', 'preparing', 'inspectionDisabled'),
  edge('registering', 'inspecting', 'registered'),
  edge('inspecting', 'preparing', 'inspected'),
  edge('match profile', 'preparing', 'legacyMatchProfile'),
  edge('preparing', 'available', 'prepared'),
  edge('available', 'externally provisioned', 'externallyProvisioned'),
  edge('available', 'inspecting', 'inspectionRequested'),
  edge('available', 'preparing', 'settingsChanged'),
  edge('available', 'provisioning', 'provisionRequested'),
  edge('provisioning', 'provisioned', 'deployed'),
  edge('provisioning', 'deprovisioning', 'provisioningFailed'),
  edge('provisioning', 'deprovisioning', 'provisioningCancelled'),
  edge('provisioned', 'deprovisioning', 'provisioningCancelled'),
  edge('externally provisioned', 'provisioned', 'externallyProvisionedCleared'),
  edge('deprovisioning', 'available', 'deprovisioned'),
  // Deletion (BMO's checkInitiateDelete and the deletion branches of the state handlers).
  edge('deprovisioning', 'powering off before delete', 'deprovisionedForDelete'),
  edge('deprovisioning', 'powering off before delete', 'cleanupGaveUp'),
  edge('deprovisioning', 'deleting', 'unregisteredWithoutCredentials'),
  edge('deprovisioning', 'deleting', 'registrationGaveUp'),
  edge('powering off before delete', 'deleting', 'poweredOff'),
  edge('powering off before delete', 'deleting', 'powerOffGaveUp'),
  edge('powering off before delete', 'deleting', 'unregisteredWithoutCredentials'),
  edge('powering off before delete', 'deleting', 'registrationGaveUp'),
  // Never registered: nothing to power off.
  ...(['', 'unmanaged', 'registering'] as const).map((from) => edge(from, 'deleting', 'deleteRequested')),
  // An image may be on the disk: deprovision first.
  ...(['provisioning', 'provisioned'] as const).map((from) => edge(from, 'deprovisioning', 'deleteRequested')),
  ...(['inspecting', 'match profile', 'preparing', 'available', 'externally provisioned'] as const).map((from) =>
    edge(from, 'powering off before delete', 'deleteRequested'),
  ),
  // A detached host skips deprovisioning and power-off, whatever its state.
  ...PROVISIONING_STATES.filter((s) => s !== 'deleting').map((from) => edge(from, 'deleting', 'deleteRequestedWhileDetached')),
];

/** The triggers that only happen once the object is being deleted. */
export const DELETION_TRIGGERS: readonly TransitionTrigger[] = [
  'deleteRequested',
  'deleteRequestedWhileDetached',
  'deprovisionedForDelete',
  'cleanupGaveUp',
  'registrationGaveUp',
  'unregisteredWithoutCredentials',
  'poweredOff',
  'powerOffGaveUp',
];

/** The transitions out of a state (deprecated aliases resolve first: `ready` moves like `available`). */
export function transitionsFrom(state: Metal3ProvisioningState): Transition[] {
  const from = parseProvisioningState(state);
  return TRANSITIONS.filter((t) => t.from === from);
}

/** The state a trigger leads to from `state`, or undefined when the trigger does not apply there. */
export function nextState(state: Metal3ProvisioningState, trigger: TransitionTrigger): ProvisioningState | undefined {
  return transitionsFrom(state).find((t) => t.trigger === trigger)?.to;
}

/**
 * A move the transition table does not have: a bug in a decision, never the user's doing. Its `type` is the
 * InternalError code, so the host workflow records it on the host like any typed failure (and it is loud:
 * logged as an error, shown as the host's errorMessage).
 */
export class IllegalTransition extends Error {
  override readonly name = 'IllegalTransition';
  readonly type = 'InternalError' as const;
  readonly from: string;
  readonly trigger: string;

  constructor(from: string, trigger: string) {
    super(`illegal transition: the state machine has no move from '${from || 'none'}' on ${trigger} (a bug in Tempered)`);
    this.from = from;
    this.trigger = trigger;
  }
}

/** The state `trigger` moves a host in `from` to; throws `IllegalTransition` when the table has no such move. */
export function moveBy(from: string, trigger: TransitionTrigger): ProvisioningState {
  const to = nextState(from as Metal3ProvisioningState, trigger);
  if (to === undefined) throw new IllegalTransition(from, trigger);
  return to;
}

/** Whether the state machine has a move from `from` to `to` (by `trigger`, when given). */
export function canTransition(from: Metal3ProvisioningState, to: Metal3ProvisioningState, trigger?: TransitionTrigger): boolean {
  const target = parseProvisioningState(to);
  return transitionsFrom(from).some((t) => t.to === target && (trigger === undefined || t.trigger === trigger));
}

/** Every state reachable from `state` by one or more transitions (without the deletion ones when asked). */
export function reachableStates(state: Metal3ProvisioningState, options: { withDeletion?: boolean } = {}): ProvisioningState[] {
  const withDeletion = options.withDeletion ?? true;
  const seen: ProvisioningState[] = [];
  const queue = transitionsFrom(state);
  while (queue.length > 0) {
    const t = queue.shift() as Transition;
    if (!withDeletion && DELETION_TRIGGERS.includes(t.trigger)) continue;
    if (seen.includes(t.to)) continue;
    seen.push(t.to);
    queue.push(...transitionsFrom(t.to));
  }
  return seen;
}

/** `status.operationalStatus` values (the CRD enum, including the empty string). */
export const OPERATIONAL_STATUSES = ['', 'OK', 'discovered', 'error', 'delayed', 'detached', 'servicing'] as const;
export type OperationalStatus = (typeof OPERATIONAL_STATUSES)[number];

/** Named constants for the operational statuses. */
export const OPERATIONAL_STATUS = {
  OK: 'OK',
  Discovered: 'discovered',
  Error: 'error',
  Delayed: 'delayed',
  Detached: 'detached',
  Servicing: 'servicing',
} as const satisfies Record<string, OperationalStatus>;
