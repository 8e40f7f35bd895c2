/**
 * The simulator's deploy agent: how fast it writes an image to a simulated host's disk file, against the raw
 * write speed of the same file system measured in the same run (`dd`-style: 1 MiB blocks of random data to a
 * file, fsync'd), and how many simulated hosts per minute boot the deploy ISO, look up, and get a qcow2 image
 * written (driven as Ironic drives IPA, against the stand-in API of test/fakes/ironic-api.ts), with the
 * simulator's CPU time per host. Run with `npm run bench -- sim-agent`. Figures, not assertions.
 *
 * Env: BENCH_IMAGE_MIB (image size, default 1024), BENCH_AGENT_HOSTS (default 50).
 */
import { createHash, randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCommandClient, startFakeIronicApi, type FakeIronicApi } from '../test/fakes/ironic-api.ts';
import { convertImage, imageTools, makeDeployIso, makeDiskImage } from '../test/disk-images.ts';
import { type SimulatedBmc, type Simulator, startSimulator } from '../sim/index.ts';
import { bootIso, startFileServer } from '../sim/testing.ts';

const MIB = 1024 * 1024;
const IMAGE_MIB = Number(process.env.BENCH_IMAGE_MIB ?? 1024);
const HOSTS = Number(process.env.BENCH_AGENT_HOSTS ?? 50);
const TOKEN = 'bench-token-0123456789-0123456789-0123456789';

function rawWriteSpeed(dir: string, mib: number): number {
  const path = join(dir, 'dd.bin');
  const block = randomBytes(MIB);
  const fd = openSync(path, 'w');
  const started = performance.now();
  for (let index = 0; index < mib; index += 1) writeSync(fd, block, 0, MIB, index * MIB);
  fsyncSync(fd);
  const seconds = (performance.now() - started) / 1000;
  closeSync(fd);
  rmSync(path);
  return mib / seconds;
}

/**
 * A static file server for the images in its own process, as the engine's image server would be (serving from
 * the benchmark's own event loop would halve what the agent can receive).
 */
