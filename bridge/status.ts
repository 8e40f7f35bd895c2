/**
 * The projection of a host workflow's `HostState` onto a BareMetalHost's `.status`, Metal3's fields and v0.13
 * conditions (metal3-api.md §1.3-1.4, BMO `computeConditions`), and the JSON merge patch that takes the
 * current status there touching only the fields the bridge owns. Pure: the caller supplies the clock.
 */
import type { z } from 'zod';
import { HostStatusSchema, ProvisionStatusSchema } from '../domain/baremetalhost.schema.ts';
import { HardwareDetailsSchema } from '../domain/hardware-data.schema.ts';
import type { CredentialsRecord, HostState, ImageIntent, OperationTimes } from '../domain/host-model.ts';
import { NODE_JOINED_CONDITION } from '../domain/node-join.ts';

/** The `.status` fields the bridge owns; `hardwareProfile` (deprecated) and anything else are left alone. */
export const OWNED_STATUS_FIELDS = [
  'operationalStatus',
  'errorType',
  'errorMessage',
  'errorCount',
  'poweredOn',
  'provisioning',
  'goodCredentials',
  'triedCredentials',
  'operationHistory',
  'hardware',
  'conditions',
  'provisioningFailCount',
  'lastAttemptedImage',
] as const;

/** The `status.provisioning` fields the bridge owns (`firmware` is deprecated and always empty upstream). */
export const OWNED_PROVISIONING_FIELDS = ['state', 'ID', 'image', 'rootDeviceHints', 'bootMode', 'raid', 'customDeploy'] as const;

/** The condition types the bridge computes; other types found on the object are kept as they are. */
export const COMPUTED_CONDITION_TYPES = ['Manageable', 'Provisioned', 'Ready', 'AvailableForProvisioning', 'Progressing'] as const;
export type ComputedConditionType = (typeof COMPUTED_CONDITION_TYPES)[number];

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** metav1.Condition's limit on `message`. */
const MAX_CONDITION_MESSAGE = 32768;

