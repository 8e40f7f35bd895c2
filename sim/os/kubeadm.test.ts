/**
 * The join parser against the real kubeadm bootstrap provider's output (both kubeadm API versions it writes),
 * the kubelet's reading of its flags, the runcmd shell, and kubeadm's discovery checks (the bootstrap
 * signer's JWS and the CA pin) against a real workload cluster's cluster-info (test/fixtures/cabpk).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { planFirstBoot } from './cloud-init.ts';
import { caCertHash, detachedJwsValid } from './index.ts';
import {
  KubeadmConfigError,
  KubeletFlagError,
  kubeadmCommand,
  kubeletSettings,
  parseJoinConfiguration,
} from './kubeadm.ts';
import { parseShellLine } from './shell.ts';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/cabpk/${name}`, import.meta.url), 'utf8');
const UID = '6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b';
const metaData = { uuid: UID, name: 'worker-0', 'local-hostname': 'worker-0', local_hostname: 'worker-0' };

/** The join configuration file as cloud-init writes it from a fixture. */
function joinFile(name: string): string {
  const plan = planFirstBoot({ metaData, userData: fixture(name) }, { configDriveDevice: '/dev/sda2' });
  return plan.files.find((f) => f.path === '/run/kubeadm/kubeadm-join-config.yaml')?.content ?? '';
}

