/**
 * Least privilege, proven on the real apiserver (which authorizes with RBAC): the RBAC of deploy/base/rbac,
 * moved into a namespace of this test's own, and the real worker, bridge and agent API processes running with
 * their ServiceAccounts' tokens (TokenRequest), driving a host through its whole lifecycle on sushy-tools:
 * registered, available, provisioned with a live ISO, deprovisioned, deleted. A verb the code needs and the
 * Role lacks fails the lifecycle and shows as a 403 in the apiserver's audit log; a verb the Role grants and
 * the code never used shows as unused. A self-test takes a verb away and watches the bridge be refused.
 * docs/rbac.md holds each account's `kubectl auth can-i --list`, compared here (WRITE_RBAC_DOCS=1 rewrites it).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { startEngine, type Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import { bmhClient } from '../test/bmh.ts';
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

const hosts = bmhClient(stack.kube.kubeconfig, HOSTS_NS);
let rbac: KubeDoc[];
let sushy: SushyEmulator;
let images: ImageServer;
let engine: Engine;

/** A kubeconfig that authenticates with a token of the account (TokenRequest), as a pod's mounted token does. */
async function accountKubeconfig(account: string, dir: string): Promise<string> {
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

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-rbac-'));
  rbac = isolateRbac(parseDocs((await kubectl(stack, ['kustomize', join(ROOT, 'deploy', 'base', 'rbac')])).stdout), { namespace: INSTALL_NS, prefix: `${RUN}-` });
  await kubectl(stack, ['create', 'namespace', INSTALL_NS]);
  await hosts.createNamespace();
  await kubectl(stack, ['apply', '-f', '-'], rbac.map((d) => JSON.stringify(d)).join('\n'));
  const [bridgeConfig, workerConfig, agentApiConfig] =
    await Promise.all(ACCOUNTS.map((account) => accountKubeconfig(account, dir)));
  sushy = await startSushy({ stateDir: join(dir, 'sushy'), systems: 2, password: PASSWORD, progress: () => {} });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 7) });
  engine = await startEngine({
    stateDir: join(dir, 'engine'),
    temporal: stack.temporal,
    kubeconfig: stack.kube.kubeconfig,
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
  await sushy?.stop();
});

const address = (i: number) => `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${sushy.systems[i]?.path}`;

/** `kubectl auth can-i --list` of an account in the install namespace, as docs/rbac.md shows it. */
async function canIList(account: string): Promise<string> {
  const { stdout } = await kubectl(stack, ['auth', 'can-i', '--list', `--as=${username(account)}`, '-n', INSTALL_NS]);
  return stdout.replaceAll(INSTALL_NS, 'tempered-system').trimEnd();
}

/** The fenced block after `<!-- can-i ACCOUNT -->` in docs/rbac.md. */
function documented(text: string, account: string): string | undefined {
  const match = new RegExp(`<!-- can-i ${account} -->\\n\`\`\`text\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  return match?.[1];
}

describe('least privilege: the real processes under their ServiceAccounts', () => {
  it('a host goes through its whole lifecycle with only the deployed RBAC', async () => {
    await hosts.secret('bmc-0', sushy.username, PASSWORD);
    await hosts.create('host-0', { online: false, automatedCleaningMode: 'disabled', bootMACAddress: sushy.systems[0]?.mac, bmc: { address: address(0), credentialsName: 'bmc-0' } });
    await hosts.inState('host-0', 'available', (h) => h.status?.operationalStatus === 'OK');
    const secret = await hosts.core.readNamespacedSecret({ namespace: HOSTS_NS, name: 'bmc-0' });
    expect(secret.metadata?.labels?.['environment.metal3.io']).toBe('baremetal');

    await hosts.patchSpec('host-0', { online: true, image: { url: images.url('/live.iso'), format: 'live-iso' } });
    await hosts.inState('host-0', 'provisioned', (h) => h.status?.poweredOn === true);
    expect(images.gets('/live.iso')).toBe(1);

    await hosts.patchSpec('host-0', { image: null });
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
  });

  /**
   * Verbs granted for work this lifecycle (a sushy-tools host: no BIOS attribute registry, no FirmwareRollout)
   * does not reach: the firmware objects' writes (test/firmware.int.test.ts) and a rollout's status and pause
   * (test/rollout.int.test.ts), which run as the admin. Only the "every verb used" half skips them; a refused
   * request still fails. A known gap: run those two under these ServiceAccounts to prove them here too.
   */
  const NOT_IN_THIS_LIFECYCLE: Record<string, string[]> = {
    'tempered-bridge': [
      'create metal3.io/firmwareschemas',
      'patch metal3.io/firmwareschemas',
      'create metal3.io/hostfirmwaresettings',
      'patch metal3.io/hostfirmwaresettings/status',
      'patch tempered.dev/firmwarerollouts',
      'patch tempered.dev/firmwarerollouts/status',
    ],
  };

  it('no request was refused, and every verb granted was used', async () => {
    // Let the last calls of the deletion reach the log (the apiserver writes it per request).
    const log = await waitFor('the bridge\'s delete of HardwareData in the audit log', () => {
      const text = readFileSync(stack.kube.auditLog, 'utf8');
      return auditedUse(text, username('tempered-bridge')).used.includes('delete metal3.io/hardwaredata') ? text : undefined;
    });
    for (const account of ACCOUNTS) {
      const granted = grantedPermissions(rbac, INSTALL_NS, account).filter((g) => !NOT_IN_THIS_LIFECYCLE[account]?.includes(g));
      const { used, forbidden, nonResource } = auditedUse(log, username(account));
      expect(granted.length, account).toBeGreaterThan(0);
      expect({ account, forbidden }).toEqual({ account, forbidden: [] });
      expect({ account, ...compareGrants(granted, used) }).toEqual({ account, unused: [], ungranted: [] });
      expect({ account, paths: nonPublicPaths(nonResource) }).toEqual({ account, paths: [] });
      // The same comparison notices a verb granted beyond what was used.
      expect(compareGrants([...granted, 'deletecollection metal3.io/baremetalhosts'], used).unused).toEqual(['deletecollection metal3.io/baremetalhosts']);
    }
  });

  it('docs/rbac.md shows what each account may do (kubectl auth can-i --list)', async () => {
    let text = readFileSync(RBAC_DOC, 'utf8');
    for (const account of ACCOUNTS) {
      const live = await canIList(account);
      if (process.env['WRITE_RBAC_DOCS'] === '1') {
        text = text.replace(new RegExp(`(<!-- can-i ${account} -->\\n\`\`\`text\\n)[\\s\\S]*?(\\n\`\`\`)`), (_m, open: string, close: string) => `${open}${live}${close}`);
        writeFileSync(RBAC_DOC, text);
      }
      expect(documented(readFileSync(RBAC_DOC, 'utf8'), account), `docs/rbac.md for ${account}: run with WRITE_RBAC_DOCS=1`).toBe(live);
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