export type ConditionCore = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** metav1.Time: RFC 3339 in UTC with whole seconds, as Go's apimachinery writes it. */
export function metaTime(value: string | number | Date): string | undefined {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return undefined;
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * BMO's `computeConditions` for the five v0.13 conditions. Messages are Tempered's additions: why a host
 * progresses or waits, and the error behind Ready=False/Error.
 */
export function computeConditions(state: HostState): ConditionCore[] {
  const set = new Map<ComputedConditionType, ConditionCore>();
  const put = (type: ComputedConditionType, status: boolean, reason: string, message = '') =>
    set.set(type, { type, status: status ? 'True' : 'False', reason, message: message.slice(0, MAX_CONDITION_MESSAGE) });
  // Why the host waits, when it does: for a slot under the provisioning limit, or a note of its own.
  const note = state.delayed?.reason ?? state.waitingReason;
  const step = state.operation && state.operationStep ? `${state.operation.summary}: ${state.operationStep.step}, since ${state.operationStep.since}` : undefined;
  const progressingMessage = note ?? step ?? state.operation?.summary ?? '';
  const progressing = (reason: string) => {
    put('Manageable', true, 'Manageable');
    put('AvailableForProvisioning', false, 'NotAvailable');
    put('Provisioned', false, 'NotProvisioned');
    put('Ready', false, 'NotProvisioned');
    put('Progressing', true, reason, progressingMessage);
  };

  let powerFailureCheck = true;
  switch (state.provisioningState) {
    case '':
    case 'unmanaged':
      put('Manageable', false, 'NotManaged');
      put('AvailableForProvisioning', false, 'NotAvailable');
      put('Provisioned', false, 'NotProvisioned');
      put('Ready', false, 'NotProvisioned');
      put('Progressing', false, 'NotProgressing');
      powerFailureCheck = false;
      break;
    case 'registering':
      put('Manageable', false, state.operationalStatus === 'error' ? 'RegistrationFailed' : 'Registering');
      put('AvailableForProvisioning', false, 'NotAvailable');
      put('Provisioned', false, 'NotProvisioned');
      put('Ready', false, 'NotProvisioned');
      put('Progressing', true, 'Registering', progressingMessage);
      powerFailureCheck = false;
      break;
    case 'preparing':
      progressing('Preparing');
      break;
    case 'ready':
    case 'available':
      put('Manageable', true, 'Manageable');
      put('AvailableForProvisioning', true, 'Available');
      put('Provisioned', false, 'NotProvisioned');
      put('Ready', false, 'NotProvisioned');
      put('Progressing', false, 'NotProgressing', note ?? '');
      break;
    case 'provisioning':
      progressing('Provisioning');
      break;
    case 'provisioned':
    case 'externally provisioned':
      put('Manageable', true, 'Manageable');
      put('AvailableForProvisioning', false, 'NotAvailable');
      put('Provisioned', true, 'Provisioned');
      put('Ready', true, 'Provisioned');
      put('Progressing', false, 'NotProgressing', note ?? '');
      break;
    case 'deprovisioning':
      progressing('Deprovisioning');
      break;
    case 'inspecting':
    case 'match profile':
      progressing('Inspecting');
      break;
    case 'powering off before delete':
      progressing('PoweringOffBeforeDelete');
      break;
    case 'deleting':
      powerFailureCheck = false;
      progressing('Deleting');
      break;
    default:
      // An unknown state: BMO leaves the conditions as they were; so does the merge below.
      break;
  }
  switch (state.operationalStatus) {
    case 'error':
      put('Ready', false, 'Error', state.errorMessage);
      break;
    case 'servicing':
      put('Ready', false, 'Servicing');
      break;
    case 'detached':
      powerFailureCheck = false;
      put('Ready', false, 'Detached');
      put('Progressing', false, 'Detached');
      break;
    default:
      break;
  }
  // BMO asks Ironic whether the node is in maintenance for a power failure; the engine's equivalent is a
  // power management error recorded on the host.
  if (powerFailureCheck && state.operationalStatus === 'error' && state.errorType === 'power management error') {
    put('Manageable', false, 'PowerFailure', state.errorMessage);
  }
  return COMPUTED_CONDITION_TYPES.map((type) => set.get(type)).filter((c) => c !== undefined);
}

/**
 * Tempered's own condition, with a domain-prefixed type so it cannot clash with Metal3's: whether a host that
 * CAPM3 provisioned became a Ready Node of its workload cluster (workflows/node-join.ts). None when the host
 * has no such check (then an earlier one is removed from the object).
 */
export function nodeJoinCondition(state: HostState): ConditionCore | undefined {
  const join = state.nodeJoin;
  if (!join) return undefined;
  const status = join.status === 'joined' ? 'True' : 'False';
  return { type: NODE_JOINED_CONDITION, status, reason: join.reason, message: join.message.slice(0, MAX_CONDITION_MESSAGE) };
}

function isConditionList(value: unknown): value is Condition[] {
  return Array.isArray(value) && value.every((c) => c !== null && typeof c === 'object' && typeof (c as { type?: unknown }).type === 'string');
}

/**
 * The conditions to write: the computed ones (keeping `lastTransitionTime` when a condition's status did not
 * change), then every other condition already on the object, unchanged.
 */
export function mergeConditions(computed: ConditionCore[], current: unknown, now: string, generation: number): Condition[] {
  const existing = isConditionList(current) ? current : [];
  const byType = new Map(existing.map((c) => [c.type, c]));
  const ours = computed.map((c): Condition => {
    const previous = byType.get(c.type);
    const lastTransitionTime = previous && previous.status === c.status && previous.lastTransitionTime ? previous.lastTransitionTime : now;
    return { ...c, lastTransitionTime, observedGeneration: generation };
  });
  const computedTypes = new Set(computed.map((c) => c.type));
  return [...ours, ...existing.filter((c) => !computedTypes.has(c.type))];
}

function image(value: ImageIntent | undefined): Record<string, unknown> | undefined {
  return value && { url: value.url, checksum: value.checksum, checksumType: value.checksumType, format: value.format };
}

function credentials(value: CredentialsRecord | undefined): Record<string, unknown> | undefined {
  return value && { credentials: { name: value.name, namespace: value.namespace }, credentialsVersion: value.version };
}

function times(value: OperationTimes | undefined): Record<string, unknown> {
  return { start: value?.start && metaTime(value.start), end: value?.end && metaTime(value.end) };
}

/** JSON without undefined members (and with nulls dropped: null means "delete" in a merge patch). */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || v === null) continue;
    out[k] = clean(v);
  }
  return out;
}

export interface StatusContext {
  /** Now, as metav1.Time (see `metaTime`). */
  now: string;
  /** The generation the workflow has been told about, for the conditions' observedGeneration. */
  generation: number;
  /** The object's current `.status` (for conditions' lastTransitionTime). */
  current: Record<string, unknown> | undefined;
}

/** A projection: the owned fields to write, and what could not be written (path: problem; never values). */
export interface ProjectedStatus {
  status: Record<string, unknown>;
  problems: string[];
}

type Shape = Readonly<Record<string, z.ZodType>>;

/**
 * Validates `value` field by field against `shape` (descending into the fields named in `nested`): valid
 * fields are kept as parsed (unknown keys pruned, as the apiserver would), fields the schema does not know are
 * dropped, and an invalid field keeps its `current` value, so one bad field never blocks the rest.
 */
export function validFields(shape: Shape, value: Record<string, unknown>, current: Record<string, unknown> | undefined, path: string, nested: Readonly<Record<string, Shape>> = {}): ProjectedStatus {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const schema = shape[key];
    if (!schema || v === undefined) continue;
    const sub = nested[key];
    const cur = current?.[key];
    if (sub && isPlainObject(v)) {
      const inner = validFields(sub, v, isPlainObject(cur) ? cur : undefined, `${path}.${key}`);
      out[key] = inner.status;
      problems.push(...inner.problems);
      continue;
    }
    const parsed = schema.safeParse(v);
    if (parsed.success) {
      out[key] = clean(parsed.data);
    } else {
      problems.push(...parsed.error.issues.map((i) => `${[path, key, ...i.path.map(String)].join('.')}: ${i.message}`));
      if (cur !== undefined) out[key] = cur;
    }
  }
  return { status: out, problems };
}

