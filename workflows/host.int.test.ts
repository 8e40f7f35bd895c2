/**
 * The workflow tier: the real host workflow and its children on the real Temporal dev server, with fake BMC
 * activities and a fake bridge that records publications. Proves the lifecycle's wiring (children, status
 * publication, signals, abort, deletion, continue-as-new) and records histories for the replay tier
 * (`RECORD_HISTORIES=1` writes them to test/replay/histories/).
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../workers/workflow-bundle.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delay } from '../domain/host-lifecycle.ts';
import type { HostDesired, HostSpecIntent, HostState, PublishResult, StatusPublication } from '../domain/host-model.ts';
import { snapshotsOf } from './publication-queue.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { fakeClusterJoin } from '../test/fakes/cluster-join.ts';
import { fakeHostActivities, type FakeHostActivities } from '../test/fakes/host-activities.ts';
import type { hostWorkflow } from './host.ts';
import { abortOperation, hostState, offerSlot, syncHost } from './messages.ts';
import { recordHistories } from '../test/replay-record.ts';
import { waitFor } from '../test/wait.ts';
import { isIdle, localActivityCalls, patchesMarked, waitingOnTimer } from '../test/workflow-waits.ts';
import { LOCAL_ACTIVITY_MARKER, PATCH_MARKER } from '../lib/history-markers.ts';
import { CHILD_PATCHES } from './host-patches.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const RUN = `wf${Date.now().toString(36)}`;
const HOST_QUEUE = `hosts-${RUN}`;
const BRIDGE_QUEUE = `bridge-${RUN}`;
const ISO = 'http://images.example/live.iso';

let bundle: WorkflowBundleWithSourceMap;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let hostWorker: Worker;
let bridgeWorker: Worker;
let running: Promise<unknown>;
const fake: FakeHostActivities = fakeHostActivities();
const join = fakeClusterJoin();
const publications = new Map<string, StatusPublication[]>();
const released = new Set<string>();
const refused = new Set<string>();
const NO_SLOT = 'waiting for a provisioning slot: 2 of 2 hosts are inspecting, provisioning or deprovisioning';

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: QUIET_BUNDLER_LOGGER });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  hostWorker = await Worker.create({ connection: nativeConnection, namespace: stack.temporal.namespace, taskQueue: HOST_QUEUE, workflowBundle: bundle, activities: { ...fake, ...join } });
  bridgeWorker = await Worker.create({
    connection: nativeConnection,
    namespace: stack.temporal.namespace,
    taskQueue: BRIDGE_QUEUE,
    activities: {
      async publishStatus(p: StatusPublication): Promise<PublishResult> {
        const key = `${p.ref.namespace}/${p.ref.name}`;
        // Hosts 'delayed' and 'offered-early' are refused their first slot claim, as a bridge at its provisioning
        // limit refuses it; 'offered-early' is offered a slot that frees before the refusal reaches the workflow.
        if (p.claim && (p.ref.name === 'delayed' || p.ref.name === 'offered-early') && !refused.has(key)) {
          refused.add(key);
          if (p.ref.name === 'offered-early') await client.workflow.getHandle(hostWorkflowId(p.ref.namespace, p.ref.name)).signal(offerSlot);
          const { fallback } = p.claim;
          const shown = { ...p, ...fallback, state: delay(fallback.state, p.state.provisioningState, NO_SLOT) };
          publications.set(key, [...(publications.get(key) ?? []), shown]);
          return { written: true, delayed: NO_SLOT };
        }
        // The bridge writes a batch's snapshots one by one: record each, as a watch would see them.
        publications.set(key, [...(publications.get(key) ?? []), ...snapshotsOf(p)]);
        return { written: true };
      },
      async releaseHost(ref: { namespace: string; name: string; uid: string }) {
        released.add(`${ref.namespace}/${ref.name}`);
        // Host 'recreated': a new object of the same name, with its status annotation, is signalled to the run
        // while it releases the old one (the order a move or a fast re-create can give).
        if (ref.name === 'recreated' && ref.uid === 'uid-recreated') {
          const restoredStatus = { provisioning: { state: 'available', ID: 'uid-recreated-2' }, operationalStatus: 'OK', poweredOn: false };
          await client.workflow.getHandle(hostWorkflowId(ref.namespace, ref.name)).signal(syncHost, desiredFor('recreated', {}, { ref: { namespace: ref.namespace, name: ref.name, uid: 'uid-recreated-2' }, restoredStatus }));
        }
      },
    },
  });
  running = Promise.all([hostWorker.run(), bridgeWorker.run()]);
});

afterAll(async () => {
  hostWorker?.shutdown();
  bridgeWorker?.shutdown();
  await running;
  await connection?.close();
  await nativeConnection?.close();
});

function desiredFor(name: string, spec: Partial<HostSpecIntent> = {}, extra: Partial<HostDesired> = {}): HostDesired {
  return {
    ref: { namespace: RUN, name, uid: `uid-${name}` },
    generation: 1,
    resourceVersion: '1',
    // The fake BMCs boot no deploy agent: cleaning is off here (workflows/host-agent.int.test.ts runs it).
    spec: { online: false, automatedCleaningMode: 'disabled', bmc: { address: `redfish-virtualmedia+http://bmc-${name}.example/redfish/v1/Systems/1`, credentialsName: `${name}-bmc` }, ...spec },
    annotations: { paused: false, reboot: {}, invalid: [] },
    credentials: { name: `${name}-bmc`, version: '1' },
    deleting: false,
    statusMissing: false,
    ...extra,
  };
}

async function start(name: string, desired: HostDesired, config: Record<string, unknown> = {}) {
  return client.workflow.start<typeof hostWorkflow>('hostWorkflow', {
    taskQueue: HOST_QUEUE,
    workflowId: hostWorkflowId(RUN, name),
    args: [{ desired, config: { bridgeTaskQueue: BRIDGE_QUEUE, errorBackoffBaseMs: 500, ...config } }],
  });
}

function published(name: string): StatusPublication[] {
  return publications.get(`${RUN}/${name}`) ?? [];
}

const until = (what: string, probe: () => boolean | Promise<boolean>) => waitFor(what, probe, { timeoutMs: 30_000, intervalMs: 50 });

const lastState = (name: string): HostState | undefined => published(name).at(-1)?.state;
const statesSeen = (name: string) => published(name).map((p) => p.state.provisioningState).filter((s, i, a) => s !== a[i - 1]);

/** Replays the host workflow's history and each child's; with RECORD_HISTORIES=1, stores them for the replay tier. */
const record = (handle: WorkflowHandle, file: string) => recordHistories(client, bundle, handle, file);

