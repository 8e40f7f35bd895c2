/**
 * The image write benchmark (PERFORMANCE.md: download + verify + write at ≥ 0.8× the raw write speed of the same
 * disk). A 1 GiB image of random bytes is served over HTTP by another process (the stack's image server) and
 * streamed through lib/image-stream.ts (sha256 verified on the fly, 8 MiB aligned writes, one fsync) onto a file
 * and onto a loop device; in the same run `dd` writes the same bytes to the same target with the same block size
 * and `conv=fsync`. The two alternate, N times each; medians are compared. Prints MiB/s and the ratio, and
 * appends the figures to bench/results/image.jsonl. Then the other half of issue 8's benchmark: N simulated
 * hosts (default 50) provisioning a qcow2 image through the real stack and the simulator's deploy agent, in
 * hosts/min (bench/fleet.ts `--bmc sim --image qcow2`; `--hosts 0` skips it).
 *
 *   npm run bench -- image [--size-mib 1024] [--runs 3] [--block-mib 8] [--hosts 50] [--host-image-mib 64]
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { streamImageToTarget } from '../lib/image-stream.ts';
import { imageTools } from '../stack/binaries.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { attachLoopDevice, type LoopDevice } from '../stack/loop-devices.ts';
import { run as runFleet } from './fleet.ts';
import { recordResult } from './results.ts';

const MiB = 1024 * 1024;

/** Writes `sizeBytes` of random data (a 64 MiB random pattern, repeated) and returns its sha256. */
function makeImage(path: string, sizeBytes: number): string {
  const chunk = randomFillSync(Buffer.allocUnsafe(64 * MiB));
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    for (let left = sizeBytes; left > 0; left -= chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, left));
      writeSync(fd, part);
      hash.update(part);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The share of time some task waited for a CPU over the last minute (Linux PSI), or undefined. */
function cpuPressure(): number | undefined {
  try {
    return Number(/avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/** Runs dd as the raw-write reference; returns wall seconds and its CPU seconds (bash's `time`). */
function ddWrite(source: string, target: string, blockSize: number): { seconds: number; cpu: number } {
  const started = performance.now();
  const run = spawnSync(
    'bash',
    [
      '-c',
      `TIMEFORMAT='%U %S'; time dd if="$1" of="$2" bs=${blockSize} conv=fsync,notrunc status=none`,
      'dd',
      source,
      target,
    ],
    { encoding: 'utf8' },
  );
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`dd failed: ${run.stderr}`);
  const [user, system] = run.stderr.trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
  return { seconds, cpu: (user ?? 0) + (system ?? 0) };
}

/** Serves `file` from a child process, so serving does not share this process's event loop. */
async function serveFromChild(file: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const server = fileURLToPath(new URL('../stack/image-server.ts', import.meta.url));
  const code = [
    `import { startImageServer } from ${JSON.stringify(server)};`,
    `const s = await startImageServer({ '/bench.img': { path: process.env.BENCH_IMAGE_FILE } });`,
    `process.stdout.write(s.url('/bench.img') + '\\n');`,
    `process.stdin.resume(); process.stdin.on('end', () => s.stop().then(() => process.exit(0)));`,
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, BENCH_IMAGE_FILE: file },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (c) => reject(new Error(`the image server exited (${c})`)));
  });
  // Resolves once it has exited: it reads the image from the state directory removed next.
  const stop = async () => {
    child.stdin.end();
    await exited;
  };
  return { url, pid: child.pid ?? 0, stop };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

