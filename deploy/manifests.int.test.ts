/**
 * Every overlay of deploy/ rendered by the stack's `kubectl kustomize` and applied with server-side
 * dry-run to the real apiserver, which validates each object against its schema: ours, Kubernetes', and
 * cert-manager's and the Prometheus Operator's own CRDs (applied first, from their Go modules). The
 * namespace is created for real with its Pod Security labels, so a pod template that breaks "restricted"
 * comes back as a warning, which fails the test. The rendered objects also pass the checks of
 * deploy/manifests.ts (locked-down containers, probes, wiring), whose self-tests are in manifests.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { thirdPartyCrds } from '../stack/binaries.ts';
import { kubectl } from '../test/kubectl.ts';
import { deploymentProblems, findAll, findOne, parseDocs, podSpec, wiringProblems, type KubeDoc } from './manifests.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The overlays a user applies, relative to deploy/. */
const OVERLAYS = [
  { overlay: '.', what: 'deploy/ itself (the default install)' },
  { overlay: 'default', what: 'the default overlay (cert-manager)' },
  { overlay: 'overlays/prometheus', what: 'default plus the ServiceMonitor' },
  { overlay: 'overlays/self-signed', what: 'without cert-manager, with generated certificates' },
  { overlay: 'overlays/encrypted', what: 'default plus payload encryption, the keyring from a file' },
  { overlay: 'overlays/cluster-api', what: 'default plus the worker\'s reads of Cluster API objects' },
];

let copy: string;
const rendered = new Map<string, KubeDoc[]>();

beforeAll(async () => {
  const crds = await thirdPartyCrds((m) => process.stderr.write(`[manifests] ${m}\n`));
  const files = readdirSync(crds).filter((f) => f.endsWith('.yaml')).map((f) => `-f=${join(crds, f)}`);
  await kubectl(stack, ['apply', '--server-side', '--force-conflicts', ...files]);
  await kubectl(stack, ['wait', '--for=condition=Established', '--timeout=60s', ...files]);
  // The self-signed overlay reads certificate files that are not in git: make them in a copy of deploy/,
  // with the CLI command the overlay's instructions give.
  copy = join(mkdtempSync(join(tmpdir(), 'tempered-manifests-')), 'deploy');
  cpSync(join(ROOT, 'deploy'), copy, {
    recursive: true,
    filter: (src) => !src.includes(`${join('self-signed', 'certs')}`) && !src.includes(`${join('encrypted', 'keys')}`),
  });
  execFileSync(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'setup', 'webhook-certs', '--out', join(copy, 'overlays', 'self-signed', 'certs')], { stdio: 'pipe' });
  // Likewise the encrypted overlay's keyring, with the command its instructions give.
  execFileSync(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'setup', 'encryption-key', '--out', join(copy, 'overlays', 'encrypted', 'keys', 'keyring')], { stdio: 'pipe' });
  // The namespace for real (dry-run objects in a namespace need it), with its Pod Security labels.
  await kubectl(stack, ['apply', '--server-side', '--force-conflicts', '-k', join(ROOT, 'deploy', 'namespace')]);
  for (const { overlay } of OVERLAYS) rendered.set(overlay, parseDocs((await kubectl(stack, ['kustomize', join(copy, overlay)])).stdout));
});

