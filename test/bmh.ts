/**
 * BareMetalHosts from a test's point of view, as a Metal3 user drives them: a credentials Secret, a host,
 * spec changes, deletion, and waiting (with a deadline, never a fixed sleep) for a provisioning state, or a
 * watch that sees every status a host shows.
 * For tests that run Tempered's real processes against the stack (deploy/, test/).
 */
import * as k8s from '@kubernetes/client-node';
import { watchHosts } from '../stack/watch-hosts.ts';
import { waitFor } from './wait.ts';

export interface Bmh {
  metadata: { name: string; uid?: string; finalizers?: string[]; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: {
    provisioning?: { state?: string };
    operationalStatus?: string;
    errorType?: string;
    errorMessage?: string;
    errorCount?: number;
    poweredOn?: boolean;
    conditions?: { type: string; status?: string; reason?: string; message?: string }[];
  };
}

/**
 * The calls a test makes on one namespace's BareMetalHosts, as the admin. `T` is what the test reads of a host
 * beyond {@link Bmh} (status fields only it looks at).
 */
export function bmhClient<T extends Bmh = Bmh>(kubeconfig: string, namespace: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const ref = { group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts' };
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const get = async (name: string) => (await objects.getNamespacedCustomObject({ ...ref, name })) as T;
  const gone = (name: string) => get(name).then(() => false, (e: { code?: number }) => e.code === 404);
  const patch = async (name: string, body: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> }) => {
    await objects.patchNamespacedCustomObject({ ...ref, name, body }, mergePatch);
  };
  return {
    core,
    /** For what the calls below do not cover (other metal3.io kinds, the status subresource). */
    objects,
    get,
    async list(): Promise<T[]> {
      return ((await objects.listNamespacedCustomObject(ref)) as { items: T[] }).items;
    },
    /** Calls `onEvent` for every change of the namespace's hosts, in the apiserver's order; call the result to stop. */
    watch(onEvent: (type: string, host: T) => void): Promise<() => void> {
      return watchHosts<T>(kc, namespace, onEvent);
    },
    /**
     * Appends to `into`, per host, each value `of` reads from it (a state, say) when it differs from the last, from
     * a watch, so a value held only briefly is seen too. Resolves once watching; call the result to stop.
     */
    recordChanges(into: Map<string, string[]>, of: (host: T) => string | undefined): Promise<() => void> {
      return watchHosts<T>(kc, namespace, (_type, host) => {
        const value = of(host);
        if (value === undefined) return;
        const list = into.get(host.metadata.name) ?? [];
        if (list.at(-1) !== value) list.push(value);
        into.set(host.metadata.name, list);
      });
    },
    async createNamespace(): Promise<void> {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    },
    async secret(name: string, username: string, password: string): Promise<void> {
      await core.createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: { username, password } } });
    },
    async create(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
      const metadata = { name, ...(annotations ? { annotations } : {}) };
      await objects.createNamespacedCustomObject({ ...ref, body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata, spec } });
    },
    /** A merge patch of the host's metadata and spec in one write. */
    patch,
    async patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
      await patch(name, { spec });
    },
    async annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
      await patch(name, { metadata: { annotations } });
    },
    async delete(name: string): Promise<void> {
      await objects.deleteNamespacedCustomObject({ ...ref, name });
    },
    /** Resolves with the host once it shows `state` (and `extra`); the error says where it was instead. */
    async inState(name: string, state: string, extra: (h: T) => boolean = () => true, timeoutMs = 120_000): Promise<T> {
      try {
        return await waitFor(`${name} in ${state}`, async () => {
          const h = await get(name);
          return h.status?.provisioning?.state === state && extra(h) ? h : undefined;
        }, { timeoutMs, intervalMs: 250 });
      } catch (error) {
        const status = await get(name).then((h) => JSON.stringify(h.status), () => 'no such host');
        throw new Error(`${(error as Error).message}; status: ${status}`, { cause: error });
      }
    },
    async gone(name: string, timeoutMs = 120_000): Promise<void> {
      await waitFor(`${name} to be gone`, () => gone(name), { timeoutMs, intervalMs: 250 });
    },
  };
}

/** The spec of a BareMetalHost on a simulated BMC whose credentials Secret is `<bmc id>-bmc`, online, plus `extra`. */
export function simHostSpec(bmc: { id: string; address: string; bootMACAddress: string | null }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    online: true,
    bootMACAddress: bmc.bootMACAddress,
    bmc: { address: bmc.address, credentialsName: `${bmc.id}-bmc` },
    ...extra,
  };
}
