/**
 * The agent-driven operation children on the real Temporal dev server: fake BMCs (test/fakes/host-activities.ts),
 * a fake agent (test/fakes/agent-server.ts) commanded by the real agent activities, and the test standing in
 * for the host workflow (it forwards `agentReady` and `agentInventory` as the host does). Proves the order of
 * BMC calls and agent commands, one write per step, the failures' messages, and the recorded histories replay.
 */
import { writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../workers/workflow-bundle.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../activities/agent/index.ts';
import { AgentKeys } from '../agent-api/token.ts';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import type { AgentSession } from '../domain/agent.ts';
import { startFakeAgent, type FakeAgent } from '../test/fakes/agent-server.ts';
import { fakeHostActivities, type FakeHostActivities } from '../test/fakes/host-activities.ts';
import { leakedSecrets, textOf } from '../test/secret-scan.ts';
import type { cleanWorkflow } from './clean.ts';
import type { deployWorkflow } from './deploy.ts';
import type { inspectWorkflow } from './inspect.ts';
import { agentInventory, agentReady } from './messages.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const taskQueue = unique('agent-children');
const keys = new AgentKeys('installation key of the agent children test');
const API = 'http://agent-api.example:6385';
/** What the fake config drive holds: user data, which must reach the agent and never history. */
const USER_DATA = `#cloud-config secret-user-data-${Date.now()}`;

let bundle: WorkflowBundleWithSourceMap;
let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const fake: FakeHostActivities = fakeHostActivities();
const agents: FakeAgent[] = [];

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: QUIET_BUNDLER_LOGGER });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: stack.temporal.namespace,
    taskQueue,
    workflowBundle: bundle,
    activities: {
      ...fake,
      ...createAgentActivities({ keys, boot: { apiUrl: API, ipaIsoUrl: 'http://images.example/ipa.iso' }, configDrive: async () => ({ iso: Buffer.from(`config-2 ${USER_DATA}`) }) }),
    },
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await Promise.all(agents.map((a) => a.stop()));
  await connection?.close();
  await nativeConnection?.close();
});

const CLEAN_STEPS = {
  clean_steps: { GenericHardwareManager: [
    { step: 'erase_devices', priority: 10, interface: 'deploy', reboot_requested: false, abortable: true },
    { step: 'erase_devices_metadata', priority: 99, interface: 'deploy', reboot_requested: false, abortable: true },
  ] },
  hardware_manager_version: { generic_hardware_manager: '1.2' },
};

/** A host: its fake BMC, the fake agent its ramdisk would run, and the boot the "host workflow" allotted. */
async function host(name: string, options: { steps?: unknown } = {}) {
  const uid = `uid-${name}`;
  const bootId = `b1-${name}`;
  const address = `redfish-virtualmedia+http://bmc-${name}.example/redfish/v1/Systems/1`;
  const agent = await startFakeAgent({ token: keys.tokenFor(uid, bootId) });
  agents.push(agent);
  agent.behave('clean.get_clean_steps', { result: options.steps ?? CLEAN_STEPS });
  agent.behave('clean.execute_clean_step', { durationMs: 300 });
  agent.behave('standby.power_off', { onStart: () => void (fake.bmc(address).power = false) });
  const input = {
    target: { host: { namespace: 'agents', name, uid }, address, credentialsName: `${name}-bmc` },
    host: { namespace: 'agents', name, uid },
    bootId,
    bootMode: 'UEFI' as const,
    rootDevice: { serial: 's== S2' },
  };
  const session: AgentSession = { hostUid: uid, bootId, url: agent.url, agentVersion: '13.0.0' };
  return { uid, bootId, address, agent, input, session, bmc: () => fake.bmc(address) };
}

/** Plays the host workflow: once the BMC shows the ramdisk booted, forwards the agent's first heartbeat. */
async function forwardWhenBooted(handle: WorkflowHandle, h: Awaited<ReturnType<typeof host>>) {
  await waitFor('the deploy ISO booted', () => h.bmc().power && h.bmc().media?.includes(`/v1/deploy-iso/${h.uid}/${h.bootId}/`));
  await handle.signal(agentReady, h.session);
}

