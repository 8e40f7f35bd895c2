/**
 * The build cache's guarantees, on fake builds: an entry is trusted only once complete, a build interrupted by
 * its holder's death is taken over (not waited on for an hour), a live holder is waited for, and `run`'s `nice`
 * reaches the command it runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../test/wait.ts';
import { cached, run } from './binaries.ts';

const quiet = () => {};

/** A lock directory as `cached()` leaves it while `holder` builds `dir`. */
function plantLock(dir: string, holder: string): void {
  mkdirSync(`${dir}.lock`, { recursive: true });
  writeFileSync(join(`${dir}.lock`, 'holder'), `${holder}\n`);
}

/** A process of this host that has exited: its pid is free. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid ?? 0;
}

describe('cached()', () => {
  it('marks an entry complete only when its build succeeded, and redoes a failed one', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tempered-cached-')), 'entry');
    await expect(
      cached(dir, async () => {
        writeFileSync(join(dir, 'half'), 'x');
        throw new Error('build killed');
      }),
    ).rejects.toThrow('build killed');
    expect(existsSync(join(dir, '.complete'))).toBe(false);
    await cached(dir, async () => writeFileSync(join(dir, 'whole'), 'x'));
    expect(existsSync(join(dir, '.complete'))).toBe(true);
    expect(existsSync(join(dir, 'half'))).toBe(false);
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it('takes over a lock whose holder on this host has died (no hour-long wait)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tempered-cached-')), 'entry');
    plantLock(dir, `${hostname()} ${await deadPid()}`);
    const started = Date.now();
    await cached(dir, async () => writeFileSync(join(dir, 'built'), 'x'));
    expect(existsSync(join(dir, 'built'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('waits for a live holder, then builds once it is gone', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tempered-cached-')), 'entry');
    const holder = spawn('sleep', ['600']);
    plantLock(dir, `${hostname()} ${holder.pid}`);
    let built = false;
    const build = cached(dir, async () => {
      built = true;
    });
    // The waiter polls the lock every second: after two polls it must still be waiting.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(built).toBe(false);
    holder.kill('SIGKILL');
    await build;
    expect(built).toBe(true);
  });

  it("does not judge a holder of another host by this host's processes", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tempered-cached-')), 'entry');
    plantLock(dir, `not-${hostname()} ${await deadPid()}`);
    let built = false;
    const build = cached(dir, async () => {
      built = true;
    });
    await new Promise((r) => setTimeout(r, 2_500));
    expect(built).toBe(false);
    rmSync(`${dir}.lock`, { recursive: true }); // that host's build failed and let go
    await waitFor('the waiter to take the lock', () => built, { timeoutMs: 10_000 });
    await build;
  });
});

describe('run()', () => {
  it('runs the command at the niceness asked for', async () => {
    const expected = Math.min(19, getPriority() + 7);
    await run('checking the niceness', 'sh', ['-c', `test "$(nice)" = ${expected} || { echo "niceness $(nice)"; exit 1; }`], {
      progress: quiet,
      nice: 7,
    });
    await expect(run('checking the niceness', 'sh', ['-c', `test "$(nice)" = ${expected}`], { progress: quiet })).rejects.toThrow(/exit 1/);
  });
});