describe('parseJoinConfiguration on CABPK output', () => {
  it('reads v1beta4 (kubeletExtraArgs as a list)', () => {
    const join = parseJoinConfiguration(joinFile('worker-join-v1beta4.yaml'));
    expect(join.apiVersion).toBe('kubeadm.k8s.io/v1beta4');
    expect(join.nodeName).toBe('worker-0');
    expect(join.discovery).toMatchObject({
      kind: 'bootstrapToken',
      apiServerEndpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      token: expect.stringMatching(/^[a-z0-9]{6}\.[a-z0-9]{16}$/),
      unsafeSkipCAVerification: false,
    });
    expect(join.kubeletArgs).toEqual([{ name: 'node-labels', value: `metal3.io/uuid=${UID}` }]);
    expect(join.taints).toEqual([{ key: 'node.cluster.x-k8s.io/uninitialized', effect: 'NoSchedule' }]);
    expect(join.controlPlane).toBe(false);
    const kubelet = kubeletSettings(join);
    expect(kubelet.labels).toEqual({ 'metal3.io/uuid': UID });
    expect(kubelet.taints).toEqual(join.taints);
  });

  it('reads v1beta3 (kubeletExtraArgs as a map), with several labels and a provider ID', () => {
    const join = parseJoinConfiguration(joinFile('worker-join-v1beta3.yaml'));
    expect(join.apiVersion).toBe('kubeadm.k8s.io/v1beta3');
    const kubelet = kubeletSettings(join);
    expect(kubelet.labels).toEqual({ 'metal3.io/uuid': UID, tier: 'old' });
    expect(kubelet.providerID).toBe(`metal3://${UID}`);
  });

  it.each([
    ['no JoinConfiguration', 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n', /no JoinConfiguration/],
    [
      'an unknown kubeadm version',
      'apiVersion: kubeadm.k8s.io/v1beta2\nkind: JoinConfiguration\n',
      /apiVersion 'kubeadm.k8s.io\/v1beta2'/,
    ],
    [
      'no discovery',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n',
      /neither discovery.bootstrapToken nor discovery.file/,
    ],
    [
      'a malformed token',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery: {bootstrapToken: {token: nope, apiServerEndpoint: "h:1"}}\n',
      /not a bootstrap token/,
    ],
    [
      'a map of kubelet args in v1beta4',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery: {bootstrapToken: {token: abcdef.0123456789abcdef, apiServerEndpoint: "h:1"}}\nnodeRegistration: {kubeletExtraArgs: {node-labels: a=b}}\n',
      /v1beta4 takes a list/,
    ],
    ['not YAML', 'kind: [', /not valid YAML/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parseJoinConfiguration(text)).toThrow(KubeadmConfigError);
    expect(() => parseJoinConfiguration(text)).toThrow(message);
  });
});

describe('kubeletSettings', () => {
  const base = parseJoinConfiguration(joinFile('worker-join-v1beta4.yaml'));
  const withArgs = (kubeletArgs: { name: string; value: string }[]) =>
    kubeletSettings({ ...base, kubeletArgs, taints: undefined });

  it('refuses node labels in the kubernetes.io namespace that the kubelet may not set', () => {
    expect(() => withArgs([{ name: 'node-labels', value: 'node-role.kubernetes.io/worker=' }])).toThrow(
      KubeletFlagError,
    );
  });

  it('allows the kubelet label namespaces and keys it may set', () => {
    const s = withArgs([
      { name: 'node-labels', value: 'node.kubernetes.io/pool=a,topology.kubernetes.io/zone=z1,example.com/x=y' },
    ]);
    expect(s.labels).toEqual({
      'node.kubernetes.io/pool': 'a',
      'topology.kubernetes.io/zone': 'z1',
      'example.com/x': 'y',
    });
  });

  it('adds the taint of an external cloud provider and refuses an in-tree one (gone from the kubelet)', () => {
    expect(withArgs([{ name: 'cloud-provider', value: 'external' }]).taints).toEqual([
      { key: 'node.cloudprovider.kubernetes.io/uninitialized', value: 'true', effect: 'NoSchedule' },
    ]);
    expect(() => withArgs([{ name: 'cloud-provider', value: 'baremetal' }])).toThrow(/unknown cloud provider/);
  });

  it('reads taints, node IP, max pods, and keeps other flags as not modelled', () => {
    const s = withArgs([
      { name: 'register-with-taints', value: 'dedicated=infra:NoExecute,spare:NoSchedule' },
      { name: 'node-ip', value: '192.0.2.7' },
      { name: 'max-pods', value: '250' },
      { name: 'fail-swap-on', value: 'false' },
    ]);
    expect(s.taints).toEqual([
      { key: 'dedicated', value: 'infra', effect: 'NoExecute' },
      { key: 'spare', effect: 'NoSchedule' },
    ]);
    expect(s.nodeIP).toBe('192.0.2.7');
    expect(s.maxPods).toBe(250);
    expect(s.unmodelled).toEqual(['--fail-swap-on=false']);
  });
});

describe('the runcmd shell', () => {
  it('splits the CABPK join line into the join and its sentinel, chained by &&', () => {
    const items = parseShellLine(
      'kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml  && echo success > /run/cluster-api/bootstrap-success.complete',
    );
    expect(items).toEqual([
      { after: ';', command: { words: ['kubeadm', 'join', '--config', '/run/kubeadm/kubeadm-join-config.yaml'] } },
      {
        after: '&&',
        command: {
          words: ['echo', 'success'],
          redirect: { path: '/run/cluster-api/bootstrap-success.complete', append: false },
        },
      },
    ]);
    expect(kubeadmCommand(items[0]?.command.words ?? [])).toEqual({
      verb: 'join',
      configPath: '/run/kubeadm/kubeadm-join-config.yaml',
      args: ['--config', '/run/kubeadm/kubeadm-join-config.yaml'],
    });
  });

  it('handles quotes, escapes, ||, ; and >>', () => {
    expect(parseShellLine(`echo "a \\"b\\"" 'c d' e\\ f >> /log || true; x # comment`)).toEqual([
      { after: ';', command: { words: ['echo', 'a "b"', 'c d', 'e f'], redirect: { path: '/log', append: true } } },
      { after: '||', command: { words: ['true'] } },
      { after: ';', command: { words: ['x'] } },
    ]);
  });

  it('refuses unbalanced quotes', () => {
    expect(() => parseShellLine('echo "oops')).toThrow(/unterminated/);
  });
});

describe("kubeadm discovery checks against a real cluster's cluster-info", () => {
  const info = JSON.parse(fixture('cluster-info.json')) as Record<string, string>;
  const join = parseJoinConfiguration(joinFile('worker-join-v1beta4.yaml'));
  if (join.discovery.kind !== 'bootstrapToken') throw new Error('fixture changed');
  const [tokenId = '', secret = ''] = join.discovery.token.split('.');
  const kubeconfig = info.kubeconfig ?? '';

  it("verifies the bootstrap signer's JWS with the token from the join configuration", () => {
    expect(detachedJwsValid(info[`jws-kubeconfig-${tokenId}`] ?? '', kubeconfig, tokenId, secret)).toBe(true);
  });

  it('rejects the JWS with a wrong secret, a changed payload, or another token id', () => {
    const jws = info[`jws-kubeconfig-${tokenId}`] ?? '';
    expect(detachedJwsValid(jws, kubeconfig, tokenId, 'x'.repeat(16))).toBe(false);
    expect(detachedJwsValid(jws, `${kubeconfig} `, tokenId, secret)).toBe(false);
    expect(detachedJwsValid(jws, kubeconfig, 'zzzzzz', secret)).toBe(false);
  });

  it("computes the CA pin CABPK wrote from the cluster's CA", () => {
    const ca = Buffer.from(
      (parse(kubeconfig) as { clusters: { cluster: Record<string, string> }[] }).clusters[0]?.cluster[
        'certificate-authority-data'
      ] ?? '',
      'base64',
    ).toString();
    expect(join.discovery.kind === 'bootstrapToken' && join.discovery.caCertHashes).toEqual([caCertHash(ca)]);
  });
});
