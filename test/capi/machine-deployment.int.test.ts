/**
 * The Cluster API loop end to end, with nothing of it written by us: the real CAPI core manager, the kubeadm
 * bootstrap provider (CABPK) and CAPM3 drive a MachineDeployment of 3 workers onto 4 simulated hosts that
 * Tempered's real processes (worker, bridge, agent API) provision through the simulator's deploy agent: a qcow2
 * image with a checksum URL written to the host's disk with the config drive. Each host then boots from that
 * disk, its simulated OS reads the config drive from the disk's bytes and follows CABPK's `kubeadm join`
 * against the workload cluster's real apiserver, and Tempered verifies the Node (condition, Event, history).
 *
 * The issue's proof list (docs/cluster-join.md): 3 Machines Running with nodeRef and the providerID CAPM3 sets
 * on their Nodes; scale to 1 (CAPI drains and deletes: each Node seen cordoned before it goes, and the
 * Machine's SuccessfulDrainNode Event; CAPM3 releases, Tempered deprovisions and cleans, the Nodes go); a host
 * whose OS never joins (the simulator's switch) shows the join warning with what was seen; what `clusterctl
 * move` does to a running worker's host (paused by CAPM3, deleted, recreated with its status annotation), and
 * the same host deleted while detached and recreated with its status annotation: it stays provisioned, nothing
 * is done to the machine (BMC and agent counters), its Node stays Ready; and no workload-cluster credential
 * (kubeconfig keys, bootstrap tokens, the kubelets' key) is in any history or engine log.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildStandInIpaIso } from '../../activities/images/deploy-iso.ts';
import { hostWorkflowId } from '../../domain/names.ts';
import { NODE_JOINED_CONDITION } from '../../domain/node-join.ts';
import { readConfigDrive, type Simulator, startSimulator } from '../../sim/index.ts';
import { imageTools } from '../../stack/binaries.ts';
import type { Engine } from '../../stack/engine.ts';
import { startImageServer, type ImageServer } from '../../stack/image-server.ts';
import { kubectlClient } from '../../stack/kube.ts';
import { startWorkloadCluster, type WorkloadCluster } from '../../stack/workload-cluster.ts';
import { startTestEngine, watchHosts, watchObjects } from '../engine-fixture.ts';
import { makeRawImage, toQcow2 } from '../fixtures/disk-images.ts';
import { leakedSecrets, textOf } from '../secret-scan.ts';
import { waitFor } from '../wait.ts';
import { passedStates } from '../workflow-waits.ts';
import { applyAll, bootstrapRef, infrastructureRef, JOIN_CONFIGURATION, kubectlJson, qcow2Image, workloadClusterObjects } from './fixtures.ts';
import { sharedStack } from '../stack-info.ts';

const stack = sharedStack();
const management = kubectlClient(stack.kube.kubectl, stack.kube.kubeconfig);
const RUN = Date.now().toString(36);
const NS = `capi-md-${RUN}`;
const CLUSTER = 'md1';
const HOSTS = ['worker-a', 'worker-b', 'worker-c', 'worker-d'];
const PASSWORD = `Capi-${RUN}-pw`;
/** How long Tempered waits for a Node before it warns (the never-join proof waits that long). */
const JOIN_TIMEOUT_SECONDS = 60;

const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const objects = kc.makeApiClient(k8s.CustomObjectsApi);
const bmhApi = { group: 'metal3.io', version: 'v1alpha1', namespace: NS, plural: 'baremetalhosts' };

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Bmh {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: { consumerRef?: { kind: string; name: string }; online?: boolean };
  status?: {
    provisioning?: { state?: string };
    operationalStatus?: string;
    poweredOn?: boolean;
    conditions?: Condition[];
    errorMessage?: string;
  };
}
interface Machine {
  metadata: { name: string };
  spec: { providerID?: string; infrastructureRef: { name: string } };
  status?: { phase?: string; nodeRef?: { name: string } };
}

