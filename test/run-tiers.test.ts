import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeAbandonedRuns, verdict } from './run-tiers.ts';

const ok = { status: 0, signal: null };
const report = (o: object) => JSON.stringify({ success: true, numTotalTests: 10, numFailedTests: 0, ...o });

describe("npm test's verdict on a vitest run", () => {
  it('passes a run that exited 0 with a report of passed tests', () => {
    expect(verdict(ok, report({}))).toBeUndefined();
  });

  it('fails a run that exited 0 without a report (it ended before its tests finished)', () => {
    expect(verdict(ok, undefined)).toMatch(/wrote no report/);
  });

  it('fails a run whose report has no tests, or failed ones, or is not JSON', () => {
    expect(verdict(ok, report({ numTotalTests: 0 }))).toMatch(/no tests/);
    expect(verdict(ok, report({ success: false, numFailedTests: 2 }))).toMatch(/2 failed/);
    expect(verdict(ok, '{"success": tru')).toMatch(/not JSON/);
  });

  it('fails a run that exited non-zero or was ended by a signal, whatever its report says', () => {
    expect(verdict({ status: 1, signal: null }, report({}))).toMatch(/exited with 1/);
    expect(verdict({ status: null, signal: 'SIGKILL' }, report({}))).toMatch(/SIGKILL/);
  });
});

describe("npm test's run directories", () => {
  it('removes those whose owner process is gone, and keeps a live run\'s, one being made, and other files', () => {
    const parent = mkdtempSync(join(tmpdir(), 'run-dirs-'));
    try {
      const gone = spawnSync(process.execPath, ['-e', '']).pid; // exited by now
      const run = (name: string, owner?: number) => {
        mkdirSync(join(parent, name, 'tmp', 'tempered-stack-x'), { recursive: true });
        if (owner !== undefined) writeFileSync(join(parent, name, 'owner.pid'), String(owner));
      };
      run('tempered-tiers-dead', gone);
      run('tempered-tiers-live', process.pid);
      run('tempered-tiers-starting');
      run('tempered-stack-other', gone);
      expect(removeAbandonedRuns(parent)).toEqual(['tempered-tiers-dead']);
      expect(existsSync(join(parent, 'tempered-tiers-dead'))).toBe(false);
      for (const kept of ['tempered-tiers-live', 'tempered-tiers-starting', 'tempered-stack-other']) expect(existsSync(join(parent, kept))).toBe(true);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
