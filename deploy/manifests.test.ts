/**
 * The manifest checks themselves, on a small hand-made install: clean, then with one fault planted at a
 * time, each of which must be reported (so a clean report on the real overlays means something).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import {
  auditedUse,
  compareGrants,
  deploymentProblems,
  findOne,
  grantedPermissions,
  isolateRbac,
  memoryLimitMiB,
  nonPublicPaths,
  parseDocs,
  podSpec,
  quantityMiB,
  wiringProblems,
  type KubeDoc,
} from './manifests.ts';

const NS = 'tempered-system';

function install(): KubeDoc[] {
  const container = {
    name: 'bridge',
    image: 'tempered',
    args: ['bridge'],
    env: [{ name: 'TEMPERED_METRICS_PORT', value: '9440' }],
    ports: [{ name: 'metrics', containerPort: 9440 }, { name: 'webhook', containerPort: 9443 }],
    livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' } },
    readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' } },
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    securityContext: { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
  return parseDocs(
    [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tempered-bridge', namespace: NS }, spec: { template: { metadata: { labels: { app: 'bridge' } }, spec: { serviceAccountName: 'tempered-bridge', securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } }, containers: [container], volumes: [{ name: 'cert', secret: { secretName: 'webhook-cert' } }] } } } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'tempered-webhook', namespace: NS }, spec: { selector: { app: 'bridge' }, ports: [{ port: 443, targetPort: 'webhook' }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'bridge-metrics', namespace: NS, labels: { scrape: 'yes' } }, spec: { selector: { app: 'bridge' }, ports: [{ name: 'metrics', port: 9440, targetPort: 'metrics' }] } },
      { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'tempered', namespace: NS }, spec: { selector: { matchLabels: { scrape: 'yes' } }, endpoints: [{ port: 'metrics' }] } },
      { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'tempered-webhook', namespace: NS }, spec: { secretName: 'webhook-cert', dnsNames: ['tempered-webhook.tempered-system.svc'] } },
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'v', annotations: { 'cert-manager.io/inject-ca-from': `${NS}/tempered-webhook` } }, webhooks: [{ name: 'baremetalhost.metal3.io', clientConfig: { service: { name: 'tempered-webhook', namespace: NS } } }] },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'tempered-bridge', namespace: NS } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'tempered-bridge' }, rules: [{ apiGroups: ['metal3.io'], resources: ['baremetalhosts', 'baremetalhosts/status'], verbs: ['patch'] }, { apiGroups: [''], resources: ['events'], verbs: ['create'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'tempered-bridge' }, roleRef: { kind: 'ClusterRole', name: 'tempered-bridge' }, subjects: [{ kind: 'ServiceAccount', name: 'tempered-bridge', namespace: NS }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'leader', namespace: NS }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['tempered-bridge'], verbs: ['get', 'update'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'leader', namespace: NS }, roleRef: { kind: 'Role', name: 'leader' }, subjects: [{ kind: 'ServiceAccount', name: 'tempered-bridge', namespace: NS }] },
    ]
      .map((d) => stringify(d))
      .join('---\n'),
  );
}

const bridge = (docs: KubeDoc[]) => findOne(docs, 'Deployment', 'tempered-bridge') as KubeDoc;
const container = (docs: KubeDoc[]) => podSpec(bridge(docs)).containers[0] as ReturnType<typeof podSpec>['containers'][number];

describe('deploymentProblems', () => {
  it('finds nothing wrong with a locked-down, probed Deployment', () => {
    expect(deploymentProblems(bridge(install()))).toEqual([]);
  });

  it.each<[string, (d: KubeDoc[]) => void, RegExp]>([
    ['a writable root filesystem', (d) => delete container(d).securityContext?.readOnlyRootFilesystem, /root filesystem is writable/],
    ['privilege escalation allowed', (d) => ((container(d).securityContext as { allowPrivilegeEscalation: boolean }).allowPrivilegeEscalation = true), /allowPrivilegeEscalation/],
    ['capabilities kept', (d) => ((container(d).securityContext as { capabilities: object }).capabilities = {}), /capabilities are not dropped/],
    ['a capability added', (d) => ((container(d).securityContext as { capabilities: object }).capabilities = { drop: ['ALL'], add: ['NET_ADMIN'] }), /adds capabilities NET_ADMIN/],
    ['root allowed', (d) => delete (podSpec(bridge(d)).securityContext as { runAsNonRoot?: boolean }).runAsNonRoot, /runAsNonRoot/],
    ['no seccomp profile', (d) => delete (podSpec(bridge(d)).securityContext as { seccompProfile?: object }).seccompProfile, /seccompProfile/],
    ['the default ServiceAccount', (d) => delete podSpec(bridge(d)).serviceAccountName, /no serviceAccountName/],
    ['no memory limit', (d) => delete container(d).resources?.limits?.['memory'], /no memory limit/],
    ['a probe on another path', (d) => ((container(d).readinessProbe as { httpGet: { path: string } }).httpGet.path = '/healthz'), /readinessProbe is \/healthz on metrics, not \/readyz/],
    ['no liveness probe', (d) => delete container(d).livenessProbe, /no livenessProbe/],
    ['the process told another port', (d) => ((container(d).env as { value: string }[])[0] = { name: 'TEMPERED_METRICS_PORT', value: '9090' } as never), /TEMPERED_METRICS_PORT \(9090\)/],
  ])('notices %s', (_scenario, plant, expected) => {
    const docs = install();
    plant(docs);
    const problems = deploymentProblems(bridge(docs));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });
});

describe('wiringProblems', () => {
  it('finds nothing wrong when everything points at something', () => {
    expect(wiringProblems(install())).toEqual([]);
  });

  it.each<[string, (d: KubeDoc[]) => void, RegExp]>([
    ['a Service selecting nothing', (d) => ((findOne(d, 'Service', 'tempered-webhook')?.['spec'] as { selector: object }).selector = { app: 'nope' }), /tempered-webhook selects no Deployment/],
    ['a Service targeting a missing port', (d) => ((findOne(d, 'Service', 'tempered-webhook')?.['spec'] as { ports: object[] }).ports = [{ port: 443, targetPort: 'https' }]), /targets port https/],
    ['a certificate for another Service', (d) => ((findOne(d, 'Certificate', 'tempered-webhook')?.['spec'] as { dnsNames: string[] }).dnsNames = ['x.tempered-system.svc']), /does not name tempered-webhook\.tempered-system\.svc/],
    ['CA injection from a Certificate that is not there', (d) => ((findOne(d, 'ValidatingWebhookConfiguration', 'v')?.metadata.annotations as Record<string, string>)['cert-manager.io/inject-ca-from'] = 'other/cert'), /other\/cert, which is not rendered/],
    ['a mounted Secret nobody makes', (d) => ((findOne(d, 'Certificate', 'tempered-webhook')?.['spec'] as { secretName: string }).secretName = 'other'), /mounts Secret webhook-cert/],
    ['a ServiceMonitor scraping a port the Service lacks', (d) => ((findOne(d, 'ServiceMonitor', 'tempered')?.['spec'] as { endpoints: object[] }).endpoints = [{ port: 'http' }]), /scrapes port http/],
  ])('notices %s', (_scenario, plant, expected) => {
    const docs = install();
    plant(docs);
    expect(wiringProblems(docs).join('\n')).toMatch(expected);
  });

  it('a static caBundle must be the CA of the Secret the bridge mounts', () => {
    const docs = install().filter((d) => d.kind !== 'Certificate');
    const webhook = findOne(docs, 'ValidatingWebhookConfiguration', 'v') as KubeDoc;
    delete webhook.metadata.annotations;
    docs.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'webhook-cert', namespace: NS }, data: { 'ca.crt': 'Q0EtMQ==\n', 'tls.crt': 'eA==' } });
    const hook = (webhook['webhooks'] as { clientConfig: { caBundle?: string } }[])[0] as { clientConfig: { caBundle?: string } };
    hook.clientConfig.caBundle = 'Q0Et\nMQ==';
    expect(wiringProblems(docs)).toEqual([]);
    hook.clientConfig.caBundle = 'Q0EtMg==';
    expect(wiringProblems(docs).join('\n')).toMatch(/caBundle is not the ca\.crt of Secret webhook-cert/);
  });
});

describe('RBAC: granted against used', () => {
  const audit = (events: object[]) => events.map((e) => JSON.stringify({ stage: 'ResponseComplete', user: { username: 'system:serviceaccount:tempered-system:tempered-bridge' }, ...e })).join('\n');

  it('expands the bound rules to one permission per verb and resource, Roles and ClusterRoles alike', () => {
    expect(grantedPermissions(install(), NS, 'tempered-bridge')).toEqual([
      'create core/events',
      'get coordination.k8s.io/leases',
      'patch metal3.io/baremetalhosts',
      'patch metal3.io/baremetalhosts/status',
      'update coordination.k8s.io/leases',
    ]);
    expect(grantedPermissions(install(), NS, 'someone-else')).toEqual([]);
  });

  it('reads what a user did from the audit log: used, forbidden, and non-resource paths', () => {
    const log = audit([
      { verb: 'patch', objectRef: { apiGroup: 'metal3.io', resource: 'baremetalhosts', subresource: 'status', namespace: 'a' }, responseStatus: { code: 200 } },
      { verb: 'create', objectRef: { apiGroup: '', resource: 'events', namespace: 'a' }, responseStatus: { code: 201 } },
      { verb: 'patch', objectRef: { apiGroup: '', resource: 'secrets', namespace: 'a' }, responseStatus: { code: 403 } },
      { verb: 'get', requestURI: '/version?timeout=32s', responseStatus: { code: 200 } },
      { verb: 'get', requestURI: '/metrics', responseStatus: { code: 403 } },
      // A watch still running: logged when its stream started.
      { stage: 'ResponseStarted', verb: 'watch', objectRef: { apiGroup: 'metal3.io', resource: 'baremetalhosts' } },
      // Not counted: a request only received, another user, an impersonated request.
      { stage: 'RequestReceived', verb: 'get', objectRef: { apiGroup: 'metal3.io', resource: 'hardwaredata' } },
      { user: { username: 'admin' }, verb: 'delete', objectRef: { apiGroup: 'metal3.io', resource: 'baremetalhosts' } },
      { impersonatedUser: { username: 'x' }, verb: 'list', objectRef: { apiGroup: '', resource: 'pods' } },
    ]);
    const use = auditedUse(log, 'system:serviceaccount:tempered-system:tempered-bridge');
    expect(use).toEqual({
      used: ['create core/events', 'patch metal3.io/baremetalhosts/status', 'watch metal3.io/baremetalhosts'],
      forbidden: ['patch core/secrets in a'],
      nonResource: ['get /metrics', 'get /version'],
    });
    expect(nonPublicPaths(use.nonResource)).toEqual(['get /metrics']);
  });

  it('reports a planted extra verb as unused, and use beyond the grant as ungranted', () => {
    const granted = grantedPermissions(install(), NS, 'tempered-bridge');
    const used = [...granted];
    expect(compareGrants(granted, used)).toEqual({ unused: [], ungranted: [] });
    expect(compareGrants([...granted, 'delete metal3.io/baremetalhosts'], used).unused).toEqual(['delete metal3.io/baremetalhosts']);
    expect(compareGrants(granted, [...used, 'list core/pods']).ungranted).toEqual(['list core/pods']);
  });

  it('isolateRbac moves the accounts to a namespace and prefixes cluster-wide names, rules untouched', () => {
    const moved = isolateRbac(install().filter((d) => d.apiVersion.startsWith('rbac') || d.kind === 'ServiceAccount'), { namespace: 'test-1', prefix: 't1-' });
    expect(moved.map((d) => `${d.kind} ${d.metadata.namespace ?? '-'}/${d.metadata.name}`)).toEqual([
      'ServiceAccount test-1/tempered-bridge',
      'ClusterRole -/t1-tempered-bridge',
      'ClusterRoleBinding -/t1-tempered-bridge',
      'Role test-1/leader',
      'RoleBinding test-1/leader',
    ]);
    expect(grantedPermissions(moved, 'test-1', 'tempered-bridge')).toEqual(grantedPermissions(install(), NS, 'tempered-bridge'));
    expect(grantedPermissions(moved, NS, 'tempered-bridge')).toEqual([]);
  });
});

describe('memory limits', () => {
  it.each([['2Gi', 2048], ['1536Mi', 1536], ['512Ki', 0], ['1G', 953], ['2147483648', 2048], [' 1.5Gi ', 1536]])('%s is %i MiB', (quantity, mib) => {
    expect(quantityMiB(quantity)).toBe(mib);
  });

  it.each(['2 Gi', 'Gi', '2GB', '-1Gi', ''])('%j is refused', (quantity) => {
    expect(() => quantityMiB(quantity)).toThrow(/not a memory quantity/);
  });

  it("the worker's manifest hands the container its own memory limit, in MiB, to size its sticky cache", () => {
    const worker = findOne(parseDocs(readFileSync(new URL('./base/worker.yaml', import.meta.url), 'utf8')), 'Deployment', 'tempered-worker') as KubeDoc;
    expect(memoryLimitMiB(worker, 'worker')).toBeGreaterThan(0);
    const env = podSpec(worker).containers.find((c) => c.name === 'worker')?.env?.find((e) => e.name === 'TEMPERED_MEMORY_LIMIT_MIB');
    expect(env).toEqual({ name: 'TEMPERED_MEMORY_LIMIT_MIB', valueFrom: { resourceFieldRef: { containerName: 'worker', resource: 'limits.memory', divisor: '1Mi' } } });
  });
});

describe('every YAML file under deploy/', () => {
  it('parses (kustomize and kubectl refuse the whole overlay for one bad file)', () => {
    const files = readdirSync(fileURLToPath(new URL('.', import.meta.url)), { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(20);
    const bad = files.flatMap((f) => {
      const text = readFileSync(new URL(`./${f}`, import.meta.url), 'utf8');
      return parseAllDocuments(text).flatMap((d) => d.errors.map((e) => `${f}: ${e.message.split('\n')[0]}`));
    });
    expect(bad).toEqual([]);
  });
});
