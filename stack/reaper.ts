/**
 * The reaper: a tiny process that outlives its parent. The parent writes `add <pgid>` and `del <pgid>` lines
 * on our stdin; when stdin closes (the parent exited, crashed or was killed), every process group still
 * registered gets SIGTERM, then SIGKILL. Runs in its own process group so a terminal's Ctrl-C does not
 * reach it before the parent has had its chance to stop things cleanly.
 * Loop devices are registered the same way (`loop-add <device> <backing file>`, `loop-del <device>`) and
 * detached once the processes are gone, only while they still hold the file they were registered with.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const groups = new Set<number>();
const loops = new Map<string, string>();

function detachLoops(): void {
  for (const [device, backing] of loops) {
    let current: string;
    try {
      current = readFileSync(`/sys/block/${basename(device)}/loop/backing_file`, 'utf8').trim();
    } catch {
      continue; // already detached
    }
    if (current === backing) spawnSync('losetup', ['-d', device], { stdio: 'ignore' });
  }
}
let buffered = '';

process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});

function signalAll(signal: NodeJS.Signals): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, signal);
    } catch {
      groups.delete(pgid);
    }
  }
}

function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const line of lines) {
    const [verb, id, ...rest] = line.split(' ');
    if (verb === 'loop-add' && id) loops.set(id, rest.join(' '));
    if (verb === 'loop-del' && id) loops.delete(id);
    const pgid = Number(id);
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (verb === 'add') groups.add(pgid);
    if (verb === 'del') groups.delete(pgid);
  }
});
process.stdin.on('end', () => {
  signalAll('SIGTERM');
  const deadline = Date.now() + 4000;
  const timer = setInterval(() => {
    for (const pgid of groups) if (!alive(pgid)) groups.delete(pgid);
    if (groups.size === 0 || Date.now() > deadline) {
      signalAll('SIGKILL');
      clearInterval(timer);
      detachLoops();
      process.exit(0);
    }
  }, 100);
});
