/**
 * The stock ironic-python-agent 13.0.0 (sim/agent/ipa-runner.ts: the real agent on loop devices) against the
 * engine's own side of the protocol: the agent API (lookup, inspection data, heartbeats with the derived boot
 * token), a host workflow on the real Temporal server (the fake of test/workflows/agent-host.ts records what
 * reached it), and the agent activities commanding the agent over its auto-TLS, pinned to the certificate its
 * heartbeat carried. Proves a stock ramdisk works with Tempered's agent API and command client.
 */
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../activities/agent/index.ts';
import { capturedLogger, unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import type { AgentSession } from '../domain/agent.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { ipaRunner, type IpaRamdisk } from '../sim/agent/ipa-runner.ts';
import { freePort } from '../stack/ports.ts';
import type { SimDisk } from '../sim/agent/runner.ts';
import { selfSignedCertificate } from '../test/fakes/agent-server.ts';
import { makeRawImage, readAt, readGpt, writeAt } from '../test/fixtures/disk-images.ts';
import { leakedSecrets } from '../test/secret-scan.ts';
import { type agentHostWorkflow, agentRecord, finish, type AgentRecord } from '../test/workflows/agent-host.ts';
import { temporalMessenger } from './messenger.ts';
import { deployKernelParams, startAgentApi, type RunningAgentApi } from './server.ts';
import { AgentKeys, newAgentKey } from './token.ts';
import { sharedStack } from '../test/stack-info.ts';
import { QUIET_BUNDLER_LOGGER } from '../workers/workflow-bundle.ts';

const stack = sharedStack();
const GiB = 1024 ** 3;
const root = join(stack.stateDir, unique('ipa-agent-api'));
const taskQueue = unique('ipa-hosts');
const keys = new AgentKeys(newAgentKey());
const timing = { commandTimeoutMs: 60_000, pollIntervalMs: 500, unreachableTimeoutMs: 60_000 };
const host = { namespace: 'ipa', name: 'ipa-0', uid: `uid-${unique('ipa')}` };
const mac = '52:54:00:7e:00:01';
const BOOT = 'b1-ipa';

let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let api: RunningAgentApi;
let ramdisk: IpaRamdisk;
let disks: SimDisk[];
let powerOffs = 0;
const logged = capturedLogger();
const activities = createAgentActivities({ keys });

const record = (): Promise<AgentRecord> => client.workflow.getHandle(hostWorkflowId(host.namespace, host.name)).query(agentRecord);

beforeAll(async () => {
  mkdirSync(root, { recursive: true });
  disks = ['/dev/sda', '/dev/sdb'].map((name, i) => {
    const path = join(root, `disk-${i}.img`);
    writeFileSync(path, '');
    truncateSync(path, 4.5 * GiB);
    return { name, path, sizeBytes: 4.5 * GiB, model: `MODEL-${i}`, vendor: 'ATA', serial: `SERIAL-${i}`, rotational: i === 0, hctl: `${i}:0:0:0` };
  });
  // A partition table on the second disk, for erase_devices_metadata to remove.
  const image = await makeRawImage(join(root, 'gpt.raw'), 8);
  writeAt(disks[1]!.path, 0, image.subarray(0, 1024 * 1024));

  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../test/workflows/agent-host.ts', import.meta.url)), logger: QUIET_BUNDLER_LOGGER });
  worker = await Worker.create({ connection: nativeConnection, namespace: stack.temporal.namespace, taskQueue, workflowBundle });
  workerRun = worker.run();
  await client.workflow.start<typeof agentHostWorkflow>('agentHostWorkflow', { taskQueue, workflowId: hostWorkflowId(host.namespace, host.name), args: [{ bootId: BOOT, purpose: 'inspect' }] });

  const indexed = { ...host, macs: [mac], spec: {} };
  const port = await freePort();
  api = await startAgentApi({
    host: '127.0.0.1',
    port,
    publicUrl: `http://127.0.0.1:${port}`,
    keys,
    hosts: { byUid: (uid) => (uid === host.uid ? indexed : undefined), byMacs: (macs) => (macs.includes(mac) ? [indexed] : []) },
    messenger: temporalMessenger(client, { deadlineMs: 10_000 }),
    isos: { get: async () => { throw new Error('no ISO in this test: the runner boots from the parameters'); } },
    extraKernelParams: 'ipa-debug=1',
    logger: logged.logger,
  });
  const params = deployKernelParams({ publicUrl: api.url, token: keys.tokenFor(host.uid, BOOT), purpose: 'inspect', extra: 'ipa-debug=1' });
  const runner = ipaRunner({ stateDir: join(root, 'runner'), progress: (m) => process.stderr.write(`[ipa] ${m}\n`) });
  ramdisk = await runner.start({
    host: { id: host.name, macs: [mac], cpus: 2, memoryMiB: 4096 },
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v === true ? '' : v])),
    disks,
    bootMode: 'UEFI',
    powerOff: () => void (powerOffs += 1),
    log: (line) => process.stderr.write(`[ipa-0] ${line}\n`),
  });
}, 900_000);

