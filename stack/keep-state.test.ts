/**
 * The end of a run's state directory (what the benchmarks call when they end): removed unless TEMPERED_KEEP_STATE
 * is set or its outputs must stay, and never while a process the stack started still logs into it.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { endStateDir, keepState } from './keep-state.ts';
import { startProcess, type Supervised } from './processes.ts';

const made: string[] = [];
const started: Supervised[] = [];

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-keep-state-'));
  writeFileSync(join(dir, 'server.log'), 'a log worth reading\n');
  made.push(dir);
  return dir;
}

function sleeper(logDir: string): Supervised {
  const proc = startProcess('sleep', 'sleep', ['600'], { logFile: join(logDir, 'sleep.log') });
  started.push(proc);
  return proc;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('keepState', () => {
  it.each([
    { scenario: 'unset', env: {}, keep: false },
    { scenario: 'empty', env: { TEMPERED_KEEP_STATE: '' }, keep: false },
    { scenario: '0', env: { TEMPERED_KEEP_STATE: '0' }, keep: false },
    { scenario: '1', env: { TEMPERED_KEEP_STATE: '1' }, keep: true },
  ])('TEMPERED_KEEP_STATE $scenario: keep $keep', ({ env, keep }) => {
    expect(keepState(env)).toBe(keep);
  });
});

describe('endStateDir', () => {
  it.each([
    { scenario: 'nothing asks to keep it', env: {}, keepFor: undefined, kept: false, says: 'state removed: ' },
    { scenario: 'TEMPERED_KEEP_STATE=0', env: { TEMPERED_KEEP_STATE: '0' }, keepFor: undefined, kept: false, says: 'state removed: ' },
    { scenario: 'TEMPERED_KEEP_STATE=1', env: { TEMPERED_KEEP_STATE: '1' }, keepFor: undefined, kept: true, says: '(TEMPERED_KEEP_STATE)' },
    { scenario: 'its outputs must stay', env: {}, keepFor: 'CPU profiles in /x/profiles', kept: true, says: ': CPU profiles in /x/profiles' },
  ])('$scenario: kept $kept, and says so with the path', async ({ env, keepFor, kept, says }) => {
    const dir = stateDir();
    const end = await endStateDir(dir, { env, keepFor });
    expect(end.kept).toBe(kept);
    expect(existsSync(join(dir, 'server.log'))).toBe(kept);
    expect(existsSync(dir)).toBe(kept);
    expect(end.line).toContain(dir);
    expect(end.line).toContain(says);
  });

  it('stops a process still logging into the directory before removing it, and only that one', async () => {
    const dir = stateDir();
    const elsewhere = stateDir();
    const inside = sleeper(dir);
    const outside = sleeper(elsewhere);
    await endStateDir(dir, { env: {} });
    expect(inside.isRunning()).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(outside.isRunning()).toBe(true);
  });

  it('leaves a process running in a directory it keeps', async () => {
    const dir = stateDir();
    const proc = sleeper(dir);
    await endStateDir(dir, { env: { TEMPERED_KEEP_STATE: '1' } });
    expect(proc.isRunning()).toBe(true);
    expect(existsSync(join(dir, 'sleep.log'))).toBe(true);
  });
});
