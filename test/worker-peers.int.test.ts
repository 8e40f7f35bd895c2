/**
 * The worker's real activities and drivers under the real host workflow, against real BMC peers: a host on
 * sushy-tools goes to available and to provisioned with a live ISO the BMC really fetches, and back; an
 * IPMI host on ipmi_sim registers and follows `online`; a wrong password is a registration error that a
 * fixed Secret repairs. Status goes to a recording bridge here (the bridge itself is tested elsewhere).
 * Uses a private sushy-tools and ipmi_sim 0 of the shared stack.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { workflowSource } from '../workers/worker.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BmcConnectionPool } from '../activities/bmc/pool.ts';
import { kubeCredentialsSource } from '../activities/credentials.ts';
import { createActivities } from '../activities/index.ts';
import type { HostDesired, HostSpecIntent, HostState, StatusPublication } from '../domain/host-model.ts';
import { snapshotsOf } from '../workflows/publication-queue.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import { syncHost } from '../workflows/messages.ts';
import type { hostWorkflow } from '../workflows/host.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = `peers-${Date.now().toString(36)}`;
const HOST_QUEUE = `hosts-${RUN}`;
const BRIDGE_QUEUE = `bridge-${RUN}`;

const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);

let sushy: SushyEmulator;
let images: ImageServer;
let client: Client;
let connection: Connection;
let native: NativeConnection;
let workers: Worker[] = [];
let running: Promise<unknown>;
const pool = new BmcConnectionPool();
const publications = new Map<string, StatusPublication[]>();

async function secret(name: string, username: string, password: string): Promise<string> {
  const body = { metadata: { name }, stringData: { username, password } };
  try {
    return (await core.createNamespacedSecret({ namespace: RUN, body })).metadata?.resourceVersion ?? '';
  } catch {
    return (await core.replaceNamespacedSecret({ namespace: RUN, name, body })).metadata?.resourceVersion ?? '';
  }
}

beforeAll(async () => {
  sushy = await startSushy({ stateDir: mkdtempSync(join(tmpdir(), 'tempered-peers-')), systems: 2, password: `Sushy-${Date.now().toString(36)}-secret`, progress: () => {} });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 7) });
  await core.createNamespace({ body: { metadata: { name: RUN } } });
  native = await NativeConnection.connect({ address: stack.temporal.address });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  workers = [
    await Worker.create({
      connection: native, namespace: stack.temporal.namespace, taskQueue: HOST_QUEUE,
      ...workflowSource(),
      activities: createActivities({ credentials: kubeCredentialsSource(kc), drivers: pool }),
    }),
    await Worker.create({
      connection: native, namespace: stack.temporal.namespace, taskQueue: BRIDGE_QUEUE,
      activities: {
        async publishStatus(p: StatusPublication) {
          publications.set(p.ref.name, [...(publications.get(p.ref.name) ?? []), ...snapshotsOf(p)]);
          return { written: true };
        },
        async releaseHost() {},
      },
    }),
  ];
  running = Promise.all(workers.map((w) => w.run()));
});

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await pool.close();
  await connection?.close();
  await native?.close();
  await images?.stop();
  await sushy?.stop();
});

const lastState = (name: string): HostState | undefined => publications.get(name)?.at(-1)?.state;

/** Waits until `probe` holds; a timeout shows the last state the host named first in `what` published. */
const until = (what: string, probe: () => boolean) =>
  waitFor(what, probe, { timeoutMs: 60_000, detail: () => ({ lastState: lastState(what.split(' ')[0] ?? '') }) });

function desired(name: string, address: string, version: string, spec: Partial<HostSpecIntent> = {}): HostDesired {
  return {
    ref: { namespace: RUN, name, uid: `uid-${name}` },
    generation: 1,
    resourceVersion: '1',
    // sushy-tools and ipmi_sim boot no deploy agent, so automated cleaning (which needs one) is off.
    spec: { online: false, automatedCleaningMode: 'disabled', bmc: { address, credentialsName: `${name}-bmc` }, ...spec },
    annotations: { paused: false, reboot: {}, invalid: [] },
    credentials: { name: `${name}-bmc`, version },
    deleting: false,
    statusMissing: false,
  };
}

const start = (d: HostDesired) =>
  client.workflow.start<typeof hostWorkflow>('hostWorkflow', {
    taskQueue: HOST_QUEUE,
    workflowId: hostWorkflowId(RUN, d.ref.name),
    args: [{ desired: d, config: { bridgeTaskQueue: BRIDGE_QUEUE, errorBackoffBaseMs: 60_000 } }],
  });

