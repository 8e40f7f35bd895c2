/**
 * Where the local stack's servers come from. Each is resolved in the same order: an override from the
 * environment, then the versioned cache outside the repo, then a build or install from a package registry
 * (the Go module proxy, PyPI, Debian). First builds take minutes and print progress; later runs reuse the cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../bin/node24.mjs';
import { processAlive } from './processes.ts';

export const VERSIONS = {
  temporalCli: '1.5.1',
  /** The server the CLI embeds; built on its own for the multi-process cluster (stack/temporal-cluster.ts). */
  temporalServer: '1.29.1',
  kubernetes: '1.34.4',
  etcd: '3.6.4',
  sushyTools: '2.2.0',
  clusterApi: '1.13.6',
  capm3: '1.13.2',
  certManager: '1.21.2',
  prometheusOperator: '0.85.0',
  ironicPythonAgent: '13.0.0',
} as const;

export type Progress = (message: string) => void;

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export { cacheRoot };

/** How a build runs beside other work: `nice` lowers the priority of its processes (0 to 19, as `nice -n`). */
export interface BuildOptions {
  nice?: number;
}

/**
 * Runs a command to completion, printing progress every 20 s; rejects with the output tail on failure. With
 * `nice`, the command runs under `nice -n`, so it and every child (`go build`'s compilers) have that niceness.
 */
