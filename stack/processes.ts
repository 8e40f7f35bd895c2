/**
 * Supervision of the server processes the local stack starts: each runs in its own process group with its
 * output in a log file, is stopped with SIGTERM then SIGKILL, and is registered with a reaper process that
 * kills whatever is left when this process dies for any reason (Ctrl-C, SIGTERM, a crash, even SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A server process started by the stack. */
export interface Supervised {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<ProcessExit>;
  isRunning(): boolean;
  /** Stops the whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Kills the whole process group with SIGKILL at once (a crash, for chaos runs); resolves once it exited. */
  kill(): Promise<void>;
}

export interface StartProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
}

const live = new Map<number, Supervised>();
let reaper: ChildProcess | undefined;

function reaperChannel(): ChildProcess {
  if (reaper && reaper.exitCode === null) return reaper;
  const script = fileURLToPath(new URL('./reaper.ts', import.meta.url));
  reaper = spawn(process.execPath, [script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  reaper.unref();
  // The pipe must not keep this process alive; when this process dies the pipe closes and the reaper acts.
  const stdin = reaper.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null;
  stdin?.on('error', () => {});
  stdin?.unref?.();
  return reaper;
}

function tellReaper(line: string): void {
  reaperChannel().stdin?.write(`${line}\n`);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

process.on('exit', () => {
  for (const proc of live.values()) killGroup(proc.pid, 'SIGKILL');
});

/** Starts a server process in its own process group, output appended to `logFile`. */
export function startProcess(name: string, command: string, args: readonly string[], options: StartProcessOptions): Supervised {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  let running = true;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(pid);
      tellReaper(`del ${pid}`);
      resolve({ code, signal });
    });
    child.once('error', () => {
      running = false;
      live.delete(pid);
      resolve({ code: null, signal: null });
    });
  });
  child.unref();

  const proc: Supervised = {
    name,
    pid,
    logFile: options.logFile,
    exited,
    isRunning: () => running,
    async stop(graceMs = 5000) {
      if (!running) {
        killGroup(pid, 'SIGKILL'); // grandchildren of an exited leader
        return;
      }
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL');
    },
    async kill() {
      killGroup(pid, 'SIGKILL');
      await exited;
    },
  };
  live.set(pid, proc);
  tellReaper(`add ${pid}`);
  return proc;
}

/**
 * Registers a loop device with the reaper, so it is detached if this process dies before detaching it
 * (see stack/loop-devices.ts). `backingFile` is the file it was attached to, as /sys reports it.
 */
export function reapLoopDevice(device: string, backingFile: string): void {
  tellReaper(`loop-add ${device} ${backingFile}`);
}

/** Tells the reaper a loop device was detached by its owner. */
export function forgetLoopDevice(device: string): void {
  tellReaper(`loop-del ${device}`);
}

/** Stops every process this module started, newest first. */
export async function stopAllProcesses(): Promise<void> {
  const procs = [...live.values()].reverse();
  await Promise.all(procs.map((p) => p.stop()));
}

/**
 * Stops every process this module started whose log file is under `dir`: what still writes there when the
 * directory is about to be removed (a server whose start failed half-way is left running by its starter).
 */
export async function stopProcessesIn(dir: string): Promise<void> {
  const under = (file: string) => {
    const path = relative(dir, file);
    return path !== '' && !isAbsolute(path) && path.split(sep)[0] !== '..';
  };
  await Promise.all([...live.values()].filter((p) => under(p.logFile)).map((p) => p.stop()));
}

/** True while a process with this pid exists (one we may not signal counts: it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The processes still running that this module started, oldest first (benchmarks attribute CPU by name). */
export function liveProcesses(): Supervised[] {
  return [...live.values()];
}

/** PIDs of the process groups still running that this module started. */
export function liveProcessGroups(): number[] {
  return [...live.keys()];
}

/** Polls `probe` until it returns true, or fails with the process's log tail when it exits or time runs out. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; process?: Supervised },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  for (;;) {
    if (options.process && !options.process.isRunning()) {
      throw new Error(`${what}: ${options.process.name} exited before it was ready; see ${options.process.logFile}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const hint = options.process ? `; see ${options.process.logFile}` : '';
      throw new Error(`${what}: not ready after ${Math.round(options.timeoutMs / 1000)} s${hint}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