interface TargetResult {
  target: string;
  rawMiBps: number[];
  streamMiBps: number[];
  rawMedianMiBps: number;
  streamMedianMiBps: number;
  ratio: number;
  /** CPU seconds per GiB: dd; the streaming process; the image server process. */
  ddCpuSecondsPerGiB: number;
  streamCpuSecondsPerGiB: number;
  serverCpuSecondsPerGiB: number;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'size-mib': { type: 'string', default: '1024' },
      runs: { type: 'string', default: '3' },
      'block-mib': { type: 'string', default: '8' },
      hosts: { type: 'string', default: '50' },
      'host-image-mib': { type: 'string', default: '64' },
    },
  });
  const sizeBytes = Number(values['size-mib']) * MiB;
  const runs = Number(values.runs);
  const blockSize = Number(values['block-mib']) * MiB;
  const tools = await imageTools((m) => console.log(m));
  const pressureBefore = cpuPressure();
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-image-'));
  const source = join(dir, 'image.raw');
  console.log(
    `image: ${sizeBytes / MiB} MiB of random bytes; ${blockSize / MiB} MiB writes; ` +
      `${runs} runs of each, alternating; temp dir ${dir}`,
  );
  let server: Awaited<ReturnType<typeof serveFromChild>> | undefined;
  let loop: LoopDevice | undefined;
  const results: TargetResult[] = [];
  try {
    const digest = makeImage(source, sizeBytes);
    server = await serveFromChild(source);
    const backing = join(dir, 'loop-backing');
    closeSync(openSync(backing, 'w'));
    spawnSync('truncate', ['-s', String(sizeBytes + 16 * MiB), backing]);
    loop = await attachLoopDevice(backing, tools.losetup);
    const file = join(dir, 'target.img');
    const targets = [
      { name: 'file', path: file, reset: () => rmSync(file, { force: true }) },
      { name: `loop device (${loop.device})`, path: loop.device, reset: () => {} },
    ];
    for (const target of targets) {
      const raw: number[] = [];
      const stream: number[] = [];
      let cpu = 0;
      let ddCpu = 0;
      let serverCpu = 0;
      for (let i = 0; i < runs; i++) {
        target.reset();
        const dd = ddWrite(source, target.path, blockSize);
        raw.push(sizeBytes / MiB / dd.seconds);
        ddCpu += dd.cpu;

        target.reset();
        const cpuBefore = process.cpuUsage();
        const serverBefore = cpuSecondsOf(server.pid);
        const result = await streamImageToTarget({
          url: server.url,
          target: target.path,
          checksum: { algorithm: 'sha256', value: digest },
          blockSize,
        });
        const used = process.cpuUsage(cpuBefore);
        cpu += (used.user + used.system) / 1e6;
        serverCpu += cpuSecondsOf(server.pid) - serverBefore;
        if (result.bytes !== sizeBytes) throw new Error(`streamed ${result.bytes} bytes, expected ${sizeBytes}`);
        stream.push(sizeBytes / MiB / (result.elapsedMs / 1000));
        console.log(
          `  ${target.name} run ${i + 1}: ` +
            `dd ${raw.at(-1)?.toFixed(0)} MiB/s, stream ${stream.at(-1)?.toFixed(0)} MiB/s`,
        );
      }
      const rawMedian = median(raw);
      const streamMedian = median(stream);
      results.push({
        target: target.name.startsWith('loop') ? 'loop device' : 'file',
        rawMiBps: raw.map((v) => Math.round(v)),
        streamMiBps: stream.map((v) => Math.round(v)),
        rawMedianMiBps: Math.round(rawMedian),
        streamMedianMiBps: Math.round(streamMedian),
        ratio: Number((streamMedian / rawMedian).toFixed(2)),
        ddCpuSecondsPerGiB: Number((ddCpu / runs / (sizeBytes / 2 ** 30)).toFixed(2)),
        streamCpuSecondsPerGiB: Number((cpu / runs / (sizeBytes / 2 ** 30)).toFixed(2)),
        serverCpuSecondsPerGiB: Number((serverCpu / runs / (sizeBytes / 2 ** 30)).toFixed(2)),
      });
    }
  } finally {
    await server?.stop();
    await loop?.detach();
    console.log((await endStateDir(dir)).line);
  }

  const pressure = { before: pressureBefore, after: cpuPressure() };
  console.log(
    '\n| target | dd (raw write, fsync) MiB/s | download + sha256 + write + fsync MiB/s | ratio (target ≥ 0.8) ' +
      '| CPU-s per GiB: dd / stream / server |',
  );
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.target} | ${r.rawMedianMiBps} (${r.rawMiBps.join(', ')}) ` +
        `| ${r.streamMedianMiBps} (${r.streamMiBps.join(', ')}) | ${r.ratio.toFixed(2)} ` +
        `| ${r.ddCpuSecondsPerGiB} / ${r.streamCpuSecondsPerGiB} / ${r.serverCpuSecondsPerGiB} |`,
    );
  }
  console.log(
    'CPU pressure (PSI some avg60, % of time a task waited for a CPU): ' +
      `${pressure.before ?? '?'} before, ${pressure.after ?? '?'} after`,
  );
  let hosts: Record<string, unknown> | undefined;
  if (Number(values.hosts) > 0) {
    console.log('');
    hosts = await runFleet(['--hosts', values.hosts, '--bmc', 'sim', '--image', 'qcow2', '--image-mib', values['host-image-mib']]);
  }
  const file = recordResult('image', {
    sizeMiB: sizeBytes / MiB,
    blockMiB: blockSize / MiB,
    runs,
    cpuPressureAvg60: pressure,
    results,
    ...(hosts ? { qcow2Hosts: { imageMiB: Number(values['host-image-mib']), ...hosts } } : {}),
  });
  console.log(`\nfigures appended to ${file}`);
}