export async function run(
  what: string,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; progress: Progress } & BuildOptions,
): Promise<void> {
  const started = Date.now();
  options.progress(`${what}${options.nice ? ` (nice ${options.nice})` : ''} ...`);
  const [file, argv] = options.nice ? ['nice', ['-n', String(options.nice), command, ...args]] : [command, args];
  const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let downloads = 0;
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    downloads += text.split('go: downloading').length - 1;
    tail = (tail + text).slice(-4000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const ticker = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    options.progress(`${what}: ${secs} s${downloads ? `, ${downloads} modules downloaded` : ''}`);
  }, 20_000);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('exit', (c) => resolve(c));
  });
  clearInterval(ticker);
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${tail}`);
  options.progress(`${what}: done in ${Math.round((Date.now() - started) / 1000)} s`);
}

/**
 * Runs `produce` once per cache entry across concurrent processes: a directory lock, and a `.complete`
 * marker written last so an interrupted build is redone rather than trusted.
 */
export async function cached(dir: string, produce: () => Promise<void>): Promise<void> {
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return;
  mkdirSync(join(dir, '..'), { recursive: true });
  await withLock(`${dir}.lock`, async () => {
    if (existsSync(marker)) return;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await produce();
    writeFileSync(marker, `${new Date().toISOString()}\n`);
  });
}

/**
 * Runs `fn` holding a directory lock shared across processes. The lock names its holder (host and pid): a lock
 * whose holder on this host is gone (a test run stopped with Ctrl-C or killed mid-build) is taken over at once,
 * one whose holder is alive is waited for however long its build takes (a low-priority build on busy cores can
 * take over an hour), and one whose holder is unknown (another host, no holder file) is taken over after an hour.
 */
async function withLock(lock: string, fn: () => Promise<void>): Promise<void> {
  mkdirSync(join(lock, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        const holder = lockHolder(lock);
        if (holder === 'gone' || (holder === 'unknown' && Date.now() - statSync(lock).mtimeMs > 3_600_000)) {
          rmSync(lock, { recursive: true, force: true });
        }
      } catch {
        // It went away meanwhile.
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    writeFileSync(join(lock, 'holder'), `${hostname()} ${process.pid}\n`);
    await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Whether the lock's holder is a process of this host that is alive or gone, or unknown. */
function lockHolder(lock: string): 'alive' | 'gone' | 'unknown' {
  let holder: string;
  try {
    holder = readFileSync(join(lock, 'holder'), 'utf8').trim();
  } catch {
    return 'unknown'; // being written, or a lock from before the holder file
  }
  const [host, pidText] = holder.split(' ');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return 'unknown';
  return processAlive(pid) ? 'alive' : 'gone';
}

export function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
}

export function requireGo(): void {
  const probe = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error('Go is needed to build the local stack from the Go module proxy, and `go version` failed');
}

/** The `temporal` CLI (dev server with the Web UI): TEMPORAL_CLI, else cache, else `go install` from the proxy. */
export async function temporalCli(progress: Progress): Promise<string> {
  if (process.env.TEMPORAL_CLI) return process.env.TEMPORAL_CLI;
  const v = VERSIONS.temporalCli;
  const dir = join(cacheRoot(), `temporal-${v}`);
  await cached(dir, async () => {
    requireGo();
    await run(`building the Temporal CLI v${v} from the Go module proxy (cold: about 3-6 min)`, 'go', [
      'install', '-trimpath', '-ldflags', `-s -w -X github.com/temporalio/cli/temporalcli.Version=${v}`,
      `github.com/temporalio/cli/cmd/temporal@v${v}`,
    ], { env: { ...goEnv(), GOBIN: dir }, progress });
  });
  return join(dir, 'temporal');
}

/** The Temporal server's own binaries, for a multi-process cluster, and the PostgreSQL schemas they apply. */
export interface TemporalServerBinaries {
  /** `server`: `start --service frontend|history|matching|worker`. */
  server: string;
  /** `temporal-sql-tool`: creates the databases and applies the versioned schemas. */
  sqlTool: string;
  /** `schema/postgresql/v12` of the server module: `temporal/versioned`, `visibility/versioned`. */
  schemaDir: string;
}

/**
 * `go.temporal.io/server` (cmd/server and cmd/tools/sql) from the Go module proxy, with its PostgreSQL schemas
 * copied beside them. Built with the same flags as the Temporal CLI, which embeds the same server version, so
 * the two builds share most of Go's build cache. TEMPORAL_SERVER_DIR overrides (a directory with all three).
 */
export async function temporalServerBinaries(progress: Progress): Promise<TemporalServerBinaries> {
  const v = VERSIONS.temporalServer;
  const paths = (dir: string) => ({ server: join(dir, 'server'), sqlTool: join(dir, 'temporal-sql-tool'), schemaDir: join(dir, 'schema') });
  if (process.env.TEMPORAL_SERVER_DIR) return paths(process.env.TEMPORAL_SERVER_DIR);
  const dir = join(cacheRoot(), `temporal-server-${v}`);
  await cached(dir, async () => {
    requireGo();
    const env = { ...goEnv(), GOBIN: dir };
    const ldflags = '-s -w';
    await run(`building the Temporal server v${v} from the Go module proxy (cold: about 3-5 min)`, 'go', [
      'install', '-trimpath', '-ldflags', ldflags, `go.temporal.io/server/cmd/server@v${v}`,
    ], { env, progress });
    await run(`building temporal-sql-tool v${v}`, 'go', [
      'install', '-trimpath', '-ldflags', ldflags, `go.temporal.io/server/cmd/tools/sql@v${v}`,
    ], { env, progress });
    renameSync(join(dir, 'sql'), join(dir, 'temporal-sql-tool'));
    const download = spawnSync('go', ['mod', 'download', '-json', `go.temporal.io/server@v${v}`], { env: goEnv(), encoding: 'utf8' });
    const moduleDir = download.status === 0 ? (JSON.parse(download.stdout) as { Dir?: string }).Dir : undefined;
    if (!moduleDir) throw new Error(`could not locate go.temporal.io/server@v${v} in the module cache: ${download.stderr}`);
    cpSync(join(moduleDir, 'schema', 'postgresql', 'v12'), join(dir, 'schema'), { recursive: true });
  });
  return paths(dir);
}

/** PostgreSQL's server programs from Debian's `postgresql`, installed when missing. */
export async function postgresBinaries(progress: Progress): Promise<{ initdb: string; postgres: string; pgIsReady: string; version: string }> {
  await debianCommands({ pg_lsclusters: 'postgresql' }, progress);
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'bin', 'postgres'))) : [];
  const version = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error(`Debian's postgresql is installed but no ${root}/<version>/bin/postgres was found`);
  const bin = join(root, version, 'bin');
  return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres'), pgIsReady: join(bin, 'pg_isready'), version };
}

