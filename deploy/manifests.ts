/**
 * Checks of the rendered manifests (deploy/ through `kubectl kustomize`), shared by the tests: that every
 * container runs locked down (non-root, read-only root, no privilege escalation, no capabilities, seccomp
 * RuntimeDefault), that the pieces point at each other (probes and Services at named ports that exist, the
 * webhook's certificate at its Service), and the RBAC arithmetic of the least-privilege proof: what a
 * ServiceAccount is granted, what the apiserver's audit log says it used, and the difference. Pure: YAML
 * and JSON text in, findings out.
 */
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as rendered YAML. */
export interface KubeDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Every object of a multi-document YAML stream. */
export function parseDocs(yaml: string): KubeDoc[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as KubeDoc | null)
    .filter((d): d is KubeDoc => d !== null && typeof d === 'object' && typeof d.kind === 'string');
}

export function findAll(docs: KubeDoc[], kind: string): KubeDoc[] {
  return docs.filter((d) => d.kind === kind);
}

export function findOne(docs: KubeDoc[], kind: string, name: string): KubeDoc | undefined {
  return docs.find((d) => d.kind === kind && d.metadata.name === name);
}

interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type?: string };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type?: string } };
  containers: Container[];
  volumes?: { name: string; secret?: { secretName?: string; optional?: boolean } }[];
}

/** The pod template of a Deployment. */
export function podSpec(deployment: KubeDoc): PodSpec {
  return (deployment['spec'] as { template: { spec: PodSpec } }).template.spec;
}

/** Binary and decimal suffixes of a Kubernetes memory quantity, in bytes. */
const QUANTITY_SUFFIXES: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A memory quantity ("2Gi", "1500M", "2147483648") in MiB, rounded down. */
export function quantityMiB(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(|k|M|G|T|Ki|Mi|Gi|Ti)$/.exec(quantity.trim());
  if (!match) throw new Error(`not a memory quantity: ${JSON.stringify(quantity)}`);
  return Math.floor((Number(match[1]) * QUANTITY_SUFFIXES[match[2] ?? '']!) / 2 ** 20);
}

/** The memory limit (MiB) of a container of a Deployment, or undefined without one. */
export function memoryLimitMiB(deployment: KubeDoc, container: string): number | undefined {
  const limit = podSpec(deployment).containers.find((c) => c.name === container)?.resources?.limits?.['memory'];
  return limit === undefined ? undefined : quantityMiB(limit);
}

export function podLabels(deployment: KubeDoc): Record<string, string> {
  return (deployment['spec'] as { template: { metadata?: { labels?: Record<string, string> } } }).template.metadata?.labels ?? {};
}

/**
 * What is wrong with a Deployment's pods against Tempered's rules: locked down as Pod Security "restricted"
 * asks and more (read-only root), resources set, and probes on `/healthz` and `/readyz` of the port named
 * `metrics` that TEMPERED_METRICS_PORT makes the process listen on. Empty when all is well.
 */
