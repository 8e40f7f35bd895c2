/**
 * The Cluster API objects the capi test files share, written once: the workload Cluster with its Metal3Cluster,
 * the kubeadm join configuration of a Metal3 worker, a Metal3 node image, the group-qualified references
 * between them, and reading objects back as JSON through the management cluster's kubectl.
 */
import type { KubectlClient } from '../../stack/kube.ts';
import type { WorkloadCluster } from '../../stack/workload-cluster.ts';

/** A reference to a bootstrap provider's object (`spec.bootstrap.configRef`). */
export const bootstrapRef = (kind: string, name: string) => ({ apiGroup: 'bootstrap.cluster.x-k8s.io', kind, name });

/** A reference to an infrastructure provider's object (`spec.infrastructureRef`). */
export const infrastructureRef = (kind: string, name: string) => ({
  apiGroup: 'infrastructure.cluster.x-k8s.io',
  kind,
  name,
});

/**
 * The Cluster `name` in `namespace` on the stack's workload cluster (its control plane runs outside CAPI) and
 * its Metal3Cluster, with the cloud provider off (no CCM sets providerIDs; CAPM3 does).
 */
export function workloadClusterObjects(
  namespace: string,
  name: string,
  workload: Pick<WorkloadCluster, 'endpoint' | 'controlPlaneRef'>,
): object[] {
  const { endpoint, controlPlaneRef } = workload;
  return [
    {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name, namespace },
      spec: {
        clusterNetwork: { services: { cidrBlocks: ['10.96.0.0/12'] }, pods: { cidrBlocks: ['192.168.0.0/18'] } },
        controlPlaneEndpoint: endpoint,
        controlPlaneRef,
        infrastructureRef: infrastructureRef('Metal3Cluster', name),
      },
    },
    {
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
      kind: 'Metal3Cluster',
      metadata: { name, namespace },
      spec: { controlPlaneEndpoint: endpoint, cloudProviderEnabled: false },
    },
  ];
}

/**
 * The kubeadm join configuration of a Metal3 worker: the Node named after the host and labelled with its UID,
 * both rendered by the host's OS from the metadata on its config drive.
 */
export const JOIN_CONFIGURATION = {
  nodeRegistration: {
    name: '{{ ds.meta_data.name }}',
    kubeletExtraArgs: [{ name: 'node-labels', value: 'metal3.io/uuid={{ ds.meta_data.uuid }}' }],
  },
};

/** A Metal3Machine's `spec.image`: a qcow2 image and the URL of its sha256 checksum. */
export const qcow2Image = (url: string, checksum: string) => ({
  url,
  checksum,
  checksumType: 'sha256',
  diskFormat: 'qcow2',
});

/** `kubectl <args> -o json` against `cluster`, parsed. */
export const kubectlJson =
  (cluster: Pick<KubectlClient, 'kubectlRun'>) =>
  async <T>(args: string[]): Promise<T> =>
    JSON.parse(await cluster.kubectlRun([...args, '-o', 'json'])) as T;

/** `kubectl apply` of `objects` against `cluster`. */
export const applyAll = (cluster: Pick<KubectlClient, 'kubectlRun'>, objects: object[]) =>
  cluster.kubectlRun(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
