/**
 * A firmware rollout drains a joined host's Node before servicing it and uncordons it after, end to end on real
 * parts: the stack's apiserver as the management cluster (hand-made Cluster API objects: Cluster, Machine,
 * Metal3Machine, with minimal CRDs, and no controller acting on them), a second real kube-apiserver as the
 * workload cluster (`stack/workload-cluster.ts`, with its kube-controller-manager's node lifecycle and
 * disruption controllers), simulated BMCs, Tempered's real worker and bridge, the real Temporal server.
 *
 * There is no kubelet for pods: pods are created bound to the Node (`spec.nodeName`) with a zero grace period,
 * so an eviction deletes them through the API; their Ready status is written as a kubelet would. Each host's
 * "OS" is a simulated kubelet (sim/os/kubelet.ts) that the test starts when the host powers on (a new boot ID
 * each boot) and stops when it powers off.
 *
 * Proves: the Node cordoned before the flash started (the simulator's flash record), a PodDisruptionBudget's
 * refusal retried (seen in the drain activity's heartbeat) until the test relaxes it, pods evicted, the DaemonSet
 * pod kept, the Node uncordoned only once Ready from a new boot; a Node cordoned before the rollout stays
 * cordoned; a drain that a budget never allows fails the host with `NodeDrainTimedOut` (the failure budget
 * pauses the rollout), nothing flashed, the Node uncordoned again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORDONED_BY_ROLLOUT_ANNOTATION } from '../domain/drain.ts';
import { startSimulator, type SimulatedBmc, type Simulator } from '../sim/index.ts';
import { SimKubelet } from '../sim/os/kubelet.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { kubectlClient } from '../stack/kube.ts';
import { startWorkloadCluster, type WorkloadCluster } from '../stack/workload-cluster.ts';
import { bmhClient } from './bmh.ts';
import { clusterApiChain, installClusterApiCrds } from './cluster-api-chain.ts';
import { engineDataConverter, startTestEngine } from './engine-fixture.ts';
import { condition, createFirmwareHost, firmwareClient } from './firmware-objects.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = Date.now().toString(36);
const NS = `drain-${RUN}`;
const PASSWORD = `Drain-${RUN}-pw`;
const CLUSTER = 'w1';
/** Longer than the drain heartbeat takes to show in Temporal (throttled to 80% of its 30 s timeout). */
const DRAIN_TIMEOUT_SECONDS = 75;
const HOSTS = ['h0', 'h1', 'h2'] as const;
const APPS = 'apps';

const management = kubectlClient(stack.kube.kubectl, stack.kube.kubeconfig);
const hosts = bmhClient(stack.kube.kubeconfig, NS);
const fw = firmwareClient(stack.kube.kubeconfig, NS);
const chain = clusterApiChain(stack.kube.kubeconfig, NS);

