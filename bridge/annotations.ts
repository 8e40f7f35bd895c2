/**
 * The annotations BMO honours on a BareMetalHost (metal3-api.md §1.9), parsed into `HostAnnotations`.
 * Parsing never throws: a value BMO would not accept becomes an `invalid` entry (the workflow turns it into an
 * InvalidAnnotationValue event) and, where BMO falls back to a default, the default is used as BMO does.
 */
import { HardwareDetailsSchema } from '../domain/hardware-data.schema.ts';
import type { HostAnnotations, RebootRequest } from '../domain/host-model.ts';
import { METAL3_ERROR_TYPES } from '../domain/errors.ts';
import { OPERATIONAL_STATUSES } from '../domain/host-state.ts';

export const PAUSED_ANNOTATION = 'baremetalhost.metal3.io/paused';
export const DETACHED_ANNOTATION = 'baremetalhost.metal3.io/detached';
export const STATUS_ANNOTATION = 'baremetalhost.metal3.io/status';
export const REBOOT_ANNOTATION_PREFIX = 'reboot.metal3.io';
export const INSPECT_ANNOTATION = 'inspect.metal3.io';
export const HARDWARE_DETAILS_ANNOTATION = 'inspect.metal3.io/hardwaredetails';
/** Tempered's own (beyond Metal3, BMO #2721): automated cleaning erases whole disks (docs/operator-guide.md). */
export const FULL_ERASE_ANNOTATION = 'cleaning.tempered.dev/full-erase';

type Invalid = HostAnnotations['invalid'][number];

function parseJsonObject(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `reboot.metal3.io[/key]`: `""` is a soft reboot; unparseable JSON is too (BMO: "assuming soft-reboot"). */
export function parseRebootValue(key: string, value: string): { request: RebootRequest; invalid?: Invalid } {
  if (value === '') return { request: { mode: 'soft', force: false } };
  const parsed = parseJsonObject(value);
  if (!parsed) {
    return { request: { mode: 'soft', force: false }, invalid: { key, message: `could not parse reboot annotation (${value}) - invalid json, assuming soft-reboot` } };
  }
  const { mode, force } = parsed;
  const problems: string[] = [];
  if (mode !== undefined && mode !== 'hard' && mode !== 'soft') problems.push(`mode must be "hard" or "soft", not ${JSON.stringify(mode)}`);
  if (force !== undefined && typeof force !== 'boolean') problems.push(`force must be true or false, not ${JSON.stringify(force)}`);
  const request: RebootRequest = { mode: mode === 'hard' ? 'hard' : 'soft', force: force === true };
  return problems.length > 0 ? { request, invalid: { key, message: `reboot annotation: ${problems.join('; ')}; assuming ${request.mode} reboot` } } : { request };
}

/** `baremetalhost.metal3.io/detached`: `""` or `{"deleteAction": "delete"|"delay", "force": bool}`. */
export function parseDetachedValue(value: string): { detached: NonNullable<HostAnnotations['detached']>; invalid?: Invalid } {
  const fallback = { deleteAction: 'delete' as const, force: false };
  if (value === '') return { detached: fallback };
  const parsed = parseJsonObject(value);
  if (!parsed) return { detached: fallback, invalid: { key: DETACHED_ANNOTATION, message: `could not parse detached annotation (${value}) - invalid json, assuming deleteAction "delete"` } };
  const { deleteAction, force } = parsed;
  const problems: string[] = [];
  if (deleteAction !== undefined && deleteAction !== 'delete' && deleteAction !== 'delay') problems.push(`deleteAction must be "delete" or "delay", not ${JSON.stringify(deleteAction)}`);
  if (force !== undefined && typeof force !== 'boolean') problems.push(`force must be true or false, not ${JSON.stringify(force)}`);
  const detached = { deleteAction: deleteAction === 'delay' ? ('delay' as const) : ('delete' as const), force: force === true };
  return problems.length > 0 ? { detached, invalid: { key: DETACHED_ANNOTATION, message: `detached annotation: ${problems.join('; ')}` } } : { detached };
}

/** Parses every annotation BMO honours; other keys are ignored. */
export function parseHostAnnotations(annotations: Readonly<Record<string, string>> | undefined): HostAnnotations {
  const result: HostAnnotations = { paused: false, reboot: {}, invalid: [] };
  if (!annotations) return result;
  // Sorted, so that the parsed form (and the fingerprint of it) does not depend on the apiserver's key order.
  for (const key of Object.keys(annotations).sort()) {
    const value = annotations[key] ?? '';
    if (key === PAUSED_ANNOTATION) {
      result.paused = true;
    } else if (key === DETACHED_ANNOTATION) {
      const { detached, invalid } = parseDetachedValue(value);
      result.detached = detached;
      if (invalid) result.invalid.push(invalid);
    } else if (key === REBOOT_ANNOTATION_PREFIX || key.startsWith(`${REBOOT_ANNOTATION_PREFIX}/`)) {
      const { request, invalid } = parseRebootValue(key, value);
      result.reboot[key] = request;
      if (invalid) result.invalid.push(invalid);
    } else if (key === INSPECT_ANNOTATION) {
      if (value === '' || value === 'disabled') result.inspect = value;
      else result.invalid.push({ key, message: `inspect annotation must be "" (re-inspect) or "disabled", not ${JSON.stringify(value)}; ignored` });
    } else if (key === FULL_ERASE_ANNOTATION) {
      if (value === '' || value === 'true') result.fullErase = true;
      else if (value !== 'false') result.invalid.push({ key, message: `full-erase annotation must be "", "true" or "false", not ${JSON.stringify(value)}; ignored` });
    } else if (key === HARDWARE_DETAILS_ANNOTATION) {
      const parsed = parseJsonObject(value);
      const details = parsed && HardwareDetailsSchema.safeParse(parsed);
      if (details?.success) result.hardwareDetails = details.data as Record<string, unknown>;
      else result.invalid.push({ key, message: `hardware details annotation is not valid HardwareDetails JSON${details ? `: ${details.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` : ''}; ignored` });
    }
  }
  return result;
}

/**
 * `baremetalhost.metal3.io/status`: the JSON of a `.status`, used only while the object's status is empty.
 * Partial statuses are accepted (BMO fills in what is missing); the fields the webhook checks are checked.
 */
export function parseStatusAnnotation(value: string): { status?: Record<string, unknown>; invalid?: Invalid } {
  const parsed = parseJsonObject(value);
  if (!parsed) return { invalid: { key: STATUS_ANNOTATION, message: 'status annotation is not a JSON object; ignored' } };
  const { operationalStatus, errorType } = parsed;
  if (operationalStatus !== undefined && !(OPERATIONAL_STATUSES as readonly unknown[]).includes(operationalStatus)) {
    return { invalid: { key: STATUS_ANNOTATION, message: `status annotation: invalid operationalStatus ${JSON.stringify(operationalStatus)}; ignored` } };
  }
  // BMO's webhook also accepts 'detach error' (in its code, not in the CRD enum): accepted on read.
  if (errorType !== undefined && errorType !== '' && errorType !== 'detach error' && !(METAL3_ERROR_TYPES as readonly unknown[]).includes(errorType)) {
    return { invalid: { key: STATUS_ANNOTATION, message: `status annotation: invalid errorType ${JSON.stringify(errorType)}; ignored` } };
  }
  return { status: parsed };
}