export function deploymentProblems(deployment: KubeDoc): string[] {
  const name = deployment.metadata.name;
  const pod = podSpec(deployment);
  const problems: string[] = [];
  const podNonRoot = pod.securityContext?.runAsNonRoot === true;
  if (!pod.serviceAccountName) problems.push(`${name}: no serviceAccountName (it would run as "default")`);
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${name}: pod seccompProfile is not RuntimeDefault`);
  if (pod.securityContext?.runAsUser === 0) problems.push(`${name}: pod runs as uid 0`);
  for (const c of pod.containers) {
    const where = `${name}/${c.name}`;
    const sc = c.securityContext ?? {};
    if (!podNonRoot && sc.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not set`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) problems.push(`${where}: privileged`);
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: the root filesystem is writable`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities are not dropped (drop: [ALL])`);
    if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${where}: adds capabilities ${sc.capabilities?.add?.join(', ')}`);
    if (!c.resources?.requests?.['cpu'] || !c.resources?.requests?.['memory']) problems.push(`${where}: no cpu/memory requests`);
    if (!c.resources?.limits?.['memory']) problems.push(`${where}: no memory limit`);
    const metrics = c.ports?.find((p) => p.name === 'metrics');
    if (!metrics) problems.push(`${where}: no container port named metrics`);
    const envPort = c.env?.find((e) => e.name === 'TEMPERED_METRICS_PORT')?.value;
    if (metrics && envPort !== String(metrics.containerPort)) problems.push(`${where}: TEMPERED_METRICS_PORT (${envPort}) is not the metrics port ${metrics.containerPort}`);
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
      const get = c[probe]?.httpGet;
      if (!get) problems.push(`${where}: no ${probe}`);
      else if (get.path !== path || get.port !== 'metrics') problems.push(`${where}: ${probe} is ${get.path} on ${get.port}, not ${path} on metrics`);
    }
  }
  return problems;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * Whether the rendered objects point at each other: every Service selects a Deployment's pods and targets a
 * named port they have; the webhook configuration names a Service that exists; every Secret a pod mounts
 * (unless optional) is rendered or written by a rendered Certificate; a ServiceMonitor selects Services with
 * the port it scrapes; cert-manager's Certificate covers the webhook Service and is what the CA injector
 * reads; a static caBundle is the CA of the Secret the bridge serves with.
 */
export function wiringProblems(docs: KubeDoc[]): string[] {
  const problems: string[] = [];
  const deployments = findAll(docs, 'Deployment');
  const services = findAll(docs, 'Service');
  for (const service of services) {
    const spec = service['spec'] as { selector?: Record<string, string>; ports?: { name?: string; targetPort?: string | number }[] };
    const backing = deployments.filter((d) => selects(spec.selector, podLabels(d)));
    if (backing.length === 0) {
      problems.push(`Service ${service.metadata.name} selects no Deployment's pods`);
      continue;
    }
    for (const port of spec.ports ?? []) {
      const has = backing.every((d) => podSpec(d).containers.some((c) => c.ports?.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort)));
      if (!has) problems.push(`Service ${service.metadata.name} targets port ${String(port.targetPort)}, which its pods do not have`);
    }
  }
  const secretsWritten = new Set([
    ...findAll(docs, 'Secret').map((s) => s.metadata.name),
    ...findAll(docs, 'Certificate').map((c) => (c['spec'] as { secretName?: string }).secretName ?? ''),
  ]);
  for (const deployment of deployments) {
    for (const volume of podSpec(deployment).volumes ?? []) {
      const secret = volume.secret;
      if (secret?.secretName && !secret.optional && !secretsWritten.has(secret.secretName)) {
        problems.push(`${deployment.metadata.name} mounts Secret ${secret.secretName}, which nothing here makes`);
      }
    }
  }
  for (const webhook of findAll(docs, 'ValidatingWebhookConfiguration')) {
    const hooks = (webhook['webhooks'] ?? []) as { name: string; clientConfig: { service?: { name: string; namespace: string }; caBundle?: string } }[];
    const annotation = webhook.metadata.annotations?.['cert-manager.io/inject-ca-from'];
    for (const hook of hooks) {
      const ref = hook.clientConfig.service;
      const service = ref && services.find((s) => s.metadata.name === ref.name && s.metadata.namespace === ref.namespace);
      if (!service) {
        problems.push(`webhook ${hook.name} calls Service ${ref?.namespace}/${ref?.name}, which is not rendered`);
        continue;
      }
      const host = `${service.metadata.name}.${service.metadata.namespace}.svc`;
      if (annotation) {
        const [namespace, name] = annotation.split('/');
        const certificate = findAll(docs, 'Certificate').find((c) => c.metadata.name === name && c.metadata.namespace === namespace);
        if (!certificate) problems.push(`webhook CA injected from Certificate ${annotation}, which is not rendered`);
        else if (!((certificate['spec'] as { dnsNames?: string[] }).dnsNames ?? []).includes(host)) problems.push(`Certificate ${annotation} does not name ${host}`);
      } else {
        const mounted = deployments.flatMap((d) => podSpec(d).volumes ?? []).map((v) => v.secret?.secretName);
        const secret = findAll(docs, 'Secret').find((s) => mounted.includes(s.metadata.name) && (s['data'] as Record<string, string> | undefined)?.['ca.crt']);
        const ca = (secret?.['data'] as Record<string, string> | undefined)?.['ca.crt'];
        const strip = (text: string | undefined) => (text ?? '').replace(/\s+/g, '');
        if (!ca) problems.push(`webhook ${hook.name} has no CA: neither cert-manager's injection nor a mounted Secret with ca.crt`);
        else if (strip(hook.clientConfig.caBundle) !== strip(ca)) problems.push(`webhook ${hook.name}'s caBundle is not the ca.crt of Secret ${secret?.metadata.name}`);
      }
    }
  }
  for (const monitor of findAll(docs, 'ServiceMonitor')) {
    const spec = monitor['spec'] as { selector: { matchLabels?: Record<string, string> }; endpoints: { port?: string }[] };
    const selected = services.filter((s) => selects(spec.selector.matchLabels, s.metadata.labels ?? {}));
    if (selected.length === 0) problems.push(`ServiceMonitor ${monitor.metadata.name} selects no Service`);
    for (const endpoint of spec.endpoints) {
      for (const service of selected) {
        const ports = (service['spec'] as { ports?: { name?: string }[] }).ports ?? [];
        if (!ports.some((p) => p.name === endpoint.port)) problems.push(`ServiceMonitor ${monitor.metadata.name} scrapes port ${endpoint.port}, which Service ${service.metadata.name} lacks`);
      }
    }
  }
  return problems;
}