export interface KubeBinaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
}

/**
 * kube-apiserver, etcd and kubectl. KUBEBUILDER_ASSETS (as envtest users expect) or TEST_ASSET_* override;
 * otherwise built from the Go module proxy with the wrapper modules committed under stack/go/.
 */
export async function kubeBinaries(progress: Progress): Promise<KubeBinaries> {
  const { kubeApiserver, kubectl } = await kubeApiserverAndKubectl(progress);
  const etcd = process.env.TEST_ASSET_ETCD ?? fromAssets('etcd') ?? (await buildEtcd(progress));
  return { kubeApiserver, etcd, kubectl };
}

function fromAssets(name: string): string | undefined {
  const assets = process.env.KUBEBUILDER_ASSETS;
  return assets && existsSync(join(assets, name)) ? join(assets, name) : undefined;
}

/** kube-apiserver and kubectl, from the overrides or else built together (one cache entry, one `go build`). */
async function kubeApiserverAndKubectl(progress: Progress): Promise<{ kubeApiserver: string; kubectl: string }> {
  const kubeApiserver = process.env.TEST_ASSET_KUBE_APISERVER ?? fromAssets('kube-apiserver');
  const kubectl = process.env.TEST_ASSET_KUBECTL ?? fromAssets('kubectl');
  if (kubeApiserver && kubectl) return { kubeApiserver, kubectl };
  // One `go build` of both mains: the packages they share (client-go, apimachinery, ...) compile once.
  const dir = await buildKube(['kube-apiserver', 'kubectl'], progress);
  return { kubeApiserver: kubeApiserver ?? join(dir, 'kube-apiserver'), kubectl: kubectl ?? join(dir, 'kubectl') };
}

type KubeCommand = 'kube-apiserver' | 'kubectl' | 'kube-controller-manager';

/** Builds `commands` of the wrapper module stack/go/kube in one `go build` into one cache entry; returns it. */
async function buildKube(commands: KubeCommand[], progress: Progress, build: BuildOptions = {}): Promise<string> {
  const v = VERSIONS.kubernetes;
  const dir = join(cacheRoot(), `${commands.join('+')}-${v}`);
  await cached(dir, async () => {
    requireGo();
    const minor = v.split('.')[1] ?? '0';
    const cv = '-X k8s.io/component-base/version';
    const gv = '-X k8s.io/client-go/pkg/version';
    const ldflags = [
      '-s -w',
      `${cv}.gitVersion=v${v} ${cv}.gitMajor=1 ${cv}.gitMinor=${minor} ${cv}.gitTreeState=clean`,
      `${gv}.gitVersion=v${v} ${gv}.gitMajor=1 ${gv}.gitMinor=${minor} ${gv}.gitTreeState=clean`,
    ].join(' ');
    await run(`building ${commands.join(' and ')} v${v} from the Go module proxy (cold: about 2-6 min)`, 'go', [
      'build', '-trimpath', '-ldflags', ldflags, '-o', `${dir}/`, ...commands.map((c) => `k8s.io/kubernetes/cmd/${c}`),
    ], { cwd: here('./go/kube'), env: goEnv(), progress, ...build });
  });
  return dir;
}

/**
 * kube-controller-manager, for a workload cluster whose nodes come and go (node lifecycle, garbage collection,
 * bootstrap-token signing). Built only by stacks that need it, and after kube-apiserver and kubectl, so Go's
 * build cache already holds almost every package it needs (built at the same time, each build would compile
 * them on its own). TEST_ASSET_KUBE_CONTROLLER_MANAGER overrides.
 */
