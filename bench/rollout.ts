/**
 * The rollout benchmark (issue 10): one FirmwareRollout flashing the BIOS of N simulated hosts (three vendor
 * profiles) through the real stack (Temporal dev server, kube-apiserver, Tempered's worker and bridge
 * processes). The simulator's BMC tasks take the time a real flash takes, compressed by a factor printed with
 * the figures; Tempered's task polling is compressed by the same factor. Prints hosts per minute, the flash
 * time per host, and CPU seconds per host of the engine (worker + bridge + Temporal server), with the
 * apiserver and etcd apart; checks every host was flashed exactly once. Appends to bench/results/rollout.jsonl.
 *
 *   npm run bench -- rollout [--hosts 200] [--compression 60] [--max-unavailable 20] [--waves 25,50,100]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { describeFirmwareTiming, maxOverlap, startSimulator, type Simulator } from '../sim/index.ts';
import { startEngine, type Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startStack, type Stack } from '../stack/index.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { cpuByRole, cpuSpent } from './engine-cpu.ts';
import { recordResult } from './results.ts';

const PROFILES = ['dmtf', 'ilo5', 'xcc'] as const;
/** Tempered's production polling of a firmware task, and when a task still Starting means "held for a reboot". */
const TASK_POLL_MS = 10_000;
const HELD_AFTER_MS = 30_000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      hosts: { type: 'string', default: '200' },
      compression: { type: 'string', default: '60' },
      'max-unavailable': { type: 'string', default: '20' },
      waves: { type: 'string', default: '25,50,100' },
    },
  });
  const n = Number(values.hosts);
  const compression = Number(values.compression);
  const maxUnavailable = Number(values['max-unavailable']);
  const waves = values.waves.split(',').map(Number);
  const pollMs = Math.max(100, Math.round(TASK_POLL_MS / compression));
  const heldMs = Math.max(500, Math.round(HELD_AFTER_MS / compression));
  const timing = describeFirmwareTiming(compression);
  const plan = `canary 1, waves ${waves.join('/')}, maxUnavailable ${maxUnavailable}`;
  console.log(`${n} hosts (${PROFILES.join(', ')}), BIOS update, ${plan}`);
  console.log(`${timing}; task polling ${TASK_POLL_MS} ms -> ${pollMs} ms`);

  // Two 200-host runs on the loaded shared machine ended with exit 0 and no figures while hosts were being
  // created: if nothing keeps the process alive before the figures are out, say so and fail.
  const silentEnd = () => {
    console.error('rollout bench: the process ran out of work before the rollout ended (no figures)');
    process.exitCode = 1;
  };
  process.once('beforeExit', silentEnd);
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-rollout-'));
  console.log(`state in ${dir}`);
  let stack: Stack | undefined;
  let sim: Simulator | undefined;
  let files: ImageServer | undefined;
  let engine: Engine | undefined;
  try {
    stack = await startStack({ stateDir: dir, ipmi: false, sushy: false });
    sim = await startSimulator({
      bmcs: Array.from({ length: n }, (_, i) => ({
        profile: PROFILES[i % PROFILES.length],
        id: `${PROFILES[i % PROFILES.length]}-${i}`,
        uniqueIdentity: true,
        firmwareCompression: compression,
      })),
    });
    const image = 'bios-9.9.9.bin';
    files = await startImageServer({ [`/${image}`]: Buffer.alloc(64 * 1024, 9) });
    const { temporal, kube } = stack;
    if (!temporal || !kube) throw new Error('stack incomplete');
    engine = await startEngine({
      stateDir: join(dir, 'engine'),
      temporal,
      kubeconfig: kube.kubeconfig,
      env: { TEMPERED_FIRMWARE_TASK_POLL_MS: String(pollMs), TEMPERED_FIRMWARE_HELD_AFTER_MS: String(heldMs) },
    });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kube.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const objects = kc.makeApiClient(k8s.CustomObjectsApi);
    const ns = 'bench';
    const metal3 = (plural: string) => ({ group: 'metal3.io', version: 'v1alpha1', namespace: ns, plural });
    await core.createNamespace({ body: { metadata: { name: ns } } });

    // The fleet, registered and its firmware read (not measured).
    const t0 = performance.now();
    for (const [i, bmc] of sim.bmcs.entries()) {
      const name = `host-${i}`;
      const stringData = { username: bmc.username, password: bmc.password };
      await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `${name}-bmc` }, stringData } });
      const spec = {
        online: false,
        inspectionMode: 'disabled',
        automatedCleaningMode: 'disabled',
        bootMACAddress: bmc.bootMACAddress,
        bmc: { address: bmc.address, credentialsName: `${name}-bmc` },
      };
      const metadata = { name, labels: { fleet: 'bench' } };
      await objects.createNamespacedCustomObject({
        ...metal3('baremetalhosts'),
        body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata, spec },
      });
    }
    type Listed = { items: { status?: { provisioning?: { state?: string }; components?: unknown[] } }[] };
    await until(
      'the fleet available with its firmware read',
      async () => {
        const hosts = (await objects.listNamespacedCustomObject(metal3('baremetalhosts'))) as Listed;
        const hfcs = (await objects.listNamespacedCustomObject(metal3('hostfirmwarecomponents'))) as Listed;
        const available = hosts.items.filter((h) => h.status?.provisioning?.state === 'available').length;
        const read = hfcs.items.filter((h) => (h.status?.components?.length ?? 0) > 0).length;
        return available === n && read === n;
      },
      60 * 60_000,
    );
    console.log(`fleet registered and read in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The measured part: the rollout, from its creation to Completed.
    const before = cpuByRole();
    const started = performance.now();
    await objects.createNamespacedCustomObject({
      group: 'tempered.dev',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'firmwarerollouts',
      body: {
        apiVersion: 'tempered.dev/v1alpha1',
        kind: 'FirmwareRollout',
        metadata: { name: 'bench' },
        spec: {
          selector: { matchLabels: { fleet: 'bench' } },
          updates: [{ component: 'bios', url: files.url(`/${image}`) }],
          strategy: { canary: 1, waves, maxUnavailable, failureBudget: 1 },
        },
      },
    });
    let phase = '';
    await until(
      'the rollout to end',
      async () => {
        const r = (await objects.getNamespacedCustomObject({
          group: 'tempered.dev',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'firmwarerollouts',
          name: 'bench',
        })) as { status?: { phase?: string } };
        phase = r.status?.phase ?? '';
        return ['Completed', 'Paused', 'Failed', 'Aborted'].includes(phase);
      },
      4 * 60 * 60_000,
    );
    const elapsed = (performance.now() - started) / 1000;
    const spent = cpuSpent(before, cpuByRole());

    const flashes = sim.bmcs.flatMap((b) => b.state().flashes.filter((f) => f.image === image));
    const once = sim.bmcs.filter((b) => b.counters().firmwareUpdatesByImage[image] === 1).length;
    const spans = flashes.map((f, i) => ({
      bmcId: `${i}`,
      method: 'FLASH',
      path: '',
      start: Date.parse(f.startedAt),
      end: f.endedAt ? Date.parse(f.endedAt) : Date.now(),
    }));
    const flashSeconds = spans.map((s) => (s.end - s.start) / 1000);
    const overlap = maxOverlap(spans);
    const engineCpu = spent.worker + spent.bridge + spent['temporal server'];
    const figures = {
      hosts: n,
      phase,
      compression,
      seconds: Number(elapsed.toFixed(1)),
      hostsPerMinute: Number(((n / elapsed) * 60).toFixed(1)),
      flashSecondsP50: Number(percentile(flashSeconds, 50).toFixed(2)),
      flashedOnce: once,
      mostFlashingAtOnce: overlap,
      cpuSecondsPerHost: {
        engine: Number((engineCpu / n).toFixed(3)),
        worker: Number((spent.worker / n).toFixed(3)),
        bridge: Number((spent.bridge / n).toFixed(3)),
        temporalServer: Number((spent['temporal server'] / n).toFixed(3)),
        apiserverAndEtcd: Number(((spent['kube-apiserver'] + spent.etcd) / n).toFixed(3)),
      },
    };
    const cpu = figures.cpuSecondsPerHost;
    const rows: [string, string][] = [
      ['rollout', `${phase}: ${n} hosts in ${elapsed.toFixed(1)} s`],
      ['throughput', `${figures.hostsPerMinute} hosts/min (flash time compressed ${compression}x)`],
      ['flash per host (simulated BMC task)', `p50 ${figures.flashSecondsP50} s (compressed)`],
      ['hosts flashed exactly once', `${once} / ${n}`],
      ['most hosts flashing at once', `${overlap} (maxUnavailable ${maxUnavailable})`],
      [
        'CPU-s per host: worker + bridge + Temporal',
        `${cpu.engine} (worker ${cpu.worker}, bridge ${cpu.bridge}, Temporal server ${cpu.temporalServer})`,
      ],
      ['CPU-s per host: apiserver + etcd', `${cpu.apiserverAndEtcd}`],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(44)} ${v}`);
    console.log(`recorded in ${recordResult('rollout', figures)}`);
    process.off('beforeExit', silentEnd);
  } finally {
    await engine?.stop();
    await files?.stop();
    await sim?.stop();
    await stack?.stop();
    console.log((await endStateDir(dir)).line);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
