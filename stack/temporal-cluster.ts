/**
 * A real multi-process Temporal cluster: the server's frontend, history, matching and worker services as
 * separate processes of `go.temporal.io/server` on PostgreSQL from Debian, started the way
 * ../shared/reference/temporal-cluster.md ran it (frontend alone first, since every service inserts the
 * cluster row on an empty database, and the namespace and the project's search attributes registered through
 * it; then the others, which load them fresh). It returns the same `TemporalServer` as the dev server, so
 * workers and bridges run unchanged.
 * Each process has its own Prometheus endpoint and pprof port (a zone file per process: the server reads
 * `<env>.yaml` then `<env>_<zone>.yaml`), and any service can be restarted, or killed and restarted, on its
 * ports while PostgreSQL keeps the histories.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import proto from '@temporalio/proto';
import { stringify } from 'yaml';
import { DEFAULT_TEMPORAL_NAMESPACE, SEARCH_ATTRIBUTES } from '../domain/names.ts';
import { postgresBinaries, run, temporalCli, temporalServerBinaries, type Progress } from './binaries.ts';
import { freePort, isListening } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';
import { DYNAMIC_CONFIG, type TemporalServer } from './temporal.ts';

export interface TemporalClusterOptions {
  stateDir: string;
  /** History service processes (default 1); with more, the shards are spread over them. */
  historyServices?: number;
  /** History shards, fixed at the first start (default 4; use 8+ to spread them over several history services). */
  shards?: number;
  progress: Progress;
}

/** The server's services, in the order they are started. */
const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
type Service = (typeof SERVICES)[number];

interface ServicePorts {
  grpc: number;
  membership: number;
  http?: number;
  metrics: number;
  pprof: number;
}

/** One server process: which service it runs, under which zone (its per-process overrides file). */
interface Member {
  /** `frontend`, `history`, `history-2`, `matching`, `worker`. */
  name: string;
  service: Service;
  ports: ServicePorts;
  proc?: Supervised;
}

const DB_USER = 'temporal';

/**
 * The dev server's dynamic configuration as the stack runs it (stack/temporal.ts), so both compare, and what
 * the cluster needs besides. The search attributes are registered before history, matching and worker start,
 * so their caches load them.
 */
const CLUSTER_DYNAMIC_CONFIG: Record<string, unknown> = {
  ...DYNAMIC_CONFIG,
  'frontend.enableServerVersionCheck': false,
  'frontend.persistenceMaxQPS': 10000,
  'history.persistenceMaxQPS': 45000,
  'history.hostLevelCacheMaxSize': 8096,
  'frontend.namespaceRPS.visibility': 100,
};

const { IndexedValueType } = proto.temporal.api.enums.v1;
const INDEXED_VALUE_TYPE: Record<string, proto.temporal.api.enums.v1.IndexedValueType> = {
  Text: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** PostgreSQL for the cluster: its own data directory and port, loopback only, password auth over TCP. */
async function startPostgres(stateDir: string, password: string, progress: Progress): Promise<{ port: number; proc: Supervised; dataDir: string; remove(): void }> {
  const pg = await postgresBinaries(progress);
  // initdb and postgres refuse to run as root: as root they run as the `postgres` user, in a directory of
  // its own (a state directory made by mkdtemp is 0700 root, which postgres cannot enter).
  const root = process.getuid?.() === 0;
  const home = root ? mkdtempSync('/tmp/tempered-postgres-') : join(stateDir, 'postgres');
  mkdirSync(home, { recursive: true });
  const dataDir = join(home, 'data');
  const pwFile = join(home, 'password');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(home, uid, gid);
    chownSync(pwFile, uid, gid);
  }
  const as = (command: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]);
  const [initdb, initArgs] = as(pg.initdb, [
    '-D', dataDir, '-U', DB_USER, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync',
  ]);
  await run('initdb (PostgreSQL for the Temporal cluster)', initdb, initArgs, { progress: () => {} });
  const port = await freePort();
  const [postgres, args] = as(pg.postgres, [
    '-D', dataDir,
    '-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', `unix_socket_directories=${home}`,
    '-c', 'max_connections=300', '-c', 'shared_buffers=128MB',
  ]);
  progress(`starting PostgreSQL ${pg.version} on 127.0.0.1:${port} (data in ${dataDir})`);
  const proc = startProcess('postgres', postgres, args, { logFile: join(stateDir, 'postgres.log') });
  // Listening is not ready: it refuses connections while it starts up.
  const accepting = () => spawnSync(pg.pgIsReady, ['-q', '-h', '127.0.0.1', '-p', String(port)]).status === 0;
  await waitUntil('PostgreSQL', async () => accepting(), { timeoutMs: 60_000, intervalMs: 100, process: proc });
  // Outside the state directory (as root) the data goes with the stack; inside it, it stays with the rest.
  return { port, proc, dataDir, remove: () => (root ? rmSync(home, { recursive: true, force: true }) : undefined) };
}