export async function kubeControllerManager(progress: Progress, build: BuildOptions = {}): Promise<string> {
  const override = process.env.TEST_ASSET_KUBE_CONTROLLER_MANAGER ?? fromAssets('kube-controller-manager');
  if (override) return override;
  await kubeApiserverAndKubectl(progress);
  return join(await buildKube(['kube-controller-manager'], progress, build), 'kube-controller-manager');
}

async function buildEtcd(progress: Progress): Promise<string> {
  const v = VERSIONS.etcd;
  const dir = join(cacheRoot(), `etcd-${v}`);
  await cached(dir, async () => {
    requireGo();
    await run(`building etcd v${v} from the Go module proxy (cold: about 30-60 s)`, 'go', [
      'build', '-trimpath', '-ldflags', '-s -w', '-o', join(dir, 'etcd'), 'go.etcd.io/etcd/server/v3',
    ], { cwd: here('./go/etcd'), env: goEnv(), progress });
  });
  return join(dir, 'etcd');
}

/**
 * The CRDs of the operators Tempered's manifests use beside its own (cert-manager's Certificate and Issuer,
 * the Prometheus Operator's ServiceMonitor and PrometheusRule), as those projects publish them, from their Go
 * modules on the module proxy (`go mod download`). Returns a directory of plain CRD files.
 */
