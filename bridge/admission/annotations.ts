/**
 * Admission rules for the annotation values BMO acts on (reference/metal3-api.md §1.9): a value the engine
 * would fail to parse later is refused at `kubectl apply` time instead, with BMO's message. JSON values are
 * decoded the way Go's encoding/json would decode them into BMO's types (unknown fields refused where BMO
 * refuses them, types checked), so the same values pass and fail as with BMO.
 */
import { METAL3_ERROR_TYPES } from '../../domain/errors.ts';
import { OPERATIONAL_STATUSES } from '../../domain/host-state.ts';
import { jsonTypeName, record } from './read.ts';
import type { HostView, RuleId, Violation } from './rules.ts';

export const STATUS_ANNOTATION = 'baremetalhost.metal3.io/status';
export const REBOOT_ANNOTATION = 'reboot.metal3.io';
export const INSPECT_ANNOTATION = 'inspect.metal3.io';
export const HARDWARE_DETAILS_ANNOTATION = 'inspect.metal3.io/hardwaredetails';
export const DETACHED_ANNOTATION = 'baremetalhost.metal3.io/detached';

/**
 * The shape of a Go struct for decoding checks: each known field with its JSON kind, and nested shapes for
 * objects (and for the items of arrays). `any` accepts whatever a field holds.
 */
type Kind = 'string' | 'number' | 'bool' | 'any';
interface Shape {
  [field: string]: Kind | { object: Shape } | { array: Kind | { object: Shape } };
}

const ROOT_DEVICE_HINTS: Shape = {
  deviceName: 'string', hctl: 'string', model: 'string', vendor: 'string', serialNumber: 'string', minSizeGigabytes: 'number',
  wwn: 'string', wwnWithExtension: 'string', wwnVendorExtension: 'string', rotational: 'bool',
};

const HARDWARE_DETAILS: Shape = {
  systemVendor: { object: { manufacturer: 'string', productName: 'string', serialNumber: 'string' } },
  firmware: { object: { bios: { object: { date: 'string', vendor: 'string', version: 'string' } } } },
  ramMebibytes: 'number',
  nics: {
    array: {
      object: {
        name: 'string', model: 'string', mac: 'string', ip: 'string', speedGbps: 'number', vlanId: 'number', pxe: 'bool',
        vlans: { array: { object: { id: 'number', name: 'string' } } },
        lldp: { object: { switchID: 'string', portID: 'string', switchSystemName: 'string' } }, pciAddress: 'string',
      },
    },
  },
  storage: {
    array: {
      object: {
        name: 'string', alternateNames: { array: 'string' }, rotational: 'bool', type: 'string', sizeBytes: 'number', vendor: 'string',
        model: 'string', serialNumber: 'string', wwn: 'string', wwnVendorExtension: 'string', wwnWithExtension: 'string', hctl: 'string',
      },
    },
  },
  cpu: { object: { arch: 'string', model: 'string', clockMegahertz: 'number', flags: { array: 'string' }, count: 'number' } },
  hostname: 'string',
};

const CREDENTIALS_STATUS: Shape = { credentials: { object: { name: 'string', namespace: 'string' } }, credentialsVersion: 'string' };
const OPERATION: Shape = { start: 'string', end: 'string' };
const IMAGE: Shape = { url: 'string', checksum: 'string', checksumType: 'string', format: 'string', ociAuthSecretName: 'string' };

const HOST_STATUS: Shape = {
  lastUpdated: 'string',
  hardwareProfile: 'string',
  operationalStatus: 'string',
  errorType: 'string',
  errorMessage: 'string',
  errorCount: 'number',
  poweredOn: 'bool',
  provisioningFailCount: 'number',
  lastAttemptedImage: { object: IMAGE },
  provisioning: {
    object: {
      state: 'string', ID: 'string', image: { object: IMAGE }, rootDeviceHints: { object: ROOT_DEVICE_HINTS }, bootMode: 'string',
      raid: 'any', firmware: 'any', customDeploy: { object: { method: 'string' } },
    },
  },
  goodCredentials: { object: CREDENTIALS_STATUS },
  triedCredentials: { object: CREDENTIALS_STATUS },
  operationHistory: { object: { register: { object: OPERATION }, inspect: { object: OPERATION }, provision: { object: OPERATION }, deprovision: { object: OPERATION } } },
  hardware: { object: HARDWARE_DETAILS },
  conditions: { array: 'any' },
};

/**
 * Decodes like Go's json.Decoder into a struct with DisallowUnknownFields (`strict`) or plain json.Unmarshal:
 * null is accepted (it leaves the struct empty), a field of the wrong type or, when strict, an unknown field
 * is an error. Returns Go's error text, or undefined.
 */
function decodeError(value: unknown, shape: Shape, goType: string, strict: boolean, path = ''): string | undefined {
  if (value === null) return undefined;
  const obj = record(value);
  if (!obj) return `json: cannot unmarshal ${jsonTypeName(value)} into Go value of type ${goType}`;
  for (const [key, field] of Object.entries(obj)) {
    const kind = shape[key];
    const where = path === '' ? key : `${path}.${key}`;
    if (kind === undefined) {
      if (strict) return `json: unknown field ${JSON.stringify(key)}`;
      continue;
    }
    const problem = fieldError(field, kind, goType, strict, where);
    if (problem) return problem;
  }
  return undefined;
}

