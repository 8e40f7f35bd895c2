/**
 * The bridge against the real kube-apiserver and the real Temporal dev server, with a fake host workflow
 * (bridge/test-workflows.ts) on a task queue of this file's own: finalizer and workflow start, exactly one
 * signal per change and none for an unchanged resync, status publication (only our fields, only when
 * changed, lastTransitionTime kept, Events, annotations, HardwareData), status rebuild after it was deleted,
 * the status annotation, deletion through releaseHost, and no password in any log line.
 */
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostDesired, HostState } from '../domain/host-model.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { Bridge } from './bridge.ts';
import { createKube, type Kube } from './kube.ts';
import { SECRET_ENVIRONMENT_SELECTOR } from './objects.ts';
import { fakeInitialState, publishResults, receivedDesired, testPublish, type TestPublication } from '../test/workflows/fake-host.ts';
import { bundleFakeHostWorkflow, capturedLogger, unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const namespace = unique('bridge');
const hostTaskQueue = unique('bridge-test-hosts');
const bridgeTaskQueue = unique('bridge-test-status');
const PASSWORD = `hunter2-${unique('secret')}`;
const NEW_PASSWORD = `correct-horse-${unique('secret')}`;
const GROUP = { group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts' };
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

type Host = { metadata: k8s.V1ObjectMeta; spec: Record<string, unknown>; status?: Record<string, unknown> };

const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const objects = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);
const { logger, lines } = capturedLogger();

let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let kube: Kube;
let bridge: Bridge;

const getHost = async (name: string) => (await objects.getNamespacedCustomObject({ ...GROUP, name })) as Host;
const hostGone = async (name: string) => {
  try {
    await getHost(name);
    return false;
  } catch (error) {
    return error instanceof k8s.ApiException && error.code === 404;
  }
};
const handle = (name: string) => client.workflow.getHandle(hostWorkflowId(namespace, name));
const received = (name: string) => handle(name).query(receivedDesired);
/** syncHost signals in the workflow's history: what the server recorded, not what the bridge thinks it sent. */
async function signalCount(name: string): Promise<number> {
  const history = await handle(name).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'syncHost').length;
}
/**
 * Waits until the bridge's informers have seen the latest version of every host and Secret of the test (so
 * every reconcile our writes can cause has been queued) and it has nothing queued or in flight.
 */
async function settle(): Promise<void> {
  const rv = (o: { metadata?: { resourceVersion?: string } } | undefined) => Number(o?.metadata?.resourceVersion ?? 0);
  const hosts = ((await objects.listNamespacedCustomObject({ ...GROUP })) as { items: Host[] }).items;
  // Only the Secrets hosts reference (labelled by the bridge) reach its cache.
  const secrets = (await core.listNamespacedSecret({ namespace, labelSelector: SECRET_ENVIRONMENT_SELECTOR })).items;
  await waitFor('the bridge to see our latest writes', () => {
    const term = bridge.term;
    if (!term) return false;
    const seenHost = (h: Host) => rv(term.hosts.get(`${namespace}/${h.metadata.name}`)) >= rv(h);
    const seenSecret = (s: k8s.V1Secret) => Number(term.secrets.get(`${namespace}/${s.metadata?.name}`)?.resourceVersion ?? 0) >= rv(s);
    return hosts.every(seenHost) && secrets.every(seenSecret);
  });
  await bridge.term?.queue.idle();
}
async function publish(name: string, publication: TestPublication): Promise<{ written: boolean }> {
  const before = (await handle(name).query(publishResults)).length;
  await handle(name).signal(testPublish, publication);
  return waitFor(`publication ${before + 1} of ${name}`, async () => (await handle(name).query(publishResults))[before]);
}