let dir: string;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let workload: WorkloadCluster;
let workloadKc: k8s.KubeConfig;
let nodes: k8s.CoreV1Api;
let temporal: Client;
let connection: Connection;
let stopWatch: (() => void) | undefined;
const seen = new Map<string, string[]>();
/** The hosts (by UID) whose deletion the watch has delivered: after it, no event of that object can follow. */
const deletedUids = new Set<string>();
const simLog: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tempered-capi-md-'));
  const { xorriso } = await imageTools(() => undefined);
  const standIn = await buildStandInIpaIso(join(dir, 'ipa.iso'), { xorriso });
  await makeRawImage(join(dir, 'node.raw'), 32);
  const qcow2 = await toQcow2(join(dir, 'node.raw'), join(dir, 'node.qcow2'));
  writeFileSync(join(dir, 'SHA256SUMS'), `${createHash('sha256').update(qcow2).digest('hex')}  node.qcow2\n`);
  images = await startImageServer({
    '/ipa.iso': { path: standIn.output },
    '/node.qcow2': { path: join(dir, 'node.qcow2') },
    '/SHA256SUMS': readFileSync(join(dir, 'SHA256SUMS')),
  });
  await core.createNamespace({ body: { metadata: { name: NS } } });
  workload = await startWorkloadCluster({
    stateDir: join(dir, 'workload'),
    management,
    namespace: NS,
    clusterName: CLUSTER,
    nodeMonitorGracePeriodSeconds: 20,
    progress: () => {},
  });
  workloadKc = new k8s.KubeConfig();
  workloadKc.loadFromFile(workload.api.kubeconfig);
  nodes = workloadKc.makeApiClient(k8s.CoreV1Api);
  sim = await startSimulator({
    stateDir: join(dir, 'sim'),
    bmcs: HOSTS.map((id) => ({ id, profile: 'dmtf', password: PASSWORD, uniqueIdentity: true })),
    log: (line) => simLog.push(line),
  });
  // The simulated kubelets register with this instead of a TLS bootstrap (docs/cluster-join.md).
  sim.clusters.hold(workload.kubeletCredential);
  stopWatch = await watchHosts<Bmh>(kc, NS, (type, obj) => {
    if (type === 'DELETED' && obj.metadata.uid) deletedUids.add(obj.metadata.uid);
    const state = obj.status?.provisioning?.state;
    if (state === undefined) return;
    const list = seen.get(obj.metadata.name) ?? [];
    if (list.at(-1) !== state) list.push(state);
    seen.set(obj.metadata.name, list);
  });
  engine = await startTestEngine(stack, dir, RUN, NS, {
    TEMPERED_IPA_ISO_URL: images.url('/ipa.iso'),
    TEMPERED_NODE_JOIN_TIMEOUT_SECONDS: String(JOIN_TIMEOUT_SECONDS),
  });
  connection = await Connection.connect({ address: stack.temporal.address });
  temporal = new Client({ connection, namespace: stack.temporal.namespace });
}, 900_000);

