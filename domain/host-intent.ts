/**
 * Questions the lifecycle asks about the user's intent (`HostDesired`) and the host's state (`HostState`): is
 * there a BMC to talk to, does the host need registering again, was provisioning cancelled, can this engine
 * deploy that image. Pure predicates, shared by the decisions (domain/host-decisions.ts) and the transition
 * step (domain/host-lifecycle.ts), so each question is answered in one place.
 */
import type { HostDesired, HostState, ImageIntent } from './host-model.ts';
import { NO_REGISTRATION_STATES, isOneOf } from './host-state.ts';

/** BMC address and credentials Secret name are both set (BMO's HasBMCDetails). */
export function hasBmc(desired: HostDesired): boolean {
  return Boolean(desired.spec.bmc?.address && desired.spec.bmc.credentialsName);
}

/** There are BMC details and a usable credentials Secret (BMO's haveCreds). */
export function usableCredentials(desired: HostDesired): boolean {
  return hasBmc(desired) && !desired.credentials?.problem;
}

/** Inspection is off: `inspectionMode: disabled`, or the legacy `inspect.metal3.io: disabled` annotation. */
export function inspectionDisabled(desired: HostDesired): boolean {
  return desired.annotations.inspect === 'disabled' || desired.spec.inspectionMode === 'disabled';
}

/** The spec asks for something to deploy: an image URL or a custom deploy method (BMO's NeedsProvisioning). */
export function wantsImage(desired: HostDesired): boolean {
  return Boolean(desired.spec.image?.url || desired.spec.customDeploy?.method);
}

/** The same image: URL, checksum and format. */
export function sameImage(a: ImageIntent | undefined, b: ImageIntent | undefined): boolean {
  return (a?.url ?? '') === (b?.url ?? '') && (a?.checksum ?? '') === (b?.checksum ?? '') && (a?.format ?? '') === (b?.format ?? '');
}

/** Annotation keys the workflow acted on stay ignored until the bridge has removed them. */
export function notConsumed(state: HostState, key: string): boolean {
  return !state.consumedAnnotations.includes(key);
}

/** The reboot annotations present and not acted on yet. */
export function activeReboots(desired: HostDesired, state: HostState): string[] {
  return Object.keys(desired.annotations.reboot).filter((k) => notConsumed(state, k));
}

/** Settings applied in `preparing` that differ from what was applied (BMO: available → preparing). */
export function prepareSettingsChanged(state: HostState, desired: HostDesired): boolean {
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
  return JSON.stringify([
    desired.spec,
    annotations,
    desired.credentials?.name,
    desired.credentials?.version,
    desired.credentials?.problem,
    desired.deleting,
  ]);
}

/** The end of the error backoff, when it has not passed yet. */
export function backoffUntil(state: HostState, now: number): number | undefined {
  if (!state.retryAfter) return undefined;
  const until = Date.parse(state.retryAfter);
  return until > now ? until : undefined;
}

function credentialsChanged(state: HostState, desired: HostDesired): boolean {
  const c = desired.credentials;
  if (!c || !state.goodCredentials) return false;
  return c.name !== state.goodCredentials.name || (c.version !== undefined && c.version !== state.goodCredentials.version);
}

/**
 * BMO's ensureRegistered: outside NO_REGISTRATION_STATES the host registers again after a registration error,
 * when it never registered, or when the BMC address or the credentials (Secret name or version) changed.
 */
export function needsRegistration(state: HostState, desired: HostDesired): boolean {
  if (isOneOf(state.provisioningState, NO_REGISTRATION_STATES)) return false;
  if (state.errorType === 'registration error' || state.errorType === 'provisioned registration error') return true;
  if (!state.goodCredentials) return true;
  if ((desired.spec.bmc?.address ?? '') !== (state.bmcAddress ?? '')) return true;
  return credentialsChanged(state, desired);
}

/**
 * BMO's provisioningCancelled, for a provisioned host: the custom deploy method changed or went away, or the
 * image URL changed or went away (compared with what was deployed).
 */
export function deployedIntentChanged(state: HostState, desired: HostDesired): boolean {
  const method = desired.spec.customDeploy?.method;
  if (method) {
    if (state.customDeploy?.method && state.customDeploy.method !== method) return true;
    return Boolean(state.image?.url) && desired.spec.image?.url !== state.image?.url;
  }
  if (state.customDeploy?.method) return true;
  if (!desired.spec.image?.url) return true;
  return Boolean(state.image?.url) && desired.spec.image.url !== state.image?.url;
}

/**
 * While provisioning: the image the deploy started with was removed or replaced (compared with
 * `lastAttemptedImage`, recorded on entering `provisioning`).
 */
export function provisioningIntentChanged(state: HostState, desired: HostDesired): boolean {
  return !wantsImage(desired) || !sameImage(desired.spec.image, state.lastAttemptedImage);
}

/** What automated cleaning runs: nothing (`automatedCleaningMode: disabled`), metadata, or a full erase. */
export function cleaningMode(desired: HostDesired): 'disabled' | 'metadata' | 'full' {
  if (desired.spec.automatedCleaningMode === 'disabled') return 'disabled';
  return desired.annotations.fullErase ? 'full' : 'metadata';
}
