/**
 * What `kubeadm join --config <file>` reads from a kubeadm JoinConfiguration (kubeadm.k8s.io/v1beta3 and
 * v1beta4, the versions CABPK writes for Kubernetes 1.22+ and 1.31+), and what the kubelet it starts makes of
 * its flags: the node's name, labels (`--node-labels`, with the kubelet's refusal of labels in the
 * kubernetes.io and k8s.io namespaces it does not allow), taints (`nodeRegistration.taints`, plus the
 * cloud-provider one), provider ID and node IP. Pure parsing; `sim/os/index.ts` acts on it.
 */
import { parseAllDocuments } from 'yaml';

/** How the joining node finds and trusts the cluster. */
export type Discovery =
  | {
      kind: 'bootstrapToken';
      apiServerEndpoint: string;
      token: string;
      caCertHashes: string[];
      unsafeSkipCAVerification: boolean;
    }
  | { kind: 'file'; kubeConfigPath: string };

/** A kubeadm JoinConfiguration, reduced to what the simulated join uses. */
export interface JoinConfiguration {
  apiVersion: string;
  discovery: Discovery;
  /** nodeRegistration.name; empty means the hostname. */
  nodeName: string;
  /** nodeRegistration.kubeletExtraArgs, in order (v1beta3's map becomes a list). */
  kubeletArgs: { name: string; value: string }[];
  /** nodeRegistration.taints, or undefined when the field is absent (kubeadm's default then applies). */
  taints: Taint[] | undefined;
  /** joinConfiguration.controlPlane is set: a control-plane join. */
  controlPlane: boolean;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** A configuration kubeadm refuses, with its reason. */
export class KubeadmConfigError extends Error {
  override readonly name = 'KubeadmConfigError';
}

const KUBEADM_VERSIONS = ['kubeadm.k8s.io/v1beta3', 'kubeadm.k8s.io/v1beta4'];

/** Parses the JoinConfiguration document of a kubeadm config file (other documents are skipped). */
export function parseJoinConfiguration(text: string): JoinConfiguration {
  const docs = parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0)
      throw new KubeadmConfigError(`the kubeadm config is not valid YAML: ${d.errors[0]?.message.split('\n', 1)[0]}`);
    return d.toJS() as Record<string, unknown> | null;
  });
  const join = docs.find((d) => d?.kind === 'JoinConfiguration');
  if (!join) throw new KubeadmConfigError('the kubeadm config has no JoinConfiguration document');
  const apiVersion = String(join.apiVersion ?? '');
  if (!KUBEADM_VERSIONS.includes(apiVersion))
    throw new KubeadmConfigError(
      `JoinConfiguration apiVersion '${apiVersion}' is not one this kubeadm reads (${KUBEADM_VERSIONS.join(', ')})`,
    );

  const discovery = (join.discovery ?? {}) as {
    bootstrapToken?: Record<string, unknown>;
    file?: { kubeConfigPath?: string };
  };
  let parsedDiscovery: Discovery;
  if (discovery.bootstrapToken) {
    const bt = discovery.bootstrapToken;
    if (typeof bt.token !== 'string' || !/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(bt.token))
      throw new KubeadmConfigError(
        'discovery.bootstrapToken.token is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})',
      );
    if (typeof bt.apiServerEndpoint !== 'string' || bt.apiServerEndpoint === '')
      throw new KubeadmConfigError('discovery.bootstrapToken.apiServerEndpoint is empty');
    parsedDiscovery = {
      kind: 'bootstrapToken',
      apiServerEndpoint: bt.apiServerEndpoint,
      token: bt.token,
      caCertHashes: Array.isArray(bt.caCertHashes) ? bt.caCertHashes.map(String) : [],
      unsafeSkipCAVerification: bt.unsafeSkipCAVerification === true,
    };
  } else if (discovery.file?.kubeConfigPath) {
    parsedDiscovery = { kind: 'file', kubeConfigPath: discovery.file.kubeConfigPath };
  } else {
    throw new KubeadmConfigError('the JoinConfiguration has neither discovery.bootstrapToken nor discovery.file');
  }

  const registration = (join.nodeRegistration ?? {}) as {
    name?: unknown;
    kubeletExtraArgs?: unknown;
    taints?: unknown;
  };
  return {
    apiVersion,
    discovery: parsedDiscovery,
    nodeName: typeof registration.name === 'string' ? registration.name : '',
    kubeletArgs: kubeletArgs(registration.kubeletExtraArgs, apiVersion),
    taints:
      registration.taints === undefined || registration.taints === null ? undefined : taintsOf(registration.taints),
    controlPlane: join.controlPlane !== undefined && join.controlPlane !== null,
  };
}