let sim: Simulator;
let files: ImageServer;
let engine: Engine;
let workload: WorkloadCluster;
let workloadDir: string;
let core: k8s.CoreV1Api;
let policy: k8s.PolicyV1Api;
let apps: k8s.AppsV1Api;
let temporal: Client;
const bmcOf = new Map<string, SimulatedBmc>();
const uidOf = new Map<string, string>();
/** Each host's simulated kubelets, one per boot, in order, with whether its Node was cordoned as it booted. */
interface Boot {
  kubelet: SimKubelet;
  startedAt: number;
  cordonedAtBoot: Promise<boolean>;
}
const boots = new Map<string, Boot[]>();
const unsubscribe: (() => void)[] = [];
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The host's OS as far as the drain cares: a kubelet of a new boot whenever the host powers on. */
function runOs(name: string, bmc: SimulatedBmc): void {
  const list: Boot[] = [];
  boots.set(name, list);
  const boot = () => {
    const kubelet = new SimKubelet({
      credential: workload.kubeletCredential,
      nodeName: name,
      labels: { 'metal3.io/uuid': uidOf.get(name) as string },
      taints: [],
      addresses: [{ type: 'InternalIP', address: `10.9.0.${HOSTS.indexOf(name as (typeof HOSTS)[number]) + 10}` }],
      capacity: { cpu: 4, memoryMiB: 8192, pods: 110 },
      nodeInfo: { systemUUID: uidOf.get(name) as string, machineID: name, kubeletVersion: workload.version },
      statusReportMs: 2_000,
      log: () => {},
    });
    const cordonedAtBoot = core.readNode({ name }).then(
      (n) => n.spec?.unschedulable === true,
      () => false,
    );
    list.push({ kubelet, startedAt: Date.now(), cordonedAtBoot });
    void kubelet.start().catch((err: Error) => process.stderr.write(`[rollout-drain.int] ${name} kubelet: ${err.message}\n`));
  };
  unsubscribe.push(
    bmc.onHostEvent((event) => {
      if (event.type !== 'power') return;
      if (event.state === 'On') boot();
      else list.at(-1)?.kubelet.stop();
    }),
  );
  if (bmc.state().power === 'On') boot();
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-drain-'));
  sim = await startSimulator({
    bmcs: HOSTS.map((id) => ({ profile: 'dmtf' as const, id, password: PASSWORD, uniqueIdentity: true, taskDurationMs: 400 })),
  });
  files = await startImageServer({ '/bios-9.9.9.bin': Buffer.alloc(32 * 1024, 7), '/live.iso': Buffer.alloc(64 * 1024, 1) });
  workload = await startWorkloadCluster({
    stateDir: (workloadDir = mkdtempSync(join(tmpdir(), 'tempered-drain-workload-'))),
    management,
    namespace: NS,
    clusterName: CLUSTER,
    nodeMonitorGracePeriodSeconds: 20,
    progress: () => {},
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(workload.api.kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  policy = kc.makeApiClient(k8s.PolicyV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: APPS } } });

  // The Cluster API chain a CAPM3 host's consumer leads to, made by hand (no controller acts on it).
  await installClusterApiCrds(management);
  await chain.createCluster(CLUSTER);

  engine = await startTestEngine(stack, dir, RUN, NS, {
    TEMPERED_DRAIN_TIMEOUT_SECONDS: String(DRAIN_TIMEOUT_SECONDS),
    TEMPERED_FIRMWARE_TASK_POLL_MS: '250',
  });
  for (const [i, name] of HOSTS.entries()) {
    const bmc = sim.bmcs[i] as SimulatedBmc;
    bmcOf.set(name, bmc);
    const consumerRef = await chain.createMachine(name, CLUSTER);
    await createFirmwareHost(hosts, name, bmc, PASSWORD, {
      online: true,
      image: { url: files.url('/live.iso'), format: 'live-iso' },
      consumerRef,
    });
    await fw.labelHost(name, { group: name === 'h2' ? 'blocked' : 'drained' });
  }
  for (const name of HOSTS) {
    const host = await hosts.inState(name, 'provisioned', (h) => h.status?.poweredOn === true, 300_000);
    uidOf.set(name, host.metadata.uid as string);
    runOs(name, bmcOf.get(name) as SimulatedBmc);
  }
  // The host workflows' join checks find the Nodes.
  for (const name of HOSTS) {
    await waitFor(`${name} joined`, async () => {
      const c = condition((await hosts.get(name)).status?.conditions as never, 'tempered.dev/NodeJoined');
      return c?.status === 'True';
    }, { timeoutMs: 120_000, intervalMs: 500 });
  }
  const connection = await Connection.connect({ address: stack.temporal.address });
  temporal = new Client({ connection, namespace: stack.temporal.namespace, dataConverter: engineDataConverter(engine) });
});

afterAll(async () => {
  for (const u of unsubscribe) u();
  for (const list of boots.values()) list.at(-1)?.kubelet.stop();
  await engine?.stop();
  await files?.stop();
  await sim?.stop();
  await workload?.stop();
  if (workloadDir) rmSync(workloadDir, { recursive: true, force: true });
});

/** A pod bound to `node`, deleted at once when evicted (no kubelet to wait for), Ready as a kubelet would say. */
async function podOn(node: string, name: string, labels: Record<string, string>, owner?: k8s.V1OwnerReference, emptyDir = false) {
  await core.createNamespacedPod({
    namespace: APPS,
    body: {
      metadata: { name, labels, ...(owner ? { ownerReferences: [owner] } : {}) },
      spec: {
        nodeName: node,
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'c', image: 'registry.example/app:1' }],
        ...(emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
      },
    },
  });
  const status = { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } };
  await core.patchNamespacedPodStatus({ namespace: APPS, name, body: status }, mergePatch);
}

