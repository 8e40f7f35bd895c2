/**
 * The simulated operating system of a provisioned host: what boots from the disk the deploy wrote. It reads
 * the config drive it is given (the caller reads it from the host's own disk), runs cloud-init's first boot
 * (`sim/os/cloud-init.ts`): hostname, `write_files`, then `runcmd` line by line through a small shell
 * (`sim/os/shell.ts`). A `kubeadm join --config <file>` there is followed like kubeadm does it:
 *
 * 1. discovery: the anonymous `cluster-info` ConfigMap of the apiserver named in the JoinConfiguration, its
 *    JWS signature for the bootstrap token checked (the bootstrap signer of the workload cluster's
 *    kube-controller-manager makes it), its CA pinned by `caCertHashes` (sha256 of the CA's public key), then
 *    the token authenticated against that apiserver (what the kubelet's TLS bootstrap would do with it);
 * 2. the kubelet (`sim/os/kubelet.ts`) registers the Node named in the configuration, with the labels and
 *    taints from the kubelet flags, using the credential the simulation holds for that cluster instead of a
 *    TLS bootstrap, and heartbeats while the host is on.
 *
 * Everything the OS saw and did not act on (formats, cloud-config keys, commands it does not model) is in its
 * record, which the simulator keeps on the host. What survives a reboot (`OsDiskState`: the instance cloud-init
 * ran for, the kubelet's configuration) lives on the disk: a new image on the disk starts from nothing.
 */
