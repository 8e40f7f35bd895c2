/**
 * The real host workflow with the deploy agent, on the real Temporal dev server: fake BMCs
 * (test/fakes/host-activities.ts), the real agent API in this process (lookups, heartbeats and inventory
 * become updates and signals to the host workflow, which forwards them to its operation child), a fake agent
 * commanded by the real agent activities, and a "ramdisk" loop standing in for the booted ISO: when a fake BMC
 * powers on with a deploy ISO inserted, it behaves as IPA does (inventory for an inspection boot, else lookup
 * and heartbeat with the token of that boot). Proves in-band inspection, cleaning before first provisioning
 * and on deprovision (metadata, and the full-erase annotation), a qcow2 deploy, customDeploy without flapping,
 * a failed write counted as BMO counts it, stale boots ignored, and records a history for the replay tier.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../workers/workflow-bundle.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../activities/agent/index.ts';
import { temporalMessenger } from '../agent-api/messenger.ts';
import { startAgentApi, type RunningAgentApi } from '../agent-api/server.ts';
import { AgentKeys, newAgentKey } from '../agent-api/token.ts';
import type { HostDesired, HostSpecIntent, HostState, StatusPublication } from '../domain/host-model.ts';
import { snapshotsOf } from './publication-queue.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { startFakeAgent, type FakeAgent, type FakeCommandBehaviour } from '../test/fakes/agent-server.ts';
import { fakeHostActivities, type FakeHostActivities } from '../test/fakes/host-activities.ts';
import { leakedSecrets, textOf } from '../test/secret-scan.ts';
import { capturedLogger, unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import type { hostWorkflow } from './host.ts';
import { hostState, syncHost } from './messages.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const RUN = unique('hagent');
const HOST_QUEUE = `hosts-${RUN}`;
const BRIDGE_QUEUE = `bridge-${RUN}`;
const keys = new AgentKeys(newAgentKey());
const USER_DATA = `#cloud-config user-data-${RUN}`;
const QCOW = { url: 'http://images.example/os.qcow2', checksum: 'http://images.example/SHA256SUMS', format: 'qcow2' as const };

let bundle: WorkflowBundleWithSourceMap;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let hostWorker: Worker;
let bridgeWorker: Worker;
let running: Promise<unknown>;
let api: RunningAgentApi;
let agent: FakeAgent;
let ramdiskLoop: ReturnType<typeof setInterval>;
const fake: FakeHostActivities = fakeHostActivities();
const publications = new Map<string, StatusPublication[]>();
const hosts = new Map<string, { ref: HostDesired['ref']; mac: string }>();
/** Boots the "ramdisk" acted on, and what it did: the test's view of the agents. */
const boots: { host: string; bootId: string; purpose: string; answered: number }[] = [];
const logged = capturedLogger();

const behaviours: Record<string, FakeCommandBehaviour> = {
  'clean.get_clean_steps': { result: { clean_steps: { GenericHardwareManager: [{ step: 'erase_devices', priority: 10, interface: 'deploy' }, { step: 'erase_devices_metadata', priority: 99, interface: 'deploy' }] }, hardware_manager_version: { generic_hardware_manager: '1.2' } } },
  'clean.execute_clean_step': { durationMs: 150 },
  'deploy.get_deploy_steps': { result: { deploy_steps: { GenericHardwareManager: [{ step: 'write_image', priority: 0, interface: 'deploy' }], Custom: [{ step: 'install_coreos', priority: 0, interface: 'deploy' }] }, hardware_manager_version: { generic_hardware_manager: '1.2' } } },
  'deploy.execute_deploy_step': { durationMs: 300, runningResult: { progress: { bytes_written: 4096 } } },
  'standby.get_partition_uuids': { result: { 'root uuid': '0x11223344' } },
  'image.install_bootloader': { durationMs: 20 },
};

