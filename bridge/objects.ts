/**
 * The shapes of the Kubernetes objects the bridge handles, as plain JSON, and the names it owns on them.
 * Live objects are validated where they are used (the spec with `HostSpecSchema`); here only what every
 * object has: metadata.
 */
import type { ObjectMeta } from '../domain/k8s.schema.ts';

/** Finalizer the bridge puts on every BareMetalHost it manages (BMO's, unchanged). */
export const HOST_FINALIZER = 'baremetalhost.metal3.io';
/** Finalizer on the HardwareData object of a host (BMO's, unchanged). */
export const HARDWARE_DATA_FINALIZER = 'baremetalhost.metal3.io/hardwareData';

/**
 * The label BMO puts on every Secret a host references, and the only Secrets its cache holds (BMO's
 * `secretutils.LabelEnvironmentName`/`Value`): the bridge watches these and labels what hosts name.
 */
export const SECRET_ENVIRONMENT_LABEL = 'environment.metal3.io';
export const SECRET_ENVIRONMENT_VALUE = 'baremetal';
export const SECRET_ENVIRONMENT_SELECTOR = `${SECRET_ENVIRONMENT_LABEL}=${SECRET_ENVIRONMENT_VALUE}`;

/** Any namespaced object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** A BareMetalHost as JSON; `spec` is validated when a reconcile reads it. */
export interface HostObject extends KubeObject {
  spec?: unknown;
  status?: Record<string, unknown>;
}

/** What the bridge keeps of a Secret: never its content, only whether the keys BMO needs are usable. */
export interface SecretView {
  namespace: string;
  name: string;
  resourceVersion: string;
  /** `username` is present and not blank. */
  hasUsername: boolean;
  /** `password` is present and not blank. */
  hasPassword: boolean;
}

/** The work-queue and cache key of an object: `namespace/name`. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function keyOf(object: KubeObject): string {
  return objectKey(object.metadata.namespace ?? '', object.metadata.name);
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function hasFinalizer(object: KubeObject, finalizer: string): boolean {
  return object.metadata.finalizers?.includes(finalizer) ?? false;
}

/** `spec.bmc.credentialsName` of a host, read before the spec is validated (it may be invalid elsewhere). */
export function credentialsNameOf(host: HostObject): string | undefined {
  const name = (host.spec as { bmc?: { credentialsName?: unknown } } | undefined)?.bmc?.credentialsName;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** Narrows a JSON value from the apiserver to an object with metadata.name, or undefined. */
export function asKubeObject(value: unknown): KubeObject | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const metadata = (value as { metadata?: unknown }).metadata;
  if (metadata === null || typeof metadata !== 'object' || typeof (metadata as { name?: unknown }).name !== 'string') return undefined;
  return value as KubeObject;
}

/** A Secret data value (base64) holds something other than whitespace; decoded to bytes, never to a string. */
function usableSecretValue(base64: unknown): boolean {
  if (typeof base64 !== 'string' || base64 === '') return false;
  const bytes = Buffer.from(base64, 'base64');
  for (const byte of bytes) {
    // BMO trims surrounding whitespace (space, \t, \n, \v, \f, \r) before checking for an empty value.
    if (!(byte === 0x20 || (byte >= 0x09 && byte <= 0x0d))) return true;
  }
  return false;
}

/**
 * What an informer keeps of an object: the object without `metadata.managedFields`. Nothing here reads them,
 * every write is a merge patch (which leaves them alone), and they are a large part of each object (a field
 * list per writer: every status field the bridge writes, every firmware setting), so at 5,000 hosts they are
 * a large part of the caches (client-go's informers strip them the same way, `TransformStripManagedFields`).
 * The object is the freshly parsed JSON of a list or watch, owned by the caller.
 */
export function cachedObject(value: unknown): KubeObject | undefined {
  const object = asKubeObject(value);
  if (object) delete object.metadata['managedFields'];
  return object;
}

/** Projects a Secret to what the bridge may keep; the content is dropped here. */
export function secretView(value: unknown): SecretView | undefined {
  const object = asKubeObject(value);
  if (!object) return undefined;
  const data = (object as { data?: Record<string, unknown> }).data ?? {};
  return {
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
    resourceVersion: object.metadata.resourceVersion ?? '',
    hasUsername: usableSecretValue(data['username']),
    hasPassword: usableSecretValue(data['password']),
  };
}
