/**
 * From one version of a BareMetalHost (and what the bridge knows of its credentials Secret) to the
 * `HostDesired` the host workflow is sent, plus the fingerprints that decide whether it must be sent at all.
 * Pure: no I/O, no clock.
 */
import { createHash } from 'node:crypto';
import { HostSpecSchema, type HostSpec } from '../domain/baremetalhost.schema.ts';
import type { CredentialsView, HostDesired, HostSpecIntent, ImageIntent } from '../domain/host-model.ts';
import { STATUS_ANNOTATION, parseHostAnnotations, parseStatusAnnotation } from './annotations.ts';
import type { HostObject, SecretView } from './objects.ts';

export type DesiredResult =
  | {
      ok: true;
      desired: HostDesired;
      /** Fingerprint of the user's intent: everything but resourceVersion and the status-recovery fields. */
      intent: string;
      /** While `.status` is empty: fingerprint of what was restored from the status annotation; else undefined. */
      missingStatus: string | undefined;
    }
  | { ok: false; problem: string };

/** A BareMetalHost has a status when it was ever written (BMO: `status.lastUpdated` is set). */
export function hasStatus(host: HostObject): boolean {
  const lastUpdated = host.status?.['lastUpdated'];
  return typeof lastUpdated === 'string' && lastUpdated !== '';
}

/** JSON with sorted keys and undefined members dropped, so equal values always serialize the same. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

export function fingerprint(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex');
}

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function imageIntent(image: NonNullable<HostSpec['image']>): ImageIntent {
  return defined({ url: image.url, checksum: image.checksum, checksumType: image.checksumType, format: image.format });
}

/** The subset of the spec the engine acts on (host-model.ts `HostSpecIntent`). */
export function specIntent(spec: HostSpec): HostSpecIntent {
  return defined<HostSpecIntent>({
    online: spec.online,
    bmc: spec.bmc && defined({ address: spec.bmc.address, credentialsName: spec.bmc.credentialsName, disableCertificateVerification: spec.bmc.disableCertificateVerification }),
    bootMACAddress: spec.bootMACAddress,
    bootMode: spec.bootMode,
    image: spec.image && imageIntent(spec.image),
    customDeploy: spec.customDeploy && { method: spec.customDeploy.method },
    externallyProvisioned: spec.externallyProvisioned,
    automatedCleaningMode: spec.automatedCleaningMode,
    inspectionMode: spec.inspectionMode,
    rootDeviceHints: spec.rootDeviceHints as Record<string, unknown> | undefined,
    raid: spec.raid as Record<string, unknown> | undefined,
    disablePowerOff: spec.disablePowerOff,
    architecture: spec.architecture,
    userData: spec.userData?.name !== undefined ? defined({ name: spec.userData.name, namespace: spec.userData.namespace }) : undefined,
    networkData: spec.networkData?.name !== undefined ? defined({ name: spec.networkData.name, namespace: spec.networkData.namespace }) : undefined,
    metaData: spec.metaData?.name !== undefined ? defined({ name: spec.metaData.name, namespace: spec.metaData.namespace }) : undefined,
    consumerRef: spec.consumerRef && defined({ apiVersion: spec.consumerRef.apiVersion, kind: spec.consumerRef.kind, name: spec.consumerRef.name, namespace: spec.consumerRef.namespace }),
  });
}

/** What the bridge can tell the workflow about the credentials Secret: its version, or why it cannot be used. */
export function credentialsView(namespace: string, credentialsName: string, secret: SecretView | undefined): CredentialsView {
  if (!secret) return { name: credentialsName, problem: `the BMC credentials Secret ${namespace}/${credentialsName} does not exist` };
  const missing = [secret.hasUsername ? undefined : 'username', secret.hasPassword ? undefined : 'password'].filter((k) => k !== undefined);
  if (missing.length > 0) {
    return {
      name: credentialsName,
      version: secret.resourceVersion,
      problem: `the BMC credentials Secret ${namespace}/${credentialsName} has no usable ${missing.map((k) => `"${k}"`).join(' or ')} key`,
    };
  }
  return { name: credentialsName, version: secret.resourceVersion };
}

export interface DesiredInput {
  host: HostObject;
  /** The bridge's view of a Secret in the host's namespace. */
  secret: (namespace: string, name: string) => SecretView | undefined;
  /** Send the object's current `.status` as `adoptStatus` (the first signal this bridge sends for the host). */
  adopt: boolean;
  /** Whether the host counts towards the provisioning limit (default: it does not). */
  countsTowardLimit?: (host: HostObject) => boolean;
}

/** Computes the `HostDesired` of one version of a BareMetalHost; `ok: false` when its spec cannot be read. */
export function computeDesired({ host, secret, adopt, countsTowardLimit }: DesiredInput): DesiredResult {
  const { metadata } = host;
  const namespace = metadata.namespace ?? '';
  const parsed = HostSpecSchema.safeParse(host.spec);
  if (!parsed.success) {
    return { ok: false, problem: `spec does not match the BareMetalHost schema: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; ')}` };
  }
  const spec = specIntent(parsed.data);
  const annotations = parseHostAnnotations(metadata.annotations);
  const statusMissing = !hasStatus(host);

  let restoredStatus: Record<string, unknown> | undefined;
  const statusAnnotation = metadata.annotations?.[STATUS_ANNOTATION];
  if (statusMissing && statusAnnotation !== undefined) {
    const { status, invalid } = parseStatusAnnotation(statusAnnotation);
    restoredStatus = status;
    if (invalid) annotations.invalid.push(invalid);
  }

  const credentialsName = parsed.data.bmc?.credentialsName;
  const desired: HostDesired = defined<HostDesired>({
    ref: { namespace, name: metadata.name, uid: metadata.uid ?? '' },
    generation: metadata.generation ?? 0,
    resourceVersion: metadata.resourceVersion ?? '',
    spec,
    annotations,
    credentials: credentialsName ? credentialsView(namespace, credentialsName, secret(namespace, credentialsName)) : undefined,
    deleting: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    countsTowardProvisioningLimit: countsTowardLimit?.(host) ? true : undefined,
    statusMissing,
    restoredStatus,
    adoptStatus: adopt && !statusMissing ? host.status : undefined,
  });

  const { resourceVersion: _rv, statusMissing: _missing, restoredStatus: _restored, adoptStatus: _adopt, ...intent } = desired;
  return {
    ok: true,
    desired,
    intent: fingerprint(intent),
    missingStatus: statusMissing ? fingerprint(restoredStatus ?? null) : undefined,
  };
}
