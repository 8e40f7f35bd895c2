/**
 * The reaper: a tiny process that outlives its parent. The parent writes `add <pgid>` and `del <pgid>` lines
 * on our stdin; when stdin closes (the parent exited, crashed or was killed), every process group still
 * registered gets SIGTERM, then SIGKILL. Runs in its own process group so a terminal's Ctrl-C does not
 * reach it before the parent has had its chance to stop things cleanly.
 */
const groups = new Set<number>();
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
    const [verb, id] = line.split(' ');
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
      process.exit(0);
    }
  }, 100);
});
