import { describe, expect, it } from 'vitest';
import { verdict } from './run-tiers.ts';

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
