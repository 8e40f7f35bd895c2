/**
 * A real Kubernetes API: etcd plus kube-apiserver, started the way controller-runtime's envtest does it
 * (generated serving CA and certificate, service-account keys, an admin client certificate in
 * system:masters), with a kubeconfig written for the user and the project's CRDs applied and Established.
 * Like envtest there is no controller-manager: no garbage collection, namespaces never finish terminating.
 * Requests made by service accounts (and only those) go to an audit log, so a test can see exactly which
 * verbs a process running under a ServiceAccount's token used (deploy/rbac.int.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kubeBinaries, type Progress } from './binaries.ts';
import { base64File, issueCert, makeCa, makeServiceAccountKeys, type CertPair } from './pki.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

const execFileAsync = promisify(execFile);

export interface KubeOptions {
  stateDir: string;
  /** Directories of CRD manifests to apply and wait for; default: none. */
  crdDirs?: string[];
  /**
   * One CA for serving and client certificates, as kubeadm sets a cluster up (a workload cluster whose CA a
   * Cluster API control-plane Secret carries); default: a serving CA and a client CA of its own.
   */
  clusterCa?: CertPair;
  /** More kube-apiserver flags (e.g. `--enable-bootstrap-token-auth`). */
  extraArgs?: string[];
  progress: Progress;
}

/** kubectl against one apiserver. */
export interface KubectlClient {
  kubeconfig: string;
  kubectl: string;
  /** Runs kubectl against this apiserver; resolves to stdout. */
  kubectlRun(args: string[], input?: string): Promise<string>;
  /** Applies the CRD manifests of a folder (server-side) and waits until they are Established. */
  applyCrds(dir: string): Promise<void>;
}

