/**
 * `npm start`: the main job on the embedded default. Installs what is missing, brings the local stack up
 * (Temporal dev server with its Web UI, kube-apiserver + etcd with the CRDs, BMC peers), starts Tempered
 * itself (a worker and a bridge, with the validating webhook), creates the simulated hosts (BMCs, credential
 * Secrets, BareMetalHosts; every other one with a live ISO to boot), writes `.tempered/stack.json`, prints
 * where everything is, shows how many hosts are in each state, and runs until Ctrl-C, when it stops
 * everything it started.
 *
 *   npm start -- [--hosts N] [--bmc sim|sushy]
 *
 * `--bmc sim` (the default) runs the simulated data centre (`tempered sim datacenter`, a mix of vendor
 * profiles) as its own process; `--bmc sushy` uses sushy-tools' fake systems.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { imageTools } from './binaries.ts';
import { createDemoHosts, type DemoBmc, type DemoHost } from './demo-hosts.ts';
import { makeDemoImage } from './demo-image.ts';
import { startEngine, type Engine } from './engine.ts';
import { startImageServer, type ImageServer } from './image-server.ts';
import { startStack, type Stack } from './index.ts';
import { startLiveView } from './live-view.ts';
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
  temporal: { address: string; namespace: string; ui: string | undefined; cli: string };
  hosts: DemoHost[];
  bmc: {
    kind: 'sushy' | 'sim';
    url?: string;
    file?: string;
    /** The simulator's agent server and control API (`/_sim/`). */
    agentUrl?: string;
  };
  /** Tempered's own processes and their JSON logs; `agentApi` is the URL deploy agents call (Ironic's API). */
  engine: { workerLog: string; bridgeLog: string; agentApi: string; agentApiLog: string };
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm start -- [--hosts N] [--bmc sim|sushy]');
    process.exit(0);
  }
  const hosts = Number(values.hosts);
  if (!Number.isInteger(hosts) || hosts < 0 || hosts > 1000) throw new Error(`--hosts must be a whole number from 0 to 1000, got '${values.hosts}'`);
  if (values.bmc !== 'sushy' && values.bmc !== 'sim') throw new Error(`--bmc must be 'sim' or 'sushy', got '${values.bmc}'`);
  return { hosts, bmc: values.bmc as 'sim' | 'sushy' };
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
    await stack?.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('Ctrl-C'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  say(`bringing up the local stack in ${stateDir} (first run builds the servers from the package registries: several minutes)`);
  stack = await startStack({
    stateDir,
    temporal: { ui: true },
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
  say('starting Tempered: a worker, a bridge (with the validating webhook) and the agent API');
  // The deploy ISO the agent API remasters for hosts that clean or write a disk image (Metal3's DEPLOY_ISO_URL).
  engine = await startEngine({ stateDir: join(stateDir, 'engine'), temporal, kubeconfig, admission: true, env: { TEMPERED_IPA_ISO_URL: ipaIso } });
  // Every other host boots the live ISO, the others get the qcow2 image; the parity flips every six hosts so
  // each vendor profile of the simulator's mix (six of them) gets hosts of both kinds.
  const hosts = await createDemoHosts(kubeconfig, DEMO_NAMESPACE, bmcs.map((b, i) => ({
    ...b,
    ...((i + Math.floor(i / 6)) % 2 === 1 ? { liveIso } : diskImage ? { diskImage } : {}),
  })));

  const handle: StackJson = {
    kubeconfig,
    kubectl: kube.kubectl,
    temporal: { address: temporal.address, namespace: temporal.namespace, ui: temporal.ui, cli: temporal.cli },
    hosts,
    bmc: sushy
      ? { kind: 'sushy', url: sushy.url }
      : { kind: 'sim', file: join(stateDir, 'sim', 'bmcs.json'), ...(simAgentUrl ? { agentUrl: simAgentUrl } : {}) },
    engine: {
      workerLog: engine.worker().logFile,
      bridgeLog: engine.bridges()[0]?.logFile ?? '',
      agentApi: engine.agentApi().url,
      agentApiLog: engine.agentApi().logFile,
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
    `  Temporal UI   ${temporal.ui}/namespaces/${temporal.namespace}/workflows`,
    `  Temporal      ${temporal.address} (namespace ${temporal.namespace}; CLI ${temporal.cli})`,
    `  kubeconfig    ${kubeconfig}`,
    `  BMCs          ${sushy ? `sushy-tools at ${sushy.url}` : `simulated data centre (a mix of vendor profiles), listed in ${join(stateDir, 'sim', 'bmcs.json')}`}`,
    `  agent API     ${handle.engine.agentApi} (what deploy agents call)`,
    `  logs          ${handle.engine.workerLog}, ${handle.engine.bridgeLog}, ${handle.engine.agentApiLog}`,
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
