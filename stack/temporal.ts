/**
 * The Temporal dev server (`temporal server start-dev`): a real server with SQLite file persistence (WAL
 * pragmas, so a restart keeps history and throughput holds), the project's search attributes, and the Web UI
 * when asked. Connected to with createFromExistingServer / NativeConnection, never the SDK's own launcher.
 */
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { DEFAULT_TEMPORAL_NAMESPACE, SEARCH_ATTRIBUTES } from '../domain/names.ts';
import { temporalCli, type Progress } from './binaries.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

export interface TemporalOptions {
  stateDir: string;
  ui?: boolean;
  /** The UI's port (default: a free one); known beforehand, a codec server can allow the UI's origin. */
  uiPort?: number;
  /** A codec server the UI decodes payloads through (`--ui-codec-endpoint`). */
  codecEndpoint?: string;
  /** Dynamic configuration over DYNAMIC_CONFIG's (benchmarks compare settings with it). */
  dynamicConfig?: Readonly<Record<string, boolean | number>>;
  progress: Progress;
}

export interface TemporalServer {
  address: string;
  namespace: string;
  /** The Web UI, when started with `ui: true`. */
  ui: string | undefined;
  cli: string;
  /** Where the histories live: the dev server's SQLite file, or the cluster's PostgreSQL data directory. */
  dbFile: string;
  /** `dev`: the single-process dev server; `cluster`: frontend, history, matching, worker on PostgreSQL. */
  kind?: 'dev' | 'cluster';
  /** Restartable processes by name: the cluster's services (`frontend`, `history`, `history-2`, ...). */
  services?: string[];
  /** Prometheus endpoints, one per server process (the dev server's `--metrics-port`, each cluster service). */
  metrics?: { name: string; url: string }[];
  /** pprof endpoints by process name, where the server has them (the cluster's services). */
  pprof?: Record<string, string>;
  /** The server's processes now (they change on restart), for CPU and memory figures. */
  processes?: () => Supervised[];
  /**
   * Stops and starts the server (or one cluster service) on the same ports and database (history survives);
   * `kill` stops it with SIGKILL at once, as a crash would.
   */
  restart(options?: { kill?: boolean; service?: string }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The dynamic configuration the stack runs Temporal with: the dev server's, and the base of the cluster's
 * (stack/temporal-cluster.ts adds what only a cluster needs), so both compare.
 */
export const DYNAMIC_CONFIG: Readonly<Record<string, boolean | number>> = {
  'system.enableActivityEagerExecution': true,
  'frontend.enableUpdateWorkflowExecution': true,
  'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
  'limit.maxIDLength': 255,
  // The server re-reads the search-attribute mapping from its database on every use (so attributes added at run
  // time show at once); ours are registered at start. A CPU profile put 7 % of the dev server in it.
  'system.forceSearchAttributesCacheRefreshOnRead': false,
  // Each history shard reads its transfer queue (workflow and activity tasks to dispatch, children to start,
  // parents to tell) at most this many times a second; the server's default is 20. The dev server has one
  // shard, so every dispatch waited for the next read, up to 50 ms: 45 ms from an activity's scheduling to
  // its start on an idle server, 1.3 ms at 200 (`npm run bench -- dispatch`; docs/performance.md, "The transfer
  // queue's reads").
  'history.transferProcessorMaxPollRPS': 200,
};

export async function startTemporal(options: TemporalOptions): Promise<TemporalServer> {
  const cli = await temporalCli(options.progress);
  // Below the ephemeral range: a restart binds this port again, and an outgoing connection could take a
  // port of the ephemeral range meanwhile.
  const port = await freePort();
  const metricsPort = await freePort();
  const uiPort = options.ui ? (options.uiPort ?? (await freePort())) : undefined;
  const dbFile = join(options.stateDir, 'temporal.db');
  const namespace = DEFAULT_TEMPORAL_NAMESPACE;
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1', '--port', String(port),
    '--http-port', String(await freePort()), '--metrics-port', String(metricsPort),
    '--db-filename', dbFile,
    '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal',
    ...Object.entries({ ...DYNAMIC_CONFIG, ...options.dynamicConfig }).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
    '--log-level', 'warn',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']),
    ...(uiPort && options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
  ];
  const address = `127.0.0.1:${port}`;
  let proc: Supervised;

  const launch = async () => {
    proc = startProcess('temporal', cli, args, { logFile: join(options.stateDir, 'temporal.log') });
    await waitUntil('Temporal dev server', () => healthy(address), { timeoutMs: 60_000, intervalMs: 200, process: proc });
  };
  options.progress(`starting Temporal dev server on ${address}`);
  await launch();

  return {
    address,
    namespace,
    ui: uiPort ? `http://127.0.0.1:${uiPort}` : undefined,
    cli,
    dbFile,
    kind: 'dev',
    metrics: [{ name: 'temporal', url: `http://127.0.0.1:${metricsPort}/metrics` }],
    processes: () => [proc],
    async restart(opts = {}) {
      await (opts.kill ? proc.kill() : proc.stop());
      await launch();
    },
    stop: () => proc.stop(),
  };
}

async function healthy(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    const response = await connection.healthService.check({});
    return response.status === 1; // SERVING
  } finally {
    await connection.close();
  }
}