import { X509Certificate, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import {
  DatasourceError,
  planFirstBoot,
  type CloudInitPlan,
  type ConfigDriveFiles,
  type Ignored,
  type UserDataFormat,
} from './cloud-init.ts';
import { kubeCall, type NodeCredential } from './credential.ts';
import {
  KubeadmConfigError,
  KubeletFlagError,
  kubeadmCommand,
  kubeletSettings,
  parseJoinConfiguration,
  type JoinConfiguration,
} from './kubeadm.ts';
import { SimKubelet, type KubeletOptions } from './kubelet.ts';
import { parseShellLine } from './shell.ts';

export type { ConfigDriveFiles } from './cloud-init.ts';
export type { NodeCredential } from './credential.ts';

/** Switches and knobs of the simulated OS (the simulator's control API sets them per host). */
export interface OsSettings {
  /** The OS never joins a cluster: `kubeadm join` fails as if the apiserver never answered. */
  neverJoin: boolean;
  /** The kubelet version of the simulated node image. */
  kubeletVersion: string;
  /** How long kubeadm's discovery keeps trying an apiserver that does not answer (kubeadm: 5 min). */
  discoveryTimeoutMs: number;
  leaseRenewMs: number;
  statusReportMs: number;
}

export const DEFAULT_OS_SETTINGS: OsSettings = {
  neverJoin: false,
  kubeletVersion: 'v1.34.4',
  discoveryTimeoutMs: 300_000,
  leaseRenewMs: 10_000,
  statusReportMs: 60_000,
};

/** The machine the OS runs on. */
export interface OsHardware {
  /** SMBIOS system UUID (the Node's nodeInfo.systemUUID). */
  systemUuid: string;
  cpus: number;
  memoryMiB: number;
  /** Addresses its NICs get when nothing configures them (DHCP, in the simulation). */
  ips: string[];
}

/** What the OS keeps on its disk across reboots. */
export interface OsDiskState {
  /** The instance cloud-init ran its per-instance modules for. */
  instanceId?: string;
  hostname?: string;
  /** The kubelet's configuration after a join (kubelet.conf and its flags): it starts at every boot. */
  kubelet?: Omit<KubeletOptions, 'credential' | 'log' | 'leaseRenewMs' | 'statusReportMs'> & { server: string };
}

/** One runcmd command and what became of it. */
export interface CommandRun {
  command: string;
  exitCode: number;
  /** How the simulation treated it: followed, or run as a command it does not model (exit 0). */
  note?: string;
}

/** The outcome of a `kubeadm join`. */
export type JoinRecord =
  | { status: 'joined'; nodeName: string; server: string; at: string; createdNode: boolean }
  | { status: 'failed'; reason: string; at: string }
  | { status: 'suppressed'; reason: string; at: string };

/** What the simulator records of one boot of the OS. */
export interface OsRecord {
  bootedAt: string;
  /** cloud-init ran its first-boot modules in this boot (false on a reboot of the same instance). */
  firstBoot: boolean;
  instanceId?: string;
  hostname: string;
  format: UserDataFormat | 'no config drive';
  ignored: Ignored[];
  warnings: string[];
  files: string[];
  commands: CommandRun[];
  join?: JoinRecord;
  /** The cloud-init run finished (every runcmd line ran). */
  finished: boolean;
}

/** Credentials the simulation holds, by apiserver URL (`https://host:port`). */
export interface ClusterCredentials {
  forServer(server: string): NodeCredential | undefined;
}

export interface OsBoot {
  hostId: string;
  /** The config drive found on the disk; null when there is none (cloud-init then finds no datasource). */
  configDrive: ConfigDriveFiles | null;
  /** Where it was found, e.g. `/dev/sda2`. */
  configDriveDevice: string;
  /** Why a config drive found on the disk gave cloud-init no datasource (with `configDrive` null). */
  datasourceError?: string;
  hardware: OsHardware;
  settings: OsSettings;
  clusters: ClusterCredentials;
  /** What this disk's OS kept from earlier boots (mutated as the OS runs). */
  disk: OsDiskState;
  log(line: string): void;
}

/** A running OS: its record, a promise for the end of cloud-init, and the power cut. */
export interface RunningOs {
  readonly record: OsRecord;
  readonly settled: Promise<void>;
  /** The kubelet, once it runs. */
  kubelet(): SimKubelet | undefined;
  /** The host lost power or reset. */
  stop(): void;
}

const SENTINEL = '/run/cluster-api/bootstrap-success.complete';

/** Boots the OS: cloud-init on a new instance, the kubelet if it joined before. */
export function bootOs(boot: OsBoot): RunningOs {
  const record: OsRecord = {
    bootedAt: new Date().toISOString(),
    firstBoot: false,
    hostname: boot.disk.hostname ?? 'localhost',
    format: 'no config drive',
    ignored: [],
    warnings: [],
    files: [],
    commands: [],
    finished: false,
  };
  let stopped = false;
  let kubelet: SimKubelet | undefined;
  const startKubelet = async (options: NonNullable<OsDiskState['kubelet']>): Promise<{ created: boolean }> => {
    const credential = boot.clusters.forServer(options.server);
    if (!credential) throw new Error(`no credential for ${options.server}`);
    const { server: _server, ...rest } = options;
    kubelet = new SimKubelet({
      ...rest,
      credential,
      leaseRenewMs: boot.settings.leaseRenewMs,
      statusReportMs: boot.settings.statusReportMs,
      log: boot.log,
    });
    if (stopped) return { created: false };
    const result = await kubelet.start();
    if (stopped) kubelet.stop();
    return result;
  };

  const run = async () => {
    if (!boot.configDrive) {
      record.ignored.push({
        item: 'cloud-init',
        reason: boot.datasourceError ?? 'no config drive (config-2) on the disk: no datasource',
      });
      if (boot.disk.kubelet) await startKubelet(boot.disk.kubelet);
      return;
    }
    let plan: CloudInitPlan;
    try {
      plan = planFirstBoot(boot.configDrive, {
        configDriveDevice: boot.configDriveDevice,
        defaultHostname: boot.disk.hostname ?? 'localhost',
      });
    } catch (err) {
      if (!(err instanceof DatasourceError)) throw err;
      record.ignored.push({ item: 'the config drive', reason: err.message });
      return;
    }
    record.instanceId = plan.instanceId;
    if (boot.disk.instanceId === plan.instanceId) {
      // A reboot of the same instance: per-instance modules (write_files, runcmd) do not run again.
      record.format = plan.format;
      if (boot.disk.kubelet) await startKubelet(boot.disk.kubelet);
      return;
    }
    record.firstBoot = true;
    record.format = plan.format;
    record.hostname = plan.hostname;
    record.ignored.push(...plan.ignored);
    record.warnings.push(...plan.warnings);
    boot.disk.instanceId = plan.instanceId;
    boot.disk.hostname = plan.hostname;
    const files = new Map(plan.files.map((f) => [f.path, f.content]));
    record.files = [...files.keys()];
    for (const line of plan.commands) {
      if (stopped) return;
      record.commands.push(...(await runLine(line, files)));
    }
  };

  /** Runs one runcmd line; the script goes on after a failing line, as cloud-init's runcmd script does. */
  const runLine = async (line: string, files: Map<string, string>): Promise<CommandRun[]> => {
    let items;
    try {
      items = parseShellLine(line);
    } catch (err) {
      return [{ command: line, exitCode: 2, note: `sh: ${(err as Error).message}` }];
    }
    const runs: CommandRun[] = [];
    let status = 0;
    for (const { after, command } of items) {
      if ((after === '&&' && status !== 0) || (after === '||' && status === 0)) continue;
      const text = command.words.join(' ');
      const kubeadm = kubeadmCommand(command.words);
      let run: CommandRun;
      if (kubeadm?.verb === 'join') {
        run = {
          command: text,
          ...(await kubeadmJoin('configPath' in kubeadm ? kubeadm.configPath : undefined, files)),
        };
      } else if (kubeadm) {
        run = {
          command: text,
          exitCode: 1,
          note: `kubeadm ${kubeadm.verb} is not simulated (the stack runs the control plane)`,
        };
      } else if ((command.words[0] === 'echo' || command.words[0] === 'printf') && command.redirect) {
        const content = `${command.words.slice(1).join(' ')}${command.words[0] === 'echo' ? '\n' : ''}`;
        files.set(
          command.redirect.path,
          command.redirect.append ? (files.get(command.redirect.path) ?? '') + content : content,
        );
        if (!record.files.includes(command.redirect.path)) record.files.push(command.redirect.path);
        run = { command: `${text} > ${command.redirect.path}`, exitCode: 0 };
      } else if (
        (command.words[0] === 'hostnamectl' && command.words[1] === 'set-hostname' && command.words[2]) ||
        (command.words[0] === 'hostname' && command.words[1])
      ) {
        record.hostname = (command.words[0] === 'hostname' ? command.words[1] : command.words[2]) ?? record.hostname;
        boot.disk.hostname = record.hostname;
        run = { command: text, exitCode: 0 };
      } else {
        run = { command: text, exitCode: 0, note: 'not simulated (treated as succeeded)' };
      }
      status = run.exitCode;
      runs.push(run);
    }
    return runs;
  };

  const fail = (reason: string): { exitCode: number; note: string } => {
    record.join = { status: 'failed', reason, at: new Date().toISOString() };
    boot.log(`kubeadm join failed: ${reason}`);
    return { exitCode: 1, note: reason };
  };

  const kubeadmJoin = async (
    configPath: string | undefined,
    files: Map<string, string>,
  ): Promise<{ exitCode: number; note?: string }> => {
    if (boot.settings.neverJoin) {
      record.join = {
        status: 'suppressed',
        reason: "the simulator's never-join switch is on for this host",
        at: new Date().toISOString(),
      };
      boot.log('kubeadm join: never-join switch on, not joining');
      return { exitCode: 1, note: record.join.reason };
    }
    if (!configPath) return fail('kubeadm join without --config is not simulated');
    const text = files.get(configPath);
    if (text === undefined) return fail(`open ${configPath}: no such file or directory`);
    let join: JoinConfiguration;
    let flags;
    try {
      join = parseJoinConfiguration(text);
      flags = kubeletSettings(join);
    } catch (err) {
      if (err instanceof KubeadmConfigError || err instanceof KubeletFlagError) return fail(err.message);
      throw err;
    }
    if (join.controlPlane) return fail('a control-plane join is not simulated (the stack runs the control plane)');
    const nodeName = (join.nodeName || flags.hostnameOverride || record.hostname).toLowerCase();
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(nodeName) || nodeName.length > 253) {
      return fail(
        `nodeRegistration.name: Invalid value: "${nodeName}": a lowercase RFC 1123 subdomain must consist of ` +
          "lower case alphanumeric characters, '-' or '.'",
      );
    }

    let server: string;
    if (join.discovery.kind === 'bootstrapToken') {
      server = `https://${join.discovery.apiServerEndpoint}`;
      const found = await discover(
        server,
        join.discovery.token,
        join.discovery.caCertHashes,
        join.discovery.unsafeSkipCAVerification,
      );
      if ('error' in found) return fail(found.error);
    } else {
      const kubeconfig = files.get(join.discovery.kubeConfigPath);
      if (kubeconfig === undefined) return fail(`discovery file ${join.discovery.kubeConfigPath}: no such file`);
      const parsed = parseYaml(kubeconfig) as { clusters?: { cluster?: { server?: string } }[] } | null;
      const fromFile = parsed?.clusters?.[0]?.cluster?.server;
      if (!fromFile) return fail(`discovery file ${join.discovery.kubeConfigPath} names no server`);
      server = fromFile;
    }
    if (stopped) return { exitCode: 1, note: 'the host lost power' };
    if (!boot.clusters.forServer(server))
      return fail(`the simulation holds no credential for ${server} (a real kubelet would TLS-bootstrap)`);

    const addresses: KubeletOptions['addresses'] = [];
    const ip = flags.nodeIP ?? staticIp(boot.configDrive?.networkData) ?? boot.hardware.ips[0];
    if (ip) addresses.push({ type: 'InternalIP', address: ip });
    addresses.push({ type: 'Hostname', address: record.hostname });
    const kubeletConfig: NonNullable<OsDiskState['kubelet']> = {
      server,
      nodeName,
      labels: flags.labels,
      taints: flags.taints,
      ...(flags.providerID ? { providerID: flags.providerID } : {}),
      addresses,
      capacity: { cpu: boot.hardware.cpus, memoryMiB: boot.hardware.memoryMiB, pods: flags.maxPods },
      nodeInfo: {
        systemUUID: boot.hardware.systemUuid,
        machineID: (record.instanceId ?? '').replace(/-/g, ''),
        kubeletVersion: boot.settings.kubeletVersion,
      },
    };
    try {
      const { created } = await startKubelet(kubeletConfig);
      boot.disk.kubelet = kubeletConfig;
      record.join = { status: 'joined', nodeName, server, at: new Date().toISOString(), createdNode: created };
      if (flags.unmodelled.length)
        record.ignored.push({ item: `kubelet flags ${flags.unmodelled.join(' ')}`, reason: 'accepted, not modelled' });
      return { exitCode: 0 };
    } catch (err) {
      return fail((err as Error).message);
    }
  };

  /** kubeadm's token discovery: cluster-info and its JWS, the CA pin, then the token itself. */
  const discover = async (
    server: string,
    token: string,
    pins: string[],
    skipPin: boolean,
  ): Promise<{ caPem: string } | { error: string }> => {
    const deadline = Date.now() + boot.settings.discoveryTimeoutMs;
    let last: string;
    for (;;) {
      if (stopped) return { error: 'the host lost power' };
      try {
        const info = await kubeCall<{ data?: Record<string, string> }>({
          server,
          auth: { anonymous: true },
          method: 'GET',
          path: '/api/v1/namespaces/kube-public/configmaps/cluster-info',
        });
        const kubeconfig = info.body?.data?.kubeconfig;
        const [tokenId = '', tokenSecret = ''] = token.split('.');
        const signature = info.body?.data?.[`jws-kubeconfig-${tokenId}`];
        if (info.status !== 200 || !kubeconfig) {
          last = `cluster-info: HTTP ${info.status}`;
        } else if (!signature) {
          // The bootstrap signer has not signed it for this token yet, or the token does not exist.
          last = `there is no JWS signed token in the cluster-info ConfigMap for token ID "${tokenId}"`;
        } else {
          if (!detachedJwsValid(signature, kubeconfig, tokenId, tokenSecret)) {
            return {
              error: "failed to verify JWS signature of received cluster info object, can't trust this API Server",
            };
          }
          const config = parseYaml(kubeconfig) as {
            clusters?: { cluster?: { 'certificate-authority-data'?: string } }[];
          };
          const caData = config.clusters?.[0]?.cluster?.['certificate-authority-data'];
          if (!caData) return { error: 'cluster-info has no certificate-authority-data' };
          const caPem = Buffer.from(caData, 'base64').toString('utf8');
          const hash = caCertHash(caPem);
          if (!skipPin && !pins.map((p) => p.toLowerCase()).includes(hash)) {
            return {
              error:
                `cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "${hash}" are ` +
                'pinned',
            };
          }
          // The token authenticates the kubelet's TLS bootstrap; an expired or deleted one is refused there.
          const review = await kubeCall<{ status?: { userInfo?: { username?: string } } }>({
            server,
            caPem,
            auth: { token },
            method: 'POST',
            path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
          });
          if (review.status === 401)
            return { error: `the bootstrap token ${tokenId}.<secret> was rejected by ${server} (expired or deleted)` };
          if (review.status !== 201) return { error: `checking the bootstrap token: HTTP ${review.status}` };
          return { caPem };
        }
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline)
        return { error: `couldn't validate the identity of the API Server at ${server}: ${last}` };
      await new Promise((r) => setTimeout(r, 2000).unref());
    }
  };

  const settled = run()
    .catch((err: Error) => {
      record.ignored.push({ item: 'the boot', reason: `the simulated OS failed: ${err.message}` });
      boot.log(`os: ${err.message}`);
    })
    .finally(() => {
      record.finished = true;
    });

  return {
    record,
    settled,
    kubelet: () => kubelet,
    stop() {
      stopped = true;
      kubelet?.stop();
    },
  };
}