async function record(handle: WorkflowHandle, name: string): Promise<string> {
  const history = await handle.fetchHistory();
  if (process.env.RECORD_HISTORIES === '1') {
    writeFileSync(fileURLToPath(new URL(`../test/replay/histories/${name}.json`, import.meta.url)), `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
  }
  await Worker.runReplayHistory({ workflowBundle: bundle, replayName: name }, history);
  return textOf(history);
}

describe('cleanWorkflow', () => {
  it('boots the signed deploy ISO, erases metadata once with the node\'s hints, powers off through the agent, ejects', async () => {
    const h = await host('clean-1');
    const handle = await client.workflow.start<typeof cleanWorkflow>('cleanWorkflow', { taskQueue, workflowId: unique('clean'), args: [{ ...h.input, mode: 'metadata' }] });
    await forwardWhenBooted(handle, h);
    expect(await handle.result()).toEqual({ poweredOn: false, erased: 'erase_devices_metadata' });
    expect(h.agent.started.get('clean.execute_clean_step')).toBe(1);
    const executed = h.agent.params.find((p) => p.name === 'clean.execute_clean_step')?.params;
    expect(executed).toMatchObject({ step: { step: 'erase_devices_metadata', interface: 'deploy' }, node: { uuid: h.uid, instance_info: { root_device: { serial: 's== S2' } } }, clean_version: { generic_hardware_manager: '1.2' } });
    expect(h.bmc()).toMatchObject({ power: false, media: undefined, counters: { inserts: 1, powerOn: 1 } });
    const history = await record(handle, 'agent-clean.cleanWorkflow');
    expect(leakedSecrets(history, [keys.tokenFor(h.uid, h.bootId)])).toEqual([]);
  });

  it('runs erase_devices for a full erase', async () => {
    const h = await host('clean-2');
    const handle = await client.workflow.start<typeof cleanWorkflow>('cleanWorkflow', { taskQueue, workflowId: unique('clean'), args: [{ ...h.input, mode: 'full' }] });
    await forwardWhenBooted(handle, h);
    expect(await handle.result()).toMatchObject({ erased: 'erase_devices' });
    expect(h.agent.params.filter((p) => p.name === 'clean.execute_clean_step').map((p) => (p.params['step'] as { step: string }).step)).toEqual(['erase_devices']);
  });

  it('an agent without the step fails naming the steps it offers', async () => {
    const h = await host('clean-3', { steps: { clean_steps: { Custom: [{ step: 'burnin_cpu', priority: 0, interface: 'deploy' }] }, hardware_manager_version: {} } });
    const handle = await client.workflow.start<typeof cleanWorkflow>('cleanWorkflow', { taskQueue, workflowId: unique('clean'), args: [{ ...h.input, mode: 'metadata' }] });
    await forwardWhenBooted(handle, h);
    const error = await handle.result().catch((e: unknown) => e as { cause?: { type?: string; message?: string } });
    expect(error).toMatchObject({ cause: { type: 'AgentCommandFailed' } });
    expect((error as { cause: { message: string } }).cause.message).toContain("no clean step 'erase_devices_metadata' (it offers: burnin_cpu)");
  });

  it('an agent that never calls back is AgentCallbackTimeout after the callback timeout', async () => {
    const h = await host('clean-4');
    const handle = await client.workflow.start<typeof cleanWorkflow>('cleanWorkflow', { taskQueue, workflowId: unique('clean'), args: [{ ...h.input, mode: 'metadata', callbackTimeoutMs: 1500 }] });
    const error = await handle.result().catch((e: unknown) => e as { cause?: { type?: string; message?: string } });
    expect(error).toMatchObject({ cause: { type: 'AgentCallbackTimeout' } });
    expect((error as { cause: { message: string } }).cause.message).toContain(`boot ${h.bootId} did not call back`);
  });
});

describe('in-band inspection', () => {
  it('maps the agent\'s inventory, merges the BMC\'s, and powers the host off', async () => {
    const h = await host('inspect-1');
    const handle = await client.workflow.start<typeof inspectWorkflow>('inspectWorkflow', { taskQueue, workflowId: unique('inspect'), args: [{ target: h.input.target, agent: h.input }] });
    await waitFor('the inspection ISO booted', () => h.bmc().power && h.bmc().media?.includes('/inspect.iso?'));
    await handle.signal(agentInventory, {
      receivedAt: new Date().toISOString(),
      inventory: { interfaces: [{ name: 'eth0', mac_address: '52:54:00:12:34:56', ipv4_address: '192.0.2.9' }], cpu: { count: 16, frequency: '2100.7', architecture: 'x86_64' }, memory: { physical_mb: 65536 }, disks: [{ name: '/dev/sda', size: 10737418240, rotational: false, serial: 'S2' }] },
      pluginData: { boot_interface: '01-52-54-00-12-34-56' },
    });
    const result = await handle.result();
    expect(result.poweredOn).toBe(false);
    expect(result.hardware).toMatchObject({
      ramMebibytes: 65536,
      cpu: { count: 16, clockMegahertz: 2101, arch: 'x86_64' },
      nics: [{ name: 'eth0', mac: '52:54:00:12:34:56', ip: '192.0.2.9', pxe: true }],
      storage: [{ name: '/dev/sda', sizeBytes: 10737418240, type: 'SSD', serialNumber: 'S2' }],
    });
    expect(h.bmc()).toMatchObject({ power: false, media: undefined });
    await record(handle, 'agent-inspect.inspectWorkflow');
  });
});

describe('deployWorkflow with customDeploy', () => {
  const DEPLOY_STEPS = {
    deploy_steps: { GenericHardwareManager: [{ step: 'write_image', priority: 0, interface: 'deploy', reboot_requested: false }], CustomManager: [{ step: 'install_coreos', priority: 0, interface: 'deploy', reboot_requested: false }] },
    hardware_manager_version: { generic_hardware_manager: '1.2', custom: '1.0' },
  };

  it('runs the custom deploy step, boots the host from its disk with secure boot on, and powers it on', async () => {
    const h = await host('custom-1');
    h.agent.behave('deploy.get_deploy_steps', { result: DEPLOY_STEPS });
    h.agent.behave('deploy.execute_deploy_step', { durationMs: 200 });
    const handle = await client.workflow.start<typeof deployWorkflow>('deployWorkflow', { taskQueue, workflowId: unique('deploy'), args: [{ ...h.input, bootMode: 'UEFISecureBoot', customDeploy: { method: 'install_coreos' } }] });
    await forwardWhenBooted(handle, h);
    expect(await handle.result()).toEqual({ poweredOn: true });
    expect(h.agent.params.map((p) => p.name)).toEqual(['deploy.get_deploy_steps', 'deploy.execute_deploy_step', 'standby.power_off']);
    expect(h.agent.params[1]?.params).toMatchObject({ step: { step: 'install_coreos', interface: 'deploy', args: {} }, deploy_version: DEPLOY_STEPS.hardware_manager_version });
    expect(h.bmc()).toMatchObject({ power: true, media: undefined, bootOverride: 'Hdd', secureBoot: true, counters: { inserts: 1, powerOn: 2 } });
    await record(handle, 'agent-custom-deploy.deployWorkflow');
  });

  it('a method the ramdisk does not offer fails naming the steps it offers', async () => {
    const h = await host('custom-2');
    h.agent.behave('deploy.get_deploy_steps', { result: DEPLOY_STEPS });
    const handle = await client.workflow.start<typeof deployWorkflow>('deployWorkflow', { taskQueue, workflowId: unique('deploy'), args: [{ ...h.input, customDeploy: { method: 'install_rhel' } }] });
    await forwardWhenBooted(handle, h);
    const error = (await handle.result().catch((e: unknown) => e)) as { cause?: { type?: string; message?: string } };
    expect(error.cause?.type).toBe('AgentCommandFailed');
    expect(error.cause?.message).toContain("no deploy step 'install_rhel' (spec.customDeploy.method); it offers: install_coreos, write_image");
  });
});

describe('deployWorkflow with a disk image', () => {
  const DEPLOY_STEPS = { deploy_steps: { GenericHardwareManager: [{ step: 'write_image', priority: 0, interface: 'deploy', reboot_requested: false }] }, hardware_manager_version: { generic_hardware_manager: '1.2' } };
  const image = { url: 'http://images.example/disk.qcow2', checksum: 'http://images.example/SHA256SUMS', format: 'qcow2' as const };

  async function deploy(name: string, bootMode: 'UEFI' | 'legacy') {
    const h = await host(name);
    h.agent.behave('deploy.get_deploy_steps', { result: DEPLOY_STEPS });
    h.agent.behave('deploy.execute_deploy_step', { durationMs: 300, runningResult: { progress: { bytes_written: 1024 } } });
    h.agent.behave('standby.get_partition_uuids', { result: { 'root uuid': '0x2f1d2e3c' } });
    h.agent.behave('image.install_bootloader', { durationMs: 50 });
    const handle = await client.workflow.start<typeof deployWorkflow>('deployWorkflow', {
      taskQueue,
      workflowId: unique('deploy'),
      args: [{ ...h.input, bootMode, image, configDrive: { host: h.input.host, userData: { name: `${name}-user-data` } } }],
    });
    await forwardWhenBooted(handle, h);
    expect(await handle.result()).toEqual({ poweredOn: true });
    return { h, handle };
  }

  it('writes the image with the resolved checksum and the config drive inline, then installs the UEFI bootloader', async () => {
    const { h, handle } = await deploy('image-1', 'UEFI');
    expect(h.agent.params.map((p) => p.name)).toEqual(['deploy.get_deploy_steps', 'deploy.execute_deploy_step', 'standby.get_partition_uuids', 'image.install_bootloader', 'standby.power_off']);
    const write = h.agent.params[1]?.params as { step: { step: string; args: { image_info: Record<string, unknown>; configdrive: string } }; node: unknown };
    expect(write.step.step).toBe('write_image');
    expect(write.step.args.image_info).toMatchObject({ id: 'disk.qcow2', urls: [image.url], disk_format: 'qcow2', os_hash_algo: 'sha256', os_hash_value: '0'.repeat(64), node_uuid: h.uid, stream_raw_images: true });
    expect(gunzipSync(Buffer.from(write.step.args.configdrive, 'base64')).toString()).toBe(`config-2 ${USER_DATA}`);
    expect(write.node).toMatchObject({ instance_info: { root_device: { serial: 's== S2' } } });
    expect(h.agent.params[3]?.params).toEqual({ root_uuid: '0x2f1d2e3c', efi_system_part_uuid: null, prep_boot_part_uuid: null, target_boot_mode: 'uefi' });
    expect(h.agent.started.get('deploy.execute_deploy_step')).toBe(1);
    expect(h.bmc()).toMatchObject({ power: true, media: undefined, bootOverride: 'Hdd' });
    const history = await record(handle, 'agent-image-deploy.deployWorkflow');
    expect(leakedSecrets(history, [USER_DATA, keys.tokenFor(h.uid, h.bootId)])).toEqual([]);
  });

  it('skips install_bootloader in legacy boot mode, as Ironic does for a whole-disk image', async () => {
    const { h } = await deploy('image-2', 'legacy');
    expect(h.agent.params.map((p) => p.name)).toEqual(['deploy.get_deploy_steps', 'deploy.execute_deploy_step', 'standby.get_partition_uuids', 'standby.power_off']);
  });
});