export async function thirdPartyCrds(progress: Progress): Promise<string> {
  const dir = join(cacheRoot(), `crds-cert-manager-${VERSIONS.certManager}-prometheus-operator-${VERSIONS.prometheusOperator}`);
  const wanted = [
    { module: `github.com/cert-manager/cert-manager@v${VERSIONS.certManager}`, files: ['deploy/crds/cert-manager.io_certificates.yaml', 'deploy/crds/cert-manager.io_issuers.yaml'] },
    {
      module: `github.com/prometheus-operator/prometheus-operator@v${VERSIONS.prometheusOperator}`,
      files: ['example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml', 'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml'],
    },
  ];
  await cached(dir, async () => {
    requireGo();
    for (const { module, files } of wanted) {
      progress(`downloading ${module} from the Go module proxy (its CRDs)`);
      const result = spawnSync('go', ['mod', 'download', '-json', module], { env: goEnv(), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
      const info = (() => {
        try {
          return JSON.parse(result.stdout) as { Dir?: string; Error?: string };
        } catch {
          return { Error: result.stderr || `go mod download exited ${result.status}` };
        }
      })();
      if (result.status !== 0 || !info.Dir) throw new Error(`go mod download ${module} failed: ${info.Error ?? result.stderr}`);
      for (const file of files) copyFileSync(join(info.Dir, file), join(dir, basename(file)));
    }
  });
  return dir;
}

/** A Python venv with sushy-tools (the Redfish emulator) and bcrypt, pinned by stack/python/constraints.txt. */
export async function sushyVenv(progress: Progress): Promise<{ python: string }> {
  const v = VERSIONS.sushyTools;
  const dir = join(cacheRoot(), `sushy-tools-${v}`);
  await cached(dir, async () => {
    const python = process.env.PYTHON ?? 'python3';
    await run('creating a Python venv for sushy-tools', python, ['-m', 'venv', dir], { progress });
    await run(`installing sushy-tools ${v} from PyPI`, join(dir, 'bin', 'python'), [
      '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-c', here('./python/constraints.txt'),
      `sushy-tools==${v}`, 'bcrypt',
    ], { progress });
  });
  return { python: join(dir, 'bin', 'python') };
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    if (existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/**
 * Files from Debian's packages (commands, libraries), installed with apt when any is missing. `wanted` maps each
 * name to the package that provides it and how to find it; one apt run installs every missing package.
 * Concurrent callers (several test files, `npm start` beside a test run) are serialised by a lock, since apt
 * allows one at a time. Returns the absolute path of each.
 */
async function debianFiles<K extends string>(
  wanted: Record<K, { pkg: string; find: () => string | undefined }>,
  progress: Progress,
): Promise<Record<K, string>> {
  const names = Object.keys(wanted) as K[];
  const find = () => Object.fromEntries(names.map((k) => [k, wanted[k].find()])) as Record<K, string | undefined>;
  let found = find();
  const missing = () => names.filter((k) => !found[k]);
  if (missing().length > 0) {
    await withLock(join(cacheRoot(), 'apt.lock'), async () => {
      found = find();
      const packages = [...new Set(missing().map((k) => wanted[k].pkg))];
      if (packages.length === 0) return;
      const root = process.getuid?.() === 0;
      const apt = (args: string[]) => [...(root ? [] : ['sudo', '-n']), 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
      const update = apt(['update', '-qq']);
      const install = apt(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
      await run('apt-get update', update[0] ?? 'apt-get', update.slice(1), { progress });
      await run(`installing ${packages.join(', ')} from Debian`, install[0] ?? 'apt-get', install.slice(1), { progress });
      found = find();
    });
    const still = missing();
    if (still.length > 0) throw new Error(`${still.join(', ')} still missing after installing ${[...new Set(still.map((k) => wanted[k].pkg))].join(', ')} from Debian`);
  }
  return found as Record<K, string>;
}

/** Commands from Debian's packages (`commands` maps each to its package), installed when missing from PATH. */
export async function debianCommands<C extends string>(commands: Record<C, string>, progress: Progress): Promise<Record<C, string>> {
  const wanted = Object.fromEntries(Object.entries<string>(commands).map(([c, pkg]) => [c, { pkg, find: () => onPath(c) }]));
  return debianFiles(wanted as Record<C, { pkg: string; find: () => string | undefined }>, progress);
}

/** Debian's multiarch directory for this machine's libraries (`/usr/lib/<triplet>`). */
const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch as 'x64' | 'arm64'];

/** Where Debian's `libjemalloc2` puts the library on this machine's architecture (here and in the image). */
export function jemallocPath(): string {
  if (!MULTIARCH) throw new Error(`no Debian multiarch directory known for ${process.arch}`);
  return `/usr/lib/${MULTIARCH}/libjemalloc.so.2`;
}

/**
 * jemalloc (Debian's `libjemalloc2`), installed when missing: the allocator the engine's Node processes preload
 * (stack/engine.ts, and the container image), because glibc's malloc keeps much of what the Temporal SDK's
 * native side frees (docs/performance.md, "The allocator"). Returns the library's path.
 */
export async function jemalloc(progress: Progress): Promise<string> {
  const path = jemallocPath();
  const found = await debianFiles({ jemalloc: { pkg: 'libjemalloc2', find: () => (existsSync(path) ? path : undefined) } }, progress);
  return found.jemalloc;
}

/** OpenIPMI's `ipmi_sim` and `ipmitool`, installed from Debian's packages when missing. */
export async function ipmiTools(progress: Progress): Promise<{ ipmiSim: string; ipmitool: string }> {
  const found = await debianCommands({ ipmi_sim: 'openipmi', ipmitool: 'ipmitool' }, progress);
  return { ipmiSim: found.ipmi_sim, ipmitool: found.ipmitool };
}

/** `openssl`, which the stack uses to make its certificates. */
export function openssl(): string {
  const found = onPath('openssl');
  if (!found) throw new Error('openssl is needed to generate the local stack certificates');
  return found;
}

/**
 * The image tools: `xorriso` (config drives, deploy ISOs), `qemu-img` (qcow2/vmdk/vdi conversion, test images)
 * and `losetup` (loop devices for the image benchmark and the agent tests), installed from Debian when missing.
 */
export async function imageTools(progress: Progress): Promise<{ xorriso: string; qemuImg: string; losetup: string }> {
  const found = await debianCommands({ xorriso: 'xorriso', 'qemu-img': 'qemu-utils', losetup: 'mount' }, progress);
  return { xorriso: found.xorriso, qemuImg: found['qemu-img'], losetup: found.losetup };
}
