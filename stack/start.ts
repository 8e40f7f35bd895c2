/**
 * `npm start`: the main job on the embedded default. Installs what is missing, brings the local stack up
 * (Temporal dev server with its Web UI, kube-apiserver + etcd with the CRDs, BMC peers), starts Tempered
 * itself as production runs it (a worker and a bridge, with the validating webhook; payloads encrypted with a
 * key generated into the state directory, the codec server the UI decodes through, metrics served), creates
 * the simulated hosts (BMCs, credential
 * Secrets, BareMetalHosts; every other one with a live ISO to boot), writes `.tempered/stack.json`, prints
 * where everything is, shows how many hosts are in each state, and runs until Ctrl-C, when it stops
 * everything it started.
 *
 *   npm start -- [--hosts N] [--bmc sim|sushy] [--temporal dev|cluster] [--workers N] [--bridges N]
 *
 * `--bmc sim` (the default) runs the simulated data centre (`tempered sim datacenter`, a mix of vendor
 * profiles) as its own process; `--bmc sushy` uses sushy-tools' fake systems. `--temporal cluster` runs the Temporal
 * server as a cluster (frontend, history, matching, worker processes on PostgreSQL) instead of the dev server;
 * `--workers`/`--bridges` start more engine processes (the bridges elect one leader).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { formatKey, generateKey } from '../lib/payload-codec.ts';
import { imageTools } from './binaries.ts';
import { createDemoHosts, type DemoBmc, type DemoHost } from './demo-hosts.ts';
import { makeDemoImage } from './demo-image.ts';
import { startEngine, type Engine } from './engine.ts';
import { startImageServer, type ImageServer } from './image-server.ts';
import { startStack, type Stack } from './index.ts';
import { startLiveView } from './live-view.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where `npm start` keeps its state and writes stack.json (TEMPERED_HOME overrides, e.g. for tests). */
const DOT_DIR = process.env.TEMPERED_HOME ?? join(ROOT, '.tempered');
const STACK_JSON = join(DOT_DIR, 'stack.json');
const DEMO_NAMESPACE = 'metal3';

