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
  progress: Progress;
}

export interface TemporalServer {
  address: string;
  namespace: string;
  /** The Web UI, when started with `ui: true`. */
  ui: string | undefined;
  cli: string;
  dbFile: string;
  /** Stops and starts the server on the same ports and database file (history survives). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTemporal(options: TemporalOptions): Promise<TemporalServer> {
  const cli = await temporalCli(options.progress);
  const port = await freePort();
  const uiPort = options.ui ? (options.uiPort ?? (await freePort())) : undefined;
  const dbFile = join(options.stateDir, 'temporal.db');
  const namespace = DEFAULT_TEMPORAL_NAMESPACE;
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1', '--port', String(port),
    '--http-port', String(await freePort()), '--metrics-port', String(await freePort()),
    '--db-filename', dbFile,
    '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal',
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value', 'limit.maxIDLength=255',
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
    async restart() {
      await proc.stop();
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