// ---- RBAC: granted, used, and the difference ---------------------------------------------------------------

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** One permission as `verb group/resource[/subresource]` (the core group written `core`). */
export function permission(verb: string, group: string, resource: string): string {
  return `${verb} ${group === '' ? 'core' : group}/${resource}`;
}

/** The permissions the rendered Roles and ClusterRoles bound to `namespace/serviceAccount` grant. */
export function grantedPermissions(docs: KubeDoc[], namespace: string, serviceAccount: string): string[] {
  const granted = new Set<string>();
  for (const binding of docs.filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding')) {
    const subjects = (binding['subjects'] ?? []) as { kind: string; name: string; namespace?: string }[];
    if (!subjects.some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && s.namespace === namespace)) continue;
    const ref = binding['roleRef'] as { kind: string; name: string };
    const role = docs.find((d) => d.kind === ref.kind && d.metadata.name === ref.name && (ref.kind === 'ClusterRole' || d.metadata.namespace === binding.metadata.namespace));
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to ${ref.kind} ${ref.name}, which is not rendered`);
    for (const rule of (role['rules'] ?? []) as PolicyRule[]) {
      if (rule.nonResourceURLs) throw new Error(`${role.metadata.name} grants non-resource URLs: Tempered needs none`);
      for (const verb of rule.verbs) {
        for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) granted.add(permission(verb, group, resource));
      }
    }
  }
  return [...granted].sort();
}

/** One line of the apiserver's JSON audit log (the fields used here). */
interface AuditEvent {
  stage?: string;
  verb?: string;
  requestURI?: string;
  user?: { username?: string };
  impersonatedUser?: { username?: string };
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/** Paths any authenticated client may read (system:public-info-viewer, system:discovery): needing no grant. */
const PUBLIC_PATHS = /^\/(version|healthz|livez|readyz|api|apis|openapi)(\/|\?|$)/;

/** What one user did, from the audit log: permissions used, requests forbidden, other paths read. */
export function auditedUse(auditLog: string, username: string): { used: string[]; forbidden: string[]; nonResource: string[] } {
  const used = new Set<string>();
  const forbidden = new Set<string>();
  const nonResource = new Set<string>();
  for (const line of auditLog.split('\n')) {
    if (!line.startsWith('{')) continue;
    let event: AuditEvent;
    try {
      event = JSON.parse(line) as AuditEvent;
    } catch {
      continue; // A line being written.
    }
    // A watch is logged when its stream starts (ResponseStarted) and again only when it ends.
    const logged = event.stage === 'ResponseComplete' || (event.stage === 'ResponseStarted' && event.verb === 'watch');
    if (event.user?.username !== username || event.impersonatedUser || !logged || !event.verb) continue;
    const ref = event.objectRef;
    if (!ref?.resource) {
      nonResource.add(`${event.verb} ${(event.requestURI ?? '').split('?')[0]}`);
      continue;
    }
    const key = permission(event.verb, ref.apiGroup ?? '', ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource);
    if (event.responseStatus?.code === 403) forbidden.add(`${key}${ref.namespace ? ` in ${ref.namespace}` : ''}`);
    else used.add(key);
  }
  return { used: [...used].sort(), forbidden: [...forbidden].sort(), nonResource: [...nonResource].sort() };
}

/** Granted but never used (an extra verb), and used but not granted (cannot happen without a 403). */
export function compareGrants(granted: string[], used: string[]): { unused: string[]; ungranted: string[] } {
  return { unused: granted.filter((g) => !used.includes(g)), ungranted: used.filter((u) => !granted.includes(u)) };
}

/** Non-resource paths read that are not public: each would need a grant nobody gave. */
export function nonPublicPaths(nonResource: string[]): string[] {
  return nonResource.filter((entry) => !PUBLIC_PATHS.test(entry.split(' ')[1] ?? ''));
}

/**
 * The RBAC objects moved into `namespace` for a test, with cluster-scoped names prefixed so they do not
 * collide with an installed copy: ServiceAccounts, Roles and bindings in `namespace`, subjects and
 * roleRefs following. The rules are untouched.
 */
export function isolateRbac(docs: KubeDoc[], options: { namespace: string; prefix: string }): KubeDoc[] {
  const { namespace, prefix } = options;
  return docs.map((original) => {
    const doc = structuredClone(original);
    if (doc.kind === 'ClusterRole' || doc.kind === 'ClusterRoleBinding') doc.metadata.name = `${prefix}${doc.metadata.name}`;
    else doc.metadata.namespace = namespace;
    if (doc.kind === 'RoleBinding' || doc.kind === 'ClusterRoleBinding') {
      const ref = doc['roleRef'] as { kind: string; name: string };
      if (ref.kind === 'ClusterRole') ref.name = `${prefix}${ref.name}`;
      for (const subject of (doc['subjects'] ?? []) as { kind: string; namespace?: string }[]) {
        if (subject.kind === 'ServiceAccount') subject.namespace = namespace;
      }
    }
    return doc;
  });
}
