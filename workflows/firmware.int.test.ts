/**
 * The workflow tier of firmware: the real host, prepare, servicing, firmware update and rollout workflows on the
 * real Temporal server, with fake BMC activities (test/fakes/host-activities.ts) and a fake bridge that records
 * publications. Proves the wiring (children with their own histories, the task URI made durable before the wait,
 * servicing's operational status, a rollout's waves, budget pause, resume and abort through messages only) and
 * records histories for the replay tier (`RECORD_HISTORIES=1`). The real BMCs and bridge: test/firmware.int.test.ts.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../workers/workflow-bundle.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../domain/firmware-rollout.ts';
import type { FirmwareIntent, HostDesired, HostSpecIntent, HostState, PublishResult, StatusPublication } from '../domain/host-model.ts';
import { hostWorkflowId, rolloutWorkflowId } from '../domain/names.ts';
import { fakeClusterJoin } from '../test/fakes/cluster-join.ts';
import { fakeDrain } from '../test/fakes/drain.ts';
import { fakeHostActivities, type FakeHostActivities } from '../test/fakes/host-activities.ts';
import { recordHistories } from '../test/replay-record.ts';
import { waitFor } from '../test/wait.ts';
import type { hostWorkflow } from './host.ts';
import { syncHost, syncRollout } from './messages.ts';
import type { firmwareRolloutWorkflow } from './rollout.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const RUN = `fw${Date.now().toString(36)}`;
const HOST_QUEUE = `hosts-${RUN}`;
const BRIDGE_QUEUE = `bridge-${RUN}`;
const ISO = 'http://images.example/live.iso';
const BIOS = { component: 'bios', url: 'http://fw.example/bios-2.1.0.bin' };
const BMC = { component: 'bmc', url: 'http://fw.example/bmc-5.2.bin' };

let bundle: WorkflowBundleWithSourceMap;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let workers: Worker[] = [];
let running: Promise<unknown>;
const fake: FakeHostActivities = fakeHostActivities();
const join = fakeClusterJoin();
const drain = fakeDrain((host) => fake.bmc(address(host)).power);
const publications = new Map<string, StatusPublication[]>();
const rolloutStatuses = new Map<string, RolloutStatus[]>();

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: QUIET_BUNDLER_LOGGER });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  workers = [
    await Worker.create({ connection: nativeConnection, namespace: stack.temporal.namespace, taskQueue: HOST_QUEUE, workflowBundle: bundle, activities: { ...fake, ...join, ...drain } }),
    await Worker.create({
      connection: nativeConnection,
      namespace: stack.temporal.namespace,
      taskQueue: BRIDGE_QUEUE,
      activities: {
        async publishStatus(p: StatusPublication): Promise<PublishResult> {
          const key = `${p.ref.namespace}/${p.ref.name}`;
          publications.set(key, [...(publications.get(key) ?? []), p]);
          return { written: true };
        },
        async releaseHost() {},
        async publishRolloutStatus({ ref, status }: { ref: { namespace: string; name: string }; status: RolloutStatus }) {
          const key = `${ref.namespace}/${ref.name}`;
          rolloutStatuses.set(key, [...(rolloutStatuses.get(key) ?? []), status]);
          return { gone: false };
        },
      },
    }),
  ];
  running = Promise.all(workers.map((w) => w.run()));
});

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await connection?.close();
  await nativeConnection?.close();
});

const address = (name: string) => `redfish-virtualmedia+http://bmc-${name}.example/redfish/v1/Systems/1`;

function desiredFor(name: string, spec: Partial<HostSpecIntent> = {}, firmware?: FirmwareIntent, extra: Partial<HostDesired> = {}): HostDesired {
  return {
    ref: { namespace: RUN, name, uid: `uid-${name}` },
    generation: 1,
    resourceVersion: '1',
    // Cleaning boots the deploy agent, which these fakes do not have (workflows/host-agent.int.test.ts has it).
    spec: {
      online: false,
      inspectionMode: 'disabled',
      automatedCleaningMode: 'disabled',
      bmc: { address: address(name), credentialsName: `${name}-bmc` },
      ...spec,
    },
    annotations: { paused: false, reboot: {}, invalid: [] },
    credentials: { name: `${name}-bmc`, version: '1' },
    deleting: false,
    statusMissing: false,
    ...(firmware ? { firmware } : {}),
    ...extra,
  };
}

async function startHost(name: string, desired: HostDesired): Promise<WorkflowHandle<typeof hostWorkflow>> {
  return client.workflow.start<typeof hostWorkflow>('hostWorkflow', {
    taskQueue: HOST_QUEUE,
    workflowId: hostWorkflowId(RUN, name),
    args: [{ desired, config: { bridgeTaskQueue: BRIDGE_QUEUE, errorBackoffBaseMs: 500 } }],
  });
}

const published = (name: string) => publications.get(`${RUN}/${name}`) ?? [];
const lastState = (name: string): HostState | undefined => published(name).at(-1)?.state;
const until = (what: string, probe: () => boolean | Promise<boolean>) => waitFor(what, probe, { timeoutMs: 60_000, intervalMs: 50 });
const childTypes = async (prefix: string) => {
  const types: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${prefix}/"` })) types.push(wf.type);
  return new Set(types);
};

describe('firmware of one host', () => {
  it('preparing applies a HostFirmwareComponents update and HostFirmwareSettings, reads them back, and publishes them', async () => {
    const name = 'prepare';
    const firmware: FirmwareIntent = { settings: { values: { ProcVirtualization: 'Enabled' } }, updates: { spec: [BIOS], applied: [] } };
    const handle = await startHost(name, desiredFor(name, {}, firmware));
    await until('available', () => lastState(name)?.provisioningState === 'available');
    const b = fake.bmc(address(name));
    expect(b.versions.bios).toBe('2.1.0');
    expect(b.bios.ProcVirtualization).toBe('Enabled');
    expect(b.flashes).toEqual({ [BIOS.url]: 1 });
    // The settings were staged, applied at a power-on, and the host put back as it was (off).
    expect(b.power).toBe(false);
    expect(lastState(name)?.firmware).toMatchObject({ supported: true, settings: { ProcVirtualization: 'Enabled' }, appliedUpdates: [BIOS], schemaName: 'schema-fake0001' });
    const firmwarePublications = published(name).flatMap((p) => (p.firmware ? [p.firmware] : []));
    // At registration (with the schema's rules), then after preparing (the schema known: not sent again).
    expect(firmwarePublications[0]?.reading.schema).toBeDefined();
    expect(firmwarePublications.at(-1)).toMatchObject({ flashed: [{ component: 'bios', version: '2.1.0' }], appliedUpdates: [BIOS], reading: { settings: { ProcVirtualization: 'Enabled' } } });
    expect(firmwarePublications.at(-1)?.reading.schema).toBeUndefined();
    expect(published(name).flatMap((p) => p.events).map((e) => e.reason)).toContain('FirmwareUpdated');
    // Registering ran in the host workflow (patch inline-bmc-operations); the firmware work is a child, each flash one.
    expect(await childTypes(hostWorkflowId(RUN, name))).toEqual(new Set(['prepareWorkflow', 'firmwareUpdateWorkflow']));

    // The same spec again (its status caught up): nothing to do, the host stays available.
    await handle.signal(syncHost, desiredFor(name, {}, { ...firmware, updates: { spec: [BIOS], applied: [BIOS] } }));
    // A hardware RAID change applies in preparing through the same child; an impossible level is a preparation error.
    await handle.signal(syncHost, desiredFor(name, { raid: { hardwareRAIDVolumes: [{ level: '2' }] } }, firmware));
    await until('preparation error', () => lastState(name)?.errorType === 'preparation error');
    expect(lastState(name)).toMatchObject({ provisioningState: 'preparing', errorCode: 'RaidConfigInvalid', errorMessage: expect.stringMatching(/RAID level 2/) });
    await handle.signal(syncHost, desiredFor(name, { raid: { hardwareRAIDVolumes: [{ level: '1' }] } }, firmware));
    await until('available with RAID', () => lastState(name)?.provisioningState === 'available' && lastState(name)?.errorType === '');
    expect(b.raid).toEqual(['1']);
    expect(lastState(name)?.raid).toEqual({ hardwareRAIDVolumes: [{ level: '1' }] });
    await handle.signal(syncHost, desiredFor(name, {}, firmware, { deleting: true }));
    await handle.result();
    await recordHistories(client, bundle, handle, 'firmware-prepare');
  });

  it('servicing: a provisioned host with a HostUpdatePolicy takes the update when rebooted (operationalStatus servicing)', async () => {
    const name = 'servicing';
    const spec = { online: true, image: { url: ISO, format: 'live-iso' as const } };
    const handle = await startHost(name, desiredFor(name, spec));
    await until('provisioned', () => lastState(name)?.provisioningState === 'provisioned' && lastState(name)?.poweredOn === true);
    const b = fake.bmc(address(name));
    const withPolicy: FirmwareIntent = { updates: { spec: [BMC], applied: [] }, policy: { firmwareUpdates: 'onReboot' } };
    await handle.signal(syncHost, desiredFor(name, spec, withPolicy));
    // Without a reboot nothing happens: BMO services on the reboot's power-off.
    await handle.signal(syncHost, desiredFor(name, spec, withPolicy, { annotations: { paused: false, reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } }, invalid: [] } }));
    await until('serviced and back on', () => b.versions.bmc === '5.2' && lastState(name)?.poweredOn === true && lastState(name)?.operationalStatus === 'OK');
    const statuses = published(name).map((p) => p.state.operationalStatus);
    expect(statuses).toContain('servicing');
    expect(lastState(name)).toMatchObject({ provisioningState: 'provisioned', errorType: '', firmware: { appliedUpdates: [BMC] } });
    expect(published(name).flatMap((p) => p.events).map((e) => e.reason)).toEqual(expect.arrayContaining(['FirmwareUpdated', 'ServicingComplete']));
    await handle.signal(syncHost, desiredFor(name, { online: true }, undefined, { deleting: true }));
    await handle.result();
    await recordHistories(client, bundle, handle, 'firmware-servicing');
  });
});

describe('a rollout over host workflows, through messages only', () => {
  async function hosts(prefix: string, count: number): Promise<string[]> {
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    await Promise.all(names.map((n) => startHost(n, desiredFor(n))));
    await until(`${prefix} available`, () => names.every((n) => lastState(n)?.provisioningState === 'available'));
    return names;
  }
  const startRollout = (name: string, names: string[], strategy: Record<string, unknown>) =>
    client.workflow.start<typeof firmwareRolloutWorkflow>('firmwareRolloutWorkflow', {
      taskQueue: HOST_QUEUE,
      workflowId: rolloutWorkflowId(RUN, name),
      args: [
        {
          ref: { namespace: RUN, name, uid: `uid-${name}` },
          work: { updates: [BIOS], settings: {} },
          strategy,
          hosts: names.map((n) => ({ namespace: RUN, name: n })),
          control: { generation: 1, paused: false, abort: false },
          config: { bridgeTaskQueue: BRIDGE_QUEUE },
        },
      ],
    });
  const lastStatus = (name: string) => rolloutStatuses.get(`${RUN}/${name}`)?.at(-1);

  it('canary, waves, the budget pauses it, a resume retries the failed host and completes it', async () => {
    const names = await hosts('wave', 5);
    fake.failNext(address('wave-2'), 'startFirmwareUpdate', 'BmcTaskFailed', 1);
    const handle = await startRollout('waves', names, { canary: 1, waves: [50, 100], maxUnavailable: 2, failureBudget: 1 });
    await until('paused by the budget', () => lastStatus('waves')?.phase === 'Paused' && lastStatus('waves')?.inProgress === 0);
    expect(lastStatus('waves')).toMatchObject({ failed: 1, budgetPauseActive: true, budgetPauses: 1, message: expect.stringMatching(/wave-2/) });
    // The bridge pauses the spec, the user resumes it.
    await handle.signal(syncRollout, { generation: 2, paused: true, abort: false });
    await handle.signal(syncRollout, { generation: 3, paused: false, abort: false });
    const final = await handle.result();
    expect(final).toMatchObject({ phase: 'Completed', updated: 5, failed: 0, progress: '5/5' });
    expect(final.hosts.find((h) => h.name === 'wave-2')).toMatchObject({ state: 'Updated', attempt: 2, versions: [{ component: 'bios', version: '2.1.0' }] });
    for (const n of names) expect(fake.bmc(address(n)).flashes).toEqual({ [BIOS.url]: 1 });
    // The failed host recovered from its preparation error.
    expect(lastState('wave-2')).toMatchObject({ provisioningState: 'available', errorType: '' });
    // Waves one at a time, never more than maxUnavailable in flight.
    const seen = rolloutStatuses.get(`${RUN}/waves`) ?? [];
    expect(Math.max(...seen.map((s) => s.inProgress))).toBeLessThanOrEqual(2);
    expect(seen.find((s) => s.inProgress > 0)?.hosts.filter((h) => h.state === 'InProgress').map((h) => h.name)).toEqual(['wave-0']);
    await recordHistories(client, bundle, handle, 'firmware-rollout');
  });

  it('a provisioned host is taken through servicing (powered off, flashed, back on); an available one through preparing', async () => {
    const spec = { online: true, image: { url: ISO, format: 'live-iso' as const } };
    await startHost('mixed-provisioned', desiredFor('mixed-provisioned', spec));
    await startHost('mixed-available', desiredFor('mixed-available'));
    await until('provisioned and on', () => lastState('mixed-provisioned')?.provisioningState === 'provisioned' && lastState('mixed-provisioned')?.poweredOn === true);
    await until('available', () => lastState('mixed-available')?.provisioningState === 'available');
    const handle = await startRollout('mixed', ['mixed-provisioned', 'mixed-available'], { canary: 0, waves: [100], maxUnavailable: 2 });
    const final = await handle.result();
    expect(final).toMatchObject({ phase: 'Completed', updated: 2, failed: 0 });
    expect(final.hosts.find((h) => h.name === 'mixed-provisioned')?.message).toMatch(/\(servicing\)/);
    expect(final.hosts.find((h) => h.name === 'mixed-available')?.message).toMatch(/\(prepare\)/);
    for (const n of ['mixed-provisioned', 'mixed-available']) expect(fake.bmc(address(n)).flashes).toEqual({ [BIOS.url]: 1 });
    // No HostUpdatePolicy: the rollout is the operator's decision. The host is back as it was.
    const served = published('mixed-provisioned').map((p) => p.state);
    expect(served.map((st) => st.operationalStatus)).toContain('servicing');
    await until('back on, provisioned, OK', () => {
      const last = lastState('mixed-provisioned');
      return last?.provisioningState === 'provisioned' && last.poweredOn === true && last.operationalStatus === 'OK';
    });
  });

  it('a provisioned host whose Node joined: drained before its power-off, released once back on, the steps in its result', async () => {
    const name = 'drained-0';
    const consumerRef = { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2', kind: 'Metal3Machine', name: 'm3m-d0', namespace: RUN };
    const spec = { online: true, image: { url: ISO, format: 'live-iso' as const }, consumerRef };
    join.answer(name, { outcome: 'joined', node: 'w-0', readyAt: '2026-12-02T10:00:00.000Z', cluster: `${RUN}/c1` });
    const host = await startHost(name, desiredFor(name, spec));
    await until('joined', () => lastState(name)?.nodeJoin?.status === 'joined' && lastState(name)?.poweredOn === true);
    const handle = await startRollout('drain', [name], { canary: 0, waves: [100], maxUnavailable: 1 });
    const final = await handle.result();
    expect(final).toMatchObject({ phase: 'Completed', updated: 1 });
    expect(final.hosts[0]?.message).toBe(
      'updated: bios 2.1.0 (servicing) (Node w-0 cordoned and drained: 1 pod evicted, 1 DaemonSet or mirror pod kept; Node w-0 Ready again and uncordoned)',
    );
    const calls = drain.calls.filter((c) => c.input.host.name === name);
    // Drained while the host was on (before servicing powered it off); released once it was back on, waiting for a new boot.
    expect(calls.map((c) => [c.activity, c.poweredOn])).toEqual([
      ['drainNode', true],
      ['releaseNode', true],
    ]);
    expect(calls[0]?.input).toMatchObject({ node: 'w-0', owner: `${RUN}/drain`, consumer: { name: 'm3m-d0' } });
    expect(calls[1]?.input).toMatchObject({ waitReady: { bootId: 'boot-1' } });
    expect(fake.bmc(address(name)).flashes).toEqual({ [BIOS.url]: 1 });
    const events = published(name).flatMap((p) => p.events).map((e) => e.reason);
    expect(events.indexOf('NodeDrained')).toBeLessThan(events.indexOf('NodeUncordoned'));
    expect(lastState(name)?.rolloutDrain).toBeUndefined();
    await host.signal(syncHost, desiredFor(name, { online: true }, undefined, { deleting: true }));
    await host.result();
    await recordHistories(client, bundle, host, 'firmware-rollout-drain');
  });

  it('abort: the host in flight finishes its flash, the others are never started, every host reported', async () => {
    const names = await hosts('abort', 3);
    fake.holdFlashes(true);
    const handle = await startRollout('abort', names, { canary: 1, waves: [100], maxUnavailable: 1 });
    await until('the canary flashing', () => Object.keys(fake.bmc(address('abort-0')).flashes).length === 1);
    await handle.signal(syncRollout, { generation: 2, paused: false, abort: true });
    await until('aborting', () => lastStatus('abort')?.message?.startsWith('aborting') ?? false);
    fake.holdFlashes(false);
    const final = await handle.result();
    expect(final).toMatchObject({ phase: 'Aborted', updated: 1, aborted: 2, inProgress: 0, pending: 0 });
    expect(final.hosts.map((h) => h.state)).toEqual(['Updated', 'Aborted', 'Aborted']);
    expect(Object.keys(fake.bmc(address('abort-1')).flashes)).toEqual([]);
  });
});
