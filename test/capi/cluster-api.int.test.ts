/**
 * The real Cluster API controllers on the stack (core manager, kubeadm bootstrap provider, CAPM3, with their
 * webhooks registered) and the workload cluster the stack provides: CAPI takes its control plane as
 * initialized, the real CABPK writes kubeadm join data for a worker (the same shape as the fixtures the unit
 * tests use), and a simulated OS given that data on a config drive joins the real workload apiserver: a Node
 * with the labels from the kubelet flags, Ready while it heartbeats, NotReady once the host loses power (the
 * workload cluster's own node lifecycle controller decides). Also what the OS does when it must not join, when
 * the token is wrong, and with user data it does not follow.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterJoinActivities, type VerifyJoinInput } from '../../activities/cluster-join.ts';
import { unique } from '../support.ts';
import { waitFor } from '../wait.ts';
import { applyAll, bootstrapRef, infrastructureRef, JOIN_CONFIGURATION, kubectlJson, qcow2Image, workloadClusterObjects } from './fixtures.ts';
import { CredentialStore, HostOs } from '../../sim/os/host-os.ts';
import type { ConfigDriveFiles } from '../../sim/os/index.ts';
import { kubectlClient } from '../../stack/kube.ts';
import { startWorkloadCluster, type WorkloadCluster } from '../../stack/workload-cluster.ts';
import { sharedStack } from '../stack-info.ts';

const stack = sharedStack();
const management = kubectlClient(stack.kube.kubectl, stack.kube.kubeconfig);
const NS = unique('capi');
const CLUSTER = 'w1';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/cabpk/${name}`, import.meta.url), 'utf8');

let workload: WorkloadCluster;
let workloadDir: string;
let nodes: k8s.CoreV1Api;
let leases: k8s.CoordinationV1Api;
const credentials = new CredentialStore();

beforeAll(async () => {
  workload = await startWorkloadCluster({
    stateDir: (workloadDir = mkdtempSync(join(tmpdir(), 'tempered-workload-'))),
    management,
    namespace: NS,
    clusterName: CLUSTER,
    nodeMonitorGracePeriodSeconds: 20,
    progress: () => {},
  });
  credentials.hold(workload.kubeletCredential);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(workload.api.kubeconfig);
  nodes = kc.makeApiClient(k8s.CoreV1Api);
  leases = kc.makeApiClient(k8s.CoordinationV1Api);
});

afterAll(async () => {
  await workload?.stop();
  if (workloadDir) rmSync(workloadDir, { recursive: true, force: true });
});

const getJson = kubectlJson(management);

/** The KubeadmConfigTemplate spec the fixtures were captured with (test/fixtures/cabpk/SOURCE.md). */
const KUBEADM_CONFIG_SPEC = {
  joinConfiguration: JOIN_CONFIGURATION,
  preKubeadmCommands: ["hostnamectl set-hostname {{ ds.meta_data['local_hostname'] }}"],
  files: [{ path: '/etc/motd', content: 'hello {{ v1.local_hostname }}' }],
};

/** What differs between two captures of CABPK output: the endpoint, the CA pin and the token. */
function normalized(userData: string): string {
  return userData
    .replace(/apiServerEndpoint: 127\.0\.0\.1:\d+/, 'apiServerEndpoint: ENDPOINT')
    .replace(/sha256:[0-9a-f]{64}/, 'sha256:PIN')
    .replace(/token: [a-z0-9]{6}\.[a-z0-9]{16}/, 'token: TOKEN');
}

describe('the Cluster API controllers on the stack', () => {
  it("validate and default objects through their registered webhooks (CAPI's Machine webhook)", async () => {
    const machine = (name: string, version: string) =>
      JSON.stringify({
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Machine',
        metadata: { name, namespace: NS },
        spec: {
          clusterName: 'no-such-cluster',
          version,
          bootstrap: { dataSecretName: 'none' },
          infrastructureRef: infrastructureRef('Metal3Machine', name),
        },
      });
    // The defaulting webhook prefixes the version with 'v', then the validating webhook refuses it.
    await expect(management.kubectlRun(['apply', '-f', '-'], machine('bad-version', 'not-a-version'))).rejects.toThrow(
      'spec.version: Invalid value: "vnot-a-version": must be a valid semantic version',
    );
    await management.kubectlRun(['apply', '-f', '-'], machine('defaulted', 'v1.34.4'));
    const created = await getJson<{ metadata: { labels?: Record<string, string> } }>([
      'get',
      'machine',
      'defaulted',
      '-n',
      NS,
    ]);
    expect(created.metadata.labels?.['cluster.x-k8s.io/cluster-name']).toBe('no-such-cluster');
    await management.kubectlRun(['delete', 'machine', 'defaulted', '-n', NS, '--wait=false']);
  });
});

