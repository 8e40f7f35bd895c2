/**
 * The simulated kubelet of a joined host: registers its Node the way the kubelet does (name, default labels
 * plus `--node-labels`, taints given at registration, provider ID, addresses, capacity, node info), then keeps
 * it alive: it renews its Lease in `kube-node-lease` every `leaseRenewMs` (the kubelet's 10 s) and posts the
 * Node's status with a Ready condition every `statusReportMs`. `stop()` is the host losing power: nothing is
 * posted any more, and the workload cluster's node lifecycle controller is what marks the Node NotReady.
 *
 * A Node that already exists (the host rebooted, or a Node of that name is left over) is taken over as the
 * kubelet does: its labels and taints from registration are not applied again, only status and Lease.
 */
import { randomUUID } from 'node:crypto';
import { certAuth, kubeCall, type KubeAnswer, type NodeCredential } from './credential.ts';
import type { Taint } from './kubeadm.ts';

export interface KubeletOptions {
  credential: NodeCredential;
  nodeName: string;
  labels: Record<string, string>;
  taints: Taint[];
  providerID?: string;
  addresses: { type: 'InternalIP' | 'Hostname' | 'ExternalIP'; address: string }[];
  capacity: { cpu: number; memoryMiB: number; pods: number };
  nodeInfo: { systemUUID: string; machineID: string; kubeletVersion: string };
  leaseRenewMs?: number;
  statusReportMs?: number;
  log(line: string): void;
}

/** The kubelet's default lease duration (`nodeLeaseDurationSeconds`). */
const LEASE_DURATION_SECONDS = 40;

/** Kubernetes' MicroTime: RFC 3339 with microseconds. */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A running simulated kubelet. */
export class SimKubelet {
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private uid = '';
  readonly bootID = randomUUID();
  /** Heartbeats sent (Lease renewals and status posts), for tests. */
  readonly sent = { leaseRenewals: 0, statusPosts: 0, failures: 0 };

  private readonly options: KubeletOptions;

  constructor(options: KubeletOptions) {
    this.options = options;
  }

  private call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<KubeAnswer<T>> {
    const c = this.options.credential;
    return kubeCall<T>({
      server: c.server,
      caPem: c.caPem,
      auth: certAuth(c),
      method,
      path,
      ...(body !== undefined ? { body } : {}),
      ...(contentType ? { contentType } : {}),
    });
  }

  /** Registers the Node (or takes over an existing one) and starts the heartbeats. Rejects when registration fails. */
  async start(): Promise<{ created: boolean }> {
    const o = this.options;
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: o.nodeName,
        labels: {
          ...o.labels,
          'kubernetes.io/hostname': o.nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'beta.kubernetes.io/os': 'linux',
          'beta.kubernetes.io/arch': 'amd64',
        },
        annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      },
      spec: { ...(o.providerID ? { providerID: o.providerID } : {}), ...(o.taints.length ? { taints: o.taints } : {}) },
    };
    const created = await this.call<{ metadata?: { uid?: string } }>('POST', '/api/v1/nodes', node);
    let isNew = true;
    if (created.status === 409) {
      isNew = false;
      const existing = await this.call<{ metadata?: { uid?: string } }>('GET', `/api/v1/nodes/${o.nodeName}`);
      if (existing.status !== 200)
        throw new Error(`kubelet: node ${o.nodeName} exists but cannot be read (HTTP ${existing.status})`);
      this.uid = existing.body?.metadata?.uid ?? '';
      o.log(`kubelet: node ${o.nodeName} was registered before; taking it over`);
    } else if (created.status !== 201) {
      throw new Error(
        `kubelet: registering node ${o.nodeName} failed with HTTP ${created.status}: ${JSON.stringify(created.body)}`,
      );
    } else {
      this.uid = created.body?.metadata?.uid ?? '';
      o.log(`kubelet: registered node ${o.nodeName}`);
    }
    await this.postStatus();
    await this.renewLease();
    this.every(o.leaseRenewMs ?? 10_000, () => this.renewLease());
    this.every(o.statusReportMs ?? 60_000, () => this.postStatus());
    return { created: isNew };
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const tick = () => {
      if (this.stopped) return;
      fn()
        .catch((err: Error) => {
          this.sent.failures += 1;
          this.options.log(`kubelet: heartbeat failed: ${err.message}`);
        })
        .finally(() => {
          if (!this.stopped) this.timers.push(setTimeout(tick, ms).unref());
        });
    };
    this.timers.push(setTimeout(tick, ms).unref());
  }

  /** Posts the Node's status: addresses, capacity, node info and conditions with a fresh heartbeat. */
  private async postStatus(): Promise<void> {
    const o = this.options;
    const now = new Date().toISOString();
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    const resources = {
      cpu: String(o.capacity.cpu),
      memory: `${o.capacity.memoryMiB}Mi`,
      pods: String(o.capacity.pods),
      'ephemeral-storage': '100Gi',
    };
    const status = {
      status: {
        // Strategic merge by condition type: lastTransitionTime only changes when the apiserver's copy has none.
        conditions: [
          condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
          condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        ],
        addresses: o.addresses,
        capacity: resources,
        allocatable: resources,
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: o.nodeInfo.machineID,
          systemUUID: o.nodeInfo.systemUUID,
          bootID: this.bootID,
          kernelVersion: '6.1.0-tempered-sim',
          osImage: 'Tempered simulated node image',
          containerRuntimeVersion: 'containerd://2.1.0',
          kubeletVersion: o.nodeInfo.kubeletVersion,
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    };
    const previous = await this.call<{
      status?: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
    }>('GET', `/api/v1/nodes/${o.nodeName}`);
    if (previous.status === 404) throw new Error(`node ${o.nodeName} was deleted`);
    // A condition keeps its lastTransitionTime while its status does not change.
    for (const c of status.status.conditions) {
      const before = previous.body?.status?.conditions?.find((p) => p.type === c.type);
      if (before?.status === c.status && before.lastTransitionTime) c.lastTransitionTime = before.lastTransitionTime;
    }
    const answer = await this.call(
      'PATCH',
      `/api/v1/nodes/${o.nodeName}/status`,
      status,
      'application/strategic-merge-patch+json',
    );
    if (answer.status !== 200) throw new Error(`status of node ${o.nodeName}: HTTP ${answer.status}`);
    this.sent.statusPosts += 1;
  }

  /** Renews (or creates) the node's Lease, owned by the Node as the kubelet makes it. */
  private async renewLease(): Promise<void> {
    const o = this.options;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${o.nodeName}`;
    const spec = { holderIdentity: o.nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime() };
    const patched = await this.call('PATCH', path, { spec }, 'application/merge-patch+json');
    if (patched.status === 200) {
      this.sent.leaseRenewals += 1;
      return;
    }
    if (patched.status !== 404) throw new Error(`lease of node ${o.nodeName}: HTTP ${patched.status}`);
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: o.nodeName,
        namespace: 'kube-node-lease',
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: o.nodeName, uid: this.uid }],
      },
      spec,
    };
    const created = await this.call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease);
    if (created.status !== 201 && created.status !== 409)
      throw new Error(`lease of node ${o.nodeName}: HTTP ${created.status}`);
    this.sent.leaseRenewals += 1;
  }

  /** The host lost power: the kubelet stops without a word. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
