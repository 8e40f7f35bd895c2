/**
 * The agent API process (workers/agent-api.ts, as deployed) against the real kube-apiserver and the real
 * Temporal dev server, with a fake host workflow (test/workflows/agent-host.ts) standing in for the host
 * workflow: hosts found by boot MAC, by inspected NICs and by UID as the informers see them, each agent call
 * reaching the workflow's history, lookups refused (404) while the host expects no agent, tokens checked
 * against the installation key, a graceful stop, and no token in any log line.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostWorkflowId } from '../domain/names.ts';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { freePort } from '../stack/ports.ts';
import { startProcess, waitUntil, type Supervised } from '../stack/processes.ts';
import { leakedSecrets } from '../test/secret-scan.ts';
import type { AgentExpectation, agentHostWorkflow } from '../test/workflows/agent-host.ts';
import { agentRecord, finish } from '../test/workflows/agent-host.ts';
import { AgentKeys, newAgentKey } from './token.ts';
import { sharedStack } from '../test/stack-info.ts';
import { QUIET_BUNDLER_LOGGER } from '../workers/workflow-bundle.ts';

const stack = sharedStack();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const namespace = unique('agent-api');
const taskQueue = unique('agent-api-hosts');
const dir = join(stack.stateDir, namespace);
const GROUP = { group: 'metal3.io', version: 'v1alpha1', namespace };

const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const objects = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);

let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let api: Supervised;
let url: string;
let keys: AgentKeys;
const uids = new Map<string, string>();
const tokens: string[] = [];

async function createHost(name: string, bootMAC: string): Promise<string> {
  const created = (await objects.createNamespacedCustomObject({
    ...GROUP,
    plural: 'baremetalhosts',
    body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name, namespace }, spec: { online: false, bootMACAddress: bootMAC, rootDeviceHints: { minSizeGigabytes: 10 } } },
  })) as { metadata: { uid: string } };
  uids.set(name, created.metadata.uid);
  return created.metadata.uid;
}

async function startHostWorkflow(name: string, expecting: AgentExpectation | null) {
  return client.workflow.start<typeof agentHostWorkflow>('agentHostWorkflow', { taskQueue, workflowId: hostWorkflowId(namespace, name), args: [expecting] });
}
const record = (name: string) => client.workflow.getHandle(hostWorkflowId(namespace, name)).query(agentRecord);
const lookup = (query: string) => fetch(`${url}/v1/lookup?${query}`, { headers: { 'x-openstack-ironic-api-version': '1.62' } });
const heartbeat = (uid: string, body: Record<string, unknown>) =>
  fetch(`${url}/v1/heartbeat/${uid}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-openstack-ironic-api-version': '1.68' }, body: JSON.stringify(body) });

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const key = newAgentKey();
  const keyFile = join(dir, 'agent.key');
  writeFileSync(keyFile, key, { mode: 0o600 });
  keys = new AgentKeys(key);

  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
  nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../test/workflows/agent-host.ts', import.meta.url)), logger: QUIET_BUNDLER_LOGGER });
  worker = await Worker.create({ connection: nativeConnection, namespace: stack.temporal.namespace, taskQueue, workflowBundle });
  workerRun = worker.run();

  await createHost('early', '52:54:00:a0:00:01');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  api = startProcess('tempered-agent-api', process.execPath, [join(ROOT, 'workers', 'agent-api.ts')], {
    cwd: ROOT,
    logFile: join(dir, 'agent-api.log'),
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_NAMESPACE: stack.temporal.namespace,
      KUBECONFIG: stack.kube.kubeconfig,
      WATCH_NAMESPACE: namespace,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'debug',
      TEMPERED_AGENT_API_HOST: '127.0.0.1',
      TEMPERED_AGENT_API_PORT: String(port),
      TEMPERED_AGENT_KEY_FILE: keyFile,
      TEMPERED_AGENT_ISO_DIR: join(dir, 'iso'),
    },
  });
  await waitUntil('agent API', async () => readFileSync(api.logFile, 'utf8').includes('"agent API serving"'), { timeoutMs: 60_000, intervalMs: 100, process: api });
});

afterAll(async () => {
  await api?.stop(5_000);
  worker?.shutdown();
  await workerRun;
  await nativeConnection?.close();
  await connection?.close();
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe('agent API process', () => {
  it('answers version discovery at / with API 1.68', async () => {
    const body = (await (await fetch(`${url}/`)).json()) as { default_version: { version: string } };
    expect(body.default_version.version).toBe('1.68');
  });

  it('a lookup by boot MAC reaches the host workflow, which answers with the masked token', async () => {
    await startHostWorkflow('early', { bootId: 'b1', purpose: 'deploy' });
    const r = await lookup('addresses=11:22:33:44:55:66,52:54:00:A0:00:01');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { node: { uuid: string }; config: { agent_token: string; heartbeat_timeout: number } };
    expect(body.node.uuid).toBe(uids.get('early'));
    expect(body.config).toMatchObject({ agent_token: '******', heartbeat_timeout: 300 });
    expect((await record('early')).lookups).toMatchObject([{ addresses: ['11:22:33:44:55:66', '52:54:00:a0:00:01'] }]);
  });

  it('a host created after start is found once the informer sees it; its lookup hands the token out once', async () => {
    const uid = await createHost('late', '52:54:00:a0:00:02');
    await startHostWorkflow('late', { bootId: 'b7', purpose: 'deploy', tokenAtLookup: true });
    const first = await waitFor('the late host found', async () => {
      const r = await lookup('addresses=52:54:00:a0:00:02');
      return r.status === 200 ? ((await r.json()) as { config: { agent_token: string } }) : undefined;
    });
    tokens.push(first.config.agent_token);
    expect(keys.verifyToken(uid, first.config.agent_token)).toEqual({ bootId: 'b7' });
    const second = (await (await lookup('addresses=52:54:00:a0:00:02')).json()) as { config: { agent_token: string } };
    expect(second.config.agent_token).toBe('******');
  });

  it('a lookup while the host expects no agent is 404, and leaves no update in its history', async () => {
    await createHost('idle', '52:54:00:a0:00:03');
    const handle = await startHostWorkflow('idle', null);
    await waitFor('the idle host indexed', async () => (await lookup('addresses=52:54:00:a0:00:03')).status === 404 && (await record('idle')).lookups.length === 0);
    const history = await handle.fetchHistory();
    expect((history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toEqual([]);
  });

  it('a heartbeat with the boot token reaches the workflow with its boot, URL, version and certificate', async () => {
    const uid = uids.get('early') as string;
    const token = keys.tokenFor(uid, 'b1');
    tokens.push(token);
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
    const r = await heartbeat(uid, { callback_url: 'https://192.0.2.7:9999', agent_token: token, agent_version: '13.0.0', agent_verify_ca: pem });
    expect(r.status).toBe(202);
    expect((await record('early')).heartbeats).toMatchObject([{ bootId: 'b1', callbackUrl: 'https://192.0.2.7:9999', agentVersion: '13.0.0', verifyCa: pem }]);
    const forged = await heartbeat(uid, { callback_url: 'https://192.0.2.7:9999', agent_token: new AgentKeys(newAgentKey()).tokenFor(uid, 'b1'), agent_version: '13.0.0' });
    expect(forged.status).toBe(400);
    expect((await record('early')).heartbeats).toHaveLength(1);
  });

  it('inspection data matched by an inspected NIC (HardwareData) reaches an inspecting host', async () => {
    const uid = await createHost('inspected', '52:54:00:a0:00:04');
    await objects.createNamespacedCustomObject({ ...GROUP, plural: 'hardwaredata', body: { apiVersion: 'metal3.io/v1alpha1', kind: 'HardwareData', metadata: { name: 'inspected', namespace }, spec: { hardware: { nics: [{ name: 'eno2', mac: '52:54:00:b0:00:04' }] } } } });
    await startHostWorkflow('inspected', { bootId: 'b2', purpose: 'inspect' });
    const inventory = { interfaces: [{ name: 'eno2', mac_address: '52:54:00:b0:00:04' }], cpu: { count: 8, frequency: '2400.000', architecture: 'x86_64' }, memory: { physical_mb: 16384 }, disks: [] };
    const answer = await waitFor('inspection accepted', async () => {
      const r = await fetch(`${url}/v1/continue_inspection`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inventory, root_disk: { name: '/dev/sda' }, logs: 'H4sIbase64tarball' }) });
      return r.status === 202 ? r.json() : undefined;
    });
    expect(answer).toEqual({ uuid: uid });
    const [data] = (await record('inspected')).inspections;
    expect(data?.inventory).toMatchObject({ cpu: { count: 8 } });
    expect(data?.pluginData).toEqual({ root_disk: { name: '/dev/sda' } });
  });

  it('stops gracefully on SIGTERM and never logged a token', async () => {
    for (const name of uids.keys()) await client.workflow.getHandle(hostWorkflowId(namespace, name)).signal(finish).catch(() => undefined);
    await api.stop(10_000);
    const exit = await api.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    const log = readFileSync(api.logFile, 'utf8');
    expect(log).toContain('"agent API stopped"');
    expect(tokens.length).toBeGreaterThan(1);
    expect(leakedSecrets(log, [...tokens, ...tokens.map((t) => t.split('.')[1] as string)])).toEqual([]);
  });
});