describe('a worker joins the workload cluster with the real CABPK output', () => {
  let userData: string;
  const uid = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const drive = (data: string, name: string): ConfigDriveFiles => ({
    // What BMO puts in meta_data.json when CAPM3 gives no metaData (Ironic's node UUID is the host's UID).
    metaData: {
      uuid: uid,
      name,
      'local-hostname': name,
      local_hostname: name,
      'metal3-name': name,
      'metal3-namespace': NS,
    },
    userData: data,
  });
  const hostOs = (id: string) =>
    new HostOs({
      hostId: id,
      hardware: () => ({ systemUuid: `sys-${id}`, cpus: 4, memoryMiB: 16384, ips: ['192.0.2.21'] }),
      clusters: credentials,
      settings: { leaseRenewMs: 2000, statusReportMs: 5000, discoveryTimeoutMs: 60_000 },
    });

  /** Tempered's join check, run as the activity it is (heartbeats and cancellation through the mock context). */
  const verify = async (host: { uid: string; name: string }, deadlineSeconds: number, consumer = 'worker') => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(stack.kube.kubeconfig);
    const activities = createClusterJoinActivities({ kubeconfig: kc, relistMs: 500 });
    const input: VerifyJoinInput = {
      host: { namespace: NS, ...host },
      consumer: {
        apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
        kind: 'Metal3Machine',
        name: consumer,
        namespace: NS,
      },
      deadlineSeconds,
    };
    return new MockActivityEnvironment().run(activities.verifyNodeJoin, input);
  };

  beforeAll(async () => {
    await applyAll(management, [
      ...workloadClusterObjects(NS, CLUSTER, workload),
      {
        apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta2',
        kind: 'KubeadmConfig',
        metadata: { name: 'worker', namespace: NS },
        spec: KUBEADM_CONFIG_SPEC,
      },
      {
        apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
        kind: 'Metal3Machine',
        metadata: { name: 'worker', namespace: NS },
        spec: { image: qcow2Image('http://127.0.0.1:1/node.qcow2', 'http://127.0.0.1:1/node.qcow2.sha256sum') },
      },
      {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Machine',
        metadata: { name: 'worker', namespace: NS },
        spec: {
          clusterName: CLUSTER,
          version: workload.version,
          bootstrap: { configRef: bootstrapRef('KubeadmConfig', 'worker') },
          infrastructureRef: infrastructureRef('Metal3Machine', 'worker'),
        },
      },
    ]);
  });

  it('CAPI takes the stack-run control plane as initialized', async () => {
    await waitFor(
      'Cluster condition ControlPlaneInitialized',
      async () => {
        const cluster = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
          'get',
          'cluster',
          CLUSTER,
          '-n',
          NS,
        ]);
        return cluster.status?.conditions?.some((c) => c.type === 'ControlPlaneInitialized' && c.status === 'True');
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it('CABPK writes kubeadm join data with a bootstrap token in the workload cluster, shaped like the fixture', async () => {
    const secretName = await waitFor(
      'the bootstrap data Secret',
      async () =>
        (await getJson<{ status?: { dataSecretName?: string } }>(['get', 'kubeadmconfig', 'worker', '-n', NS])).status
          ?.dataSecretName,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const secret = await getJson<{ data: Record<string, string> }>(['get', 'secret', secretName, '-n', NS]);
    userData = Buffer.from(secret.data.value ?? '', 'base64').toString('utf8');
    expect(Buffer.from(secret.data.format ?? '', 'base64').toString()).toBe('cloud-config');
    expect(normalized(userData)).toBe(normalized(fixture('worker-join-v1beta4.yaml')));
    const tokenId = /token: ([a-z0-9]{6})\./.exec(userData)?.[1];
    const tokens = JSON.parse(await workload.api.kubectlRun(['get', 'secrets', '-n', 'kube-system', '-o', 'json'])) as {
      items: { metadata: { name: string } }[];
    };
    expect(tokens.items.map((s) => s.metadata.name)).toContain(`bootstrap-token-${tokenId}`);
  });

  it('a simulated OS joins: a Node with the host UID label and the join taint, Ready, with its Lease', async () => {
    const os = hostOs('join-0');
    const running = os.boot(drive(userData, 'host-0'), '/dev/sda2');
    await running.settled;
    expect(running.record.join).toMatchObject({ status: 'joined', nodeName: 'host-0', server: workload.api.server });
    expect(running.record.commands.map((c) => [c.command, c.exitCode])).toEqual([
      ['hostnamectl set-hostname host-0', 0],
      ['kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml', 0],
      ['echo success > /run/cluster-api/bootstrap-success.complete', 0],
    ]);
    const node = await nodes.readNode({ name: 'host-0' });
    expect(node.metadata?.labels).toMatchObject({ 'metal3.io/uuid': uid, 'kubernetes.io/hostname': 'host-0' });
    // The join configuration's taint; the node lifecycle controller may add its own `not-ready` one for a
    // moment after the Node appears (until it sees the kubelet's Ready), so only that one is required.
    expect(node.spec?.taints?.filter((t) => !t.key.startsWith('node.kubernetes.io/'))).toEqual([
      { key: 'node.cluster.x-k8s.io/uninitialized', effect: 'NoSchedule' },
    ]);
    expect(node.status?.nodeInfo?.systemUUID).toBe('sys-join-0');
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    // Tempered's join check follows the real objects: Metal3Machine → Machine → Cluster → kubeconfig → Node.
    expect(await verify({ uid, name: 'host-0' }, 5)).toMatchObject({
      outcome: 'joined',
      node: 'host-0',
      cluster: `${NS}/${CLUSTER}`,
    });
    const lease = await leases.readNamespacedLease({ namespace: 'kube-node-lease', name: 'host-0' });
    expect(lease.spec?.holderIdentity).toBe('host-0');
    expect(lease.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Node',
      name: 'host-0',
      uid: node.metadata?.uid,
    });

    // The host loses power: the kubelet falls silent and the workload cluster's node lifecycle controller
    // marks the Node (grace period 20 s here).
    os.powerOff();
    await waitFor(
      'the Node to go NotReady',
      async () =>
        (await nodes.readNode({ name: 'host-0' })).status?.conditions?.find(
          (c) => c.type === 'Ready' && c.status !== 'True',
        ),
      { timeoutMs: 60_000, intervalMs: 1000 },
    );

    expect(await verify({ uid, name: 'host-0' }, 1)).toMatchObject({
      outcome: 'timeout',
      seen: {
        kind: 'notReady',
        node: 'host-0',
        detail: expect.stringMatching(/^Ready is Unknown \(NodeStatusUnknown: Kubelet stopped posting node status.\)$/),
      },
    });

    // It boots again from the same disk: cloud-init does not run again, the kubelet comes back.
    const again = os.boot(drive(userData, 'host-0'), '/dev/sda2');
    await again.settled;
    expect(again.record.firstBoot).toBe(false);
    expect(again.record.commands).toEqual([]);
    await waitFor(
      'the Node to be Ready again',
      async () =>
        (await nodes.readNode({ name: 'host-0' })).status?.conditions?.find(
          (c) => c.type === 'Ready' && c.status === 'True',
        ),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    os.powerOff();
  });

  it('the join check reports a Node that carries another UID, and no Node at all', async () => {
    expect(await verify({ uid: 'ffffffff-0000-4000-8000-000000000000', name: 'host-0' }, 1)).toMatchObject({
      outcome: 'timeout',
      seen: { kind: 'wrongLabel', node: 'host-0' },
      message: `no Node has metal3.io/uuid=ffffffff-0000-4000-8000-000000000000; Node host-0 has the host's name but metal3.io/uuid=${uid}, not ffffffff-0000-4000-8000-000000000000`,
    });
    expect(await verify({ uid: 'eeeeeeee-0000-4000-8000-000000000000', name: 'nowhere' }, 1)).toMatchObject({
      outcome: 'timeout',
      seen: { kind: 'noNode' },
    });
    const gone = await verify({ uid, name: 'host-0' }, 1, 'no-such-m3m');
    expect(gone).toEqual({ outcome: 'consumerGone', message: `Metal3Machine ${NS}/no-such-m3m no longer exists` });
  });

  it('the never-join switch: the OS boots, runs cloud-init, and never registers a Node', async () => {
    const os = hostOs('never-0');
    os.configure({ neverJoin: true });
    const running = os.boot(drive(userData, 'never-0'), '/dev/sda2');
    await running.settled;
    expect(running.record.join).toMatchObject({ status: 'suppressed' });
    expect(running.record.commands.find((c) => c.command.startsWith('kubeadm join'))?.exitCode).toBe(1);
    expect(running.record.commands.some((c) => c.command.startsWith('echo success'))).toBe(false);
    await expect(nodes.readNode({ name: 'never-0' })).rejects.toThrow();
  });

  it('a token the cluster did not sign is refused at discovery, as kubeadm refuses it', async () => {
    const os = hostOs('badtoken-0');
    const forged = userData.replace(/token: ([a-z0-9]{6})\.[a-z0-9]{16}/, 'token: $1.0000000000000000');
    const running = os.boot(drive(forged, 'badtoken-0'), '/dev/sda2');
    await running.settled;
    expect(running.record.join).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/failed to verify JWS signature/),
    });
    await expect(nodes.readNode({ name: 'badtoken-0' })).rejects.toThrow();
  });

  it('records user data it does not follow and ignores it', async () => {
    const os = hostOs('script-0');
    const running = os.boot(drive('#!/bin/bash\nkubeadm join 127.0.0.1:6443 --token x\n', 'script-0'), '/dev/sda2');
    await running.settled;
    expect(running.record.format).toBe('shell script');
    expect(running.record.ignored).toEqual([
      { item: 'user data (shell script)', reason: 'the simulated OS follows only #cloud-config user data' },
    ]);
    expect(running.record.join).toBeUndefined();
    expect(os.history()).toHaveLength(1);
  });
});