afterAll(async () => {
  stopWatch?.();
  await engine?.stop();
  await sim?.stop();
  await workload?.stop();
  await images?.stop();
  await connection?.close();
  // The hosts' disk files and the workload cluster's etcd: a few hundred MB per run.
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const getJson = kubectlJson(management);
const apply = (list: object[]) => applyAll(management, list);
const host = async (name: string): Promise<Bmh> =>
  (await objects.getNamespacedCustomObject({ ...bmhApi, name })) as Bmh;
const hosts = async (): Promise<Bmh[]> =>
  ((await objects.listNamespacedCustomObject(bmhApi)) as { items: Bmh[] }).items;
const machines = async (): Promise<Machine[]> =>
  (await getJson<{ items: Machine[] }>(['get', 'machines.cluster.x-k8s.io', '-n', NS])).items;
/**
 * Waits until the watch has delivered the deletion of `name` (object `uid`). `kubectl delete` returns once the
 * object is gone, which can be before the watch has delivered its last changes; a test that then starts a new
 * record for the name would count them as the new object's.
 */
const deletionWatched = (name: string, uid: string) =>
  waitFor(`the watch to deliver ${name}'s deletion`, () => (deletedUids.has(uid) ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
const joined = (h: Bmh) => h.status?.conditions?.find((c) => c.type === NODE_JOINED_CONDITION);
const events = async (reason: string) =>
  (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.reason === reason);
/**
 * What the simulated BMC and deploy agent did to a host's hardware: power, boots, boot overrides, virtual
 * media, BIOS and firmware changes, ramdisk boots, image writes and erases. A host that is left alone keeps them.
 */
const sideEffects = (id: string) => {
  const bmc = sim.bmc(id);
  const c = bmc.counters();
  const a = bmc.agentCounters();
  return {
    bmc: {
      resetActions: c.resetActions,
      powerOn: c.powerOn,
      powerOff: c.powerOff,
      boots: c.boots,
      bootOverrides: c.bootOverrides,
      mediaInserts: c.mediaInserts,
      mediaEjects: c.mediaEjects,
      biosPatches: c.biosPatches,
      biosResets: c.biosResets,
      firmwareUpdates: c.firmwareUpdates,
    },
    agent: {
      ramdiskBoots: a.ramdiskBoots,
      diskBoots: a.diskBoots,
      imageWrites: a.imageWrites,
      configDrives: a.configDrives,
      metadataErases: a.metadataErases,
      fullErases: a.fullErases,
      powerOffs: a.powerOffs,
    },
    osBoots: bmc.osRecords().length,
  };
};
/** States a provisioned host that is only moved must never show (registered, inspected or written again). */
const NOT_AFTER_A_MOVE = [
  'registering',
  'inspecting',
  'available',
  'provisioning',
  'deprovisioning',
  'powering off before delete',
];
const DETACHED = 'baremetalhost.metal3.io/detached';
/** Every state the host's workflow (its latest run) sent the bridge, in order (test/workflow-waits.ts). */
const passed = async (name: string) => passedStates(await temporal.workflow.getHandle(hostWorkflowId(NS, name)).fetchHistory());
/**
 * The states of `now` passed after `before` was read: the run that went on (the object came back to the workflow
 * that had it) passed the rest; a run of its own passed all of it.
 */
const passedSince = (now: string[], before: string[]) => (before.every((state, i) => now[i] === state) ? now.slice(before.length) : now);
const mergePatch = (kind: string, object: string, patch: object) =>
  management.kubectlRun(['patch', kind, object, '-n', NS, '--type=merge', '-p', JSON.stringify(patch)]);
/** The metadata of `h` as a copy to create again (clusterctl copies metadata and spec, not status). */
const copyOf = (h: Bmh) => {
  const {
    uid: _uid,
    resourceVersion: _rv,
    creationTimestamp: _ct,
    deletionTimestamp: _dt,
    deletionGracePeriodSeconds: _dg,
    managedFields: _mf,
    generation: _g,
    ...metadata
  } = h.metadata as Bmh['metadata'] & Record<string, unknown>;
  return { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata, spec: h.spec };
};
const nodeReady = async (name: string) =>
  (await nodes.readNode({ name })).status?.conditions?.find((c) => c.type === 'Ready')?.status;

/** Everything the test can say about where things stand, for a wait that times out. */
const detail = async () =>
  `hosts ${JSON.stringify(Object.fromEntries(seen))}, machines ${JSON.stringify(
    (await machines()).map((m) => [m.metadata.name, m.status?.phase, m.status?.nodeRef?.name]),
  )}, OS ${JSON.stringify(sim.bmcs.map((b) => [b.id, b.osRecords().at(-1)?.join]))}, sim ${JSON.stringify(
    simLog.slice(-10),
  )}`;

/** The KubeadmConfigTemplate of a Metal3 worker: the Node named after the host, labelled with its UID. */
const KUBEADM_CONFIG_SPEC = { joinConfiguration: JOIN_CONFIGURATION };

describe('a MachineDeployment of 3 workers on 4 simulated hosts, with the real CAPI, CABPK and CAPM3', () => {
  it('the hosts register, are inspected and become available', async () => {
    for (const id of HOSTS) {
      const bmc = sim.bmc(id);
      await core.createNamespacedSecret({
        namespace: NS,
        body: { metadata: { name: `${id}-bmc` }, stringData: { username: bmc.username, password: PASSWORD } },
      });
      await objects.createNamespacedCustomObject({
        ...bmhApi,
        body: {
          apiVersion: 'metal3.io/v1alpha1',
          kind: 'BareMetalHost',
          metadata: { name: id },
          spec: {
            online: false,
            bootMACAddress: bmc.bootMACAddress,
            bmc: { address: bmc.address, credentialsName: `${id}-bmc` },
          },
        },
      });
    }
    await waitFor(
      'every host available',
      async () => (await hosts()).every((h) => h.status?.provisioning?.state === 'available') || undefined,
      { timeoutMs: 600_000, intervalMs: 1000, detail },
    );
  }, 700_000);

  it('3 Machines reach Running with a nodeRef; their Nodes were registered by the hosts and are Ready', async () => {
    await apply([
      ...workloadClusterObjects(NS, CLUSTER, workload),
      {
        apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta2',
        kind: 'KubeadmConfigTemplate',
        metadata: { name: 'workers', namespace: NS },
        spec: { template: { spec: KUBEADM_CONFIG_SPEC } },
      },
      {
        apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
        kind: 'Metal3MachineTemplate',
        metadata: { name: 'workers', namespace: NS },
        spec: {
          template: { spec: { image: qcow2Image(images.url('/node.qcow2'), images.url('/SHA256SUMS')) } },
        },
      },
      {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'MachineDeployment',
        metadata: { name: 'workers', namespace: NS },
        spec: {
          clusterName: CLUSTER,
          replicas: 3,
          template: {
            spec: {
              clusterName: CLUSTER,
              version: workload.version,
              bootstrap: { configRef: bootstrapRef('KubeadmConfigTemplate', 'workers') },
              infrastructureRef: infrastructureRef('Metal3MachineTemplate', 'workers'),
            },
          },
        },
      },
    ]);
    const running = await waitFor(
      '3 Machines Running with a nodeRef',
      async () => {
        const list = await machines();
        const ok = list.filter((m) => m.status?.phase === 'Running' && m.status.nodeRef);
        return list.length === 3 && ok.length === 3 ? list : undefined;
      },
      { timeoutMs: 900_000, intervalMs: 2000, detail },
    );
    const consumed = (await hosts()).filter((h) => h.spec.consumerRef);
    expect(consumed).toHaveLength(3);
    for (const machine of running) {
      const node = await nodes.readNode({ name: machine.status?.nodeRef?.name ?? '' });
      const owner = consumed.find((h) => h.spec.consumerRef?.name === machine.spec.infrastructureRef.name);
      expect(owner, `the host of ${machine.metadata.name}`).toBeDefined();
      // The Node is named by the KubeadmConfigTemplate's template (the host's name) and labelled with its UID,
      // both rendered by the host's OS from the metadata on its config drive.
      expect(node.metadata?.name).toBe(owner?.metadata.name);
      expect(node.metadata?.labels?.['metal3.io/uuid']).toBe(owner?.metadata.uid);
      expect(node.spec?.providerID).toBe(machine.spec.providerID);
      expect(node.spec?.providerID).toMatch(/^metal3:\/\//);
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      // Written through the disk path: the host booted the disk the agent wrote, with the config drive on it.
      const bmc = sim.bmc(owner?.metadata.name ?? '');
      expect(bmc.diskBoot()).toMatchObject({
        configDrive: { files: expect.arrayContaining(['openstack/latest/user_data']) },
      });
      expect(bmc.diskBoot()?.image).toMatchObject({ diskFormat: 'qcow2' });
      expect(bmc.osRecords().at(-1)).toMatchObject({
        firstBoot: true,
        format: 'jinja cloud-config',
        join: { status: 'joined', nodeName: owner?.metadata.name, server: workload.api.server },
      });
      expect(seen.get(owner?.metadata.name ?? '')).toEqual(
        expect.arrayContaining(['available', 'provisioning', 'provisioned']),
      );
    }
  }, 1_000_000);

  it("each host's history shows the join verified: condition, Event and the activity's answer", async () => {
    const consumed = (await hosts()).filter((h) => h.spec.consumerRef);
    for (const h of consumed) {
      const ready = await waitFor(
        `${h.metadata.name} ${NODE_JOINED_CONDITION}=True`,
        async () => {
          const c = joined(await host(h.metadata.name));
          return c?.status === 'True' ? c : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000, detail },
      );
      expect(ready).toMatchObject({ reason: 'NodeReady', message: expect.stringContaining(`Node ${h.metadata.name}`) });
      const history = await temporal.workflow.getHandle(hostWorkflowId(NS, h.metadata.name)).fetchHistory();
      const answers = (history.events ?? [])
        .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
        .filter((data): data is Uint8Array => data !== undefined && data !== null)
        .map((data) => JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>);
      expect(answers).toContainEqual({
        outcome: 'joined',
        node: h.metadata.name,
        readyAt: expect.any(String),
        cluster: `${NS}/${CLUSTER}`,
      });
    }
    const joinedEvents = await events('NodeJoined');
    for (const h of consumed)
      expect(
        joinedEvents.some((e) => e.involvedObject.name === h.metadata.name),
        h.metadata.name,
      ).toBe(true);
  }, 300_000);

  it('scale to 1: CAPI drains and deletes two Machines, CAPM3 releases the hosts, Tempered cleans them', async () => {
    const before = (await hosts()).filter((h) => h.spec.consumerRef).map((h) => h.metadata.name);
    const machinesBefore = (await machines()).map((m) => ({ name: m.metadata.name, node: m.status?.nodeRef?.name }));
    // Every change of the workload cluster's Nodes from before the scale-down: the drain's cordon is one of them.
    const nodeChanges: { type: string; name: string; unschedulable: boolean }[] = [];
    onTestFinished(
      await watchObjects<k8s.V1Node>(workloadKc, '/api/v1/nodes', (type, n) =>
        nodeChanges.push({ type, name: n.metadata?.name ?? '', unschedulable: n.spec?.unschedulable === true }),
      ),
    );
    const listed = () => new Set(nodeChanges.map((c) => c.name)).size === 3 || undefined;
    await waitFor('the watch lists the 3 Nodes', listed, { timeoutMs: 30_000, intervalMs: 200 });
    await management.kubectlRun(['scale', 'machinedeployment.cluster.x-k8s.io/workers', '-n', NS, '--replicas=1']);
    const remaining = await waitFor(
      'one Machine left',
      async () => {
        const list = await machines();
        return list.length === 1 ? list : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 2000, detail },
    );
    const released = await waitFor(
      'two hosts released and available',
      async () => {
        const list = (await hosts()).filter((h) => before.includes(h.metadata.name) && !h.spec.consumerRef);
        // Read and watched: the watch behind `seen` can trail a list by a moment, so the wait covers both.
        const done = list.length === 2 && list.every((h) => h.status?.provisioning?.state === 'available' && seen.get(h.metadata.name)?.at(-1) === 'available');
        return done ? list : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 2000, detail },
    );
    for (const h of released) {
      // The status shows where a host stands (once per publication); the states it passed are in its history.
      expect((await passed(h.metadata.name)).slice(-2)).toEqual(['deprovisioning', 'available']);
      // Cleaned: the config drive the deploy wrote is gone from the disk, and the join record with it.
      const bmc = sim.bmc(h.metadata.name);
      const written = bmc.disks().find((d) => d.name === bmc.diskBoot()?.device);
      expect(written, `the disk ${h.metadata.name} booted`).toBeDefined();
      expect(await readConfigDrive(written!)).toBeUndefined();
      expect(bmc.agentCounters().metadataErases).toBeGreaterThan(0);
      expect(joined(h)).toBeUndefined();
      await waitFor(
        `Node ${h.metadata.name} deleted`,
        async () => (await nodes.listNode()).items.every((n) => n.metadata?.name !== h.metadata.name) || undefined,
        { timeoutMs: 120_000, intervalMs: 1000, detail },
      );
      // Drained before it was deleted: the watch saw the Node schedulable, then cordoned, then deleted.
      const changes = await waitFor(
        `the watch sees Node ${h.metadata.name} deleted`,
        () => {
          const list = nodeChanges.filter((c) => c.name === h.metadata.name);
          return list.some((c) => c.type === 'DELETED') ? list : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const cordoned = changes.findIndex((c) => c.unschedulable);
      expect(changes[0], `Node ${h.metadata.name} when the scale-down began`).toMatchObject({ unschedulable: false });
      expect(cordoned, `Node ${h.metadata.name} cordoned: ${JSON.stringify(changes)}`).toBeGreaterThan(0);
      expect(cordoned).toBeLessThan(changes.findIndex((c) => c.type === 'DELETED'));
    }
    // CAPI says so on the Machines it deleted: an Event per drained Node.
    const gone = machinesBefore.filter((m) => !remaining.some((r) => r.metadata.name === m.name));
    expect(gone.map((m) => m.node).sort()).toEqual(released.map((h) => h.metadata.name).sort());
    for (const m of gone) {
      const drained = await waitFor(
        `Event SuccessfulDrainNode for Machine ${m.name}`,
        async () =>
          (await events('SuccessfulDrainNode')).find(
            (e) => e.involvedObject.kind === 'Machine' && e.involvedObject.name === m.name,
          ),
        { timeoutMs: 60_000, intervalMs: 1000, detail },
      );
      expect(drained.message).toContain(`"${m.node}"`);
    }
    const kept = remaining[0]?.status?.nodeRef?.name ?? '';
    expect(await nodeReady(kept)).toBe('True');
    expect(nodeChanges.filter((c) => c.name === kept).every((c) => !c.unschedulable), `${kept} never cordoned`).toBe(
      true,
    );
  }, 1_000_000);

  it('an OS that never joins: the Machine gets no Node, the host warns with what was seen', async () => {
    // The OS of every free host is told never to join; CAPM3 picks one of them for the new Machine.
    const free = (await hosts()).filter((h) => !h.spec.consumerRef).map((h) => h.metadata.name);
    for (const id of free) sim.bmc(id).os({ neverJoin: true });
    await management.kubectlRun(['scale', 'machinedeployment.cluster.x-k8s.io/workers', '-n', NS, '--replicas=2']);
    const picked = await waitFor(
      'a free host provisioned for the new Machine',
      async () =>
        (await hosts()).find(
          (h) =>
            free.includes(h.metadata.name) && h.spec.consumerRef && h.status?.provisioning?.state === 'provisioned',
        ),
      { timeoutMs: 600_000, intervalMs: 2000, detail },
    );
    const name = picked.metadata.name;
    const warning = await waitFor(
      `${name} join warning`,
      async () => {
        const c = joined(await host(name));
        return c?.status === 'False' && c.reason !== 'WaitingForNode' ? c : undefined;
      },
      { timeoutMs: (JOIN_TIMEOUT_SECONDS + 120) * 1000, intervalMs: 1000, detail },
    );
    expect(warning).toMatchObject({
      reason: 'NodeNotFound',
      message: expect.stringContaining(`metal3.io/uuid=${picked.metadata.uid}`),
    });
    const notJoined = (await events('NodeNotJoined')).find((e) => e.involvedObject.name === name);
    expect(notJoined?.type).toBe('Warning');
    expect(notJoined?.message).toContain(`no Ready Node after ${JOIN_TIMEOUT_SECONDS} s`);
    expect(sim.bmc(name).osRecords().at(-1)?.join).toMatchObject({ status: 'suppressed' });
    // The host itself is fine, and the Machine simply waits for its Node, as it would with Metal3.
    const now = await host(name);
    expect(now.status?.provisioning?.state).toBe('provisioned');
    expect(now.status?.errorMessage ?? '').toBe('');
    const machine = (await machines()).find((m) => m.spec.infrastructureRef.name === now.spec.consumerRef?.name);
    expect(machine?.status?.nodeRef).toBeUndefined();
    expect((await machines()).filter((m) => m.status?.phase === 'Running')).toHaveLength(1);
  }, 1_000_000);

  it("clusterctl move of a worker's host: deleted paused, recreated with its status, not written again", async () => {
    const [machine] = (await machines()).filter((m) => m.status?.phase === 'Running');
    const nodeName = machine?.status?.nodeRef?.name ?? '';
    const before = (await hosts()).find((h) => h.spec.consumerRef?.name === machine?.spec.infrastructureRef.name);
    const name = before?.metadata.name ?? '';
    const untouched = sideEffects(name);

    // clusterctl move pauses the Cluster: CAPM3 pauses the host and saves its status in an annotation.
    await mergePatch('cluster.cluster.x-k8s.io', CLUSTER, { spec: { paused: true } });
    const paused = await waitFor(
      `${name} paused by CAPM3 with its status`,
      async () => {
        const h = await host(name);
        const a = h.metadata.annotations ?? {};
        return a['baremetalhost.metal3.io/paused'] === 'metal3.io/capm3' && a['baremetalhost.metal3.io/status']
          ? h
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000, detail },
    );
    // The move (clusterctl's deleteSourceObject): the copy is created in the target, then the source object's
    // finalizers are removed and it is deleted, while paused. Here target and source are the same cluster, so
    // the object goes first and comes back from what was read, status annotation included (clusterctl copies
    // metadata and spec, not status).
    const statesBefore = seen.get(name)?.length ?? 0;
    const passedBefore = await passed(name);
    await mergePatch('baremetalhost.metal3.io', name, { metadata: { finalizers: null } });
    await management.kubectlRun(['delete', 'baremetalhost.metal3.io', name, '-n', NS, '--timeout=120s']);
    await deletionWatched(name, paused.metadata.uid);
    const statesWhileGoing = seen.get(name)?.slice(statesBefore) ?? [];
    seen.delete(name);
    await objects.createNamespacedCustomObject({ ...bmhApi, body: copyOf(paused) });
    await mergePatch('cluster.cluster.x-k8s.io', CLUSTER, { spec: { paused: false } });
    const moved = await waitFor(
      `${name} provisioned again, unpaused`,
      async () => {
        const h = await host(name);
        return h.status?.provisioning?.state === 'provisioned' &&
          !h.metadata.annotations?.['baremetalhost.metal3.io/paused']
          ? h
          : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000, detail },
    );
    expect(moved.metadata.uid).not.toBe(before?.metadata.uid);
    expect(seen.get(name)?.[0]).toBe('provisioned');
    for (const state of NOT_AFTER_A_MOVE) {
      expect(statesWhileGoing, `${name} states while deleted`).not.toContain(state);
      expect(seen.get(name), `${name} states after the move`).not.toContain(state);
    }
    // Nor passed by the new object's workflow, shown or not (the status shows where a host stands).
    const afterMove = passedSince(await passed(name), passedBefore);
    for (const state of NOT_AFTER_A_MOVE) expect(afterMove, `${name} states its workflow passed after the move`).not.toContain(state);
    // Tempered checks the join of the new object too: its UID is new, the Node is found by its providerID.
    await waitFor(
      `${name} ${NODE_JOINED_CONDITION}=True after the move`,
      async () => (joined(await host(name))?.status === 'True' ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 1000, detail },
    );
    // Not written again, not even rebooted: no power, boot override, media, ramdisk or image write on the
    // simulated BMC or agent, and the OS and its Node go on as they were.
    expect(sideEffects(name)).toEqual(untouched);
    expect(await nodeReady(nodeName)).toBe('True');
    expect((await machines()).find((m) => m.metadata.name === machine?.metadata.name)?.status?.phase).toBe('Running');
  }, 600_000);

  it("a worker's host deleted while detached, recreated with its status annotation, is left alone", async () => {
    // The other way a host moves (docs/cluster-join.md): Metal3's detached annotation, no pause. Tempered lets
    // go of a detached host without deprovisioning or powering it off, and takes the new object over from its
    // status annotation. CAPM3 is not paused and simply waits while the host is away.
    const [machine] = (await machines()).filter((m) => m.status?.phase === 'Running');
    const nodeName = machine?.status?.nodeRef?.name ?? '';
    const before = (await hosts()).find((h) => h.spec.consumerRef?.name === machine?.spec.infrastructureRef.name);
    const name = before?.metadata.name ?? '';
    expect(await nodeReady(nodeName)).toBe('True');
    const untouched = sideEffects(name);
    const statesBefore = seen.get(name)?.length ?? 0;
    const passedBefore = await passed(name);

    const detach = (value: string | null) =>
      mergePatch('baremetalhost.metal3.io', name, { metadata: { annotations: { [DETACHED]: value } } });
    await detach('');
    const detached = await waitFor(
      `${name} detached`,
      async () => {
        const h = await host(name);
        return h.status?.operationalStatus === 'detached' ? h : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000, detail },
    );
    // Deleted as it is: Tempered's finalizer goes without deprovisioning (the test does not remove it).
    await management.kubectlRun(['delete', 'baremetalhost.metal3.io', name, '-n', NS, '--timeout=120s']);
    await deletionWatched(name, detached.metadata.uid);
    const statesWhileGoing = seen.get(name)?.slice(statesBefore) ?? [];
    seen.delete(name);
    const copy = copyOf(detached);
    copy.metadata.annotations = {
      ...copy.metadata.annotations,
      'baremetalhost.metal3.io/status': JSON.stringify(detached.status),
    };
    await objects.createNamespacedCustomObject({ ...bmhApi, body: copy });
    const restored = await waitFor(
      `${name} recreated: provisioned, detached, its status annotation taken`,
      async () => {
        const h = await host(name);
        return h.status?.provisioning?.state === 'provisioned' &&
          h.status.operationalStatus === 'detached' &&
          !h.metadata.annotations?.['baremetalhost.metal3.io/status']
          ? h
          : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000, detail },
    );
    expect(restored.metadata.uid).not.toBe(before?.metadata.uid);
    // Attached again: managed as before, still provisioned and powered on.
    await detach(null);
    const attached = await waitFor(
      `${name} attached again`,
      async () => {
        const h = await host(name);
        return h.status?.operationalStatus === 'OK' ? h : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000, detail },
    );
    expect(attached.status).toMatchObject({ provisioning: { state: 'provisioned' }, poweredOn: true });
    expect(seen.get(name)?.[0]).toBe('provisioned');
    for (const state of NOT_AFTER_A_MOVE) {
      expect(statesWhileGoing, `${name} states while detached and deleted`).not.toContain(state);
      expect(seen.get(name), `${name} states after it came back`).not.toContain(state);
    }
    const afterReturn = passedSince(await passed(name), passedBefore);
    for (const state of NOT_AFTER_A_MOVE) expect(afterReturn, `${name} states its workflow passed after it came back`).not.toContain(state);
    await waitFor(
      `${name} ${NODE_JOINED_CONDITION}=True after it came back`,
      async () => (joined(await host(name))?.status === 'True' ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 1000, detail },
    );
    expect(sideEffects(name)).toEqual(untouched);
    expect(sim.bmc(name).state().power).toBe('On');
    expect(await nodeReady(nodeName)).toBe('True');
    expect((await machines()).find((m) => m.metadata.name === machine?.metadata.name)?.status?.phase).toBe('Running');
  }, 600_000);

  it('no workload-cluster credential in any history: kubeconfig keys, bootstrap tokens, kubelet key', async () => {
    const kubeconfig = await getJson<{ data: { value: string } }>(['get', 'secret', `${CLUSTER}-kubeconfig`, '-n', NS]);
    const config = parseYaml(Buffer.from(kubeconfig.data.value, 'base64').toString('utf8')) as {
      users: { user: Record<string, string> }[];
    };
    const secrets = [
      ...config.users.flatMap((u) => Object.values(u.user)),
      workload.kubeletCredential.keyPem,
      workload.kubeletCredential.keyPem.split('\n')[1] ?? '',
    ];
    // The bootstrap tokens CABPK made for the joins (their secret part), from the workload cluster.
    const tokens = JSON.parse(await workload.api.kubectlRun(['get', 'secrets', '-n', 'kube-system', '-o', 'json'])) as {
      items: { type: string; data: Record<string, string> }[];
    };
    for (const t of tokens.items.filter((s) => s.type === 'bootstrap.kubernetes.io/token'))
      secrets.push(Buffer.from(t.data['token-secret'] ?? '', 'base64').toString());
    // One token per KubeadmConfig: the 3 workers and the one that never joined.
    expect(secrets.length).toBeGreaterThanOrEqual(4 + 4);
    let histories = 0;
    for await (const wf of temporal.workflow.list({ query: `WorkflowId STARTS_WITH "bmh/${NS}/"` })) {
      const history = textOf(await temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory());
      expect(leakedSecrets(history, secrets), wf.workflowId).toEqual([]);
      histories += 1;
    }
    expect(histories).toBeGreaterThan(HOSTS.length);
    expect(leakedSecrets(engine.logs(), secrets)).toEqual([]);
  }, 300_000);
});
