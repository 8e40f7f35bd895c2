/**
 * Least privilege, proven on the real apiserver (which authorizes with RBAC): the RBAC of deploy/base/rbac plus
 * the component deploy/components/cluster-api, moved into a namespace of this test's own, and the real worker,
 * bridge and agent API processes running with their ServiceAccounts' tokens (TokenRequest) through everything
 * their code does in Kubernetes: a host's whole lifecycle on sushy-tools (registered, available, provisioned
 * with a live ISO for a CAPM3 consumer, its Node found Ready by the join check, deprovisioned, deleted), and on
 * a simulated BMC with a BIOS registry the host's FirmwareSchema and HostFirmwareSettings, a settings change
 * applied in preparing, and a FirmwareRollout over it that its failure budget pauses and a resume completes.
 * A verb the code needs and the Role lacks fails that work and shows as a 403 in the apiserver's audit log; a
 * verb the Role grants and the code never used shows as unused. A self-test takes a verb away and watches the
 * bridge be refused. docs/rbac.md holds each account's `kubectl auth can-i --list`, compared here
 * (WRITE_RBAC_DOCS=1 rewrites it).
 *
 * The Cluster API chain (Metal3Machine, Machine, Cluster, with minimal CRDs: test/cluster-api-chain.ts) is made
 * by hand, and the Cluster's workload cluster is the management cluster itself, as after a pivot: its
 * `<cluster>-kubeconfig` holds the admin's credentials and the host's Node is an object the test makes Ready
 * (there is no kubelet, and no controller-manager to mark it otherwise).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { startSimulator, type Simulator } from '../sim/index.ts';
import { startEngine, type Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { kubectlClient } from '../stack/kube.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import { bmhClient } from '../test/bmh.ts';
import { clusterApiChain, installClusterApiCrds, type ConsumerRef } from '../test/cluster-api-chain.ts';
import { condition, createFirmwareHost, firmwareClient, settingChange } from '../test/firmware-objects.ts';
import { kubectl } from '../test/kubectl.ts';
import { auditedUse, compareGrants, grantedPermissions, isolateRbac, nonPublicPaths, parseDocs, type KubeDoc } from './manifests.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN = unique('rbac').slice(5);
const INSTALL_NS = `tempered-rbac-${RUN}`;
const HOSTS_NS = `rbac-hosts-${RUN}`;
const PASSWORD = `Rbac-${RUN}-pw`;
const ACCOUNTS = ['tempered-bridge', 'tempered-worker', 'tempered-agent-api'] as const;
const username = (account: string) => `system:serviceaccount:${INSTALL_NS}:${account}`;
const RBAC_DOC = join(ROOT, 'docs', 'rbac.md');
/** The Cluster API Cluster host-0's consumer belongs to, and host-0's Node in its workload cluster. */
const CLUSTER = 'w1';
const NODE = `rbac-${RUN}-host-0`;
const BIOS_IMAGE = 'bios-2.0.0.bin';

const hosts = bmhClient(stack.kube.kubeconfig, HOSTS_NS);
const fw = firmwareClient(stack.kube.kubeconfig, HOSTS_NS);
const chain = clusterApiChain(stack.kube.kubeconfig, HOSTS_NS);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
let dir: string;
let rbac: KubeDoc[];
/** The worker's `kubectl auth can-i --list` with deploy/base/rbac alone (before the component was applied). */
let workerWithoutClusterApi: string;
let consumerRef: ConsumerRef;
let sushy: SushyEmulator;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;

/** A kubeconfig that authenticates with a token of the account (TokenRequest), as a pod's mounted token does. */
async function accountKubeconfig(account: string): Promise<string> {
  const token = (await kubectl(stack, ['create', 'token', account, '-n', INSTALL_NS, '--duration=2h'])).stdout.trim();
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(stack.kube.kubeconfig);
  const cluster = admin.getCurrentCluster();
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'stack', server: stack.kube.server, caData: cluster?.caData }],
    users: [{ name: account, token }],
    contexts: [{ name: account, cluster: 'stack', user: account, namespace: INSTALL_NS }],
    currentContext: account,
  });
  const file = join(dir, `${account}.kubeconfig`);
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}