function fieldError(value: unknown, kind: Shape[string], goType: string, strict: boolean, where: string): string | undefined {
  if (value === null || kind === 'any') return undefined;
  const mismatch = (expected: string) => `json: cannot unmarshal ${jsonTypeName(value)} into Go struct field ${goType}.${where} of type ${expected}`;
  if (typeof kind === 'string') {
    if (kind === 'string' && typeof value !== 'string') return mismatch('string');
    if (kind === 'number' && typeof value !== 'number') return mismatch('number');
    if (kind === 'bool' && typeof value !== 'boolean') return mismatch('bool');
    return undefined;
  }
  if ('object' in kind) {
    if (!record(value)) return mismatch('object');
    return decodeError(value, kind.object, goType, strict, where);
  }
  if (!Array.isArray(value)) return mismatch('array');
  for (const item of value) {
    const problem = fieldError(item, kind.array, goType, strict, where);
    if (problem) return problem;
  }
  return undefined;
}

function parseJson(value: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(value) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

const v = (rule: RuleId, message: string): Violation => ({ rule, message });

function statusAnnotation(value: string): Violation[] {
  if (value === '') return [];
  const parsed = parseJson(value);
  const error = parsed.ok ? decodeError(parsed.value, HOST_STATUS, 'v1alpha1.BareMetalHostStatus', true) : parsed.error;
  if (error) return [v('annotation-status', `error decoding status annotation: ${error}`)];
  const status = record(parsed.ok ? parsed.value : undefined) ?? {};
  const operationalStatus = typeof status.operationalStatus === 'string' ? status.operationalStatus : '';
  const errorType = typeof status.errorType === 'string' ? status.errorType : '';
  if (!(OPERATIONAL_STATUSES as readonly string[]).includes(operationalStatus)) {
    return [v('annotation-status-values', `invalid operationalStatus '${operationalStatus}' in the ${STATUS_ANNOTATION} annotation`)];
  }
  if (errorType !== '' && !(METAL3_ERROR_TYPES as readonly string[]).includes(errorType)) {
    return [v('annotation-status-values', `invalid errorType '${errorType}' in the ${STATUS_ANNOTATION} annotation`)];
  }
  return [];
}

const REBOOT_ARGUMENTS: Shape = { mode: 'string', force: 'bool' };

function rebootAnnotation(value: string): Violation[] {
  if (value === '') return [];
  const parsed = parseJson(value);
  const error = parsed.ok ? decodeError(parsed.value, REBOOT_ARGUMENTS, 'v1alpha1.RebootAnnotationArguments', false) : parsed.error;
  if (error) return [v('annotation-reboot', `failed to unmarshal the data from the ${REBOOT_ANNOTATION} annotation: ${error}`)];
  const mode = record(parsed.ok ? parsed.value : undefined)?.mode ?? '';
  if (!['hard', 'soft', ''].includes(mode as string)) {
    return [v('annotation-reboot', `invalid mode in the ${REBOOT_ANNOTATION} annotation, allowed are "hard", "soft" or ""`)];
  }
  return [];
}

function inspectAnnotation(value: string): Violation[] {
  return value === '' || value === 'disabled'
    ? []
    : [v('annotation-inspect', `invalid value for the ${INSPECT_ANNOTATION} annotation, allowed are "disabled" or ""`)];
}

function hardwareDetailsAnnotation(value: string, inspectionDisabled: boolean): Violation[] {
  if (value === '') return [];
  if (!inspectionDisabled) {
    return [v('annotation-hardwaredetails-inspection', `when hardware details are provided, inspection must be disabled (either via ${INSPECT_ANNOTATION} annotation or inspectionMode field)`)];
  }
  const parsed = parseJson(value);
  const error = parsed.ok ? decodeError(parsed.value, HARDWARE_DETAILS, 'v1alpha1.HardwareDetails', true) : parsed.error;
  return error ? [v('annotation-hardwaredetails', `error decoding the ${HARDWARE_DETAILS_ANNOTATION} annotation: ${error}`)] : [];
}

const DETACHED_ARGUMENTS: Shape = { deleteAction: 'string', force: 'bool' };

function detachedAnnotation(value: string): Violation[] {
  if (value === '') return [];
  const parsed = parseJson(value);
  const error = parsed.ok ? decodeError(parsed.value, DETACHED_ARGUMENTS, 'v1alpha1.DetachedAnnotationArguments', false) : parsed.error;
  // The first half is the text BMO's controller reports when it later fails to parse the same value.
  if (error) return [v('annotation-detached', `unable to parse the content of the detached annotation: ${error}`)];
  const action = record(parsed.ok ? parsed.value : undefined)?.deleteAction ?? '';
  if (!['delay', 'delete', ''].includes(action as string)) {
    return [v('annotation-detached', `invalid deleteAction in the ${DETACHED_ANNOTATION} annotation, allowed are "delay", "delete" or ""`)];
  }
  return [];
}

/** Checks every annotation BMO gives a meaning to, in key order (BMO walks a Go map: no stable order). */
export function annotationViolations(host: HostView): Violation[] {
  const out: Violation[] = [];
  for (const key of Object.keys(host.annotations).sort()) {
    const value = host.annotations[key] ?? '';
    if (key === STATUS_ANNOTATION) out.push(...statusAnnotation(value));
    else if (key === REBOOT_ANNOTATION || key.startsWith(`${REBOOT_ANNOTATION}/`)) out.push(...rebootAnnotation(value));
    else if (key === INSPECT_ANNOTATION) out.push(...inspectAnnotation(value));
    else if (key === HARDWARE_DETAILS_ANNOTATION) out.push(...hardwareDetailsAnnotation(value, host.inspectionDisabled));
    else if (key === DETACHED_ANNOTATION) out.push(...detachedAnnotation(value));
  }
  return out;
}