/** IPA's side: a host whose BMC shows it powered on from a deploy ISO runs the agent of that boot. */
async function ramdisks(): Promise<void> {
  for (const [name, { ref, mac }] of hosts) {
    const b = fake.bmc(`redfish-virtualmedia+http://bmc-${name}.example/redfish/v1/Systems/1`);
    const match = b.power ? /\/v1\/deploy-iso\/[^/]+\/([^/]+)\/(\w+)\.iso/.exec(b.media ?? '') : null;
    if (!match) continue;
    const [, bootId = '', purpose = ''] = match;
    let boot = boots.find((x) => x.bootId === bootId);
    if (!boot) boots.push((boot = { host: name, bootId, purpose, answered: 0 }));
    if (boot.answered > 0) continue;
    boot.answered += 1;
    const post = (path: string, body: unknown) => fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (purpose === 'inspect') {
      const inventory = { interfaces: [{ name: 'eth0', mac_address: mac, ipv4_address: '192.0.2.50' }], cpu: { count: 8, frequency: '2600.0', architecture: 'x86_64', model_name: 'Sim CPU' }, memory: { physical_mb: 32768 }, disks: [{ name: '/dev/sda', size: 64 * 2 ** 30, rotational: false, serial: 'SIM-0' }], system_vendor: { manufacturer: 'Tempered' } };
      const r = await post('/v1/continue_inspection', { inventory, boot_interface: `01-${mac.replaceAll(':', '-')}` });
      if (r.status !== 202) boot.answered = 0; // not expected yet: try again on the next tick
      continue;
    }
    const lookup = await fetch(`${api.url}/v1/lookup?addresses=${mac}`);
    if (lookup.status !== 200) {
      boot.answered = 0;
      continue;
    }
    await post(`/v1/heartbeat/${ref.uid}`, { callback_url: agent.url, agent_token: keys.tokenFor(ref.uid, bootId), agent_version: '13.0.0' });
  }
}

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: QUIET_BUNDLER_LOGGER });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  agent = await startFakeAgent({ token: (t) => [...hosts.values()].some((h) => keys.verifyToken(h.ref.uid, t) !== undefined) });
  for (const [name, behaviour] of Object.entries(behaviours)) agent.behave(name, behaviour);
  agent.behave('standby.power_off', {
    onStart: () => {
      // The agent powers off the host whose boot it serves: the one that is on with a deploy ISO.
      for (const name of hosts.keys()) {
        const b = fake.bmc(`redfish-virtualmedia+http://bmc-${name}.example/redfish/v1/Systems/1`);
        if (b.power && boots.some((x) => x.host === name)) b.power = false;
      }
    },
  });
  hostWorker = await Worker.create({
    connection: nativeConnection,
    namespace: stack.temporal.namespace,
    taskQueue: HOST_QUEUE,
    workflowBundle: bundle,
    activities: { ...fake, ...createAgentActivities({ keys, boot: { apiUrl: 'http://agent-api.test', ipaIsoUrl: 'http://images.example/ipa.iso' }, configDrive: async () => ({ iso: Buffer.from(USER_DATA) }) }) },
  });
  bridgeWorker = await Worker.create({
    connection: nativeConnection,
    namespace: stack.temporal.namespace,
    taskQueue: BRIDGE_QUEUE,
    activities: {
      async publishStatus(p: StatusPublication) {
        // The bridge writes a batch's snapshots one by one: record each, as a watch would see them.
        publications.set(p.ref.name, [...(publications.get(p.ref.name) ?? []), ...snapshotsOf(p)]);
        return { written: true };
      },
      async releaseHost() {},
    },
  });
  running = Promise.all([hostWorker.run(), bridgeWorker.run()]);
  api = await startAgentApi({
    host: '127.0.0.1',
    port: 0,
    publicUrl: 'http://agent-api.test',
    keys,
    hosts: {
      byUid: (uid) => [...hosts.values()].map((h) => ({ ...h.ref, macs: [h.mac], spec: {} })).find((h) => h.uid === uid),
      byMacs: (macs) => [...hosts.values()].filter((h) => macs.includes(h.mac)).map((h) => ({ ...h.ref, macs: [h.mac], spec: {} })),
    },
    messenger: temporalMessenger(client, { deadlineMs: 10_000 }),
    isos: { get: async () => { throw new Error('not fetched in this test'); } },
    extraKernelParams: '',
    logger: logged.logger,
  });
  ramdiskLoop = setInterval(() => void ramdisks().catch(() => undefined), 100);
});

afterAll(async () => {
  clearInterval(ramdiskLoop);
  await api?.stop(1000);
  hostWorker?.shutdown();
  bridgeWorker?.shutdown();
  await running;
  await agent?.stop();
  await connection?.close();
  await nativeConnection?.close();
});