function bmh(name: string, extra: { spec?: Record<string, unknown>; annotations?: Record<string, string> } = {}) {
  return {
    apiVersion: 'metal3.io/v1alpha1',
    kind: 'BareMetalHost',
    metadata: { name, namespace, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      online: true,
      bootMACAddress: '00:11:22:33:44:55',
      bmc: { address: 'redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/1', credentialsName: 'bmc-secret' },
      consumerRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine', name: 'machine-0', namespace },
      ...extra.spec,
    },
  };
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'bmc-secret' }, stringData: { username: 'admin', password: PASSWORD } } });

  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  worker = await Worker.create({ connection: nativeConnection, namespace: stack.temporal.namespace, taskQueue: hostTaskQueue, workflowBundle: await bundleFakeHostWorkflow() });
  workerRun = worker.run();

  kube = createKube({ kubeConfig: kc, qps: 50, burst: 100 });
  bridge = new Bridge({
    kube,
    temporal: { client, connection: nativeConnection, namespace: stack.temporal.namespace },
    hostTaskQueue,
    bridgeTaskQueue,
    namespaces: [namespace],
    identity: 'bridge-int-a',
    lease: { namespace, name: 'tempered-bridge' },
    resyncPeriodMs: 3_600_000,
    logger,
  });
  bridge.start();
  await bridge.waitUntilLeading();
});

afterAll(async () => {
  await bridge?.stop();
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await nativeConnection?.close();
  await connection?.close();
  await core.deleteNamespace({ name: namespace }).catch(() => {});
});

