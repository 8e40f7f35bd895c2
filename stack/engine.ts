/**
 * Tempered's own processes on top of the local stack: the worker (`workers/worker.ts`), the bridge
 * (`workers/bridge.ts`) and the agent API (`workers/agent-api.ts`), run as real processes with their
 * configuration in the environment, JSON logs in the state directory, and the same supervision as the
 * servers. The agent installation key is generated into the state directory and given to the worker and the
 * agent API as a file. The processes preload jemalloc as their allocator, as the container image does
 * (docs/performance.md, "The allocator"). `npm start` and the end-to-end tests use it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { formatKey, generateKey } from '../lib/payload-codec.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newAgentKey } from '../agent-api/token.ts';
import { findOne, memoryLimitMiB, parseDocs } from '../deploy/manifests.ts';
import { jemalloc, type Progress } from './binaries.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

export interface EngineOptions {
  stateDir: string;
  temporal: { address: string; namespace: string };
  kubeconfig: string;
  /** Task queues (tests isolate runs by giving each its own). */
  hostTaskQueue?: string;
  bridgeTaskQueue?: string;
  /** Serve and register the validating webhook (local certificates). */
  admission?: boolean;
  /** Namespaces the bridge watches; default all. */
  watchNamespaces?: string[];
  leaseName?: string;
  /**
   * Payload encryption: a keyring file both processes read (workers/data-converter.ts), as production mounts
   * one; `generate` makes a new one in the state directory. Default: none (plain payloads, as a process
   * without keys).
   */
  encryption?: { keysFile: string } | 'generate';
  /** Extra environment for both processes. */
  env?: NodeJS.ProcessEnv;
  /** Worker processes to start (default 1); they share the task queue, so hosts spread over them. */
  workers?: number;
  /** Bridge processes to start (default 1); one leads, the others wait for the Lease. */
  bridges?: number;
  /** Extra environment for the worker only, the bridge only, the agent API only (e.g. a KUBECONFIG of its own). */
  workerEnv?: NodeJS.ProcessEnv;
  bridgeEnv?: NodeJS.ProcessEnv;
  agentApiEnv?: NodeJS.ProcessEnv;
  /**
   * The allocator of the three Node processes: `jemalloc` (default, Debian's libjemalloc2, installed when
   * missing, preloaded with LD_PRELOAD as in the container image) or `system` (glibc's malloc).
   */
  allocator?: EngineAllocator;
  /** Progress of a set-up step (installing jemalloc). */
  progress?: Progress;
}

export const ENGINE_ALLOCATORS = ['jemalloc', 'system'] as const;
export type EngineAllocator = (typeof ENGINE_ALLOCATORS)[number];

export interface EngineProcess {
  proc: Supervised;
  logFile: string;
  /** A bridge's name in the Lease (its holderIdentity while it leads). */
  identity?: string;
  /** The process's health and metrics endpoint (`/healthz`, `/readyz`, `/metrics`), once it logged it. */
  metricsUrl(): string | undefined;
}