async function redfish(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${sushy.url}${path}`, { headers: { authorization: `Basic ${Buffer.from(`${sushy.username}:${sushy.password}`).toString('base64')}` } });
  return (await res.json()) as Record<string, unknown>;
}

describe('host workflow with real activities and BMC peers', () => {
  it('takes a sushy-tools host to provisioned with a live ISO and back', async () => {
    const system = sushy.systems[0]!;
    const address = `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${system.path}`;
    const version = await secret('redfish-0-bmc', sushy.username, sushy.password);
    const handle = await start(desired('redfish-0', address, version));
    await until('redfish-0 available', () => lastState('redfish-0')?.provisioningState === 'available');
    const states = publications.get('redfish-0')!.map((p) => p.state.provisioningState).filter((s, i, all) => s !== all[i - 1]);
    expect(states, JSON.stringify(publications.get('redfish-0')!.map((p) => [p.state.provisioningState, p.state.errorMessage]))).toEqual(['registering', 'inspecting', 'preparing', 'available']);
    expect(lastState('redfish-0')).toMatchObject({ errorType: '', goodCredentials: { version } });
    expect(lastState('redfish-0')?.hardware).toMatchObject({ nics: expect.arrayContaining([expect.objectContaining({ mac: system.mac })]) });

    const iso = images.url('/live.iso');
    await handle.signal(syncHost, desired('redfish-0', address, version, { online: true, image: { url: iso, format: 'live-iso' } }));
    await until('redfish-0 provisioned', () => lastState('redfish-0')?.provisioningState === 'provisioned');
    expect(images.gets('/live.iso')).toBe(1); // the BMC fetched the ISO, once
    const sys = await redfish(system.path);
    expect(sys.PowerState).toBe('On');
    const cd = await redfish(`${system.path}/VirtualMedia/Cd`);
    expect(cd).toMatchObject({ Inserted: true, Image: iso });

    await handle.signal(syncHost, desired('redfish-0', address, version, { online: true }));
    await until('redfish-0 available again', () => lastState('redfish-0')?.provisioningState === 'available' && lastState('redfish-0')?.poweredOn === true);
    expect(await redfish(`${system.path}/VirtualMedia/Cd`)).toMatchObject({ Inserted: false });
    await handle.terminate('done');
  });

  it('registers an IPMI host on ipmi_sim and follows online', async () => {
    const bmc = stack.ipmi[0]!;
    const version = await secret('ipmi-0-bmc', bmc.username, bmc.password);
    const handle = await start(desired('ipmi-0', bmc.address, version));
    await until('ipmi-0 available', () => lastState('ipmi-0')?.provisioningState === 'available');
    expect(publications.get('ipmi-0')!.flatMap((p) => p.events).some((e) => e.reason === 'InspectionSkipped')).toBe(true);

    await handle.signal(syncHost, desired('ipmi-0', bmc.address, version, { online: true }));
    await until('ipmi-0 on', () => lastState('ipmi-0')?.poweredOn === true);
    await handle.signal(syncHost, desired('ipmi-0', bmc.address, version, { online: false }));
    await until('ipmi-0 off', () => lastState('ipmi-0')?.poweredOn === false);
    const { readFileSync } = await import('node:fs');
    // online:false asks for a soft power off first (ACPI shutdown), as BMO does.
    const journal = readFileSync(`${bmc.stateDir}/journal`, 'utf8').trim().split('\n').filter((l) => /^(power|shutdown)/.test(l));
    expect(journal).toEqual(['power 1', 'shutdown 1']);
    await handle.terminate('done');
  });

  it('reports a wrong password as a registration error, and recovers when the Secret is fixed', async () => {
    const system = sushy.systems[1]!;
    const address = `redfish+http://127.0.0.1:${sushy.port}${system.path}`;
    const bad = await secret('redfish-1-bmc', sushy.username, 'not-the-password');
    const handle = await start(desired('redfish-1', address, bad));
    await until('redfish-1 registration error', () => lastState('redfish-1')?.errorType === 'registration error');
    expect(lastState('redfish-1')).toMatchObject({ operationalStatus: 'error', provisioningState: 'registering', errorCount: 1 });
    expect(lastState('redfish-1')?.errorMessage).toMatch(/credentials|401|refused/i);
    expect(lastState('redfish-1')?.errorMessage).not.toContain('not-the-password');

    const good = await secret('redfish-1-bmc', sushy.username, sushy.password);
    await handle.signal(syncHost, desired('redfish-1', address, good));
    await until('redfish-1 available', () => lastState('redfish-1')?.provisioningState === 'available');
    expect(lastState('redfish-1')).toMatchObject({ errorType: '', errorCount: 0, goodCredentials: { version: good } });
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history).not.toContain(sushy.password);
    expect(history).not.toContain('not-the-password');
    await handle.terminate('done');
  });
});