describe('bridge: BareMetalHost to host workflow', () => {
  let secretVersion: string;

  it('adds the finalizer and starts the host workflow with the right HostDesired', async () => {
    const created = (await objects.createNamespacedCustomObject({ ...GROUP, body: bmh('host-0', { annotations: { 'reboot.metal3.io/maintenance': '{"mode":"hard"}' } }) })) as Host;

    const withFinalizer = await waitFor('the finalizer', async () => ((await getHost('host-0')).metadata.finalizers?.includes('baremetalhost.metal3.io') ? true : undefined));
    expect(withFinalizer).toBe(true);
    const [first] = await waitFor('the first syncHost', async () => {
      const r = await received('host-0');
      return r.length > 0 ? r : undefined;
    });
    // The credentials Secret was created unlabelled; the bridge labelled it (BMO's label), a new version.
    const labelled = await core.readNamespacedSecret({ namespace, name: 'bmc-secret' });
    expect(labelled.metadata?.labels).toEqual({ 'environment.metal3.io': 'baremetal' });
    secretVersion = labelled.metadata?.resourceVersion ?? '';
    expect(first).toEqual<HostDesired>({
      ref: { namespace, name: 'host-0', uid: created.metadata.uid ?? '' },
      generation: 1,
      resourceVersion: expect.any(String),
      spec: {
        online: true,
        bootMACAddress: '00:11:22:33:44:55',
        bmc: { address: 'redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/1', credentialsName: 'bmc-secret' },
        automatedCleaningMode: 'metadata',
        consumerRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine', name: 'machine-0', namespace },
      },
      annotations: { paused: false, reboot: { 'reboot.metal3.io/maintenance': { mode: 'hard', force: false } }, invalid: [] },
      credentials: { name: 'bmc-secret', version: secretVersion },
      deleting: false,
      statusMissing: true,
    });
    const description = await handle('host-0').describe();
    expect(description.type).toBe('hostWorkflow');
    expect(description.taskQueue).toBe(hostTaskQueue);
    expect(description.searchAttributes['BmhNamespace']).toEqual([namespace]);
    expect(description.searchAttributes['BmhName']).toEqual(['host-0']);
    expect(await description.staticSummary()).toBe(`BareMetalHost ${namespace}/host-0`);

    // The fake workflow answered statusMissing with a publication: the status is there.
    const status = await waitFor('the first status', async () => (await getHost('host-0')).status);
    expect(status).toMatchObject({ operationalStatus: 'OK', provisioning: { state: 'registering', ID: created.metadata.uid } });
    await settle();
    // Our finalizer and status writes sent nothing more.
    expect(await signalCount('host-0')).toBe(1);
  });

  it('sends exactly one signal per spec change, annotation change and Secret update, and none on an unchanged resync', async () => {
    let count = await signalCount('host-0');

    await objects.patchNamespacedCustomObject({ ...GROUP, name: 'host-0', body: { spec: { online: false } } }, mergePatch);
    await waitFor('the spec change signal', async () => (await signalCount('host-0')) === count + 1);
    await settle();
    expect(await signalCount('host-0')).toBe(++count);
    expect((await received('host-0')).at(-1)).toMatchObject({ generation: 2, spec: { online: false } });

    await objects.patchNamespacedCustomObject({ ...GROUP, name: 'host-0', body: { metadata: { annotations: { 'inspect.metal3.io': '' } } } }, mergePatch);
    await waitFor('the annotation change signal', async () => (await signalCount('host-0')) === count + 1);
    await settle();
    expect(await signalCount('host-0')).toBe(++count);
    expect((await received('host-0')).at(-1)?.annotations.inspect).toBe('');

    await core.patchNamespacedSecret({ namespace, name: 'bmc-secret', body: { stringData: { password: NEW_PASSWORD } } }, mergePatch);
    const newVersion = (await core.readNamespacedSecret({ namespace, name: 'bmc-secret' })).metadata?.resourceVersion;
    expect(newVersion).not.toBe(secretVersion);
    await waitFor('the Secret update signal', async () => (await signalCount('host-0')) === count + 1);
    await settle();
    expect(await signalCount('host-0')).toBe(++count);
    expect((await received('host-0')).at(-1)?.credentials).toEqual({ name: 'bmc-secret', version: newVersion });

    // An unrelated annotation, then a full resync: reconciles run, nothing is sent.
    let unchanged = bridge.term?.reconciler.counters.unchanged ?? 0;
    await objects.patchNamespacedCustomObject({ ...GROUP, name: 'host-0', body: { metadata: { annotations: { 'example.com/note': 'hello' } } } }, mergePatch);
    await settle();
    expect(bridge.term?.reconciler.counters.unchanged).toBeGreaterThan(unchanged);
    unchanged = bridge.term?.reconciler.counters.unchanged ?? 0;
    bridge.resync();
    await settle();
    expect(bridge.term?.reconciler.counters.unchanged).toBeGreaterThan(unchanged);
    expect(await signalCount('host-0')).toBe(count);
  });

  it('caches only the Secrets hosts reference, as views without their content', async () => {
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'unreferenced' }, stringData: { username: 'nobody', password: PASSWORD } } });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'second-bmc' }, stringData: { username: 'admin', password: PASSWORD } } });
    await objects.createNamespacedCustomObject({ ...GROUP, body: bmh('host-cache', { spec: { bmc: { address: 'ipmi://192.0.2.1', credentialsName: 'second-bmc' } } }) });
    const version = await waitFor('the labelled second-bmc in the cache', () => bridge.term?.secrets.get(`${namespace}/second-bmc`)?.resourceVersion);
    expect((await core.readNamespacedSecret({ namespace, name: 'second-bmc' })).metadata).toMatchObject({ resourceVersion: version, labels: { 'environment.metal3.io': 'baremetal' } });
    // A change to the unreferenced Secret reaches no watch of the bridge's.
    await core.patchNamespacedSecret({ namespace, name: 'unreferenced', body: { stringData: { password: NEW_PASSWORD } } }, mergePatch);
    await settle();
    const cached = bridge.term?.secrets.list() ?? [];
    expect(cached.map((s) => s.name).sort()).toEqual(['bmc-secret', 'second-bmc']);
    expect((await core.readNamespacedSecret({ namespace, name: 'unreferenced' })).metadata?.labels).toBeUndefined();
    // What is kept of a Secret: its name, version and whether the keys are usable; never its content.
    for (const view of cached) expect(Object.keys(view).sort()).toEqual(['hasPassword', 'hasUsername', 'name', 'namespace', 'resourceVersion']);
    expect(JSON.stringify(cached)).not.toContain(PASSWORD);
    // Gone before the next test, which counts the bridge's writes.
    await objects.deleteNamespacedCustomObject({ ...GROUP, name: 'host-cache' });
    await waitFor('host-cache to be gone', () => hostGone('host-cache'));
    await settle();
  });

  it('publishStatus writes only our fields, only when changed, keeps lastTransitionTime, and records Events', async () => {
    // Fields that are not ours: a deprecated status field set by someone else, and a foreign condition.
    await objects.patchNamespacedCustomObjectStatus({ ...GROUP, name: 'host-0', body: { status: { hardwareProfile: 'libvirt' } } }, mergePatch);
    const base = fakeInitialState((await getHost('host-0')).metadata.uid ?? '');
    const available: HostState = { ...base, provisioningState: 'available', operationHistory: { ...base.operationHistory, register: { start: '2026-01-01T10:00:00.5Z', end: '2026-01-01T10:00:05Z' } } };
    const hardware = { cpu: { arch: 'x86_64', count: 4 }, ramMebibytes: 16384, nics: [{ name: 'eth0', mac: '00:11:22:33:44:55', pxe: true }] };
    const writesBefore = kube.counters.writes;
    const eventsBefore = kube.counters.events;
    expect(
      await publish('host-0', {
        state: available,
        events: [{ type: 'Normal', reason: 'Registered', message: 'Registered new host' }],
        removeAnnotations: ['inspect.metal3.io'],
        hardwareData: hardware,
      }),
    ).toEqual({ written: true });
    const writes = kube.counters.writes - writesBefore;

    const host = await getHost('host-0');
    expect(host.status).toMatchObject({
      operationalStatus: 'OK',
      errorMessage: '',
      errorCount: 0,
      poweredOn: false,
      hardwareProfile: 'libvirt',
      provisioning: { state: 'available', ID: base.provisioningId },
      operationHistory: { register: { start: '2026-01-01T10:00:00Z', end: '2026-01-01T10:00:05Z' } },
    });
    expect(host.spec['online']).toBe(false);
    const conditions = host.status?.['conditions'] as { type: string; status: string; reason: string; lastTransitionTime: string; observedGeneration: number }[];
    expect(conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      'Manageable=True/Manageable',
      'Provisioned=False/NotProvisioned',
      'Ready=False/NotProvisioned',
      'AvailableForProvisioning=True/Available',
      'Progressing=False/NotProgressing',
    ]);
    expect(conditions.every((c) => c.observedGeneration === 2)).toBe(true);
    expect(host.metadata.annotations?.['inspect.metal3.io']).toBeUndefined();
    expect(host.metadata.annotations?.['example.com/note']).toBe('hello');

    const hardwareData = (await objects.getNamespacedCustomObject({ ...GROUP, plural: 'hardwaredata', name: 'host-0' })) as { metadata: k8s.V1ObjectMeta; spec: { hardware: unknown } };
    expect(hardwareData.spec.hardware).toEqual(hardware);
    expect(hardwareData.metadata.finalizers).toEqual(['baremetalhost.metal3.io/hardwareData']);
    expect(hardwareData.metadata.ownerReferences).toEqual([{ apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', name: 'host-0', uid: host.metadata.uid }]);

    const events = await waitFor('the Registered event', async () => {
      const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=host-0,reason=Registered` });
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'Normal',
      message: 'Registered new host',
      source: { component: 'metal3-baremetal-controller' },
      reportingComponent: 'metal3.io/baremetal-controller',
      involvedObject: { kind: 'BareMetalHost', apiVersion: 'metal3.io/v1alpha1', name: 'host-0', namespace, uid: host.metadata.uid },
      related: { kind: 'Metal3Machine', name: 'machine-0', namespace },
    });
    // One status write, one annotation removal, one HardwareData create: nothing else. The Event goes out
    // in the background under a budget of its own, so it never delays a status write.
    expect(writes).toBe(3);
    expect(kube.counters.events - eventsBefore).toBe(1);

    // The same state again: nothing written, not even lastUpdated.
    const before = await getHost('host-0');
    expect(await publish('host-0', { state: available, events: [], removeAnnotations: [] })).toEqual({ written: false });
    const after = await getHost('host-0');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.status?.['lastUpdated']).toBe(before.status?.['lastUpdated']);

    // A real change, in a later second (metav1.Time has whole seconds): Manageable stays True and keeps its time.
    const second = Math.floor(Date.now() / 1000);
    await waitFor('the next second on the clock', () => Math.floor(Date.now() / 1000) > second);
    const writesBeforeProvisioned = kube.counters.writes;
    expect(await publish('host-0', { state: { ...available, provisioningState: 'provisioned', poweredOn: true, image: { url: 'http://images/live.iso', format: 'live-iso' } }, events: [], removeAnnotations: [] })).toEqual({ written: true });
    expect(kube.counters.writes - writesBeforeProvisioned).toBe(1);
    const provisioned = await getHost('host-0');
    const time = (h: Host, type: string) => (h.status?.['conditions'] as { type: string; lastTransitionTime: string }[]).find((c) => c.type === type)?.lastTransitionTime;
    expect(time(provisioned, 'Manageable')).toBe(time(after, 'Manageable'));
    expect(time(provisioned, 'Provisioned')).not.toBe(time(after, 'Provisioned'));
    expect(provisioned.status).toMatchObject({ poweredOn: true, provisioning: { state: 'provisioned', image: { url: 'http://images/live.iso', format: 'live-iso' } } });
    expect(Date.parse(String(provisioned.status?.['lastUpdated']))).toBeGreaterThan(Date.parse(String(after.status?.['lastUpdated'])));
    await settle();
  });

  it('rebuilds a status deleted by hand (statusMissing)', async () => {
    const count = await signalCount('host-0');
    await objects.patchNamespacedCustomObjectStatus({ ...GROUP, name: 'host-0', body: { status: null } }, mergePatch);
    expect((await getHost('host-0')).status).toBeUndefined();
    const rebuilt = await waitFor('the rebuilt status', async () => (await getHost('host-0')).status);
    expect(rebuilt).toMatchObject({ poweredOn: true, provisioning: { state: 'provisioned' } });
    expect(typeof rebuilt['lastUpdated']).toBe('string');
    await settle();
    expect(await signalCount('host-0')).toBe(count + 1);
    expect((await received('host-0')).at(-1)).toMatchObject({ statusMissing: true });
  });

  it('restores from the status annotation, and leaves a paused host alone until it is unpaused', async () => {
    const saved = { operationalStatus: 'OK', errorMessage: '', errorCount: 0, poweredOn: true, provisioning: { state: 'provisioned', ID: 'from-another-cluster' } };
    await objects.createNamespacedCustomObject({
      ...GROUP,
      body: bmh('host-moved', { annotations: { 'baremetalhost.metal3.io/paused': 'metal3.io/capm3', 'baremetalhost.metal3.io/status': JSON.stringify(saved) } }),
    });
    const [first] = await waitFor('the first syncHost of the moved host', async () => {
      const r = await received('host-moved').catch(() => []);
      return r.length > 0 ? r : undefined;
    });
    expect(first).toMatchObject({ statusMissing: true, restoredStatus: saved, annotations: { paused: true } });
    await settle();
    // Paused: BMO takes no ownership, and neither do we.
    expect((await getHost('host-moved')).metadata.finalizers ?? []).not.toContain('baremetalhost.metal3.io');

    await objects.patchNamespacedCustomObject({ ...GROUP, name: 'host-moved', body: { metadata: { annotations: { 'baremetalhost.metal3.io/paused': null } } } }, mergePatch);
    const restored = await waitFor('the restored status', async () => {
      const h = await getHost('host-moved');
      return h.metadata.finalizers?.includes('baremetalhost.metal3.io') && h.metadata.annotations?.['baremetalhost.metal3.io/status'] === undefined && h.status ? h : undefined;
    });
    expect(restored.status).toMatchObject({ poweredOn: true, provisioning: { state: 'provisioned' } });
    await settle();
  });

  it('deletion reaches the workflow, whose releaseHost lets the object and its HardwareData go', async () => {
    await objects.deleteNamespacedCustomObject({ ...GROUP, name: 'host-0' });
    await waitFor('host-0 to be gone', () => hostGone('host-0'));
    await waitFor('its HardwareData to be gone', async () => {
      try {
        await objects.getNamespacedCustomObject({ ...GROUP, plural: 'hardwaredata', name: 'host-0' });
        return false;
      } catch (error) {
        return error instanceof k8s.ApiException && error.code === 404;
      }
    });
    expect((await received('host-0')).at(-1)).toMatchObject({ deleting: true });
    expect((await handle('host-0').describe()).status.name).toBe('COMPLETED');
  });

  it('never logs a BMC password', () => {
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.some((l) => l.includes('signalled host workflow'))).toBe(true);
    for (const secret of [PASSWORD, NEW_PASSWORD]) {
      const forms = [secret, Buffer.from(secret).toString('base64')];
      for (const line of lines) for (const form of forms) expect(line).not.toContain(form);
    }
  });
});
