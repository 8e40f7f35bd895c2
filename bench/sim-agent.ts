/**
 * The simulator's deploy agent: how fast it writes an image to a simulated host's disk file, against the raw
 * write speed of the same file system measured in the same run (`dd`-style: 1 MiB blocks of random data to a
 * file, fsync'd), and how many simulated hosts per minute boot the deploy ISO, look up, and get a qcow2 image
 * written (driven as Ironic drives IPA, against the stand-in API of test/fakes/ironic-agent-api.ts), with the
 * simulator's CPU time per host. Run with `npm run bench -- sim-agent`. Figures, not assertions.
 *
 * Env: BENCH_IMAGE_MIB (image size, default 1024), BENCH_AGENT_HOSTS (default 50).
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeIronic } from '../test/fakes/ironic-agent-api.ts';
import { makeDeployIso, makeRawImage, toQcow2 } from '../test/fixtures/disk-images.ts';
import { type SimulatedBmc, type Simulator, startSimulator } from '../sim/index.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { type FileServer, bootIso, startFileServer } from '../test/sim.ts';

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
async function imageServer(dir: string): Promise<{ origin: string; stop: () => Promise<void> }> {
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
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<string>((resolve) =>
    child.stdout?.once('data', (data: Buffer) => resolve(data.toString().trim())),
  );
  // Resolves once it has exited: it reads the images from the state directory removed next.
  const stop = async () => {
    child.kill();
    await exited;
  };
  return { origin: `http://127.0.0.1:${port}`, stop };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Boots `bmc` into the agent, with a stand-in Ironic API of its own (it serves one node) and a deploy ISO that
 * names it, and returns that API once the agent heartbeats.
 */
async function booted(bmc: SimulatedBmc, files: FileServer, uuid: string): Promise<FakeIronic> {
  const node = { uuid, properties: {}, instance_info: {}, driver_internal_info: {} };
  const ironic = await FakeIronic.start({ node, macs: bmc.state().macs });
  const iso = await makeDeployIso({ 'ipa-api-url': ironic.url, 'ipa-agent-token': TOKEN });
  await bootIso(bmc, files.addBytes(`/${uuid}.iso`, iso));
  await until(() => ironic.heartbeats.length > 0, 120_000);
  return ironic;
}

async function write(ironic: FakeIronic, info: Record<string, unknown>): Promise<void> {
  const step = { step: 'write_image', interface: 'deploy', args: { image_info: info } };
  const done = await ironic.command('deploy.execute_deploy_step', { step, node: ironic.node, ports: [] }, 600_000);
  if (done.command_status !== 'SUCCEEDED') throw new Error(`write failed: ${JSON.stringify(done.command_error)}`);
}

/** A whole-disk GPT image of `mib` MiB of random data, its qcow2 conversion, and their SHA-256. */
async function images(dir: string, name: string, mib: number) {
  const raw = join(dir, `${name}.raw`);
  const rawSha256 = createHash('sha256').update(await makeRawImage(raw, mib)).digest('hex');
  const qcow2Sha256 = createHash('sha256').update(await toQcow2(raw, join(dir, `${name}.qcow2`))).digest('hex');
  return { rawSha256, qcow2Sha256 };
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sim-agent-'));
  console.log(`  state in ${dir}`);
  let files: FileServer | undefined;
  let server: Awaited<ReturnType<typeof imageServer>> | undefined;
  const apis: FakeIronic[] = [];
  let sim: Simulator | undefined;
  try {
    // Named apart from the variables the finally stops: closures below keep their types.
    const isoFiles = (files = await startFileServer());
    const { origin } = (server = await imageServer(dir));
    // 1. One big image on one host, raw stream and qcow2, against dd on the same file system.
    const big = await images(dir, 'big', IMAGE_MIB);

    sim = await startSimulator({
      stateDir: join(dir, 'state-1'),
      bmcs: [{ id: 'big', profile: 'dmtf', agentSettings: { forcedHeartbeatMinMs: 0 } }],
      log: (line) => {
        if (process.env.BENCH_VERBOSE) console.log(line);
      },
    });
    const ironic = await booted(sim.bmc('big'), isoFiles, 'bench-big');
    apis.push(ironic);
    const dd = rawWriteSpeed(dir, IMAGE_MIB);
    const timed = async (info: Record<string, unknown>) => {
      const started = performance.now();
      await write(ironic, info);
      return IMAGE_MIB / ((performance.now() - started) / 1000);
    };
    const rawSpeed = await timed({
      id: 'big.raw',
      urls: [`${origin}/big.raw`],
      disk_format: 'raw',
      stream_raw_images: true,
      os_hash_algo: 'sha256',
      os_hash_value: big.rawSha256,
    });
    const qcow2Speed = await timed({
      id: 'big.qcow2',
      urls: [`${origin}/big.qcow2`],
      disk_format: 'qcow2',
      checksum: big.qcow2Sha256,
    });
    console.log(
      `  ${IMAGE_MIB} MiB image on one host: raw stream ${rawSpeed.toFixed(0)} MiB/s, qcow2 via qemu-img ` +
        `${qcow2Speed.toFixed(0)} MiB/s; dd-style raw write of the same file system ${dd.toFixed(0)} MiB/s (ratio ` +
        `${(rawSpeed / dd).toFixed(2)} / ${(qcow2Speed / dd).toFixed(2)})`,
    );
    await sim.stop();
    rmSync(join(dir, 'state-1'), { recursive: true, force: true });

    // 2. Many hosts at once: boot, look up, heartbeat, write a small qcow2 image.
    const small = await images(dir, 'small', 16);
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
        const api = await booted(host, isoFiles, `bench-${index}`);
        apis.push(api);
        await write(api, {
          id: 'small.qcow2',
          urls: [`${origin}/small.qcow2`],
          disk_format: 'qcow2',
          os_hash_algo: 'sha256',
          os_hash_value: small.qcow2Sha256,
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
    await files?.close();
    await Promise.all(apis.map((api) => api.close()));
    await server?.stop();
    console.log(`  ${(await endStateDir(dir)).line}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