/** The machine-readable handle of a running `npm start` (fields are a contract: add, never rename). */
export interface StackJson {
  kubeconfig: string;
  kubectl: string;
  /** `codecServer`: the codec endpoint the UI decodes payloads through (`tempered codec-server`). */
  temporal: { address: string; namespace: string; ui: string | undefined; cli: string; codecServer: string };
  hosts: DemoHost[];
  bmc: {
    kind: 'sushy' | 'sim';
    url?: string;
    file?: string;
    /** The simulator's agent server and control API (`/_sim/`). */
    agentUrl?: string;
  };
  /**
   * Tempered's own processes: their JSON logs (`agentApi` is the URL deploy agents call, Ironic's API), the
   * scrape URLs of their `/metrics`, and the keyring file their payloads are encrypted with.
   */
  engine: {
    workerLog: string;
    bridgeLog: string;
    agentApi: string;
    agentApiLog: string;
    metrics: { worker: string; bridge: string; agentApi: string };
    encryptionKeys: string;
  };
  /**
   * Where the demo's images are served from: the live ISO, the stand-in base IPA ISO (placeholder kernel,
   * real boot configurations; see docs/images.md) that deploy ISOs are remastered from, and the small qcow2
   * disk image (made at start with qemu-img) the simulator's hosts get.
   */
  images: { liveIso: string; ipaIso: string; diskImage?: string };
  stateDir: string;
  pid: number;
  startedAt: string;
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string', default: '5' },
      bmc: { type: 'string', default: 'sim' },
      temporal: { type: 'string', default: 'dev' },
      workers: { type: 'string', default: '1' },
      bridges: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm start -- [--hosts N] [--bmc sim|sushy] [--temporal dev|cluster] [--workers N] [--bridges N]');
    process.exit(0);
  }
  const hosts = Number(values.hosts);
  if (!Number.isInteger(hosts) || hosts < 0 || hosts > 1000) throw new Error(`--hosts must be a whole number from 0 to 1000, got '${values.hosts}'`);
  if (values.bmc !== 'sushy' && values.bmc !== 'sim') throw new Error(`--bmc must be 'sim' or 'sushy', got '${values.bmc}'`);
  if (values.temporal !== 'dev' && values.temporal !== 'cluster') throw new Error(`--temporal must be 'dev' or 'cluster', got '${values.temporal}'`);
  const count = (name: 'workers' | 'bridges') => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1 || n > 4) throw new Error(`--${name} must be a whole number from 1 to 4, got '${values[name]}'`);
    return n;
  };
  return { hosts, bmc: values.bmc as 'sim' | 'sushy', temporal: values.temporal as 'dev' | 'cluster', workers: count('workers'), bridges: count('bridges') };
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const started = Date.now();
  const say = (message: string) => console.log(`tempered: ${message}`);
  const stateDir = join(DOT_DIR, 'run');
  rmSync(STACK_JSON, { force: true });
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  let stack: Stack | undefined = undefined;
  let engine: Engine | undefined = undefined;
  let images: ImageServer | undefined = undefined;
  let simulator: Supervised | undefined = undefined;
  let codecServer: Supervised | undefined = undefined;
  let stopView: (() => void) | undefined = undefined;
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    stopView?.();
    if (process.stdout.isTTY) process.stdout.write('\n');
    say(`${reason}: stopping everything`);
    rmSync(STACK_JSON, { force: true });
    await engine?.stop();
    await images?.stop();
    await simulator?.stop();
    await codecServer?.stop();
    await stack?.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('Ctrl-C'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  // As production: payloads encrypted, and a codec server the UI decodes them through (allowed from its origin).
  const encryptionKeys = join(stateDir, 'encryption-keys');
  writeFileSync(encryptionKeys, `${formatKey(generateKey())}\n`, { mode: 0o600 });
  const uiPort = await freePort();
  const codec = await startCodecServer(join(stateDir, 'codec-server'), encryptionKeys, `http://127.0.0.1:${uiPort}`);
  codecServer = codec.proc;

  say(`bringing up the local stack in ${stateDir} (first run builds the servers from the package registries: several minutes)`);
  stack = await startStack({
    stateDir,
    temporal: { ui: true, kind: options.temporal, uiPort, codecEndpoint: codec.url },
    sushy: options.bmc === 'sushy' ? { systems: Math.max(options.hosts, 1) } : false,
    ipmi: false,
    progress: (m) => say(m),
  });
  const { temporal, kube, sushy } = stack;
  if (!temporal || !kube) throw new Error('the stack came up incomplete');
  let bmcs;
  let simAgentUrl: string | undefined;
  if (sushy) {
    bmcs = sushy.systems.slice(0, options.hosts).map((s) => ({ address: `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${s.path}`, username: sushy.username, password: sushy.password, bootMACAddress: s.mac, noAgent: true }));
  } else {
    const datacenter = await startSimulatedDatacenter(join(stateDir, 'sim'), options.hosts, say);
    simulator = datacenter.proc;
    bmcs = datacenter.bmcs;
    simAgentUrl = datacenter.agentUrl;
  }

  const kubeconfig = join(DOT_DIR, 'kubeconfig');
  copyFileSync(kube.kubeconfig, kubeconfig);
  const { xorriso } = await imageTools(say);
  const standIn = await buildStandInIpaIso(join(stateDir, 'ipa-stand-in.iso'), { xorriso });
  const osImage = await makeDemoImage(join(stateDir, 'demo-image'));
  images = await startImageServer({
    '/demo-live.iso': Buffer.alloc(1024 * 1024, 0x2e),
    '/ipa.iso': { path: standIn.output },
    '/demo.qcow2': { path: osImage.path },
    '/SHA256SUMS': osImage.sums,
  });
  const liveIso = images.url('/demo-live.iso');
  const ipaIso = images.url('/ipa.iso');
  // The simulator's hosts run a deploy agent: they get the qcow2 image, written to their disk by the agent.
  // sushy-tools' hosts have no agent, so they stay `available` with nothing to deploy.
  const diskImage = sushy ? undefined : { url: images.url('/demo.qcow2'), checksum: images.url('/SHA256SUMS'), format: 'qcow2' };
  const plural = (n: number, word: string) => (n === 1 ? `a ${word}` : `${n} ${word}s`);
  say(`starting Tempered: ${plural(options.workers, 'worker')}, ${plural(options.bridges, 'bridge')} (with the validating webhook) and the agent API`);
  // The deploy ISO the agent API remasters for hosts that clean or write a disk image (Metal3's DEPLOY_ISO_URL).
  engine = await startEngine({
    stateDir: join(stateDir, 'engine'),
    temporal,
    kubeconfig,
    admission: true,
    encryption: { keysFile: encryptionKeys },
    env: { TEMPERED_IPA_ISO_URL: ipaIso },
    workers: options.workers,
    bridges: options.bridges,
    progress: say,
  });
  // Every other host boots the live ISO, the others get the qcow2 image; the parity flips every six hosts so
  // each vendor profile of the simulator's mix (six of them) gets hosts of both kinds.
  const hosts = await createDemoHosts(kubeconfig, DEMO_NAMESPACE, bmcs.map((b, i) => ({
    ...b,
    ...((i + Math.floor(i / 6)) % 2 === 1 ? { liveIso } : diskImage ? { diskImage } : {}),
  })));

  const handle: StackJson = {
    kubeconfig,
    kubectl: kube.kubectl,
    temporal: {
      address: temporal.address,
      namespace: temporal.namespace,
      ui: temporal.ui,
      cli: temporal.cli,
      codecServer: codec.url,
    },
    hosts,
    bmc: sushy
      ? { kind: 'sushy', url: sushy.url }
      : { kind: 'sim', file: join(stateDir, 'sim', 'bmcs.json'), ...(simAgentUrl ? { agentUrl: simAgentUrl } : {}) },
    engine: {
      workerLog: engine.worker().logFile,
      bridgeLog: engine.bridges()[0]?.logFile ?? '',
      agentApi: engine.agentApi().url,
      agentApiLog: engine.agentApi().logFile,
      metrics: {
        worker: `${engine.worker().metricsUrl()}/metrics`,
        bridge: `${engine.bridges()[0]?.metricsUrl()}/metrics`,
        agentApi: `${engine.agentApi().metricsUrl()}/metrics`,
      },
      encryptionKeys,
    },
    images: { liveIso, ipaIso, ...(diskImage ? { diskImage: diskImage.url } : {}) },
    stateDir,
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(STACK_JSON, `${JSON.stringify(handle, null, 2)}\n`);

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log([
    '',
    `Tempered is up (${seconds} s), with ${hosts.length} simulated hosts (every other one boots a live ISO${sushy ? '' : ', the others get a qcow2 image written by the deploy agent'}).`,
    '',
    temporal.ui
      ? `  Temporal UI   ${temporal.ui}/namespaces/${temporal.namespace}/workflows`
      : `  Temporal      a cluster: ${(temporal.services ?? []).join(', ')} on PostgreSQL (no Web UI; use the CLI below)`,
    `  Temporal      ${temporal.address} (namespace ${temporal.namespace}; CLI ${temporal.cli})`,
    `  kubeconfig    ${kubeconfig}`,
    `  BMCs          ${sushy ? `sushy-tools at ${sushy.url}` : `simulated data centre (a mix of vendor profiles), listed in ${join(stateDir, 'sim', 'bmcs.json')}`}`,
    `  agent API     ${handle.engine.agentApi} (what deploy agents call)`,
    `  logs          ${handle.engine.workerLog}, ${handle.engine.bridgeLog}, ${handle.engine.agentApiLog}`,
    `  metrics       ${handle.engine.metrics.worker}, ${handle.engine.metrics.bridge}, ${handle.engine.metrics.agentApi}`,
    `  payloads      encrypted (keys ${encryptionKeys}); the UI decodes through the codec server ${codec.url}`,
    `  stack.json    ${STACK_JSON}`,
    '',
    'Try:',
    `  ${kube.kubectl} --kubeconfig ${kubeconfig} get bmh -A`,
    '',
    'Ctrl-C stops everything. Hosts by state:',
  ].join('\n'));
  stopView = startLiveView(kubeconfig, (line, inPlace) => {
    if (inPlace) process.stdout.write(`\r\x1b[2K  ${line}`);
    else console.log(`  ${line}`);
  });
  // Everything the stack started is unref'd; this keeps the process (and so the stack) alive until a signal.
  setInterval(() => {}, 1 << 30);
}

/** Runs `tempered codec-server` as its own process (as production does) and returns its URL once listening. */
async function startCodecServer(
  dir: string,
  keysFile: string,
  uiOrigin: string,
): Promise<{ proc: Supervised; url: string }> {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'codec-server.log');
  const args = ['codec-server', '--listen', '127.0.0.1:0', '--ui-origin', uiOrigin, '--keys-file', keysFile, '--json'];
  const command = [join(ROOT, 'cli', 'main.ts'), ...args];
  const proc = startProcess('tempered-codec-server', process.execPath, command, { cwd: ROOT, logFile });
  const listening = () => {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    const line = log.split('\n').find((l) => l.startsWith('{"url":'));
    return line ? (JSON.parse(line) as { url: string }).url : undefined;
  };
  const options = { timeoutMs: 60_000, intervalMs: 100, process: proc };
  await waitUntil('codec server', async () => listening() !== undefined, options);
  return { proc, url: listening() as string };
}

