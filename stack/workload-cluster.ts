/**
 * A workload cluster for Cluster API tests: a second real kube-apiserver + etcd (`stack/kube.ts`), run with
 * one cluster CA the way kubeadm sets a cluster up, and shown to the management cluster the way a hosted
 * control-plane provider shows one (docs/cluster-join.md):
 *
 * - in the management cluster: the Secrets a control-plane provider writes (`<cluster>-ca` with the CA's
 *   certificate and key, `<cluster>-kubeconfig` with an admin kubeconfig) and a StackControlPlane object whose
 *   status says the control plane is initialized, externally managed, and at the version the apiserver runs;
 * - in the workload cluster: what `kubeadm init` leaves for joining nodes (the `cluster-info` ConfigMap in
 *   kube-public, readable anonymously, and bootstrap-token authentication on), and a credential for the
 *   simulated hosts' kubelets with the rights a kubelet needs for its Node and Lease (they register with it
 *   instead of a TLS bootstrap).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { NodeCredential } from '../sim/os/credential.ts';
import { Agent, request } from 'undici';
import { kubeControllerManager, type Progress } from './binaries.ts';
import { startKube, type KubeApi, type KubectlClient } from './kube.ts';
import { base64File, issueCert, makeCa, type CertPair } from './pki.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

/** kube-controller-manager serves /healthz with a self-signed certificate. */
const insecureAgent = new Agent({ connect: { rejectUnauthorized: false } });

export interface WorkloadClusterOptions {
  stateDir: string;
  /** The management cluster, where the Cluster and its Secrets live. */
  management: KubectlClient;
  namespace: string;
  /** The Cluster API Cluster's name (`<cluster>-kubeconfig`, `<cluster>-ca`). */
  clusterName: string;
  /**
   * How long a Node may go without a heartbeat before the node lifecycle controller marks it NotReady
   * (kube-controller-manager's `--node-monitor-grace-period`; default 50 s, as in Kubernetes).
   */
  nodeMonitorGracePeriodSeconds?: number;
  progress: Progress;
}

export interface WorkloadCluster {
  clusterName: string;
  namespace: string;
  /** What `Cluster.spec.controlPlaneEndpoint` and `Metal3Cluster.spec.controlPlaneEndpoint` say. */
  endpoint: { host: string; port: number };
  /** What `Cluster.spec.controlPlaneRef` says. */
  controlPlaneRef: { apiGroup: string; kind: string; name: string };
  /** The version the workload apiserver runs, e.g. `v1.34.4`. */
  version: string;
  /** The workload apiserver, with an admin kubeconfig. */
  api: KubeApi;
  /** The credential simulated hosts hold to register their Nodes and renew their Leases. */
  kubeletCredential: NodeCredential;
  stop(): Promise<void>;
}

/** The stack's control-plane CRD (StackControlPlane). */
export const STACK_CONTROL_PLANE_CRD_DIR = fileURLToPath(new URL('./capi/', import.meta.url));
export const CONTROL_PLANE_GROUP = 'controlplane.tempered.dev';
export const CONTROL_PLANE_KIND = 'StackControlPlane';
/** The user the simulated kubelets authenticate as (a certificate's CN), and its ClusterRole. */
export const SIMULATED_KUBELET_USER = 'tempered:simulated-kubelet';

/** Starts the workload cluster and registers it with the management cluster as an initialized control plane. */
export async function startWorkloadCluster(options: WorkloadClusterOptions): Promise<WorkloadCluster> {
  const { management, namespace, clusterName, progress } = options;
  const pki = join(options.stateDir, 'cluster-pki');
  mkdirSync(pki, { recursive: true });
  // kubeadm's cluster CA: CN kubernetes, signs the apiserver's serving certificate and every client's.
  const ca = makeCa(pki, 'ca', '/CN=kubernetes');
  progress(`starting the workload cluster ${namespace}/${clusterName}`);
  const api = await startKube({
    stateDir: join(options.stateDir, 'kube'),
    clusterCa: ca,
    extraArgs: ['--enable-bootstrap-token-auth'],
    progress,
  });
  const port = Number(new URL(api.server).port);
  const endpoint = { host: '127.0.0.1', port };
  const version = (
    JSON.parse(await api.kubectlRun(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } }
  ).serverVersion.gitVersion;
  const controllerManager = await startControllerManager(options, api);

  await api.kubectlRun(['apply', '--server-side', '-f', '-'], workloadObjects(api.server, ca).join('---\n'));
  const kubelet = issueCert(pki, 'simulated-kubelet', ca, {
    subject: `/CN=${SIMULATED_KUBELET_USER}`,
    usage: 'client',
  });

  await management.applyCrds(STACK_CONTROL_PLANE_CRD_DIR);
  await management.kubectlRun(
    ['apply', '--server-side', '-f', '-'],
    managementObjects({
      namespace,
      clusterName,
      ca,
      kubeconfig: readFileSync(api.kubeconfig, 'utf8'),
      endpoint,
      version,
    }).join('---\n'),
  );
  // The status a control-plane provider reports once its apiserver answers (it does: startKube waited).
  const status = {
    status: { initialization: { controlPlaneInitialized: true }, externalManagedControlPlane: true, version },
  };
  await management.kubectlRun([
    'patch',
    `${CONTROL_PLANE_KIND.toLowerCase()}s.${CONTROL_PLANE_GROUP}`,
    clusterName,
    '-n',
    namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(status),
  ]);

  return {
    clusterName,
    namespace,
    endpoint,
    controlPlaneRef: { apiGroup: CONTROL_PLANE_GROUP, kind: CONTROL_PLANE_KIND, name: clusterName },
    version,
    api,
    kubeletCredential: {
      server: api.server,
      caPem: readFileSync(ca.cert, 'utf8'),
      certPem: readFileSync(kubelet.cert, 'utf8'),
      keyPem: readFileSync(kubelet.key, 'utf8'),
    },
    async stop() {
      await controllerManager.stop();
      await api.stop();
    },
  };
}