async function imageServer(dir: string): Promise<{ origin: string; child: ChildProcess }> {
  const code = `
    const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path');
    const server = http.createServer((req, res) => {
      const file = path.join(${JSON.stringify(dir)}, path.basename(req.url));
      fs.stat(file, (error, info) => {
        if (error) { res.writeHead(404).end(); return; }
        res.writeHead(200, { 'content-length': info.size });
        fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) =>
    child.stdout?.once('data', (data: Buffer) => resolve(data.toString().trim())),
  );
  return { origin: `http://127.0.0.1:${port}`, child };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Boots `bmc` into the agent and returns a command client once it heartbeats. */
async function booted(bmc: SimulatedBmc, ironic: FakeIronicApi, iso: string, uuid: string) {
  ironic.addNode({ uuid, macs: bmc.state().macs, token: TOKEN, pregenerated: true });
  await bootIso(bmc, iso);
  await until(() => ironic.lastHeartbeat(uuid) !== undefined, 120_000);
  return agentCommandClient(ironic.lastHeartbeat(uuid)?.body.callback_url ?? '', TOKEN);
}

async function write(agent: ReturnType<typeof agentCommandClient>, info: Record<string, unknown>): Promise<void> {
  await agent.run('deploy.execute_deploy_step', {
    step: { step: 'write_image', interface: 'deploy', args: { image_info: info } },
    node: { uuid: 'x' },
    ports: [],
  });
  const done = await agent.waitFor('execute_deploy_step', 600_000);
  if (done.command_status !== 'SUCCEEDED') throw new Error(`write failed: ${JSON.stringify(done.command_error)}`);
}

export async function run(): Promise<void> {
  const tools = await imageTools();
  const dir = mkdtempSync(join(tmpdir(), 'bench-sim-agent-'));
  const files = await startFileServer();
  const ironic = await startFakeIronicApi();
  const images = await imageServer(dir);
  let sim: Simulator | undefined;
  try {
    const iso = files.addBytes(
      '/deploy.iso',
      makeDeployIso(tools, dir, { 'ipa-api-url': ironic.url, 'ipa-agent-token': TOKEN }),
    );

    // 1. One big image on one host, raw stream and qcow2, against dd on the same file system.
    const big = makeDiskImage(tools, join(dir, 'big.raw'), {
      label: 'gpt',
      sizeMiB: IMAGE_MIB,
      dataMiB: IMAGE_MIB - 4,
    });
    const bigQcow2 = convertImage(tools, big.path, 'qcow2');

    sim = await startSimulator({
      stateDir: join(dir, 'state-1'),
      bmcs: [{ id: 'big', profile: 'dmtf', agentSettings: { forcedHeartbeatMinMs: 0 } }],
      log: (line) => {
        if (process.env.BENCH_VERBOSE) console.log(line);
      },
    });
    const bmc = sim.bmc('big');
    const agent = await booted(bmc, ironic, iso, 'bench-big');
    const dd = rawWriteSpeed(dir, IMAGE_MIB);
    const timed = async (info: Record<string, unknown>) => {
      const started = performance.now();
      await write(agent, info);
      return IMAGE_MIB / ((performance.now() - started) / 1000);
    };
    const rawSpeed = await timed({
      id: 'big.raw',
      urls: [`${images.origin}/big.raw`],
      disk_format: 'raw',
      stream_raw_images: true,
      os_hash_algo: 'sha256',
      os_hash_value: big.sha256,
    });
    const qcow2Speed = await timed({
      id: 'big.qcow2',
      urls: [`${images.origin}/big.qcow2`],
      disk_format: 'qcow2',
      checksum: createHash('sha256').update(readFileSync(bigQcow2)).digest('hex'),
    });
    console.log(
      `  ${IMAGE_MIB} MiB image on one host: raw stream ${rawSpeed.toFixed(0)} MiB/s, qcow2 via qemu-img ` +
        `${qcow2Speed.toFixed(0)} MiB/s; dd-style raw write of the same file system ${dd.toFixed(0)} MiB/s (ratio ` +
        `${(rawSpeed / dd).toFixed(2)} / ${(qcow2Speed / dd).toFixed(2)})`,
    );
    await sim.stop();
    rmSync(join(dir, 'state-1'), { recursive: true, force: true });

    // 2. Many hosts at once: boot, look up, heartbeat, write a small qcow2 image.
    const small = makeDiskImage(tools, join(dir, 'small.raw'), { label: 'gpt', sizeMiB: 64, dataMiB: 8 });
    const smallQcow2 = convertImage(tools, small.path, 'qcow2');
    const checksum = createHash('sha256').update(readFileSync(smallQcow2)).digest('hex');
    // Every profile, with the quirks that need a vendor-aware driver to boot virtual media switched off.
    const quirks = {
      remove: [
        'vmedia-patch-only',
        'if-match-required',
        'vmedia-boot-needs-oem',
        'vmedia-slot1-only',
        'vmedia-boot-usbcd',
        'eject-before-insert',
      ],
    };
    sim = await startSimulator({
      stateDir: join(dir, 'state-n'),
      bmcs: {
        count: HOSTS,
        profiles: 'mix',
        password: 'pw',
        quirks,
        quirkWindowMs: 0,
        agentSettings: { forcedHeartbeatMinMs: 0 },
      },
      layout: 'shared',
    });
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const fleet = sim;
    await Promise.all(
      fleet.bmcs.map(async (host, index) => {
        const client = await booted(host, ironic, iso, `bench-${index}`);
        await write(client, {
          id: 'small.qcow2',
          urls: [`${images.origin}/small.qcow2`],
          disk_format: 'qcow2',
          os_hash_algo: 'sha256',
          os_hash_value: checksum,
        });
      }),
    );
    const minutes = (performance.now() - started) / 60_000;
    const cpu = process.cpuUsage(cpuBefore);
    const writes = fleet.bmcs.reduce((sum, host) => sum + host.agentCounters().imageWrites, 0);
    console.log(
      `  ${HOSTS} hosts boot -> lookup -> qcow2 written: ${(HOSTS / minutes).toFixed(0)} hosts/min, ` +
        `${((cpu.user + cpu.system) / 1e6 / HOSTS).toFixed(3)} CPU-s per host in this process (simulator + fake API ` +
        `+ file server; qemu-img not counted), ${writes} image writes`,
    );
  } finally {
    await sim?.stop();
    await files.close();
    await ironic.close();
    images.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
