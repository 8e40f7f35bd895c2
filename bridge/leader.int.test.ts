/**
 * Leader election with real bridge processes (`node workers/bridge.ts`, the composition root) on the real
 * apiserver and Temporal: the second bridge waits while the first holds the Lease; after the first is killed
 * (SIGKILL: no release) the second takes over once the Lease expires; a bridge stopped with SIGTERM drains
 * and releases the Lease, so a waiting one takes over at once; the admission hook serves and registers the
 * webhook and removes the registration on exit. No password in any process's output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostWorkflowId } from '../domain/names.ts';
import { receivedDesired } from '../test/workflows/fake-host.ts';
import { bundleFakeHostWorkflow, unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const namespace = unique('leader');
const hostTaskQueue = unique('leader-hosts');
const bridgeTaskQueue = unique('leader-status');
const PASSWORD = `leader-pw-${unique('s')}`;
const GROUP = { group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts' };
const BRIDGE = fileURLToPath(new URL('../workers/bridge.ts', import.meta.url));

const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const objects = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);
const coordination = kc.makeApiClient(k8s.CoordinationV1Api);

interface BridgeProcess {
  identity: string;
  child: ChildProcess;
  output: string[];
  logs: { msg?: string; [k: string]: unknown }[];
  exited: Promise<number | null>;
}
const processes: BridgeProcess[] = [];

function startBridge(identity: string, extraEnv: Record<string, string> = {}): BridgeProcess {
  const child = spawn(process.execPath, [BRIDGE], {
    env: {
      ...extraEnv,
      PATH: process.env['PATH'],
      KUBECONFIG: stack.kube.kubeconfig,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_NAMESPACE: stack.temporal.namespace,
      WATCH_NAMESPACE: namespace,
      TEMPERED_HOST_TASK_QUEUE: hostTaskQueue,
      TEMPERED_BRIDGE_TASK_QUEUE: bridgeTaskQueue,
      TEMPERED_LEASE_NAMESPACE: namespace,
      TEMPERED_LEASE_IDENTITY: identity,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'debug',
      TEMPERED_METRICS_PORT: '0',
      TEMPERED_METRICS_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: BridgeProcess = { identity, child, output: [], logs: [], exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      proc.output.push(line);
      try {
        proc.logs.push(JSON.parse(line) as BridgeProcess['logs'][number]);
      } catch {
        // Not a log line (a Node warning on stderr): kept in output for the secret scan.
      }
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  processes.push(proc);
  return proc;
}

const logged = (p: BridgeProcess, msg: string, match: Record<string, unknown> = {}) => p.logs.some((l) => l.msg === msg && Object.entries(match).every(([k, v]) => l[k] === v));
const leading = (p: BridgeProcess) => logged(p, 'leading: informers synced, worker started');
const lease = () => coordination.readNamespacedLease({ namespace, name: 'tempered-bridge' });

let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;

async function createHost(name: string): Promise<void> {
  await objects.createNamespacedCustomObject({
    ...GROUP,
    body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name }, spec: { online: false, bmc: { address: 'ipmi://127.0.0.1:6230', credentialsName: 'bmc' } } },
  });
}
const received = (name: string) => client.workflow.getHandle(hostWorkflowId(namespace, name)).query(receivedDesired);

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'bmc' }, stringData: { username: 'admin', password: PASSWORD } } });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  worker = await Worker.create({ connection: nativeConnection, namespace: stack.temporal.namespace, taskQueue: hostTaskQueue, workflowBundle: await bundleFakeHostWorkflow() });
  workerRun = worker.run();
});

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await nativeConnection?.close();
  await connection?.close();
  await core.deleteNamespace({ name: namespace }).catch(() => {});
});

describe('bridge leader election (real processes)', () => {
  let a: BridgeProcess;
  let b: BridgeProcess;

  it('a second bridge waits while the first holds the Lease; only the leader acts', async () => {
    a = startBridge('bridge-a');
    await waitFor('bridge-a to lead', () => leading(a), { timeoutMs: 30_000 });
    b = startBridge('bridge-b');
    await waitFor('bridge-b to see bridge-a lead', () => logged(b, 'another bridge leads; waiting', { leader: 'bridge-a' }), { timeoutMs: 30_000 });
    expect((await lease()).spec?.holderIdentity).toBe('bridge-a');

    await createHost('host-a');
    await waitFor('host-a signalled', async () => (await received('host-a').catch(() => [])).length > 0);
    // The leader's worker served the status activity too.
    await waitFor('host-a status', async () => ((await objects.getNamespacedCustomObject({ ...GROUP, name: 'host-a' })) as { status?: unknown }).status);
    expect(logged(a, 'signalled host workflow', { host: `${namespace}/host-a` })).toBe(true);
    expect(leading(b)).toBe(false);
    expect(logged(b, 'signalled host workflow')).toBe(false);
    expect(b.logs.some((l) => l.msg === 'status written')).toBe(false);
  });

  it('takes over after the leader is killed, once the Lease has expired', async () => {
    const before = await lease();
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;
    await waitFor('bridge-b to lead', () => leading(b), { timeoutMs: 40_000, intervalMs: 100 });
    const tookMs = Date.now() - killedAt;
    // Not before the 15 s lease could have expired (counted from b's last observation, up to one 2 s retry
    // period after a's last renewal), and not much later than a retry period after that.
    expect(tookMs).toBeGreaterThanOrEqual(11_000);
    expect(tookMs).toBeLessThan(25_000);
    const after = await lease();
    expect(after.spec?.holderIdentity).toBe('bridge-b');
    expect(after.spec?.leaseTransitions).toBe((before.spec?.leaseTransitions ?? 0) + 1);

    await createHost('host-b');
    await waitFor('host-b signalled by bridge-b', () => logged(b, 'signalled host workflow', { host: `${namespace}/host-b` }));
    await waitFor('host-b status written by bridge-b', async () => ((await objects.getNamespacedCustomObject({ ...GROUP, name: 'host-b' })) as { status?: unknown }).status);
  });

  it('a bridge stopped with SIGTERM drains and releases the Lease: a waiting one leads at once', async () => {
    // bridge-c also serves the validating webhook (the admission hook of workers/bridge.ts), for this namespace.
    const c = startBridge('bridge-c', { TEMPERED_ADMISSION_LOCAL_CERT_DIR: join(stack.stateDir, unique('webhook')) });
    await waitFor('bridge-c to see bridge-b lead', () => logged(c, 'another bridge leads; waiting', { leader: 'bridge-b' }), { timeoutMs: 30_000 });
    await waitFor('the webhook registration', () => logged(c, 'admission webhook serving and registered'), { timeoutMs: 30_000 });
    const refusal = await waitFor('a refusal by the webhook', async () => {
      const error = await objects
        .createNamespacedCustomObject({ ...GROUP, body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name: 'refused' }, spec: { online: false, bmc: { address: 'test://127.0.1.1', credentialsName: 'bmc' } } } })
        .then(() => undefined, (e: unknown) => e);
      return error instanceof k8s.ApiException ? String(error.body) : undefined;
    });
    expect(refusal).toContain("Unknown BMC type 'test'");
    b.child.kill('SIGTERM');
    const stoppedAt = Date.now();
    expect(await b.exited).toBe(0);
    expect(logged(b, 'bridge drained')).toBe(true);
    expect(logged(b, 'stepped down: informers, work queue and worker stopped')).toBe(true);
    await waitFor('bridge-c to lead', () => leading(c), { timeoutMs: 15_000, intervalMs: 100 });
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect((await lease()).spec?.holderIdentity).toBe('bridge-c');
    c.child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect((await lease()).spec?.holderIdentity).toBe('');
    // The stopped webhook's registration is gone (failurePolicy Fail would refuse every write otherwise).
    const registrations = await kc.makeApiClient(k8s.AdmissionregistrationV1Api).listValidatingWebhookConfiguration();
    expect(registrations.items.filter((r) => r.webhooks?.some((w) => w.namespaceSelector?.matchExpressions?.some((e) => e.values?.includes(namespace))))).toEqual([]);
  });

  it('no bridge process ever printed the BMC password', () => {
    const all = processes.flatMap((p) => p.output);
    expect(all.length).toBeGreaterThan(20);
    for (const line of all) {
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    }
  });
});