describe('deploy/ overlays', () => {
  it.each(OVERLAYS)('$overlay ($what): applies with server-side dry-run, no warnings', async ({ overlay }) => {
    const docs = rendered.get(overlay) as KubeDoc[];
    const { stdout, stderr } = await kubectl(stack, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], (await kubectl(stack, ['kustomize', join(copy, overlay)])).stdout);
    expect(stderr).toBe('');
    const applied = stdout.trim().split('\n');
    expect(applied).toHaveLength(docs.length);
    for (const line of applied) expect(line).toMatch(/serverside-applied \(server dry run\)$/);
  });

  it('self-test: a pod template that breaks Pod Security "restricted" does come back as a warning', async () => {
    const docs = structuredClone(rendered.get('default') as KubeDoc[]).filter((d) => d.kind === 'Deployment');
    const container = podSpec(docs[0] as KubeDoc).containers[0] as { securityContext: { allowPrivilegeEscalation: boolean } };
    container.securityContext.allowPrivilegeEscalation = true;
    const { stderr } = await kubectl(stack, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n'));
    expect(stderr).toMatch(/would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });

  it.each(OVERLAYS)('$overlay: every container locked down and probed, every reference resolved', ({ overlay }) => {
    const docs = rendered.get(overlay) as KubeDoc[];
    const deployments = findAll(docs, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['tempered-agent-api', 'tempered-bridge', 'tempered-worker']);
    expect(deployments.flatMap(deploymentProblems)).toEqual([]);
    expect(wiringProblems(docs)).toEqual([]);
  });

  it('every process runs the image npm run image builds, as its own ServiceAccount, in tempered-system', () => {
    const docs = rendered.get('default') as KubeDoc[];
    for (const name of ['tempered-worker', 'tempered-bridge', 'tempered-agent-api']) {
      const pod = podSpec(findOne(docs, 'Deployment', name) as KubeDoc);
      expect(pod.serviceAccountName).toBe(name);
      expect(findOne(docs, 'ServiceAccount', name)?.metadata.namespace).toBe('tempered-system');
      expect(pod.containers.map((c) => [c.image, c.args])).toEqual([[`localhost/tempered:${VERSION}`, [name.replace('tempered-', '')]]]);
    }
    // Every CRD the project generates (deploy/crds: Metal3's and Tempered's own) is in the default install.
    const crdFiles = readdirSync(join(ROOT, 'deploy', 'crds')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(findAll(docs, 'CustomResourceDefinition')).toHaveLength(crdFiles.length);
    for (const doc of docs) expect(doc.metadata.labels?.['app.kubernetes.io/part-of'], `${doc.kind} ${doc.metadata.name}`).toBe('tempered');
  });

  it('the Prometheus overlay scrapes every process, alerts, and ships the dashboard; the others need none of it', () => {
    const monitors = findAll(rendered.get('overlays/prometheus') as KubeDoc[], 'ServiceMonitor');
    expect(monitors).toHaveLength(1);
    // The alerts went through the server-side dry-run above with the Prometheus Operator's CRD; what they
    // query is checked against the real processes in deploy/metrics.int.test.ts.
    expect(findAll(rendered.get('overlays/prometheus') as KubeDoc[], 'PrometheusRule').map((r) => r.metadata.name)).toEqual(['tempered']);
    const dashboard = findOne(rendered.get('overlays/prometheus') as KubeDoc[], 'ConfigMap', 'tempered-grafana-dashboard');
    expect(dashboard?.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(JSON.parse((dashboard?.['data'] as Record<string, string>)['tempered.json'] as string)).toMatchObject({ uid: 'tempered-overview' });
    for (const overlay of ['.', 'default', 'overlays/self-signed']) expect(findAll(rendered.get(overlay) as KubeDoc[], 'PrometheusRule')).toEqual([]);
    const services = findAll(rendered.get('overlays/prometheus') as KubeDoc[], 'Service').filter((s) => s.metadata.labels?.['app.kubernetes.io/component'] === 'metrics');
    expect(services.map((s) => s.metadata.name).sort())
      .toEqual(['tempered-agent-api-metrics', 'tempered-bridge-metrics', 'tempered-worker-metrics']);
    for (const overlay of ['.', 'default', 'overlays/self-signed']) expect(findAll(rendered.get(overlay) as KubeDoc[], 'ServiceMonitor')).toEqual([]);
  });

  it('the encrypted overlay mounts the keyring Secret read-only in every process and points it there', () => {
    const docs = rendered.get('overlays/encrypted') as KubeDoc[];
    const secret = findAll(docs, 'Secret').find((s) => s.metadata.name.startsWith('tempered-encryption-'));
    expect(Object.keys((secret?.['data'] ?? {}) as object)).toEqual(['keyring']);
    for (const deployment of findAll(docs, 'Deployment')) {
      const pod = podSpec(deployment);
      expect(pod.volumes?.find((v) => v.name === 'encryption-keys')?.secret?.secretName).toBe(secret?.metadata.name);
      const container = pod.containers[0] as { env?: { name: string; value?: string }[] };
      expect(container.env?.find((e) => e.name === 'TEMPERED_ENCRYPTION_KEYS_FILE')?.value).toBe('/etc/tempered/encryption/keyring');
    }
  });

  it('the cluster-api overlay adds only the worker\'s get on the Cluster API objects between a host and its cluster', () => {
    const docs = rendered.get('overlays/cluster-api') as KubeDoc[];
    const key = (d: KubeDoc) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;
    const inDefault = new Set((rendered.get('default') as KubeDoc[]).map(key));
    const added = docs.filter((d) => !inDefault.has(key(d)));
    expect(added.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(['ClusterRole/tempered-worker-cluster-api', 'ClusterRoleBinding/tempered-worker-cluster-api']);
    expect(docs).toHaveLength(inDefault.size + added.length);
    for (const doc of added) expect(doc.metadata.labels?.['app.kubernetes.io/part-of'], `${doc.kind} ${doc.metadata.name}`).toBe('tempered');
    expect(findOne(docs, 'ClusterRole', 'tempered-worker-cluster-api')?.['rules']).toEqual([
      { apiGroups: ['infrastructure.cluster.x-k8s.io'], resources: ['metal3machines'], verbs: ['get'] },
      { apiGroups: ['cluster.x-k8s.io'], resources: ['machines', 'clusters'], verbs: ['get'] },
    ]);
    expect(findOne(docs, 'ClusterRoleBinding', 'tempered-worker-cluster-api')?.['subjects']).toEqual([
      { kind: 'ServiceAccount', name: 'tempered-worker', namespace: 'tempered-system' },
    ]);
  });

  it('the self-signed overlay serves the generated certificate and puts its CA in the webhook', () => {
    const docs = rendered.get('overlays/self-signed') as KubeDoc[];
    expect(findAll(docs, 'Certificate')).toEqual([]);
    const secret = findAll(docs, 'Secret')[0] as KubeDoc;
    expect(secret.metadata.name).toMatch(/^tempered-webhook-cert-[a-z0-9]+$/);
    const mounted = podSpec(findOne(docs, 'Deployment', 'tempered-bridge') as KubeDoc).volumes?.find((v) => v.name === 'webhook-cert');
    expect(mounted?.secret?.secretName).toBe(secret.metadata.name);
    const ca = readFileSync(join(copy, 'overlays', 'self-signed', 'certs', 'ca.crt')).toString('base64');
    const webhook = findAll(docs, 'ValidatingWebhookConfiguration')[0] as KubeDoc;
    const bundle = (webhook['webhooks'] as { clientConfig: { caBundle: string } }[])[0]?.clientConfig.caBundle;
    expect(bundle?.replace(/\s+/g, '')).toBe(ca);
  });
});
