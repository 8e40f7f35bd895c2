/**
 * BareMetalHosts from a test's point of view, as a Metal3 user drives them: a credentials Secret, a host,
 * spec changes, deletion, and waiting (with a deadline, never a fixed sleep) for a provisioning state.
 * For tests that run Tempered's real processes against the stack (deploy/, test/).
 */
import * as k8s from '@kubernetes/client-node';
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

/** The calls a test makes on one namespace's BareMetalHosts, as the admin. */
export function bmhClient(kubeconfig: string, namespace: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const ref = { group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts' };
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const get = async (name: string) => (await objects.getNamespacedCustomObject({ ...ref, name })) as Bmh;
  const gone = (name: string) => get(name).then(() => false, (e: { code?: number }) => e.code === 404);
  return {
    core,
    get,
    async createNamespace(): Promise<void> {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    },
    async secret(name: string, username: string, password: string): Promise<void> {
      await core.createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: { username, password } } });
    },
    async create(name: string, spec: Record<string, unknown>): Promise<void> {
      await objects.createNamespacedCustomObject({ ...ref, body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name }, spec } });
    },
    async patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
      await objects.patchNamespacedCustomObject({ ...ref, name, body: { spec } }, mergePatch);
    },
    async annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
      await objects.patchNamespacedCustomObject({ ...ref, name, body: { metadata: { annotations } } }, mergePatch);
    },
    async delete(name: string): Promise<void> {
      await objects.deleteNamespacedCustomObject({ ...ref, name });
    },
    /** Resolves with the host once it shows `state` (and `extra`); the error says where it was instead. */
    async inState(name: string, state: string, extra: (h: Bmh) => boolean = () => true, timeoutMs = 120_000): Promise<Bmh> {
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