export interface KubeApi extends KubectlClient {
  /** https://127.0.0.1:<port> */
  server: string;
  /** etcd's client URL, http://127.0.0.1:<port> (objects under `/registry/`; CRs stored as JSON). */
  etcd: string;
  /** JSON lines, one audit event (level Metadata) per request made by a service account. */
  auditLog: string;
  /** The CA that signed the apiserver's serving certificate, and the CA the apiserver trusts for clients. */
  pki: { servingCa: CertPair; clientCa: CertPair; admin: CertPair; dir: string };
  /** The running etcd and kube-apiserver processes (they change on restart). */
  processes(): Supervised[];
  /**
   * Stops and starts the kube-apiserver on the same port (etcd keeps every object); `kill` stops it with
   * SIGKILL at once, as a crash would. Resolves once it is ready again.
   */
  restartApiserver(options?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** kubectl with a kubeconfig: for a stack this process started, or one a test was handed. */
export function kubectlClient(kubectl: string, kubeconfig: string): KubectlClient {
  const kubectlRun = async (args: string[], input?: string): Promise<string> => {
    const child = execFileAsync(kubectl, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    try {
      return (await child).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };
  const applyCrds = async (crdDir: string) => {
    // Every manifest but a kustomization.yaml (deploy/crds has one for kustomize; it is not an object).
    const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    if (files.length === 0) return;
    await kubectlRun(['apply', '--server-side', '--force-conflicts', ...files.map((f) => `-f=${join(crdDir, f)}`)]);
    await kubectlRun(['wait', '--for=condition=Established', '--timeout=60s', ...files.map((f) => `-f=${join(crdDir, f)}`)]);
  };
  return { kubeconfig, kubectl, kubectlRun, applyCrds };
}

/** An address the apiserver can advertise: none when a default route exists (it picks that), else a local IPv4. */
function advertiseAddress(): string | undefined {
  try {
    const routes = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1);
    if (routes.some((line) => line.split(/\s+/)[1] === '00000000')) return undefined;
  } catch {
    return undefined;
  }
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export async function startKube(options: KubeOptions): Promise<KubeApi> {
  const bins = await kubeBinaries(options.progress);
  const dir = options.stateDir;
  const pkiDir = join(dir, 'pki');
  mkdirSync(pkiDir, { recursive: true });

  const servingCa = options.clusterCa ?? makeCa(pkiDir, 'serving-ca', '/CN=tempered-serving-ca/O=tempered');
  issueCert(pkiDir, 'apiserver', servingCa, { subject: '/CN=localhost', usage: 'server', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
  const clientCa = options.clusterCa ?? makeCa(pkiDir, 'client-ca', '/CN=tempered-client-ca/O=tempered');
  const admin = issueCert(pkiDir, 'admin', clientCa, { subject: '/CN=admin/O=system:masters', usage: 'client' });
  const sa = makeServiceAccountKeys(pkiDir);

  // Audit: service accounts' requests only (the tests' admin traffic stays out), metadata level (no bodies).
  const auditPolicy = join(dir, 'audit-policy.yaml');
  const auditLog = join(dir, 'audit.log');
  writeFileSync(auditPolicy, [
    'apiVersion: audit.k8s.io/v1',
    'kind: Policy',
    'omitStages: [RequestReceived]',
    'rules:',
    '  - level: Metadata',
    '    userGroups: ["system:serviceaccounts"]',
    '  - level: None',
    '',
  ].join('\n'));

  const etcdPort = await freePort();
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  options.progress(`starting etcd on ${etcdUrl}`);
  const etcd = startProcess('etcd', bins.etcd, [
    '--name', 'tempered', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
    '--listen-peer-urls', `http://127.0.0.1:${await freePort()}`,
    '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
    '--unsafe-no-fsync', '--log-level', 'warn',
  ], { logFile: join(dir, 'etcd.log') });
  await waitUntil('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, { timeoutMs: 30_000, process: etcd });

  // Below the ephemeral range: a restart binds this port again.
  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  const advertise = advertiseAddress();
  options.progress(`starting kube-apiserver on ${server}`);
  const apiserverArgs = [
    '--etcd-servers', etcdUrl,
    '--bind-address', '127.0.0.1', '--secure-port', String(port),
    ...(advertise ? ['--advertise-address', advertise] : []),
    '--cert-dir', pkiDir,
    '--tls-cert-file', join(pkiDir, 'apiserver.crt'), '--tls-private-key-file', join(pkiDir, 'apiserver.key'),
    '--client-ca-file', clientCa.cert,
    '--authorization-mode', 'RBAC',
    '--service-account-issuer', `${server}/`,
    '--service-account-key-file', sa.publicKey, '--service-account-signing-key-file', sa.privateKey,
    '--service-cluster-ip-range', '10.0.0.0/24',
    '--allow-privileged=true', '--disable-admission-plugins', 'ServiceAccount',
    '--audit-policy-file', auditPolicy, '--audit-log-path', auditLog, '--audit-log-format', 'json', '--audit-log-maxsize', '200',
    '--profiling=false', '--v', '0',
    ...(options.extraArgs ?? []),
  ];
  const launchApiserver = () => startProcess('kube-apiserver', bins.kubeApiserver, apiserverArgs, { logFile: join(dir, 'kube-apiserver.log') });
  let apiserver: Supervised = launchApiserver();

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: tempered',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${base64File(servingCa.cert)}`,
    'users:',
    '- name: admin',
    '  user:',
    `    client-certificate-data: ${base64File(admin.cert)}`,
    `    client-key-data: ${base64File(admin.key)}`,
    'contexts:',
    '- name: tempered',
    '  context: {cluster: tempered, user: admin}',
    'current-context: tempered',
    '',
  ].join('\n'), { mode: 0o600 });

  const { kubectlRun, applyCrds } = kubectlClient(bins.kubectl, kubeconfig);

  const apiserverReady = () => waitUntil('kube-apiserver', async () => {
    await kubectlRun(['get', '--raw', '/readyz']);
    await kubectlRun(['get', 'namespace', 'default']);
    return true;
  }, { timeoutMs: 90_000, intervalMs: 250, process: apiserver });
  await apiserverReady();

  for (const crdDir of options.crdDirs ?? []) await applyCrds(crdDir);

  return {
    server,
    etcd: etcdUrl,
    kubeconfig,
    kubectl: bins.kubectl,
    auditLog,
    pki: { servingCa, clientCa, admin, dir: pkiDir },
    kubectlRun,
    applyCrds,
    processes: () => [etcd, apiserver],
    async restartApiserver(opts = {}) {
      await (opts.kill ? apiserver.kill() : apiserver.stop());
      apiserver = launchApiserver();
      await apiserverReady();
    },
    async stop() {
      await apiserver.stop();
      await etcd.stop();
    },
  };
}
