/**
 * The lifecycle benchmark (PERFORMANCE.md's first target): N BareMetalHosts with a live ISO and `online:
 * true`, created at once, from nothing to `provisioned` through the real stack (Temporal dev server,
 * kube-apiserver, Tempered's worker, bridge and agent API processes) against sushy-tools or the simulator.
 * Prints hosts per minute, latency per host, CPU seconds per host of worker + bridge + Temporal server (and of
 * the apiserver and etcd apart), Redfish requests per host, Temporal tasks per host and status writes per host.
 * With `--image qcow2` (simulated BMCs only) each host instead gets a qcow2 disk image that the simulator's
 * deploy agent writes to its disk (issue 8's hosts/min figure; `npm run bench -- image` runs it for 50 hosts).
 *
 *   npm run bench -- lifecycle [--hosts 50] [--bmc sushy|sim] [--power-delay 0|stock] [--image live-iso|qcow2]
 *                              [--image-mib 64]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { startSimulator, type Simulator } from '../sim/index.ts';
import { imageTools } from '../stack/binaries.ts';
import { makeRawImage, toQcow2 } from '../stack/disk-images.ts';
import { startEngine } from '../stack/engine.ts';
import { startImageServer } from '../stack/image-server.ts';
import { startStack } from '../stack/index.ts';
import { liveProcessGroups } from '../stack/processes.ts';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) of a process and its threads, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The figures of one run, for a caller that records them (bench/image.ts). */
export interface LifecycleFigures {
  hosts: number;
  provisioned: number;
  seconds: number;
  hostsPerMinute: number;
  latencySeconds: { p50: number; p90: number; max: number };
  cpuSecondsPerHost: { worker: number; bridge: number; temporal: number };
  /** With `--image qcow2`: images the simulated agents wrote (one per host when nothing was written twice). */
  imageWrites?: number;
}