function kubeletArgs(raw: unknown, apiVersion: string): { name: string; value: string }[] {
  if (raw === undefined || raw === null) return [];
  if (Array.isArray(raw)) {
    if (apiVersion === 'kubeadm.k8s.io/v1beta3')
      throw new KubeadmConfigError('nodeRegistration.kubeletExtraArgs is a list, but v1beta3 takes a map');
    return raw.map((a: { name?: unknown; value?: unknown }) => ({
      name: String(a?.name ?? ''),
      value: String(a?.value ?? ''),
    }));
  }
  if (typeof raw === 'object') {
    if (apiVersion === 'kubeadm.k8s.io/v1beta4')
      throw new KubeadmConfigError(
        'nodeRegistration.kubeletExtraArgs is a map, but v1beta4 takes a list of {name, value}',
      );
    return Object.entries(raw).map(([name, value]) => ({ name, value: String(value) }));
  }
  throw new KubeadmConfigError('nodeRegistration.kubeletExtraArgs is neither a list nor a map');
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function taintsOf(raw: unknown): Taint[] {
  if (!Array.isArray(raw)) throw new KubeadmConfigError('nodeRegistration.taints is not a list');
  return raw.map((t: { key?: unknown; value?: unknown; effect?: unknown }) => {
    if (typeof t?.key !== 'string' || !EFFECTS.includes(String(t.effect)))
      throw new KubeadmConfigError(`nodeRegistration.taints has an invalid taint ${JSON.stringify(t)}`);
    return {
      key: t.key,
      ...(t.value !== undefined && t.value !== '' ? { value: String(t.value) } : {}),
      effect: t.effect as Taint['effect'],
    };
  });
}

/** The kubelet's view of its flags: what the Node it registers carries. */
export interface KubeletSettings {
  labels: Record<string, string>;
  taints: Taint[];
  providerID?: string;
  nodeIP?: string;
  hostnameOverride?: string;
  maxPods: number;
  /** Flags the simulated kubelet accepts without modelling them. */
  unmodelled: string[];
}

/** A kubelet flag set the kubelet refuses at start (it then never registers). */
export class KubeletFlagError extends Error {
  override readonly name = 'KubeletFlagError';
}

/** Labels outside these may not be set with --node-labels in the kubernetes.io and k8s.io namespaces. */
const ALLOWED_KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/arch',
  'kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);
const ALLOWED_KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

function restrictedLabel(key: string): boolean {
  if (ALLOWED_KUBELET_LABELS.has(key)) return false;
  const prefix = key.includes('/') ? (key.split('/', 1)[0] ?? '') : '';
  const inNamespace = (ns: string) => prefix === ns || prefix.endsWith(`.${ns}`);
  if (ALLOWED_KUBELET_LABEL_NAMESPACES.some(inNamespace)) return false;
  return inNamespace('kubernetes.io') || inNamespace('k8s.io');
}

/** Reads the kubelet flags a JoinConfiguration passes; throws KubeletFlagError for a set the kubelet refuses. */
export function kubeletSettings(join: JoinConfiguration): KubeletSettings {
  const settings: KubeletSettings = { labels: {}, taints: [...(join.taints ?? [])], maxPods: 110, unmodelled: [] };
  for (const { name, value } of join.kubeletArgs) {
    switch (name) {
      case 'node-labels':
        for (const pair of value
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)) {
          const [key = '', ...rest] = pair.split('=');
          if (restrictedLabel(key))
            throw new KubeletFlagError(
              `unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [${key}]`,
            );
          settings.labels[key] = rest.join('=');
        }
        break;
      case 'register-with-taints':
        for (const spec of value
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean))
          settings.taints.push(parseTaintFlag(spec));
        break;
      case 'provider-id':
        settings.providerID = value;
        break;
      case 'node-ip':
        settings.nodeIP = value;
        break;
      case 'hostname-override':
        settings.hostnameOverride = value;
        break;
      case 'max-pods':
        settings.maxPods = Number.parseInt(value, 10) || 110;
        break;
      case 'cloud-provider':
        if (value === 'external')
          settings.taints.push({
            key: 'node.cloudprovider.kubernetes.io/uninitialized',
            value: 'true',
            effect: 'NoSchedule',
          });
        else if (value !== '')
          throw new KubeletFlagError(
            `--cloud-provider=${value}: unknown cloud provider (only 'external' is supported)`,
          );
        break;
      default:
        settings.unmodelled.push(`--${name}=${value}`);
    }
  }
  return settings;
}

function parseTaintFlag(spec: string): Taint {
  const match = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(spec);
  if (!match) throw new KubeletFlagError(`--register-with-taints: invalid taint spec '${spec}'`);
  return { key: match[1] ?? '', ...(match[2] ? { value: match[2] } : {}), effect: match[3] as Taint['effect'] };
}

/** A kubeadm invocation found in a shell line. */
export type KubeadmCommand =
  | { verb: 'join'; configPath: string | undefined; args: string[] }
  | { verb: string; args: string[] };

/** Finds `kubeadm <verb> ...` in a simple command (words split on blanks, quotes removed). */
export function kubeadmCommand(words: string[]): KubeadmCommand | undefined {
  if (words[0] !== 'kubeadm' && !words[0]?.endsWith('/kubeadm')) return undefined;
  const verb = words[1] ?? '';
  const args = words.slice(2);
  if (verb !== 'join') return { verb, args };
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--config') configPath = args[i + 1];
    else if (arg.startsWith('--config=')) configPath = arg.slice('--config='.length);
  }
  return { verb, configPath, args };
}