function configFiles(dir: string, members: Member[], db: { port: number; password: string }, shards: number): void {
  const datastore = (database: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `127.0.0.1:${db.port}`,
      connectProtocol: 'tcp',
      user: DB_USER,
      password: db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (m: Member) => ({
    rpc: { grpcPort: m.ports.grpc, membershipPort: m.ports.membership, ...(m.ports.http ? { httpPort: m.ports.http } : {}), bindOnIP: '127.0.0.1' },
  });
  const first = (service: Service): Member => {
    const m = members.find((x) => x.service === service);
    if (!m) throw new Error(`no ${service} member`);
    return m;
  };
  const frontend = first('frontend');
  const dynamicConfig = join(dir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfig, stringify(Object.fromEntries(Object.entries(CLUSTER_DYNAMIC_CONFIG).map(([k, value]) => [k, [{ value }]]))));
  writeFileSync(join(dir, 'cluster.yaml'), stringify({
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'pg-default',
      visibilityStore: 'pg-visibility',
      numHistoryShards: shards,
      datastores: { 'pg-default': datastore('temporal', 20), 'pg-visibility': datastore('temporal_visibility', 10) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: Object.fromEntries(SERVICES.map((s) => [s, rpc(first(s))])),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${frontend.ports.grpc}`, httpAddress: `127.0.0.1:${frontend.ports.http}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfig, pollInterval: '10s' },
  }));
  // Per process: its metrics and pprof ports (global settings, so one file each), and for a second history
  // service its own RPC ports.
  for (const m of members) {
    writeFileSync(join(dir, `cluster_${m.name}.yaml`), stringify({
      global: {
        metrics: { prometheus: { framework: 'tally', listenAddress: `127.0.0.1:${m.ports.metrics}`, timerType: 'histogram' } },
        pprof: { port: m.ports.pprof, host: '127.0.0.1' },
      },
      ...(m.name !== m.service ? { services: { [m.service]: rpc(m) } } : {}),
    }));
  }
}

async function healthy(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    return (await connection.healthService.check({})).status === 1; // SERVING
  } finally {
    await connection.close();
  }
}

/** Registers the namespace and the search attributes through the frontend (alone: the others load them fresh). */
async function registerNamespace(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const already = (err: unknown) => (err as { code?: number }).code === 6; // ALREADY_EXISTS
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') }).catch((err: unknown) => {
      if (!already(err)) throw err;
    });
    await waitUntil('Temporal cluster namespace', async () => {
      await connection.workflowService.describeNamespace({ namespace });
      return true;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const searchAttributes = Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, INDEXED_VALUE_TYPE[type] ?? 0]));
    await waitUntil('Temporal cluster search attributes', async () => {
      const current = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = Object.fromEntries(Object.entries(searchAttributes).filter(([name]) => !(name in (current.customAttributes ?? {}))));
      if (Object.keys(missing).length === 0) return true;
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
      return false;
    }, { timeoutMs: 60_000, intervalMs: 250 });
  } finally {
    await connection.close();
  }
}

/** Waits until a workflow can be started (history, matching) and found by a custom attribute (visibility). */
async function probeNamespace(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    // Every service learns of the namespace through its own cache: a start that reaches history and
    // matching, and a visibility query on a custom attribute, prove the whole path.
    const client = new Client({ connection, namespace });
    await waitUntil('Temporal cluster ready for workflows', async () => {
      const handle = await client.workflow.start('tempered-cluster-probe', { taskQueue: 'tempered-cluster-probe', workflowId: `cluster-probe-${randomBytes(4).toString('hex')}` });
      await handle.terminate('readiness probe');
      await client.workflow.count(`${Object.keys(SEARCH_ATTRIBUTES)[0]} = "probe"`);
      return true;
    }, { timeoutMs: 60_000, intervalMs: 500 });
  } finally {
    await connection.close();
  }
}