/**
 * The RBAC under test as the stack's kustomize renders it, moved into this test's namespace: deploy/base/rbac
 * alone, and with deploy/components/cluster-api as an overlay adds it (one of this test's own, beside a copy).
 */
async function renderRbac(): Promise<{ base: KubeDoc[]; withClusterApi: KubeDoc[] }> {
  const copy = join(dir, 'deploy');
  for (const part of ['base/rbac', 'components/cluster-api']) cpSync(join(ROOT, 'deploy', part), join(copy, part), { recursive: true });
  mkdirSync(join(copy, 'with-cluster-api'));
  writeFileSync(
    join(copy, 'with-cluster-api', 'kustomization.yaml'),
    ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources: [../base/rbac]', 'components: [../components/cluster-api]', ''].join('\n'),
  );
  const render = async (path: string) =>
    isolateRbac(parseDocs((await kubectl(stack, ['kustomize', join(copy, path)])).stdout), { namespace: INSTALL_NS, prefix: `${RUN}-` });
  return { base: await render('base/rbac'), withClusterApi: await render('with-cluster-api') };
}

const apply = (docs: KubeDoc[]) => kubectl(stack, ['apply', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n'));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tempered-rbac-'));
  const rendered = await renderRbac();
  rbac = rendered.withClusterApi;
  await kubectl(stack, ['create', 'namespace', INSTALL_NS]);
  await hosts.createNamespace();
  // The base first, to document what the worker may do without the component (once the authorizer has it).
  await apply(rendered.base);
  workerWithoutClusterApi = await waitFor('the base RBAC in force', async () => {
    const list = await canIList('tempered-worker');
    return /^secrets\s/m.test(list) ? list : undefined;
  });
  await apply(rbac);

  // What CAPM3 and a control-plane provider leave in the management cluster for host-0's consumer.
  await installClusterApiCrds(kubectlClient(stack.kube.kubectl, stack.kube.kubeconfig));
  await chain.createCluster(CLUSTER);
  consumerRef = await chain.createMachine('host-0', CLUSTER);
  const value = Buffer.from(readFileSync(stack.kube.kubeconfig)).toString('base64');
  await hosts.core.createNamespacedSecret({ namespace: HOSTS_NS, body: { metadata: { name: `${CLUSTER}-kubeconfig` }, data: { value } } });

  const [bridgeConfig, workerConfig, agentApiConfig] = await Promise.all(ACCOUNTS.map((account) => accountKubeconfig(account)));
  sushy = await startSushy({ stateDir: join(dir, 'sushy'), systems: 2, password: PASSWORD, progress: () => {} });
  // A BMC with a BIOS attribute registry and firmware updates, which sushy-tools' fake driver has not.
  sim = await startSimulator({ bmcs: [{ profile: 'dmtf', id: 'fw', password: PASSWORD, uniqueIdentity: true, taskDurationMs: 400 }] });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 7), [`/${BIOS_IMAGE}`]: Buffer.alloc(32 * 1024, 5) });
  engine = await startEngine({
    stateDir: join(dir, 'engine'),
    temporal: stack.temporal,
    kubeconfig: stack.kube.kubeconfig,
    env: { TEMPERED_FIRMWARE_TASK_POLL_MS: '250', TEMPERED_FIRMWARE_HELD_AFTER_MS: '1500' },
    workerEnv: { KUBECONFIG: workerConfig },
    bridgeEnv: { KUBECONFIG: bridgeConfig, TEMPERED_LEASE_NAMESPACE: INSTALL_NS },
    agentApiEnv: { KUBECONFIG: agentApiConfig },
    hostTaskQueue: `hosts-${RUN}`,
    bridgeTaskQueue: `bridge-${RUN}`,
    watchNamespaces: [HOSTS_NS],
    // The name the leader-election Role's resourceNames allows.
    leaseName: 'tempered-bridge',
  });
});