afterAll(async () => {
  await ramdisk?.stop();
  await api?.stop(1_000);
  await client?.workflow.getHandle(hostWorkflowId(host.namespace, host.name)).signal(finish).catch(() => undefined);
  worker?.shutdown();
  await workerRun;
  await nativeConnection?.close();
  await connection?.close();
});

describe('the real IPA against the agent API', () => {
  let session: AgentSession;

  it('posts its inventory, looks up by MAC and heartbeats with the boot token over auto TLS', async () => {
    const r = await waitFor('the heartbeat in the host workflow', async () => ((await record()).heartbeats.length > 0 ? record() : undefined), { timeoutMs: 180_000, intervalMs: 500 });
    expect(r.inspections).toHaveLength(1);
    const inventory = r.inspections[0]?.inventory as { interfaces: { mac_address: string }[]; disks: { serial: string }[] };
    expect(inventory.interfaces.map((i) => i.mac_address)).toEqual([mac]);
    expect(inventory.disks.map((d) => d.serial)).toEqual(['SERIAL-0', 'SERIAL-1']);
    expect(r.lookups[0]?.addresses).toEqual([mac]);
    const heartbeat = r.heartbeats[0];
    expect(heartbeat).toMatchObject({ bootId: BOOT, agentVersion: '13.0.0', callbackUrl: `https://127.0.0.1:${ramdisk.port}` });
    expect(heartbeat?.verifyCa).toMatch(/^-----BEGIN CERTIFICATE-----/);
    session = { hostUid: host.uid, bootId: BOOT, url: heartbeat!.callbackUrl, verifyCa: heartbeat!.verifyCa as string, agentVersion: heartbeat!.agentVersion };
  });

  it('the command client reaches it over TLS pinned to that certificate, and to no other', async () => {
    const steps = (await activities.agentCommand(session, { name: 'clean.get_clean_steps', params: { node: { uuid: host.uid }, ports: [] }, timing })) as { clean_steps: Record<string, { step: string }[]> };
    expect(Object.values(steps.clean_steps).flat().map((s) => s.step)).toContain('erase_devices_metadata');
    const other = { ...session, verifyCa: selfSignedCertificate().cert };
    const refused = (await activities.agentCommand(other, { name: 'clean.get_clean_steps', params: { node: { uuid: host.uid }, ports: [] }, timing }).catch((e: unknown) => e)) as { type?: string; message?: string };
    expect(refused.type).toBe('AgentUnreachable');
    expect(refused.message).toMatch(/TLS|certificate/);
  });

  it('runs erase_devices_metadata to its end: the partition table is gone, the token never logged', async () => {
    expect(readGpt(disks[1]!.path)).toBeDefined();
    const step = { step: 'erase_devices_metadata', interface: 'deploy', priority: 99, reboot_requested: false, abortable: true };
    const outcome = await activities.agentRun(session, { name: 'clean.execute_clean_step', params: { step, node: { uuid: host.uid }, ports: [], clean_version: null }, step: 'erase_devices_metadata', timing });
    expect(outcome.adopted).toBe(false);
    expect(readGpt(disks[1]!.path)).toBeUndefined();
    expect(readAt(disks[1]!.path, 512, 8).toString('latin1')).not.toBe('EFI PART');
    const token = keys.tokenFor(host.uid, BOOT);
    expect(leakedSecrets(logged.lines.join('\n'), [token, token.split('.')[1] as string])).toEqual([]);
  });

  it('powers the host off when asked', async () => {
    await activities.agentPowerOff(session, timing);
    await waitFor('the host powered off by the agent', () => powerOffs > 0, { timeoutMs: 60_000 });
  });
});