/** Starts PostgreSQL, the schemas and the four services; resolves when a workflow can be started. */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalServer> {
  const { stateDir, progress } = options;
  mkdirSync(stateDir, { recursive: true });
  const [bins, cli] = await Promise.all([temporalServerBinaries(progress), temporalCli(progress)]);
  const password = randomBytes(12).toString('hex');
  const postgres = await startPostgres(stateDir, password, progress);

  const sql = (db: string, args: string[]) => run(`temporal-sql-tool ${db} ${args[0]}`, bins.sqlTool, [
    '--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port), '-u', DB_USER, '--db', db, ...args,
  ], { env: { ...process.env, SQL_PASSWORD: password }, progress: () => {} });
  const schemaStarted = Date.now();
  for (const [db, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    await sql(db, ['create-database']);
    await sql(db, ['setup-schema', '-v', '0.0']);
    await sql(db, ['update-schema', '-d', join(bins.schemaDir, schema, 'versioned')]);
  }
  progress(`Temporal cluster schemas applied in ${((Date.now() - schemaStarted) / 1000).toFixed(1)} s`);

  const histories = Math.max(1, options.historyServices ?? 1);
  const members: Member[] = [];
  for (const service of SERVICES) {
    const count = service === 'history' ? histories : 1;
    for (let i = 1; i <= count; i++) {
      members.push({
        name: i === 1 ? service : `${service}-${i}`,
        service,
        ports: {
          grpc: await freePort(),
          membership: await freePort(),
          ...(service === 'frontend' ? { http: await freePort() } : {}),
          metrics: await freePort(),
          pprof: await freePort(),
        },
      });
    }
  }
  const confDir = join(stateDir, 'config');
  mkdirSync(confDir, { recursive: true });
  configFiles(confDir, members, { port: postgres.port, password }, options.shards ?? 4);
  const frontend = members[0];
  if (!frontend) throw new Error('no frontend');
  const address = `127.0.0.1:${frontend.ports.grpc}`;

  const launch = async (m: Member): Promise<void> => {
    m.proc = startProcess(`temporal-${m.name}`, bins.server, [
      '--root', confDir, '--config', '.', '--env', 'cluster', '--zone', m.name, '--allow-no-auth', 'start', '--service', m.service,
    ], { logFile: join(stateDir, `${m.name}.log`) });
    const proc = m.proc;
    if (m.service === 'frontend') {
      await waitUntil(`Temporal ${m.name}`, () => healthy(address), { timeoutMs: 90_000, intervalMs: 200, process: proc });
    } else {
      // The worker service has no gRPC listener in 1.29: its membership port says it joined.
      const port = m.service === 'worker' ? m.ports.membership : m.ports.grpc;
      await waitUntil(`Temporal ${m.name}`, () => isListening(port), { timeoutMs: 90_000, intervalMs: 200, process: proc });
    }
  };

  const started = Date.now();
  progress(`starting the Temporal cluster on ${address}: ${members.map((m) => m.name).join(', ')} (PostgreSQL ${postgres.port})`);
  const namespace = DEFAULT_TEMPORAL_NAMESPACE;
  await launch(frontend);
  await registerNamespace(address, namespace);
  await Promise.all(members.slice(1).map(launch));
  await probeNamespace(address, namespace);
  progress(`Temporal cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const member = (name: string): Member => {
    const m = members.find((x) => x.name === name);
    if (!m) throw new Error(`no Temporal service '${name}'; the cluster has ${members.map((x) => x.name).join(', ')}`);
    return m;
  };
  const stopServices = async () => {
    await Promise.all([...members].reverse().map((m) => m.proc?.stop(10_000)));
  };

  return {
    address,
    namespace,
    ui: undefined,
    cli,
    dbFile: postgres.dataDir,
    kind: 'cluster',
    services: members.map((m) => m.name),
    metrics: members.map((m) => ({ name: `temporal-${m.name}`, url: `http://127.0.0.1:${m.ports.metrics}/metrics` })),
    pprof: Object.fromEntries(members.map((m) => [`temporal-${m.name}`, `http://127.0.0.1:${m.ports.pprof}/debug/pprof`])),
    processes: () => [...members.flatMap((m) => (m.proc ? [m.proc] : [])), postgres.proc],
    async restart(opts = {}) {
      const targets = opts.service ? [member(opts.service)] : members;
      await Promise.all(targets.map((m) => (opts.kill ? m.proc?.kill() : m.proc?.stop(10_000))));
      // The frontend first when it is among them, as at the first start.
      const [head, ...rest] = targets;
      if (head?.service === 'frontend') {
        await launch(head);
        await Promise.all(rest.map(launch));
      } else await Promise.all(targets.map(launch));
    },
    async stop() {
      await stopServices();
      await postgres.proc.stop(10_000);
      postgres.remove();
    },
  };
}