/** Runs `tempered sim datacenter` as its own process and returns the BMCs it lists once listening. */
async function startSimulatedDatacenter(
  dir: string,
  hosts: number,
  say: (m: string) => void,
): Promise<{ proc: Supervised; agentUrl: string | undefined; bmcs: DemoBmc[] }> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'bmcs.json');
  say(`starting the simulated data centre: ${hosts} BMCs, a mix of vendor profiles`);
  const sim: Supervised = startProcess('tempered-sim', process.execPath, [join(ROOT, 'cli', 'main.ts'), 'sim', 'datacenter', '--hosts', String(Math.max(hosts, 1)), '--profiles', 'mix', '--write', file, '--json'], {
    cwd: ROOT,
    logFile: join(dir, 'sim.log'),
  });
  await waitUntil('simulated data centre', async () => existsSync(file), { timeoutMs: 60_000, intervalMs: 100, process: sim });
  type Listed = Omit<DemoBmc, 'bootMACAddress'> & { bootMACAddress?: string | null };
  const listing = JSON.parse(readFileSync(file, 'utf8')) as { agentUrl?: string; bmcs: Listed[] };
  return {
    proc: sim,
    agentUrl: listing.agentUrl,
    bmcs: listing.bmcs.slice(0, hosts).map((b) => ({
      address: b.address,
      username: b.username,
      password: b.password,
      ...(b.bootMACAddress ? { bootMACAddress: b.bootMACAddress } : {}),
      ...(b.disks
        ? { disks: b.disks.map((d) => ({ name: d.name, serial: d.serial, sizeBytes: d.sizeBytes, path: d.path })) }
        : {}),
    })),
  };
}

main().catch((err: unknown) => {
  console.error(`tempered: npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