const STATUS_NESTED: Readonly<Record<string, Shape>> = { provisioning: ProvisionStatusSchema.shape, hardware: HardwareDetailsSchema.shape };

/**
 * The owned `.status` fields for a `HostState`, validated and pruned by the schema the CRD is generated from
 * (so nothing is written that the apiserver would prune or refuse). A field that does not fit keeps its
 * current value and is reported in `problems`. `lastUpdated` is not included: the caller stamps it.
 */
export function projectStatus(state: HostState, context: StatusContext): ProjectedStatus {
  const status: Record<string, unknown> = {
    operationalStatus: state.operationalStatus,
    errorType: state.errorType === '' ? undefined : state.errorType,
    errorMessage: state.errorMessage,
    errorCount: state.errorCount,
    poweredOn: state.poweredOn,
    provisioning: {
      state: state.provisioningState,
      ID: state.provisioningId,
      image: image(state.image),
      rootDeviceHints: state.rootDeviceHints,
      bootMode: state.bootMode,
      raid: state.raid,
      customDeploy: state.customDeploy && { method: state.customDeploy.method },
    },
    goodCredentials: credentials(state.goodCredentials),
    triedCredentials: credentials(state.triedCredentials),
    operationHistory: {
      register: times(state.operationHistory.register),
      inspect: times(state.operationHistory.inspect),
      provision: times(state.operationHistory.provision),
      deprovision: times(state.operationHistory.deprovision),
    },
    hardware: state.hardware,
    conditions: mergeConditions(
      [...computeConditions(state), ...[nodeJoinCondition(state)].filter((c) => c !== undefined)],
      withoutNodeJoined(context.current?.['conditions'], state),
      context.now,
      context.generation,
    ),
    provisioningFailCount: state.provisioningFailCount,
    lastAttemptedImage: image(state.lastAttemptedImage),
  };
  // Fields the CRD lacks (provisioningFailCount and lastAttemptedImage before v0.14) are dropped here.
  return validFields(HostStatusSchema.shape, clean(status) as Record<string, unknown>, context.current, 'status', STATUS_NESTED);
}

/** The object's conditions without a NodeJoined condition the state no longer has (it is ours to remove). */
function withoutNodeJoined(current: unknown, state: HostState): unknown {
  if (state.nodeJoin || !isConditionList(current)) return current;
  return current.filter((c) => c.type !== NODE_JOINED_CONDITION);
}

/** HardwareDetails as the CRD accepts them; invalid top-level parts keep `current`'s (or are left out). */
export function validHardware(hardware: Record<string, unknown>, current: Record<string, unknown> | undefined): ProjectedStatus {
  return validFields(HardwareDetailsSchema.shape, clean(hardware) as Record<string, unknown>, current, 'hardware');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    const otherKeys = Object.keys(b).filter((k) => b[k] !== undefined);
    return keys.length === otherKeys.length && keys.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * The RFC 7386 merge patch from `current` to `desired` (objects merged key by key, anything else replaced,
 * keys missing from `desired` deleted with null); undefined when they are equal.
 */
export function mergeDiff(current: unknown, desired: unknown): unknown {
  if (desired === undefined) return current === undefined ? undefined : null;
  if (isPlainObject(current) && isPlainObject(desired)) {
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(desired)) {
      if (v === undefined) continue;
      const d = mergeDiff(current[k], v);
      if (d !== undefined) patch[k] = d;
    }
    for (const k of Object.keys(current)) {
      if (current[k] !== undefined && desired[k] === undefined) patch[k] = null;
    }
    return Object.keys(patch).length > 0 ? patch : undefined;
  }
  return jsonEqual(current, desired) ? undefined : desired;
}

/**
 * The merge patch of `.status` from `current` to the projected owned fields, restricted to what the bridge
 * owns (and to the owned `provisioning` sub-fields); undefined when nothing owned changed. `lastUpdated` is
 * not compared: the caller adds it to a non-empty patch.
 */
export function statusPatch(current: Record<string, unknown> | undefined, projected: Record<string, unknown>): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  const cur = current ?? {};
  for (const field of OWNED_STATUS_FIELDS) {
    if (field === 'provisioning') {
      const curProvisioning = isPlainObject(cur['provisioning']) ? cur['provisioning'] : {};
      const desiredProvisioning = isPlainObject(projected['provisioning']) ? projected['provisioning'] : {};
      const sub: Record<string, unknown> = {};
      for (const k of OWNED_PROVISIONING_FIELDS) {
        const d = mergeDiff(curProvisioning[k], desiredProvisioning[k]);
        if (d !== undefined) sub[k] = d;
      }
      if (Object.keys(sub).length > 0) patch['provisioning'] = sub;
      continue;
    }
    const d = mergeDiff(cur[field], projected[field]);
    if (d !== undefined) patch[field] = d;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