afterAll(async () => {
  await engine?.stop();
  await images?.stop();
  await sim?.stop();
  await sushy?.stop();
  // Nodes are cluster-wide: this one goes (the rest lives in this test's namespaces).
  await hosts.core.deleteNode({ name: NODE }).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const address = (i: number) => `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${sushy.systems[i]?.path}`;

/** `kubectl auth can-i --list` of an account in the install namespace, as docs/rbac.md shows it. */
async function canIList(account: string): Promise<string> {
  const { stdout } = await kubectl(stack, ['auth', 'can-i', '--list', `--as=${username(account)}`, '-n', INSTALL_NS]);
  return stdout.replaceAll(INSTALL_NS, 'tempered-system').trimEnd();
}

/** The fenced block after `<!-- can-i LABEL -->` in docs/rbac.md. */
const blockPattern = (label: string) =>
  new RegExp(`(<!-- can-i ${label.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} -->\\n\`\`\`text\\n)([\\s\\S]*?)(\\n\`\`\`)`);

/**
 * A Ready Node labelled with the host's UID, as the host's kubelet registers it (the KubeadmConfig's
 * `metal3.io/uuid` node label), in the workload cluster, which is the stack's apiserver here.
 */
async function readyNode(name: string, hostUid: string): Promise<void> {
  await hosts.core.createNode({ body: { metadata: { name, labels: { 'metal3.io/uuid': hostUid } } } });
  const now = new Date().toISOString();
  const ready = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now };
  await hosts.core.patchNodeStatus({ name, body: { status: { conditions: [ready] } } }, mergePatch);
}

describe('least privilege: the real processes under their ServiceAccounts', () => {
  it('a host goes through its whole lifecycle with only the deployed RBAC, its Node found by the join check', async () => {
    await hosts.secret('bmc-0', sushy.username, PASSWORD);
    await hosts.create('host-0', { online: false, automatedCleaningMode: 'disabled', bootMACAddress: sushy.systems[0]?.mac, bmc: { address: address(0), credentialsName: 'bmc-0' } });
    const available = await hosts.inState('host-0', 'available', (h) => h.status?.operationalStatus === 'OK');
    const secret = await hosts.core.readNamespacedSecret({ namespace: HOSTS_NS, name: 'bmc-0' });
    expect(secret.metadata?.labels?.['environment.metal3.io']).toBe('baremetal');

    // CAPM3 consumes the host (its Metal3Machine as consumerRef, with the image); the host's Node will be Ready.
    await readyNode(NODE, available.metadata.uid as string);
    await hosts.patchSpec('host-0', { online: true, image: { url: images.url('/live.iso'), format: 'live-iso' }, consumerRef });
    await hosts.inState('host-0', 'provisioned', (h) => h.status?.poweredOn === true);
    expect(images.gets('/live.iso')).toBe(1);
    // The worker's join check followed the chain under its token: Metal3Machine, Machine, Cluster, kubeconfig.
    const joined = await waitFor('host-0 joined', async () => {
      const c = condition((await hosts.get('host-0')).status?.conditions as never, 'tempered.dev/NodeJoined');
      return c?.status === 'True' ? c : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250, detail: () => hosts.get('host-0').then((h) => JSON.stringify(h.status?.conditions)) });
    expect(joined).toMatchObject({ reason: 'NodeReady', message: expect.stringContaining(`Node ${NODE} is Ready`) });
    expect(joined.message).toContain(`in cluster ${HOSTS_NS}/${CLUSTER}`);

    await hosts.patchSpec('host-0', { image: null, consumerRef: null });
    await hosts.inState('host-0', 'available', (h) => h.status?.operationalStatus === 'OK');

    await hosts.delete('host-0');
    await hosts.gone('host-0');

    // Every process reports ready under its account (Temporal, Kubernetes, the bridge's and agent API's informers).
    for (const proc of [engine.worker(), ...engine.bridges(), engine.agentApi()]) {
      const url = proc.metricsUrl();
      expect(url).toBeDefined();
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status, await ready.text()).toBe(200);
    }
  }, 400_000);

  it('firmware: schema and settings from the BMC, a change applied in preparing, a rollout paused by its budget and resumed', async () => {
    const name = 'fw-0';
    const bmc = sim.bmc('fw');
    await createFirmwareHost(hosts, name, bmc, PASSWORD);
    await hosts.inState(name, 'available');
    // The bridge wrote what the worker read: HostFirmwareSettings, and the FirmwareSchema it owns.
    const hfs = await waitFor(`${name} HostFirmwareSettings read`, async () => {
      const o = await fw.hfs(name);
      return o?.status?.schema && Object.keys(o.status.settings ?? {}).length > 0 ? o : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
    const schema = await waitFor(`${name} FirmwareSchema owned by its settings`, async () => {
      const o = await fw.schema(hfs.status?.schema?.name ?? '');
      return o?.metadata.ownerReferences?.some((r) => r.kind === 'HostFirmwareSettings' && r.name === name) ? o : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const change = settingChange(schema, hfs.status?.settings ?? {});
    if (!change) throw new Error(`the ${bmc.profile} profile's schema has no writable enumeration to change`);
    await fw.setSettings(name, { [change.name]: change.value });
    await waitFor(`${name} applied ${change.name}=${change.value}`, async () => {
      const o = await fw.hfs(name);
      const settled = condition(o?.status?.conditions, 'ChangeDetected')?.status === 'False';
      return o?.status?.settings?.[change.name] === change.value && settled;
    }, { timeoutMs: 180_000, intervalMs: 250, detail: () => fw.hfs(name).then((o) => JSON.stringify(o?.status?.conditions)) });
    await hosts.inState(name, 'available', (h) => h.status?.operationalStatus === 'OK');
    expect(bmc.state().bios.current[change.name]).toBe(change.value);

    // A rollout over the host whose flash fails: its failure budget (1) is used, the bridge pauses the spec.
    await waitFor(`${name} firmware components read`, async () => (await fw.hfc(name))?.status?.components, { timeoutMs: 60_000, intervalMs: 250 });
    await fw.labelHost(name, { rollout: RUN });
    bmc.faults({ flashFailure: true });
    await fw.createRollout('bios', {
      selector: { matchLabels: { rollout: RUN } },
      updates: [{ component: 'bios', url: images.url(`/${BIOS_IMAGE}`) }],
      strategy: { maxUnavailable: 1, failureBudget: 1 },
    });
    const rolloutDetail = () => fw.rollout('bios').then((r) => JSON.stringify({ spec: r?.spec, status: r?.status }));
    const paused = await waitFor('rollout bios paused by the bridge', async () => {
      const r = await fw.rollout('bios');
      return r?.status?.phase === 'Paused' && r.spec['paused'] === true ? r : undefined;
    }, { timeoutMs: 180_000, intervalMs: 250, detail: rolloutDetail });
    expect(paused.status?.message).toMatch(/failure budget used/);
    // Resumed once the fault is gone: the failed host is tried again and the rollout completes. The host takes
    // the update after its error backoff (BMO's: 60 s × 2 for a first error, less up to half of it in jitter).
    bmc.faults({ flashFailure: false });
    await fw.patchRollout('bios', { paused: false });
    const done = await waitFor('rollout bios completed', async () => {
      const r = await fw.rollout('bios');
      return r?.status?.phase === 'Completed' ? r : undefined;
    }, { timeoutMs: 300_000, intervalMs: 250, detail: rolloutDetail });
    expect(done.status).toMatchObject({ total: 1, updated: 1, failed: 0 });
    expect(bmc.counters().firmwareUpdatesByImage[BIOS_IMAGE]).toBe(2);
  }, 600_000);

  it('no request was refused, and every verb granted was used', async () => {
    const granted = Object.fromEntries(ACCOUNTS.map((account) => [account, grantedPermissions(rbac, INSTALL_NS, account)]));
    const unused = (text: string) => ACCOUNTS.flatMap((a) => compareGrants(granted[a] ?? [], auditedUse(text, username(a)).used).unused);
    // The apiserver writes the log per request: let the last calls (the deletion, the rollout's end) reach it.
    // Should some verb never come, the comparison below says which.
    const read = () => readFileSync(stack.kube.auditLog, 'utf8');
    const log = await waitFor('every granted verb in the audit log', () => {
      const text = read();
      return unused(text).length === 0 ? text : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 }).catch(read);
    for (const account of ACCOUNTS) {
      const { used, forbidden, nonResource } = auditedUse(log, username(account));
      expect(granted[account]?.length, account).toBeGreaterThan(0);
      expect({ account, forbidden }).toEqual({ account, forbidden: [] });
      expect({ account, ...compareGrants(granted[account] ?? [], used) }).toEqual({ account, unused: [], ungranted: [] });
      expect({ account, paths: nonPublicPaths(nonResource) }).toEqual({ account, paths: [] });
      // The same comparison notices a verb granted beyond what was used.
      expect(compareGrants([...(granted[account] ?? []), 'deletecollection metal3.io/baremetalhosts'], used).unused).toEqual(['deletecollection metal3.io/baremetalhosts']);
    }
    // The component's grants are the worker's: its join check used each of them.
    expect(auditedUse(log, username('tempered-worker')).used).toEqual(
      expect.arrayContaining(['get cluster.x-k8s.io/clusters', 'get cluster.x-k8s.io/machines', 'get infrastructure.cluster.x-k8s.io/metal3machines']),
    );
  });

  it('docs/rbac.md shows what each account may do (kubectl auth can-i --list)', async () => {
    const blocks: [label: string, live: string][] = [
      ['tempered-worker', workerWithoutClusterApi],
      ['tempered-worker with deploy/components/cluster-api', await canIList('tempered-worker')],
      ['tempered-bridge', await canIList('tempered-bridge')],
      ['tempered-agent-api', await canIList('tempered-agent-api')],
    ];
    for (const [label, live] of blocks) {
      if (process.env['WRITE_RBAC_DOCS'] === '1') {
        const text = readFileSync(RBAC_DOC, 'utf8');
        writeFileSync(RBAC_DOC, text.replace(blockPattern(label), (_m, open: string, _old: string, close: string) => `${open}${live}${close}`));
      }
      const documented = blockPattern(label).exec(readFileSync(RBAC_DOC, 'utf8'))?.[2];
      expect(documented, `docs/rbac.md for ${label}: run with WRITE_RBAC_DOCS=1`).toBe(live);
    }
  });

  it('self-test: with a verb taken away, the bridge is refused (a 403 in the audit log) and the host waits', async () => {
    const role = rbac.find((d) => d.kind === 'ClusterRole' && d.metadata.name === `${RUN}-tempered-bridge`) as KubeDoc;
    const rules = role['rules'] as { resources: string[]; verbs: string[] }[];
    const without = rules.map((r) => (r.resources.includes('secrets') ? { ...r, verbs: r.verbs.filter((v) => v !== 'patch') } : r));
    await kubectl(stack, ['patch', 'clusterrole', role.metadata.name, '--type=merge', '-p', JSON.stringify({ rules: without })]);
    try {
      await hosts.secret('bmc-1', sushy.username, PASSWORD);
      await hosts.create('host-1', { online: false, automatedCleaningMode: 'disabled', bmc: { address: address(1), credentialsName: 'bmc-1' } });
      await waitFor('the bridge refused labelling bmc-1', () => auditedUse(readFileSync(stack.kube.auditLog, 'utf8'), username('tempered-bridge')).forbidden.includes(`patch core/secrets in ${HOSTS_NS}`), { timeoutMs: 60_000, intervalMs: 250 });
      expect((await hosts.get('host-1')).status?.provisioning).toBeUndefined();
    } finally {
      await kubectl(stack, ['patch', 'clusterrole', role.metadata.name, '--type=merge', '-p', JSON.stringify({ rules })]);
    }
    // The grant back: the bridge's retry (backoff) labels the Secret and the host registers.
    await hosts.inState('host-1', 'available', undefined, 180_000);
  });
});