function desiredFor(name: string, spec: Partial<HostSpecIntent> = {}, annotations: Partial<HostDesired['annotations']> = {}): HostDesired {
  const mac = `52:54:00:${[...name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) % 0xffffff, 7).toString(16).padStart(6, '0').match(/../g)?.join(':')}`;
  const ref = { namespace: RUN, name, uid: `uid-${RUN}-${name}` };
  hosts.set(name, { ref, mac });
  return {
    ref,
    generation: 1,
    resourceVersion: '1',
    spec: { online: false, bootMACAddress: mac, bmc: { address: `redfish-virtualmedia+http://bmc-${name}.example/redfish/v1/Systems/1`, credentialsName: `${name}-bmc` }, ...spec },
    annotations: { paused: false, reboot: {}, invalid: [], ...annotations },
    credentials: { name: `${name}-bmc`, version: '1' },
    deleting: false,
    statusMissing: false,
  };
}

const start = (desired: HostDesired) =>
  client.workflow.start<typeof hostWorkflow>('hostWorkflow', {
    taskQueue: HOST_QUEUE,
    workflowId: hostWorkflowId(RUN, desired.ref.name),
    args: [{ desired, config: { bridgeTaskQueue: BRIDGE_QUEUE, errorBackoffBaseMs: 500 } }],
  });
const published = (name: string) => publications.get(name) ?? [];
const lastState = (name: string): HostState | undefined => published(name).at(-1)?.state;
const statesSeen = (name: string) => published(name).map((p) => p.state.provisioningState).filter((s, i, a) => s !== a[i - 1]);
const until = (what: string, probe: () => boolean | undefined, timeoutMs = 60_000) => waitFor(what, probe, { timeoutMs, detail: () => statesSeen([...hosts.keys()].at(-1) ?? '') });