export async function run(args: string[]): Promise<LifecycleFigures> {
  const { values } = parseArgs({
    args,
    options: {
      hosts: { type: 'string', default: '50' },
      bmc: { type: 'string', default: 'sushy' },
      'power-delay': { type: 'string', default: '0' },
      image: { type: 'string', default: 'live-iso' },
      'image-mib': { type: 'string', default: '64' },
    },
  });
  const n = Number(values.hosts);
  const diskImage = values.image === 'qcow2';
  const bmcKind = values.bmc === 'sim' || diskImage ? 'sim' : 'sushy';
  const powerDelay = values['power-delay'] === 'stock' ? 'stock' : Number(values['power-delay']);
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-life-'));
  const what = diskImage
    ? `a ${values['image-mib']} MiB qcow2 image written by the simulator's deploy agent`
    : 'live ISO over virtual media';
  console.log(`${n} hosts, register -> provisioned (${what}), BMCs: ${bmcKind}, power delay: ${powerDelay}`);

  const stack = await startStack({ stateDir: dir, ipmi: false, sushy: bmcKind === 'sushy' ? { systems: n, powerDelay } : false });
  const sim: Simulator | undefined = bmcKind === 'sim' ? await startSimulator({ stateDir: join(dir, 'sim'), bmcs: { count: n, profiles: ['dmtf'], powerDelayMs: typeof powerDelay === 'number' ? powerDelay : 5000 } }) : undefined;
  const served: Parameters<typeof startImageServer>[0] = { '/live.iso': Buffer.alloc(4 * 1024 * 1024, 3) };
  if (diskImage) {
    // The image, its checksum file, and the deploy ISO the agent boots from (the stand-in IPA ISO).
    await makeRawImage(join(dir, 'os.raw'), Number(values['image-mib']));
    const qcow2 = await toQcow2(join(dir, 'os.raw'), join(dir, 'os.qcow2'));
    const { xorriso } = await imageTools(() => {});
    await buildStandInIpaIso(join(dir, 'ipa.iso'), { xorriso });
    served['/os.qcow2'] = { path: join(dir, 'os.qcow2') };
    served['/SHA256SUMS'] = `${createHash('sha256').update(qcow2).digest('hex')}  os.qcow2\n`;
    served['/ipa.iso'] = { path: join(dir, 'ipa.iso') };
  }
  const images = await startImageServer(served);
  const { temporal, kube, sushy } = stack;
  if (!temporal || !kube) throw new Error('stack incomplete');
  const engine = await startEngine({
    stateDir: join(dir, 'engine'),
    temporal,
    kubeconfig: kube.kubeconfig,
    ...(diskImage ? { env: { TEMPERED_IPA_ISO_URL: images.url('/ipa.iso') } } : {}),
  });
  const image = diskImage
    ? { url: images.url('/os.qcow2'), checksum: images.url('/SHA256SUMS'), format: 'qcow2' }
    : { url: images.url('/live.iso'), format: 'live-iso' };
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kube.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const ns = 'bench';
  await core.createNamespace({ body: { metadata: { name: ns } } });

  const bmcs = sushy
    ? sushy.systems.map((s) => ({ address: `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${s.path}`, username: sushy.username, password: sushy.password }))
    : (sim?.bmcs ?? []).map((b) => ({ address: b.address, username: b.username, password: b.password }));
  for (const [i, b] of bmcs.entries()) {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `host-${i}-bmc` }, stringData: { username: b.username, password: b.password } } });
  }
  const sushyLog = sushy ? join(dir, 'sushy', 'sushy.log') : undefined;
  const requestsBefore = sushyLog ? (readFileSync(sushyLog, 'utf8').match(/HTTP\/1\.[01]" \d{3}/g) ?? []).length : 0;

  // CPU of every process the stack and engine started, by role.
  const roles = (): Map<string, number[]> => {
    const map = new Map<string, number[]>();
    for (const pid of liveProcessGroups()) {
      const cmd = commandOf(pid);
      const role = cmd.includes('temporal') && cmd.includes('start-dev') ? 'temporal server'
        : cmd.includes('workers/worker.ts') ? 'worker'
        : cmd.includes('workers/bridge.ts') ? 'bridge'
        : cmd.includes('workers/agent-api.ts') ? 'agent API'
        : cmd.includes('kube-apiserver') ? 'kube-apiserver'
        : cmd.includes('etcd') ? 'etcd'
        : cmd.includes('sushy') ? 'sushy-tools (the BMCs)' : 'other';
      map.set(role, [...(map.get(role) ?? []), pid]);
    }
    return map;
  };
  const cpu = () => new Map([...roles()].map(([role, pids]) => [role, pids.reduce((s, p) => s + cpuSeconds(p), 0)]));
  const cpuBefore = cpu();
  const t0 = performance.now();
  const created = new Map<string, number>();
  const done = new Map<string, number>();
  for (let i = 0; i < bmcs.length; i++) {
    const name = `host-${i}`;
    created.set(name, performance.now());
    await objects.createNamespacedCustomObject({
      group: 'metal3.io', version: 'v1alpha1', namespace: ns, plural: 'baremetalhosts',
      body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name }, spec: { online: true, automatedCleaningMode: 'disabled', bmc: { address: bmcs[i]!.address, credentialsName: `${name}-bmc` }, ...(diskImage && sim?.bmcs[i]?.bootMACAddress ? { bootMACAddress: sim.bmcs[i]?.bootMACAddress } : {}), image } },
    });
  }
  const deadline = Date.now() + 30 * 60_000;
  while (done.size < bmcs.length && Date.now() < deadline) {
    const list = (await objects.listNamespacedCustomObject({ group: 'metal3.io', version: 'v1alpha1', namespace: ns, plural: 'baremetalhosts' })) as { items: { metadata: { name: string }; status?: { provisioning?: { state?: string }; operationalStatus?: string } }[] };
    for (const h of list.items) if (h.status?.provisioning?.state === 'provisioned' && !done.has(h.metadata.name)) done.set(h.metadata.name, performance.now());
    await new Promise((r) => setTimeout(r, 200));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpuAfter = cpu();
  const requestsAfter = sushyLog ? (readFileSync(sushyLog, 'utf8').match(/HTTP\/1\.[01]" \d{3}/g) ?? []).length : 0;
  const redfishRequests = sushy ? requestsAfter - requestsBefore : (sim?.bmcs ?? []).reduce((s, b) => s + Object.values(b.counters().requests).reduce((a, c) => a + c, 0), 0);

  // Temporal tasks per host, from the histories (host workflow + children).
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  let workflowTasks = 0;
  let activityTasks = 0;
  let localActivities = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "bmh/${ns}/"` })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      if (e.workflowTaskCompletedEventAttributes) workflowTasks += 1;
      if (e.activityTaskCompletedEventAttributes || e.activityTaskFailedEventAttributes) activityTasks += 1;
      if (e.markerRecordedEventAttributes) localActivities += 1;
    }
  }
  await connection.close();
  const statusWrites = (engine.logs().match(/"msg":"status written"/g) ?? []).length;

  const latencies = [...done.entries()].map(([name, t]) => (t - (created.get(name) ?? t)) / 1000);
  const spent = (role: string) => (cpuAfter.get(role) ?? 0) - (cpuBefore.get(role) ?? 0);
  const ours = spent('worker') + spent('bridge') + spent('temporal server');
  const rows: [string, string][] = [
    ['hosts provisioned', `${done.size} / ${bmcs.length} in ${elapsed.toFixed(1)} s`],
    ['throughput', `${((done.size / elapsed) * 60).toFixed(1)} hosts/min`],
    ['latency per host (create -> provisioned)', `p50 ${percentile(latencies, 50).toFixed(1)} s, p90 ${percentile(latencies, 90).toFixed(1)} s, max ${Math.max(0, ...latencies).toFixed(1)} s`],
    ['CPU-s per host: worker + bridge + Temporal', `${(ours / n).toFixed(3)} (worker ${(spent('worker') / n).toFixed(3)}, bridge ${(spent('bridge') / n).toFixed(3)}, Temporal server ${(spent('temporal server') / n).toFixed(3)})`],
    ['CPU-s per host: apiserver + etcd', `${((spent('kube-apiserver') + spent('etcd')) / n).toFixed(3)}`],
    ['CPU-s per host: the BMCs', bmcKind === 'sushy' ? `${(spent('sushy-tools (the BMCs)') / n).toFixed(3)}` : 'in-process simulator (not measured)'],
    ['Redfish requests per host', `${(redfishRequests / n).toFixed(1)}`],
    ['Temporal tasks per host', `${((workflowTasks + activityTasks) / n).toFixed(1)} (${(workflowTasks / n).toFixed(1)} workflow, ${(activityTasks / n).toFixed(1)} activity; ${(localActivities / n).toFixed(1)} local activities, no task each)`],
    ['status writes per host', `${(statusWrites / n).toFixed(1)}`],
  ];
  const imageWrites = diskImage ? (sim?.bmcs ?? []).reduce((s, b) => s + b.agentCounters().imageWrites, 0) : undefined;
  if (imageWrites !== undefined) rows.push(['images written by the agents', `${imageWrites} (for ${done.size} hosts)`]);
  for (const [k, v] of rows) console.log(`${k.padEnd(44)} ${v}`);

  await engine.stop();
  await images.stop();
  await sim?.stop();
  await stack.stop();
  // The simulated disks hold N written images: do not leave them in the temporary directory.
  if (diskImage) rmSync(dir, { recursive: true, force: true });
  return {
    hosts: n,
    provisioned: done.size,
    seconds: Number(elapsed.toFixed(1)),
    hostsPerMinute: Number(((done.size / elapsed) * 60).toFixed(1)),
    latencySeconds: {
      p50: Number(percentile(latencies, 50).toFixed(1)),
      p90: Number(percentile(latencies, 90).toFixed(1)),
      max: Number(Math.max(0, ...latencies).toFixed(1)),
    },
    cpuSecondsPerHost: {
      worker: Number((spent('worker') / n).toFixed(3)),
      bridge: Number((spent('bridge') / n).toFixed(3)),
      temporal: Number((spent('temporal server') / n).toFixed(3)),
    },
    ...(imageWrites !== undefined ? { imageWrites } : {}),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
