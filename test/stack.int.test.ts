/**
 * The foundation's proof that the local stack is real: a workflow on the real Temporal dev server with its
 * history fetched (and kept across a server restart), a BareMetalHost's status subresource on the real
 * kube-apiserver, Redfish power through sushy-tools, IPMI power through ipmi_sim, and no process left behind
 * after a stop, a SIGTERM or a SIGKILL of the process that started the stack.
 * Uses sushy system 11 of the shared stack.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack } from '../stack/index.ts';
import { processAlive } from '../stack/processes.ts';
import { startTemporal } from '../stack/temporal.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;


describe('Temporal dev server', () => {
  let workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  beforeAll(async () => {
    workflowBundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./workflows/probe.ts', import.meta.url)), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
  });

  async function runProbe(address: string, namespace: string, workflowId: string): Promise<string> {
    const nativeConnection = await NativeConnection.connect({ address });
    const connection = await Connection.connect({ address });
    try {
      const taskQueue = `probe-${workflowId}`;
      const worker = await Worker.create({ connection: nativeConnection, namespace, taskQueue, workflowBundle, activities: { echo: async (t: string) => t.toUpperCase() } });
      const client = new Client({ connection, namespace });
      return await worker.runUntil(client.workflow.execute('probeWorkflow', { taskQueue, workflowId, args: ['hello'] }));
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  }

  it('runs a workflow to completion and returns its history', async () => {
    const { address, namespace } = stack.temporal;
    const workflowId = `stack-probe-${Date.now()}`;
    expect(await runProbe(address, namespace, workflowId)).toBe('probe: HELLO');

    const connection = await Connection.connect({ address });
    try {
      const history = await new Client({ connection, namespace }).workflow.getHandle(workflowId).fetchHistory();
      const types = (history.events ?? []).map((e) => e.eventType);
      expect(types[0]).toBe(1); // WORKFLOW_EXECUTION_STARTED
      expect(types.at(-1)).toBe(2); // WORKFLOW_EXECUTION_COMPLETED
      expect(types).toContain(10); // ACTIVITY_TASK_SCHEDULED
      expect(types).toContain(12); // ACTIVITY_TASK_COMPLETED
    } finally {
      await connection.close();
    }
  });

  it('registers the project search attributes', async () => {
    const connection = await Connection.connect({ address: stack.temporal.address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: stack.temporal.namespace });
      expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(['BmhNamespace', 'BmhName', 'ProvisioningState', 'Operation']));
    } finally {
      await connection.close();
    }
  });

  it('keeps history across a server restart (SQLite file persistence)', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const server = await startTemporal({ stateDir: mkdtempSync(join(tmpdir(), 'tempered-restart-')), progress: () => {} });
    try {
      const workflowId = 'survives-restart';
      await runProbe(server.address, server.namespace, workflowId);
      await server.restart();
      const connection = await Connection.connect({ address: server.address });
      try {
        const description = await new Client({ connection, namespace: server.namespace }).workflow.getHandle(workflowId).describe();
        expect(description.status.name).toBe('COMPLETED');
      } finally {
        await connection.close();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('kube-apiserver', () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(stack.kube.kubeconfig);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const namespace = `stack-${Date.now()}`;

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });

  it('creates a BareMetalHost, patches its status subresource and reads it back', async () => {
    const ref = { group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts', name: 'host-0' };
    await objects.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name: 'host-0' },
        spec: { online: false, bmc: { address: 'redfish+http://127.0.0.1:1/redfish/v1/Systems/1', credentialsName: 'host-0-bmc' } },
      },
    });
    await objects.patchNamespacedCustomObjectStatus(
      { ...ref, body: { status: { operationalStatus: 'OK', errorMessage: '', errorCount: 0, poweredOn: true, provisioning: { state: 'registering', ID: '' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const host = (await objects.getNamespacedCustomObject(ref)) as { spec: { online: boolean }; status: { provisioning: { state: string }; poweredOn: boolean } };
    expect(host.status.provisioning.state).toBe('registering');
    expect(host.status.poweredOn).toBe(true);
    expect(host.spec.online).toBe(false);
  });

  it('lists hosts through the CRD short name with kubectl', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(stack.kube.kubectl, ['--kubeconfig', stack.kube.kubeconfig, 'get', 'bmh', '-n', namespace, '-o', 'name'], { encoding: 'utf8' });
    expect(out.trim()).toBe('baremetalhost.metal3.io/host-0');
  });
});

describe('sushy-tools (Redfish)', () => {
  const system = stack.sushy.systems[11]!;
  const url = `${stack.sushy.url}${system.path}`;
  const auth = basic(stack.sushy.username, stack.sushy.password);

  it('powers a system on and reads it back as On', async () => {
    const reset = await fetch(`${url}/Actions/ComputerSystem.Reset`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ ResetType: 'On' }),
    });
    expect(reset.status).toBe(204);
    await waitFor('PowerState On', async () => ((await (await fetch(url, { headers: { authorization: auth } })).json()) as { PowerState: string }).PowerState === 'On');
  });

  it('refuses a wrong password with 401', async () => {
    const res = await fetch(url, { headers: { authorization: basic(stack.sushy.username, 'wrong') } });
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });
});

describe('ipmi_sim (IPMI)', () => {
  const bmc = stack.ipmi[1]!;
  const ipmitool = (args: string[], password = bmc.password) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(bmc.ipmitool, ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '1', '-H', '127.0.0.1', '-p', String(bmc.port), '-U', bmc.username, '-E', ...args], { env: { ...process.env, IPMI_PASSWORD: password } });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code, out }));
    });

  it('powers the chassis on and reads it back as on', async () => {
    expect((await ipmitool(['chassis', 'power', 'on'])).code).toBe(0);
    const status = await ipmitool(['chassis', 'power', 'status']);
    expect(status.out).toContain('Chassis Power is on');
    expect(readFileSync(`${bmc.stateDir}/journal`, 'utf8')).toContain('power 1');
  });

  it('refuses a wrong password', async () => {
    const result = await ipmitool(['chassis', 'power', 'status'], 'wrong');
    expect(result.code).not.toBe(0);
    expect(result.out).toMatch(/Unable to establish IPMI v2 \/ RMCP\+ session|RAKP/);
  });
});

describe('stopping the stack', () => {
  let servers: number[] = [];
  afterAll(() => {
    for (const pid of servers) if (processAlive(pid)) process.kill(-pid, 'SIGKILL');
  });

  it('leaves no process behind after stop()', async () => {
    const { liveProcessGroups } = await import('../stack/processes.ts');
    const before = new Set(liveProcessGroups());
    const own = await startStack({ sushy: { systems: 1 }, ipmi: { bmcs: 1 } });
    servers = liveProcessGroups().filter((p) => !before.has(p));
    expect(servers.length).toBe(5); // temporal, etcd, kube-apiserver, sushy, ipmi_sim
    await own.stop();
    for (const pid of servers) expect(processAlive(pid), `process ${pid}`).toBe(false);
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`leaves no process behind when the owner gets ${signal}`, async () => {
      const script = fileURLToPath(new URL('./fixtures/stack-owner.ts', import.meta.url));
      const owner = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      owner.stdout.on('data', (d) => (out += d));
      await waitFor('the owner to report its servers', () => out.includes('\n'), { timeoutMs: 120_000 });
      servers = (JSON.parse(out.split('\n')[0]!) as { pids: number[] }).pids;
      expect(servers.length).toBeGreaterThanOrEqual(3);
      for (const pid of servers) expect(processAlive(pid)).toBe(true);
      owner.kill(signal);
      await waitFor(`servers gone after ${signal}`, () => servers.every((pid) => !processAlive(pid)), { timeoutMs: 20_000 });
    });
  }
});