export interface Engine {
  /** The keyring file the processes encrypt with, when encryption is on. */
  keysFile: string | undefined;
  worker(): EngineProcess;
  /** Every worker started so far (killed ones too), oldest first. */
  workers(): EngineProcess[];
  bridges(): EngineProcess[];
  /** The agent API process serving now, and the URL agents and BMCs reach it at (stable across restarts). */
  agentApi(): EngineProcess & { url: string };
  /** Starts the agent API again on the same port (after a kill). */
  startAgentApi(): Promise<EngineProcess & { url: string }>;
  /** Starts another worker (after a kill, or to scale out). */
  startWorker(): Promise<EngineProcess>;
  /** Starts another bridge (it waits for the Lease unless it is the first). */
  startBridge(options?: { waitForLeadership?: boolean }): Promise<EngineProcess>;
  /** Every log line the engine's processes wrote so far. */
  logs(): string;
  /** The log file of every process started, in start order. */
  logFiles(): string[];
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function readLog(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** The URL a process logged for its health and metrics endpoint (workers/health.ts). */
export function metricsUrlIn(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"health and metrics endpoint listening"')) continue;
    try {
      return (JSON.parse(line) as { url?: string }).url;
    } catch {
      // A partial line: the next read has it whole.
    }
  }
  return undefined;
}

/**
 * The worker's memory limit in its manifest (deploy/base/worker.yaml). The local worker gets it the way the
 * deployed one does, so it sizes its sticky cache the same (workers/cache-size.ts); nothing enforces it here.
 */
export function workerMemoryLimitMiB(): number {
  const deployment = findOne(parseDocs(readFileSync(join(ROOT, 'deploy', 'base', 'worker.yaml'), 'utf8')), 'Deployment', 'tempered-worker');
  const limit = deployment ? memoryLimitMiB(deployment, 'worker') : undefined;
  if (limit === undefined) throw new Error('deploy/base/worker.yaml: no memory limit on the worker container');
  return limit;
}

export async function startEngine(options: EngineOptions): Promise<Engine> {
  mkdirSync(options.stateDir, { recursive: true });
  // The processes find Temporal as in production: a temporal.toml profile (workers/temporal-config.ts). The
  // caller's own TEMPORAL_* connection variables and profiles (an API key for Temporal Cloud, say) stay out.
  const temporalToml = join(options.stateDir, 'temporal.toml');
  writeFileSync(temporalToml, `[profile.default]\naddress = "${options.temporal.address}"\nnamespace = "${options.temporal.namespace}"\n`);
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => (!k.startsWith('TEMPORAL_') || k === 'TEMPORAL_LOG_LEVEL') && !k.startsWith('TEMPERED_ENCRYPTION_'),
    ),
  );
  const keysFile =
    options.encryption === 'generate' ? join(options.stateDir, 'encryption-keys') : options.encryption?.keysFile;
  if (options.encryption === 'generate' && keysFile && !existsSync(keysFile)) {
    writeFileSync(keysFile, `${formatKey(generateKey())}\n`, { mode: 0o600 });
  }
  const preload = (options.allocator ?? 'jemalloc') === 'jemalloc' ? await jemalloc(options.progress ?? (() => {})) : undefined;
  const baseEnv: NodeJS.ProcessEnv = {
    ...inherited,
    ...(preload ? { LD_PRELOAD: [preload, inherited['LD_PRELOAD']].filter(Boolean).join(':') } : {}),
    TEMPORAL_CONFIG_FILE: temporalToml,
    KUBECONFIG: options.kubeconfig,
    LOG_FORMAT: 'json',
    // Several processes share this machine: each health endpoint takes a free port on loopback.
    TEMPERED_METRICS_PORT: '0',
    TEMPERED_METRICS_HOST: '127.0.0.1',
    ...(keysFile ? { TEMPERED_ENCRYPTION_KEYS_FILE: keysFile } : {}),
    ...(options.hostTaskQueue ? { TEMPERED_HOST_TASK_QUEUE: options.hostTaskQueue } : {}),
    ...(options.bridgeTaskQueue ? { TEMPERED_BRIDGE_TASK_QUEUE: options.bridgeTaskQueue } : {}),
    ...options.env,
  };
  // The agent installation key: agent tokens and deploy ISO URL signatures derive from it. Kept in the state
  // directory, so processes restarted on the same directory (kill tests) agree with the tokens in flight.
  const agentKeyFile = join(options.stateDir, 'agent.key');
  if (!existsSync(agentKeyFile)) writeFileSync(agentKeyFile, `${newAgentKey()}\n`, { mode: 0o600 });
  const agentApiPort = await freePort();
  const agentApiUrl = `http://127.0.0.1:${agentApiPort}`;
  baseEnv.TEMPERED_AGENT_KEY_FILE = agentKeyFile;
  baseEnv.TEMPERED_AGENT_API_URL = agentApiUrl;
  const workers: EngineProcess[] = [];
  const bridges: EngineProcess[] = [];
  const agentApis: EngineProcess[] = [];
  let counter = 0;

  const launch = (kind: 'worker' | 'bridge' | 'agent-api', env: NodeJS.ProcessEnv): EngineProcess => {
    counter += 1;
    const logFile = join(options.stateDir, `${kind}-${counter}.log`);
    const proc = startProcess(`tempered-${kind}`, process.execPath, [join(ROOT, 'workers', `${kind}.ts`)], { cwd: ROOT, env, logFile });
    return { proc, logFile, metricsUrl: () => metricsUrlIn(readLog(logFile)) };
  };

  const startWorker = async (): Promise<EngineProcess> => {
    const w = launch('worker', { TEMPERED_MEMORY_LIMIT_MIB: String(workerMemoryLimitMiB()), ...baseEnv, ...options.workerEnv });
    workers.push(w);
    await waitUntil('worker', async () => readLog(w.logFile).includes('"worker polling"'), { timeoutMs: 60_000, intervalMs: 100, process: w.proc });
    return w;
  };

  const startBridge = async ({ waitForLeadership = true } = {}): Promise<EngineProcess> => {
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      ...options.bridgeEnv,
      TEMPERED_LEASE_NAME: options.leaseName ?? 'tempered-bridge',
      TEMPERED_LEASE_IDENTITY: `bridge-${counter + 1}`,
      ...(options.watchNamespaces?.length ? { WATCH_NAMESPACE: options.watchNamespaces.join(',') } : {}),
      ...(options.admission ? { TEMPERED_ADMISSION_LOCAL_CERT_DIR: join(options.stateDir, 'webhook') } : {}),
    };
    const b: EngineProcess = { ...launch('bridge', env), identity: env['TEMPERED_LEASE_IDENTITY'] };
    bridges.push(b);
    const ready = waitForLeadership ? '"became the leader"' : '"msg"';
    await waitUntil('bridge', async () => readLog(b.logFile).includes(ready), { timeoutMs: 60_000, intervalMs: 100, process: b.proc });
    return b;
  };

  const startAgentApi = async (): Promise<EngineProcess & { url: string }> => {
    const a = launch('agent-api', {
      ...baseEnv,
      TEMPERED_AGENT_API_HOST: '127.0.0.1',
      TEMPERED_AGENT_API_PORT: String(agentApiPort),
      TEMPERED_AGENT_ISO_DIR: join(options.stateDir, 'agent-iso'),
      ...(options.watchNamespaces?.length ? { WATCH_NAMESPACE: options.watchNamespaces.join(',') } : {}),
      ...options.agentApiEnv,
    });
    agentApis.push(a);
    await waitUntil('agent API', async () => readLog(a.logFile).includes('"agent API serving"'), { timeoutMs: 60_000, intervalMs: 100, process: a.proc });
    return { ...a, url: agentApiUrl };
  };

  await Promise.all([startWorker(), startBridge(), startAgentApi()]);
  await Promise.all([
    ...Array.from({ length: Math.max(0, (options.workers ?? 1) - 1) }, () => startWorker()),
    ...Array.from({ length: Math.max(0, (options.bridges ?? 1) - 1) }, () => startBridge({ waitForLeadership: false })),
  ]);

  return {
    keysFile,
    worker: () => {
      const live = workers.filter((w) => w.proc.isRunning()).at(-1) ?? workers.at(-1);
      if (!live) throw new Error('no worker was started');
      return live;
    },
    workers: () => workers,
    bridges: () => bridges,
    agentApi: () => {
      const live = agentApis.filter((a) => a.proc.isRunning()).at(-1) ?? agentApis.at(-1);
      if (!live) throw new Error('no agent API was started');
      return { ...live, url: agentApiUrl };
    },
    startWorker,
    startBridge,
    startAgentApi,
    logs: () => [...workers, ...bridges, ...agentApis].map((p) => readLog(p.logFile)).join('\n'),
    logFiles: () => [...workers, ...bridges, ...agentApis].map((p) => p.logFile).filter((f) => existsSync(f)),
    async stop() {
      await Promise.all([...agentApis, ...bridges, ...workers].map((p) => p.proc.stop(15_000)));
    },
  };
}