describe('the host workflow with the deploy agent', () => {
  it('inspects in band, cleans before first provisioning, deploys a qcow2 image, and shows each long step', async () => {
    const desired = desiredFor('full', { inspectionMode: 'agent', online: true, image: QCOW, bootMode: 'legacy', userData: { name: 'full-user-data' } });
    const handle = await start(desired);
    await until('provisioned', () => lastState('full')?.provisioningState === 'provisioned');
    expect(statesSeen('full')).toEqual(['registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned']);
    expect(boots.filter((b) => b.host === 'full').map((b) => b.purpose)).toEqual(['inspect', 'clean', 'deploy']);
    const state = lastState('full') as HostState;
    expect(state).toMatchObject({ operationalStatus: 'OK', errorType: '', image: QCOW, poweredOn: true });
    expect(state.hardware).toMatchObject({ ramMebibytes: 32768, cpu: { count: 8, clockMegahertz: 2600 }, nics: [{ mac: hosts.get('full')?.mac, pxe: true }] });
    expect(published('full').find((p) => p.hardwareData)?.hardwareData).toMatchObject({ ramMebibytes: 32768 });
    // Cleaning erased metadata once; the deploy wrote once and skipped the bootloader (legacy boot).
    const executed = agent.params.filter((p) => p.name.endsWith('execute_clean_step') || p.name.endsWith('execute_deploy_step'));
    expect(executed.map((p) => (p.params['step'] as { step: string }).step)).toEqual(['erase_devices_metadata', 'write_image']);
    expect(agent.params.map((p) => p.name)).not.toContain('image.install_bootloader');
    // The long steps reached the status (the Progressing condition's message).
    const steps = published('full').map((p) => p.state.operationStep?.step).filter(Boolean);
    expect(steps).toEqual(expect.arrayContaining(['waiting for the deploy agent', 'erasing disk metadata (erase_devices_metadata)', 'writing the image (qcow2)']));

    // A lookup now finds no boot expected (404); a heartbeat of an old boot is accepted and ignored.
    expect((await fetch(`${api.url}/v1/lookup?addresses=${hosts.get('full')?.mac}`)).status).toBe(404);
    const old = boots.find((b) => b.host === 'full' && b.purpose === 'deploy') as { bootId: string };
    const stale = await fetch(`${api.url}/v1/heartbeat/${desired.ref.uid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callback_url: agent.url, agent_token: keys.tokenFor(desired.ref.uid, old.bootId), agent_version: '13.0.0' }) });
    expect(stale.status).toBe(202);

    const history = await handle.fetchHistory();
    if (process.env.RECORD_HISTORIES === '1') {
      writeFileSync(fileURLToPath(new URL('../test/replay/histories/host-agent-deploy.json', import.meta.url)), `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
    }
    await Worker.runReplayHistory({ workflowBundle: bundle, replayName: 'host-agent-deploy' }, history);
    expect(leakedSecrets(textOf(history), [USER_DATA, keys.tokenFor(desired.ref.uid, old.bootId)])).toEqual([]);

    // Deprovision with the full-erase annotation: erase_devices, then available.
    await handle.signal(syncHost, { ...desiredFor('full', { inspectionMode: 'agent', online: true, bootMode: 'legacy' }, { fullErase: true }), generation: 2 });
    await until('available after deprovisioning', () => lastState('full')?.provisioningState === 'available' && statesSeen('full').includes('deprovisioning'));
    const erased = agent.params.filter((p) => p.name === 'clean.execute_clean_step').map((p) => (p.params['step'] as { step: string }).step);
    expect(erased).toEqual(['erase_devices_metadata', 'erase_devices']);
    expect(lastState('full')?.image).toBeUndefined();
    expect(lastState('full')?.errorType).toBe('');
    await handle.terminate('done');
  });

  it('runs a customDeploy method and never flaps back to available', async () => {
    const handle = await start(desiredFor('custom', { online: true, customDeploy: { method: 'install_coreos' }, automatedCleaningMode: 'disabled' }, {}));
    await until('provisioned', () => lastState('custom')?.provisioningState === 'provisioned');
    expect(statesSeen('custom')).toEqual(['registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned']);
    expect(lastState('custom')).toMatchObject({ customDeploy: { method: 'install_coreos' }, errorType: '' });
    expect((await handle.query(hostState)).provisioningState).toBe('provisioned');
    await handle.terminate('done');
  });

  it('a failed write is a provisioning error counted as BMO counts it, then cleaned up and retried', async () => {
    agent.behave('deploy.execute_deploy_step', { durationMs: 50, error: { type: 'ImageChecksumError', code: 500, message: 'Error verifying image checksum', details: 'Image failed to verify against checksum. image checksum: aaa; verification checksum: bbb' } });
    try {
      const handle = await start(desiredFor('failing', { online: true, image: QCOW }));
      await until('provisioning error', () => lastState('failing')?.errorType === 'provisioning error');
      const failed = lastState('failing') as HostState;
      expect(failed).toMatchObject({ errorCode: 'ImageChecksumMismatch', errorCount: 1, provisioningFailCount: 1 });
      expect(failed.errorMessage).toContain('verification checksum: bbb');
      // BMO: a failed deploy is cleaned up (deprovisioning cleans) before it is tried again.
      // Every state the bridge was given counts: `available` may go out in one batch with the next attempt's
      // `provisioning`, so it need not be the last one shown when this looks.
      await until('deprovisioned after the failure', () => {
        const states = statesSeen('failing');
        const cleaning = states.indexOf('deprovisioning');
        return cleaning >= 0 && states.indexOf('available', cleaning) > cleaning;
      });
      agent.behave('deploy.execute_deploy_step', behaviours['deploy.execute_deploy_step'] as FakeCommandBehaviour);
      await until('provisioned on the retry', () => lastState('failing')?.provisioningState === 'provisioned', 90_000);
      expect(lastState('failing')).toMatchObject({ errorType: '', errorCount: 0, provisioningFailCount: 0 });
      await handle.terminate('done');
    } finally {
      agent.behave('deploy.execute_deploy_step', behaviours['deploy.execute_deploy_step'] as FakeCommandBehaviour);
    }
  });

  it('hardware RAID is built in its own child before the first cleaning, which the agent then runs', async () => {
    const raid = { hardwareRAIDVolumes: [{ level: '1' }] };
    const handle = await start(desiredFor('raided', { raid }));
    await until('available', () => lastState('raided')?.provisioningState === 'available');
    expect(fake.bmc('redfish-virtualmedia+http://bmc-raided.example/redfish/v1/Systems/1').raid).toEqual(['1']);
    expect(boots.filter((b) => b.host === 'raided').map((b) => b.purpose)).toEqual(['clean']);
    expect(lastState('raided')).toMatchObject({ errorType: '', raid, cleanedAt: expect.any(String) });
    const children: { id: string; type: string }[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${hostWorkflowId(RUN, 'raided')}/"` })) {
      children.push({ id: wf.workflowId, type: wf.type });
    }
    const prepare = children.find((c) => c.type === 'prepareWorkflow');
    const clean = children.find((c) => c.type === 'cleanWorkflow');
    // The cleaning child keeps the operation's ID (the agent's messages reach it by that ID).
    expect(prepare?.id).toBe(`${clean?.id}/firmware`);
    await handle.terminate('done');
  });
});