/**
 * Checks a detached JWS (`<protected>..<signature>`, HS256) over `payload` with a bootstrap token's secret,
 * as kubeadm checks the bootstrap signer's `jws-kubeconfig-<token id>` entry of cluster-info.
 */
export function detachedJwsValid(jws: string, payload: string, tokenId: string, tokenSecret: string): boolean {
  const [protectedHeader = '', detached, signature = ''] = jws.split('.');
  if (detached !== '') return false;
  let header: { alg?: string; kid?: string };
  try {
    header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8')) as { alg?: string; kid?: string };
  } catch {
    return false;
  }
  if (header.alg !== 'HS256' || header.kid !== tokenId) return false;
  const expected = createHmac('sha256', tokenSecret)
    .update(`${protectedHeader}.${Buffer.from(payload).toString('base64url')}`)
    .digest();
  const given = Buffer.from(signature, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `sha256:<hex>` of a CA certificate's SubjectPublicKeyInfo, as kubeadm pins it. */
export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** The first static IPv4 address network_data.json gives, if any. */
function staticIp(networkData: Record<string, unknown> | undefined): string | undefined {
  const networks = Array.isArray(networkData?.networks)
    ? (networkData.networks as { type?: string; ip_address?: string }[])
    : [];
  return networks.find((n) => (n.type === 'ipv4' || n.type === 'static') && n.ip_address)?.ip_address;
}

export { SENTINEL as BOOTSTRAP_SENTINEL };