/**
 * The workload cluster's kube-controller-manager, with the controllers a cluster of joining and leaving nodes
 * needs: node lifecycle (a Node whose kubelet stops heartbeating goes NotReady/Unknown and gets the
 * unreachable taints), garbage collection (a deleted Node's Lease goes with it), namespaces, the
 * bootstrap-token signer and cleaner (cluster-info is signed for each token, as kubeadm join checks), and the
 * disruption controller (a PodDisruptionBudget's allowed disruptions, which the Eviction API obeys when a Node
 * is drained).
 */
const CONTROLLERS = [
  'node-lifecycle-controller',
  'disruption-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'bootstrap-signer-controller',
  'token-cleaner-controller',
];

async function startControllerManager(options: WorkloadClusterOptions, api: KubeApi): Promise<Supervised> {
  const binary = await kubeControllerManager(options.progress);
  const port = await freePort();
  const proc = startProcess(
    'kube-controller-manager',
    binary,
    [
      `--kubeconfig=${api.kubeconfig}`,
      `--authentication-kubeconfig=${api.kubeconfig}`,
      `--authorization-kubeconfig=${api.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      '--leader-elect=false',
      `--controllers=${CONTROLLERS.join(',')}`,
      `--node-monitor-grace-period=${options.nodeMonitorGracePeriodSeconds ?? 50}s`,
      '--node-monitor-period=2s',
      '--v=1',
    ],
    { logFile: join(options.stateDir, 'kube-controller-manager.log') },
  );
  await waitUntil(
    'kube-controller-manager',
    async () => {
      const res = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher: insecureAgent });
      await res.body.dump();
      return res.statusCode === 200;
    },
    { timeoutMs: 60_000, intervalMs: 250, process: proc },
  );
  return proc;
}

/** What the control-plane provider writes into the management cluster for the Cluster. */
function managementObjects(o: {
  namespace: string;
  clusterName: string;
  ca: CertPair;
  kubeconfig: string;
  endpoint: { host: string; port: number };
  version: string;
}): string[] {
  const labels = { 'cluster.x-k8s.io/cluster-name': o.clusterName };
  const secret = (name: string, data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'cluster.x-k8s.io/secret',
    metadata: { name, namespace: o.namespace, labels },
    data,
  });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace } },
    secret(`${o.clusterName}-ca`, { 'tls.crt': base64File(o.ca.cert), 'tls.key': base64File(o.ca.key) }),
    secret(`${o.clusterName}-kubeconfig`, { value: Buffer.from(o.kubeconfig).toString('base64') }),
    {
      apiVersion: `${CONTROL_PLANE_GROUP}/v1alpha1`,
      kind: CONTROL_PLANE_KIND,
      metadata: { name: o.clusterName, namespace: o.namespace, labels },
      spec: { version: o.version, controlPlaneEndpoint: o.endpoint },
    },
  ].map((doc) => stringify(doc));
}

/** What `kubeadm init` leaves for joining nodes, and the simulated kubelets' rights. */
function workloadObjects(server: string, ca: CertPair): string[] {
  const clusterInfo = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: '', cluster: { server, 'certificate-authority-data': base64File(ca.cert) } }],
    contexts: [],
    users: [],
    preferences: {},
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cluster-info', namespace: 'kube-public' },
      data: { kubeconfig: clusterInfo },
    },
    // kubeadm init: anonymous users may read cluster-info (discovery before the node trusts the CA).
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubeadm:bootstrap-signer-clusterinfo' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:anonymous' }],
    },
    // What a kubelet does to its own Node and Lease (the Node authorizer's rules, as RBAC for one user).
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: SIMULATED_KUBELET_USER },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch', 'update'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: SIMULATED_KUBELET_USER },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: SIMULATED_KUBELET_USER },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: SIMULATED_KUBELET_USER }],
    },
  ].map((doc) => stringify(doc));
}