const podNames = async (node: string) =>
  (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.map((p) => p.metadata?.name ?? '').sort();

const nodeOf = (name: string) => core.readNode({ name });

/** The host workflow's pending activities with what they heartbeat now (what the Temporal UI shows). */
async function pendingActivities(host: string): Promise<{ type: string; details: unknown }[]> {
  const handle = temporal.workflow.getHandle(`bmh/${NS}/${host}`);
  const { raw } = await handle.describe();
  const converter = engineDataConverter(engine);
  const out: { type: string; details: unknown }[] = [];
  for (const activity of raw.pendingActivities ?? []) {
    let payloads = activity.heartbeatDetails?.payloads ?? [];
    for (const codec of [...converter.payloadCodecs].reverse()) payloads = await codec.decode(payloads);
    const first = payloads[0];
    out.push({ type: activity.activityType?.name ?? '', details: first ? converter.payloadConverter.fromPayload(first) : undefined });
  }
  return out;
}

/** What the drain activity of a host's workflow heartbeats now, or ''. */
async function drainHeartbeat(host: string): Promise<string> {
  const drain = (await pendingActivities(host)).find((a) => a.type === 'drainNode');
  return (drain?.details as { seen?: string } | undefined)?.seen ?? '';
}

const rolloutIn = (name: string, phases: string[]) =>
  waitFor(`rollout ${name} in ${phases.join(' or ')}`, async () => {
    const r = await fw.rollout(name);
    return r?.status?.phase && phases.includes(r.status.phase) ? r : undefined;
  }, {
    timeoutMs: 300_000,
    intervalMs: 500,
    detail: () => fw.rollout(name).then((r) => JSON.stringify(r?.status)),
  });

describe('a rollout over hosts whose Nodes joined a workload cluster', () => {
  it('cordons and drains before the flash (PDB retried, DaemonSet pod kept), uncordons once Ready again; a pre-cordoned Node stays cordoned', async () => {
    // h0: two web pods under a budget that allows no disruption yet, a pod with emptyDir, a DaemonSet pod.
    const ds = await apps.createNamespacedDaemonSet({
      namespace: APPS,
      body: {
        metadata: { name: 'agent' },
        spec: {
          selector: { matchLabels: { app: 'agent' } },
          template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'c', image: 'registry.example/agent:1' }] } },
        },
      },
    });
    const rs = await apps.createNamespacedReplicaSet({
      namespace: APPS,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'registry.example/web:1' }] } },
        },
      },
    });
    const ownedBy = (o: { metadata?: k8s.V1ObjectMeta }, kind: string, apiVersion = 'apps/v1'): k8s.V1OwnerReference => ({
      apiVersion,
      kind,
      name: o.metadata?.name ?? '',
      uid: o.metadata?.uid ?? '',
      controller: true,
    });
    await podOn('h0', 'web-a', { app: 'web' }, ownedBy(rs, 'ReplicaSet'));
    await podOn('h0', 'web-b', { app: 'web' }, ownedBy(rs, 'ReplicaSet'), true);
    await podOn('h0', 'agent-h0', { app: 'agent' }, ownedBy(ds, 'DaemonSet'));
    await policy.createNamespacedPodDisruptionBudget({
      namespace: APPS,
      body: { metadata: { name: 'web' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } },
    });
    await waitFor('the disruption controller counted the web pods', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: APPS, name: 'web' });
      return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 0;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    // h1: cordoned by someone else before the rollout, with one pod without a controller.
    await podOn('h1', 'bare-h1', { app: 'bare' });
    await core.patchNode({ name: 'h1', body: { spec: { unschedulable: true } } }, mergePatch);

    await fw.createRollout('drained', {
      selector: { matchLabels: { group: 'drained' } },
      updates: [{ component: 'bios', url: files.url('/bios-9.9.9.bin') }],
      strategy: { canary: 1, waves: [100], maxUnavailable: 1, failureBudget: 1 },
    });

    // h0 is cordoned by the rollout and its drain is held by the budget: the eviction is refused, retried.
    const cordoned = await waitFor('h0 cordoned', async () => {
      const node = await nodeOf('h0');
      return node.spec?.unschedulable === true ? { node, at: Date.now() } : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 });
    expect(cordoned.node.metadata?.annotations?.[CORDONED_BY_ROLLOUT_ANNOTATION]).toBe(`${NS}/drained`);
    const refused = await waitFor('the budget refusing the eviction', async () => {
      const seen = await drainHeartbeat('h0');
      return seen.includes('disruption budget') ? seen : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250, detail: async () => JSON.stringify(await pendingActivities('h0')) });
    expect(refused).toMatch(/apps\/web-(a|b): Cannot evict pod as it would violate the pod's disruption budget/);
    expect(await podNames('h0')).toEqual(['agent-h0', 'web-a', 'web-b']);
    expect(bmcOf.get('h0')?.state().flashes ?? []).toEqual([]);
    expect(bmcOf.get('h0')?.state().power).toBe('On');

    // The budget is relaxed: the drain goes on, the host is serviced.
    await policy.patchNamespacedPodDisruptionBudget({ namespace: APPS, name: 'web', body: { spec: { minAvailable: 0 } } }, mergePatch);
    const drained = await waitFor('h0 drained', async () => {
      const left = await podNames('h0');
      return left.length === 1 ? { left, at: Date.now() } : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    expect(drained.left).toEqual(['agent-h0']);

    const done = await rolloutIn('drained', ['Completed', 'Paused', 'Failed']);
    for (const h of done.status?.hosts ?? []) process.stderr.write(`[rollout-drain.int] ${h.name} ${h.state}: ${h.message}\n`);
    expect(done.status).toMatchObject({ phase: 'Completed', updated: 2, failed: 0 });
    const h0 = done.status?.hosts?.find((h) => h.name === 'h0');
    expect(h0?.state).toBe('Updated');
    expect(h0?.message).toMatch(/Node h0 cordoned and drained: 2 pods evicted, 1 DaemonSet or mirror pod kept; Node h0 Ready again and uncordoned/);

    // Ordering, from the simulator's flash record and the host's boots: cordon < flash; new boot < uncordon.
    const flash = bmcOf.get('h0')?.state().flashes[0];
    expect(flash?.outcome).toBe('completed');
    expect(cordoned.at).toBeLessThan(Date.parse(flash?.startedAt ?? ''));
    expect(drained.at).toBeLessThan(Date.parse(flash?.startedAt ?? '') + 1000);
    const node0 = await nodeOf('h0');
    expect(node0.spec?.unschedulable).toBeFalsy();
    expect(node0.metadata?.annotations?.[CORDONED_BY_ROLLOUT_ANNOTATION]).toBeUndefined();
    // The Node is Ready from the boot after servicing, and was still cordoned when that boot began.
    const h0Boots = boots.get('h0') ?? [];
    expect(h0Boots.length).toBeGreaterThanOrEqual(2);
    const newBoot = h0Boots.at(-1) as Boot;
    expect(node0.status?.nodeInfo?.bootID).toBe(newBoot.kubelet.bootID);
    expect(Date.parse(flash?.endedAt ?? '')).toBeLessThan(newBoot.startedAt);
    expect(await newBoot.cordonedAtBoot).toBe(true);
    expect(await podNames('h0')).toEqual(['agent-h0']);

    // h1: drained (its pod evicted), serviced, and still cordoned as it was before.
    const h1 = done.status?.hosts?.find((h) => h.name === 'h1');
    expect(h1?.message).toMatch(/Node h1 already cordoned by someone else and drained: 1 pod evicted; Node h1 Ready again; it stays cordoned/);
    const node1 = await nodeOf('h1');
    expect(node1.spec?.unschedulable).toBe(true);
    expect(node1.metadata?.annotations?.[CORDONED_BY_ROLLOUT_ANNOTATION]).toBeUndefined();
    expect(await podNames('h1')).toEqual([]);
    expect(bmcOf.get('h1')?.counters().firmwareUpdatesByImage['bios-9.9.9.bin']).toBe(1);

    const events = (await fw.events('BareMetalHost', 'h0')).map((e) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['NodeDrained', 'NodeUncordoned']));
  }, 600_000);

  it('a budget that never allows: the drain times out, the host fails with the reason, nothing is flashed, the Node is uncordoned', async () => {
    await podOn('h2', 'db-0', { app: 'db' });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: APPS,
      body: { metadata: { name: 'db' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } } },
    });
    await waitFor('the disruption controller counted the db pod', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: APPS, name: 'db' });
      return pdb.status?.currentHealthy === 1 && pdb.status.disruptionsAllowed === 0;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    await fw.createRollout('blocked', {
      selector: { matchLabels: { group: 'blocked' } },
      updates: [{ component: 'bios', url: files.url('/bios-9.9.9.bin') }],
      strategy: { canary: 1, waves: [100], maxUnavailable: 1, failureBudget: 1 },
    });
    await waitFor('h2 cordoned', async () => (await nodeOf('h2')).spec?.unschedulable === true, { timeoutMs: 120_000, intervalMs: 100 });
    const paused = await rolloutIn('blocked', ['Paused', 'Completed', 'Failed']);
    for (const h of paused.status?.hosts ?? []) process.stderr.write(`[rollout-drain.int] ${h.name} ${h.state}: ${h.message}\n`);
    expect(paused.status?.phase).toBe('Paused');
    const h2 = paused.status?.hosts?.find((h) => h.name === 'h2');
    expect(h2?.state).toBe('Failed');
    expect(h2?.message).toMatch(
      new RegExp(`^NodeDrainTimedOut: Node h2 not drained within ${DRAIN_TIMEOUT_SECONDS} s: apps/db-0: Cannot evict pod as it would violate the pod's disruption budget.*; uncordoned again$`),
    );
    expect(paused.status?.message).toMatch(/failure budget used \(h2: NodeDrainTimedOut/);
    const node2 = await nodeOf('h2');
    expect(node2.spec?.unschedulable).toBeFalsy();
    expect(node2.metadata?.annotations?.[CORDONED_BY_ROLLOUT_ANNOTATION]).toBeUndefined();
    expect(await podNames('h2')).toEqual(['db-0']);
    expect(bmcOf.get('h2')?.state().flashes).toEqual([]);
    const host = await hosts.get('h2');
    expect(host.status).toMatchObject({ provisioning: { state: 'provisioned' }, operationalStatus: 'OK', poweredOn: true });
    expect((await fw.events('BareMetalHost', 'h2')).map((e) => e.reason)).toContain('NodeDrainFailed');
  }, 300_000);
});