describe('host workflow on the real Temporal server', () => {
  it('walks a host through the lifecycle: available, provisioned (live ISO), back, and deleted', async () => {
    const name = 'life';
    const handle = await start(name, desiredFor(name));
    await until('available', () => lastState(name)?.provisioningState === 'available');
    expect(statesSeen(name)).toEqual(['registering', 'inspecting', 'preparing', 'available']);
    expect(lastState(name)).toMatchObject({ operationalStatus: 'OK', hardware: { ramMebibytes: 8192 }, goodCredentials: { version: '1' } });
    expect(published(name).some((p) => p.hardwareData)).toBe(true);

    await handle.signal(syncHost, desiredFor(name, { online: true, image: { url: ISO, format: 'live-iso' } }));
    await until('provisioned', () => lastState(name)?.provisioningState === 'provisioned');
    const b = fake.bmc(desiredFor(name).spec.bmc!.address);
    expect(b).toMatchObject({ power: true, media: ISO, bootOverride: 'Cd' });
    expect(b.counters).toMatchObject({ inserts: 1, powerOn: 1 });
    expect(lastState(name)).toMatchObject({ poweredOn: true, image: { url: ISO } });

    await handle.signal(syncHost, desiredFor(name, { online: true }));
    await until('available again', () => lastState(name)?.provisioningState === 'available' && !lastState(name)?.poweredOn === false);
    await until('powered on as asked', () => lastState(name)?.poweredOn === true);
    expect(b.media).toBeUndefined();

    await handle.signal(syncHost, desiredFor(name, { online: true }, { deleting: true }));
    await handle.result();
    expect(released.has(`${RUN}/${name}`)).toBe(true);
    expect(statesSeen(name).slice(-2)).toEqual(['powering off before delete', 'deleting']);
    expect(b.power).toBe(false);

    // The operations whose BMC calls finish in seconds ran in the host workflow (patch inline-bmc-operations);
    // the live-ISO boot, which can take minutes while the BMC fetches the ISO, is the one child.
    const children = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${hostWorkflowId(RUN, name)}/"` })) children.push(wf.type);
    expect(children).toEqual(['provisionWorkflow']);
    const hostHistory = await handle.fetchHistory();
    const calls = localActivityCalls(hostHistory);
    // register, inspect, deprovision (eject, power off), power on, power off before delete: all hard power changes.
    expect(calls.map((c) => c.type)).toEqual(['registerBmc', 'inspectHardware', 'ejectVirtualMedia', 'setPower', 'setPower', 'setPower']);
    // Each BMC call in the UI says what it does and through which protocol; the boot is one call whose
    // recorded result lists what it did.
    let provisionHistory;
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${hostWorkflowId(RUN, name)}/provision/"` })) provisionHistory = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const boot = localActivityCalls(provisionHistory ?? {});
    expect(boot.map((c) => c.summary)).toEqual([`check the image URL, then boot the live ISO ${ISO} from the virtual CD via Redfish`]);
    expect(boot[0]?.result).toEqual({ poweredOn: true, steps: ['insert the ISO', 'one-time boot from the virtual CD (UEFI)', 'power on'] });
    // The provision child took the patches the host handed on: no marker and no TemporalChangeVersion upsert.
    expect((provisionHistory?.events ?? []).filter((e) => e.markerRecordedEventAttributes || e.upsertWorkflowSearchAttributesEventAttributes)).toHaveLength(boot.length);
    // So did the operations run in the host: no marker for any child's patch.
    const marked = patchesMarked(hostHistory);
    expect(marked).toContain('inline-bmc-operations');
    expect(marked.filter((id) => (CHILD_PATCHES as readonly string[]).includes(id))).toEqual([]);
    // Registering read the firmware in the same local activity, and the host published the reading.
    expect(calls.find((c) => c.type === 'registerBmc')?.summary).toMatch(/^register: authenticate, read the system, its power and its firmware/);
    expect(published(name).some((p) => p.firmware?.reading.settings !== undefined)).toBe(true);

    // The host's search attributes change several times in one workflow task (a state, the next, the operation
    // it starts): one upsert per task carries them (patch fewer-history-events).
    let upserts = 0;
    let most = 0;
    for (const e of hostHistory.events ?? []) {
      if (e.workflowTaskCompletedEventAttributes) upserts = 0;
      const fields = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
      if (fields.length > 0 && !fields.includes('TemporalChangeVersion')) most = Math.max(most, ++upserts);
    }
    expect(most).toBe(1);
    expect(JSON.stringify(hostHistory)).not.toContain(fake.secret);
    await record(handle, 'host-lifecycle');
  });

  it('records a registration error with backoff and recovers on a new Secret version', async () => {
    const name = 'badcreds';
    const d = desiredFor(name);
    fake.failNext(d.spec.bmc!.address, 'registerBmc', 'BmcAuthFailed', 100);
    const handle = await start(name, d, { errorBackoffBaseMs: 60_000 });
    await until('registration error', () => lastState(name)?.errorType === 'registration error');
    expect(lastState(name)).toMatchObject({ operationalStatus: 'error', errorCount: 1, provisioningState: 'registering' });
    // Backing off (about a minute or two), not a tight loop: the workflow waits on its timer, nothing running.
    await until('backing off', async () => (await waitingOnTimer(handle, 30_000)) !== undefined);
    // One registration, in the host workflow (no child), that failed; no other call.
    const tried = localActivityCalls(await handle.fetchHistory());
    expect(tried.map((c) => [c.type, c.failed])).toEqual([['registerBmc', true]]);

    fake.failNext(d.spec.bmc!.address, 'registerBmc', 'BmcAuthFailed', 0);
    fake.secretVersions.set(`${name}-bmc`, '2');
    await handle.signal(syncHost, desiredFor(name, {}, { credentials: { name: `${name}-bmc`, version: '2' } }));
    await until('available after the fix', () => lastState(name)?.provisioningState === 'available');
    expect(lastState(name)).toMatchObject({ errorType: '', errorCount: 0, operationalStatus: 'OK' });
    await handle.signal(syncHost, desiredFor(name, {}, { deleting: true, credentials: { name: `${name}-bmc`, version: '2' } }));
    await handle.result();
    await record(handle, 'host-registration-error');
  });

  it('waits delayed when the bridge refuses a slot, and moves on, in one claim, when offered one', async () => {
    const name = 'delayed';
    const handle = await start(name, desiredFor(name, {}, { countsTowardProvisioningLimit: true }));
    await until('delayed', () => lastState(name)?.operationalStatus === 'delayed');
    expect(lastState(name)).toMatchObject({ provisioningState: 'registering', delayed: { state: 'inspecting', reason: NO_SLOT }, goodCredentials: { version: '1' } });
    // It waits for the offer, nothing running, and does not ask again meanwhile.
    await until('idle while delayed', () => isIdle(handle));
    const claims = () => published(name).filter((p) => p.claim).length;
    expect(claims()).toBe(1);
    await handle.signal(syncHost, desiredFor(name, {}, { countsTowardProvisioningLimit: true })); // no change in what it wants
    await until('idle again', () => isIdle(handle));
    expect(claims()).toBe(1);

    await handle.signal(offerSlot);
    await until('available', () => lastState(name)?.provisioningState === 'available');
    expect(statesSeen(name)).toEqual(['registering', 'inspecting', 'preparing', 'available']);
    expect(lastState(name)).toMatchObject({ operationalStatus: 'OK' });
    expect(claims()).toBe(2);
    await handle.signal(syncHost, desiredFor(name, {}, { deleting: true, countsTowardProvisioningLimit: true }));
    await handle.result();
    await record(handle, 'host-delayed');
  });

  it('claims at once a slot offered before the refusal of its claim was seen', async () => {
    const name = 'offered-early';
    const handle = await start(name, desiredFor(name, {}, { countsTowardProvisioningLimit: true }));
    // The offer's signal is in history before the refused claim's result: the host must not wait delayed for
    // an offer that already came (before the fix it did, until the bridge's reservation expired).
    await until('available', () => lastState(name)?.provisioningState === 'available');
    expect(published(name).some((p) => p.state.operationalStatus === 'delayed')).toBe(true);
    expect(published(name).filter((p) => p.claim).length).toBe(2);
    await handle.signal(syncHost, desiredFor(name, {}, { deleting: true, countsTowardProvisioningLimit: true }));
    await handle.result();
    await record(handle, 'host-offered-early');
  });

  it('hands a new object of the same name, signalled while the old one is released, to a new run', async () => {
    const name = 'recreated';
    const handle = await start(name, desiredFor(name));
    await until('available', () => lastState(name)?.provisioningState === 'available');
    const first = (await handle.describe()).runId;
    await handle.signal(syncHost, desiredFor(name, {}, { deleting: true }));
    // The old run releases its object and continues as new with the new one, which it restores from status.
    await until('a new run restored the new object', () => published(name).some((p) => p.events.some((e) => e.reason === 'StatusRestored')));
    const next = await client.workflow.getHandle(hostWorkflowId(RUN, name)).describe();
    expect(next.runId).not.toBe(first);
    expect(next.status.name).toBe('RUNNING');
    expect(released.has(`${RUN}/${name}`)).toBe(true);
    await client.workflow.getHandle(hostWorkflowId(RUN, name)).signal(syncHost, desiredFor(name, {}, { ref: { namespace: RUN, name, uid: 'uid-recreated-2' }, deleting: true }));
    await until('the new run ends', async () => (await client.workflow.getHandle(hostWorkflowId(RUN, name)).describe()).status.name === 'COMPLETED');
    await record(client.workflow.getHandle(hostWorkflowId(RUN, name), first), 'host-recreated-while-releasing');
  });

  it('deletes a host whose BMC stopped answering after one power-off attempt, saying what it skipped', async () => {
    // BMO #1666: a BMC that is gone. One power-off child that could not reach it, no second nor third.
    const name = 'gone';
    const d = desiredFor(name, { online: true });
    const handle = await start(name, d);
    await until('available, powered on', () => lastState(name)?.provisioningState === 'available' && lastState(name)?.poweredOn === true);
    fake.failNext(d.spec.bmc!.address, 'setPower', 'BmcUnreachable', 1000);
    await handle.signal(syncHost, desiredFor(name, { online: true }, { deleting: true }));
    await handle.result();
    expect(released.has(`${RUN}/${name}`)).toBe(true);
    expect(statesSeen(name).slice(-2)).toEqual(['powering off before delete', 'deleting']);
    const warnings = published(name).flatMap((p) => p.events).filter((e) => e.type === 'Warning');
    expect(warnings.map((e) => e.reason)).toContain('PowerOffSkipped');
    // From the history: after the deletion signal, one power-off call, its attempts within its retry policy (each
    // after a backoff on a server timer, so one marker each), and no second nor third call.
    const history = await handle.fetchHistory();
    const signalled = (history.events ?? []).findLastIndex((e) => e.workflowExecutionSignaledEventAttributes);
    const afterSignal = localActivityCalls(history).filter((c) => c.index > signalled);
    expect(afterSignal.map((c) => [c.type, c.attempt, c.failed])).toEqual([1, 2, 3, 4].map((attempt) => ['setPower', attempt, true]));
    await record(handle, 'host-bmc-gone');
  });

  it('aborts a running operation on request', async () => {
    const name = 'abort';
    const d = desiredFor(name);
    // Registration keeps failing transiently (retried inside the operation), so it is running when aborted.
    fake.failNext(d.spec.bmc!.address, 'registerBmc', 'BmcUnreachable', 1000);
    const handle = await start(name, d);
    await until('register running', async () => (await handle.query(hostState)).operation?.name === 'register');
    const answer = await handle.executeUpdate(abortOperation, { args: [{ reason: 'BMC is being replaced' }] });
    expect(answer).toEqual({ aborted: 'register' });
    await until('aborted error', () => lastState(name)?.errorMessage.includes('aborted by an operator') ?? false);
    expect(lastState(name)).toMatchObject({ errorType: 'registration error', operationalStatus: 'error' });
    await handle.terminate('test done');
  });

  it('checks that a CAPM3 host became a Ready Node: warns with what was seen, records the Node, drops it on deprovision', async () => {
    const name = 'joiner';
    const consumerRef = { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2', kind: 'Metal3Machine', name: 'm3m-1', namespace: RUN };
    const provisioned = desiredFor(name, { online: true, image: { url: ISO, format: 'live-iso' }, consumerRef });
    const noNode = { kind: 'noNode' as const };
    join.answer(name, { outcome: 'timeout', seen: noNode, message: 'no Node has metal3.io/uuid=uid-joiner', cluster: `${RUN}/c1` });
    const handle = await start(name, provisioned, { nodeJoinTimeoutSeconds: 30 });
    // The second check keeps watching until the warning has been published: publications coalesce within a
    // state, so a Node that joins at once would fold the warning into the 'joined' status.
    await until('warning shown', () => lastState(name)?.nodeJoin?.status === 'warning');
    join.answer(name, { outcome: 'joined', node: 'worker-7', readyAt: '2026-12-02T10:00:00.000Z', cluster: `${RUN}/c1` });
    await until('joined', () => lastState(name)?.nodeJoin?.status === 'joined');

    const states = published(name).map((p) => p.state.nodeJoin?.status).filter((s, i, a) => s !== undefined && s !== a[i - 1]);
    expect(states.slice(-2)).toEqual(['warning', 'joined']);
    expect(lastState(name)?.nodeJoin).toMatchObject({ node: 'worker-7', readyAt: '2026-12-02T10:00:00.000Z', reason: 'NodeReady', cluster: `${RUN}/c1` });
    const events = published(name).flatMap((p) => p.events);
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'Warning', reason: 'NodeNotJoined', message: 'no Ready Node after 30 s: no Node has metal3.io/uuid=uid-joiner' },
        expect.objectContaining({ type: 'Normal', reason: 'NodeJoined', message: expect.stringContaining('Node worker-7 is Ready since 2026-12-02T10:00:00.000Z') }),
      ]),
    );
    expect(join.calls.filter((c) => c.host.name === name).map((c) => [c.consumer.name, c.deadlineSeconds])).toEqual([
      ['m3m-1', 30],
      ['m3m-1', 30],
    ]);
    // The history records the Node's name and when it became Ready (the activity's answer).
    const answers = (await handle.fetchHistory()).events
      ?.map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
      .filter((data): data is Uint8Array => data !== undefined && data !== null)
      .map((data) => JSON.parse(Buffer.from(data).toString('utf8')) as { outcome?: string });
    expect(answers).toContainEqual({ outcome: 'joined', node: 'worker-7', readyAt: '2026-12-02T10:00:00.000Z', cluster: `${RUN}/c1` });

    // CAPM3 releases the host: the check's record goes with the provisioning.
    await handle.signal(syncHost, desiredFor(name, { online: false }));
    await until('available', () => lastState(name)?.provisioningState === 'available');
    expect(lastState(name)?.nodeJoin).toBeUndefined();
    await handle.signal(syncHost, desiredFor(name, {}, { deleting: true }));
    await handle.result();
    await record(handle, 'host-node-join');
  });

  it('cancels a join check that is still watching when the host is deprovisioned', async () => {
    const name = 'unjoined';
    const consumerRef = { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2', kind: 'Metal3Machine', name: 'm3m-2', namespace: RUN };
    const handle = await start(name, desiredFor(name, { online: true, image: { url: ISO, format: 'live-iso' }, consumerRef }));
    await until('checking', () => join.calls.some((c) => c.host.name === name));
    await until('waiting shown', () => lastState(name)?.nodeJoin?.status === 'waiting');
    expect(lastState(name)?.nodeJoin).toMatchObject({ reason: 'WaitingForNode', message: expect.stringContaining('metal3.io/uuid=uid-unjoined') });
    await handle.signal(syncHost, desiredFor(name, { online: false }));
    // The deprovision does not wait for the check: the workflow asks the activity to stop and goes on.
    await until('available', () => lastState(name)?.provisioningState === 'available');
    expect(lastState(name)?.nodeJoin).toBeUndefined();
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyNodeJoin');
    expect(events.some((e) => e.activityTaskCancelRequestedEventAttributes?.scheduledEventId?.toString() === scheduled?.eventId?.toString())).toBe(true);
    await handle.terminate('test done');
  });

  it('continues as new with its state when history grows', async () => {
    const name = 'can';
    const handle = await start(name, desiredFor(name, { online: false }), { maxHistoryEvents: 60 });
    await until('available', () => lastState(name)?.provisioningState === 'available');
    for (let i = 0; i < 6; i++) {
      await handle.signal(syncHost, desiredFor(name, { online: i % 2 === 0 }));
      await until(`power ${i % 2 === 0}`, () => lastState(name)?.poweredOn === (i % 2 === 0));
    }
    const description = await client.workflow.getHandle(hostWorkflowId(RUN, name)).describe();
    expect(description.runId).not.toBe(handle.firstExecutionRunId);
    const q = await client.workflow.getHandle(hostWorkflowId(RUN, name)).query(hostState);
    expect(q).toMatchObject({ provisioningState: 'available', goodCredentials: { version: '1' } });
    await client.workflow.getHandle(hostWorkflowId(RUN, name)).terminate('test done');
  });

  it('a steady host continues as new after a power check, without a status write, and still obeys its spec', async () => {
    const name = 'steady';
    const id = hostWorkflowId(RUN, name);
    const handle = await start(name, desiredFor(name, { online: false }), { powerCheckIntervalMs: 300, steadyHistoryEvents: 30 });
    await until('available', () => lastState(name)?.provisioningState === 'available');
    const shown = published(name).length;
    const runs = async () => {
      const found: { runId: string; closed: boolean }[] = [];
      for await (const wf of client.workflow.list({ query: `WorkflowId = "${id}"` })) found.push({ runId: wf.runId, closed: wf.closeTime !== undefined });
      return found;
    };
    // Two new runs: the first leaves the life so far behind, the second one a run that only checked power.
    // Closed as visibility shows it, which can lag behind a new run's start: wait for both to be closed.
    const middle = await waitFor('two runs continued as new', async () => {
      const found = await runs();
      return found.filter((r) => r.closed).length >= 2 ? found.find((r) => r.closed && r.runId !== handle.firstExecutionRunId) : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    const second = (await client.workflow.getHandle(id, middle?.runId).fetchHistory()).events ?? [];
    // A new run takes the patches its predecessor handed on without a marker (nor a TemporalChangeVersion upsert).
    expect(second.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    expect(second.filter((e) => e.markerRecordedEventAttributes?.markerName === PATCH_MARKER)).toEqual([]);
    const first = (await client.workflow.getHandle(id, handle.firstExecutionRunId).fetchHistory()).events ?? [];
    const last = first.at(-1);
    expect(last?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    // The power check came just before it, in the same workflow task.
    const check = first.findLast((e) => e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER);
    expect(Number(check?.eventId)).toBeGreaterThan(Number(first.findLast((e) => e.workflowTaskStartedEventAttributes)?.eventId));
    expect(first.length).toBeGreaterThan(30);
    // Nothing the host shows changed: no status was published for the checks or the new runs.
    expect(published(name).length).toBe(shown);
    const q = await client.workflow.getHandle(id).query(hostState);
    expect(q).toMatchObject({ provisioningState: 'available', poweredOn: false, goodCredentials: { version: '1' } });
    // The latest run obeys a spec change (and publishes it).
    await client.workflow.getHandle(id).signal(syncHost, desiredFor(name, { online: true }));
    await until('powered on', () => lastState(name)?.poweredOn === true);
    await record(client.workflow.getHandle(id, handle.firstExecutionRunId), 'host-steady-compaction');
    await record(client.workflow.getHandle(id, middle?.runId), 'host-steady-compaction-next');
    await client.workflow.getHandle(id).terminate('test done');
  });
});
