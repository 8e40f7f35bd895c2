/**
 * `npm run bench -- ipa [hosts]`: what a simulated host on the real ironic-python-agent costs, so the suite can
 * size how many of them it runs on 2 cores. Boots N hosts at once (default 3; one 5 GiB sparse disk each, a
 * fake Ironic each), and prints the time from boot to lookup and to the first heartbeat, the latency of a
 * synchronous command (get_deploy_steps) and of a command listing, the CPU time and resident memory of each
 * agent's process tree, its CPU use while idle, and the time to stop. IPA is installed first (cached), outside
 * the timings.
 */
import { mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipaRunner, type IpaRamdisk } from '../sim/agent/ipa-runner.ts';
import { ipaAgent } from '../stack/ipa.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { waitUntil } from '../stack/processes.ts';
import { FakeIronic } from '../test/fakes/ironic-agent-api.ts';

const TICKS = 100; // USER_HZ on Linux

function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i] as number) ?? []));
  return tree;
}

function rssKiB(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += Number(match?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks / TICKS;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x: number | undefined) => (x ?? 0).toFixed(2);
  return `min ${f(s[0])} / median ${f(s[Math.floor(s.length / 2)])} / max ${f(s[s.length - 1])}`;
};

export async function run(args: string[]): Promise<void> {
  const hosts = Number(args[0] ?? 3);
  await ipaAgent((m) => console.log(`  ${m}`));
  const dir = mkdtempSync(join(tmpdir(), 'bench-ipa-'));
  const runner = ipaRunner({ stateDir: dir });
  type Booted = { ironic: FakeIronic; ramdisk: IpaRamdisk; started: number; lookup: number; heartbeat: number };
  const booted: Booted[] = [];
  // Every fake Ironic and ramdisk started, booted or not: all are stopped before the directory goes.
  const started: { ironic: FakeIronic; ramdisk?: IpaRamdisk }[] = [];
  try {
    // Settled, not Promise.all: when one host fails, the others must not still be booting while they are stopped.
    const boots = await Promise.allSettled(Array.from({ length: hosts }, async (_, i) => {
      const mac = `52:54:00:be:00:${i.toString(16).padStart(2, '0')}`;
      const disk = join(dir, `host-${i}.img`);
      writeFileSync(disk, '');
      truncateSync(disk, 5 * 1024 ** 3);
      const ironic = await FakeIronic.start({
        node: {
          uuid: `be000000-0000-4000-8000-${i.toString().padStart(12, '0')}`,
          properties: {}, instance_info: {}, driver_internal_info: {},
        },
        macs: [mac],
      });
      const host: (typeof started)[number] = { ironic };
      started.push(host);
      const bootedAt = Date.now();
      const ramdisk = await runner.start({
        host: { id: `bench-${i}`, macs: [mac], cpus: 2, memoryMiB: 4096 },
        params: { 'ipa-api-url': ironic.url, 'ipa-agent-token': 'b'.repeat(43) },
        disks: [{
          name: '/dev/sda', path: disk, sizeBytes: 5 * 1024 ** 3, model: 'BENCH', vendor: 'T', serial: `B${i}`,
          rotational: false,
        }],
        bootMode: 'UEFI',
        powerOff: () => {},
        log: () => {},
      });
      host.ramdisk = ramdisk;
      await waitUntil('lookup', async () => ironic.lookups.length > 0, { timeoutMs: 180_000, intervalMs: 20 });
      const lookup = Date.now();
      await waitUntil('heartbeat', async () => ironic.heartbeats.length > 0, { timeoutMs: 180_000, intervalMs: 20 });
      booted.push({ ironic, ramdisk, started: bootedAt, lookup: lookup - bootedAt, heartbeat: Date.now() - bootedAt });
    }));
    const failed = boots.find((b) => b.status === 'rejected');
    if (failed) throw failed.reason;
    console.log(`  ${hosts} hosts booted at once on ${process.env.CI ? 'CI' : 'this machine'}`);
    console.log(`  boot -> lookup (s):         ${stats(booted.map((b) => b.lookup / 1000))}`);
    console.log(`  boot -> first heartbeat (s): ${stats(booted.map((b) => b.heartbeat / 1000))}`);

    const sync: number[] = [];
    const list: number[] = [];
    for (const { ironic } of booted) {
      for (let k = 0; k < 5; k++) {
        let t = performance.now();
        await ironic.command('deploy.get_deploy_steps', { node: ironic.node, ports: [] });
        sync.push(performance.now() - t);
        t = performance.now();
        await ironic.agent('GET', '/v1/commands/');
        list.push(performance.now() - t);
      }
    }
    console.log(`  get_deploy_steps round trip (ms, incl. one listing): ${stats(sync)}`);
    console.log(`  GET /v1/commands/ (ms):      ${stats(list)}`);

    const trees = booted.map((b) => processTree(b.ramdisk.pid));
    console.log(`  CPU used per agent so far, boot + 5 commands (s): ${stats(trees.map(cpuSeconds))}`);
    console.log(`  RSS per agent, whole process tree (MiB): ${stats(trees.map((t) => rssKiB(t) / 1024))}`);
    const idleSeconds = 20;
    const before = trees.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idle = trees.map((t, i) => (cpuSeconds(t) - (before[i] ?? 0)) / idleSeconds);
    console.log(`  idle CPU per agent over ${idleSeconds} s (cores): ${stats(idle)}`);
  } finally {
    const stops: number[] = [];
    for (const { ironic, ramdisk } of started) {
      const t = performance.now();
      await ramdisk?.stop();
      if (ramdisk) stops.push(performance.now() - t);
      await ironic.close();
    }
    if (stops.length) console.log(`  stop, incl. loop detach (ms): ${stats(stops)}`);
    console.log(`  ${(await endStateDir(dir)).line}`);
  }
}
