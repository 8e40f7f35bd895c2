/**
 * The Cluster API chain a CAPM3 host's consumerRef leads to (Metal3Machine → the Machine that owns it → its
 * Cluster), made by hand on an apiserver that has no Cluster API: minimal CRDs (one version, any fields) and the
 * objects, with no controller acting on them. What the worker's join check and a rollout's drain read
 * (activities/cluster-join.ts); the `capi` project runs the real controllers instead (test/capi/).
 */
import * as k8s from '@kubernetes/client-node';
import type { KubectlClient } from '../stack/kube.ts';

const CAPI = { group: 'cluster.x-k8s.io', version: 'v1beta2' };
const CAPM3 = { group: 'infrastructure.cluster.x-k8s.io', version: 'v1beta2' };

/** A minimal CRD of `plural.group`: served and stored as v1beta2, any fields. */
function crd(group: string, kind: string, plural: string): { metadata: { name: string } } & Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      scope: 'Namespaced',
      versions: [
        {
          name: CAPI.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

/**
 * Applies the CRDs of Cluster, Machine and Metal3Machine and waits until they are served. Idempotent: test
 * files on the same apiserver each apply them, perhaps at once (server-side apply creates or leaves them).
 */
export async function installClusterApiCrds(management: Pick<KubectlClient, 'kubectlRun'>): Promise<void> {
  const crds = [
    crd(CAPI.group, 'Cluster', 'clusters'),
    crd(CAPI.group, 'Machine', 'machines'),
    crd(CAPM3.group, 'Metal3Machine', 'metal3machines'),
  ];
  await management.kubectlRun(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }));
  await management.kubectlRun(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
}

/** A host's `spec.consumerRef` to a Metal3Machine, as CAPM3 writes it. */
export interface ConsumerRef {
  apiVersion: string;
  kind: 'Metal3Machine';
  name: string;
  namespace: string;
}

/** The chain's objects in one namespace of the management cluster (`kubeconfig`), as the admin. */
export function clusterApiChain(kubeconfig: string, namespace: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const create = (api: typeof CAPI, plural: string, kind: string, metadata: Record<string, unknown>, spec: Record<string, unknown>) =>
    objects.createNamespacedCustomObject({
      ...api,
      namespace,
      plural,
      body: { apiVersion: `${api.group}/${api.version}`, kind, metadata, spec },
    }) as Promise<{ metadata: { name: string; uid: string } }>;
  return {
    /** The Cluster `name` (its `<name>-kubeconfig` Secret is the caller's to write). */
    async createCluster(name: string): Promise<void> {
      await create(CAPI, 'clusters', 'Cluster', { name }, {});
    },
    /**
     * A Machine `m-<host>` of `cluster` and the Metal3Machine `m3m-<host>` it owns (controller reference), as
     * CAPI and CAPM3 make them for a host they consume; returns the host's consumerRef to it.
     */
    async createMachine(host: string, cluster: string): Promise<ConsumerRef> {
      const machine = await create(CAPI, 'machines', 'Machine', { name: `m-${host}` }, { clusterName: cluster });
      const owner = { apiVersion: `${CAPI.group}/${CAPI.version}`, kind: 'Machine', name: machine.metadata.name, uid: machine.metadata.uid, controller: true };
      const m3m = await create(CAPM3, 'metal3machines', 'Metal3Machine', { name: `m3m-${host}`, ownerReferences: [owner] }, {});
      return { apiVersion: `${CAPM3.group}/${CAPM3.version}`, kind: 'Metal3Machine', name: m3m.metadata.name, namespace };
    },
  };
}
