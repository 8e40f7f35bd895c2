/**
 * The chaos run's short version (bench/chaos.ts): 20 simulated hosts provisioning on a private stack with a
 * multi-process Temporal cluster (two history services), 20 % of BMC requests failing, while five times one
 * part is killed with SIGKILL and restarted: each of a worker, the bridge that leads, a history service and the
 * kube-apiserver at least once. Seeded, so a failure repeats with the same kills in the same order. Every host
 * reaches `provisioned`, no power-on or media insert is repeated, and no status is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatChaosReport, runChaos, type ChaosReport } from '../bench/chaos.ts';
import { temporalServerBinaries } from '../stack/binaries.ts';

let report: ChaosReport | undefined;

// The cluster's server binaries may still be building beside the first tests (test/stack-setup.ts): wait for
// them here, under the hook's ceiling, so the run's own time limit counts only the run.
beforeAll(async () => {
  await temporalServerBinaries((m) => process.stderr.write(`[chaos] ${m}\n`));
});

afterAll(() => {
  if (report) process.stderr.write(`${formatChaosReport(report)}\n`);
});

describe('kill -9 anywhere', () => {
  it('provisions 20 hosts through 5 kills and 20 % BMC faults on the cluster, with no side effect repeated and no status lost', async () => {
    report = await runChaos({ hosts: 20, kills: 5, temporal: 'cluster', faultRate: 0.2, seed: 7, timeoutMinutes: 12, progress: (m) => process.stderr.write(`[chaos] ${m}\n`) });
    expect(report.kills.map((k) => k.target).sort()).toEqual(expect.arrayContaining(['bridge-leader', 'kube-apiserver', 'temporal', 'worker']));
    expect(report.kills.find((k) => k.target === 'temporal')?.what).toMatch(/^Temporal history/);
    expect(report.faultsInjected).toBeGreaterThan(0);
    // Where each host stood at each publication: at least `provisioning` and `provisioned` (states passed on the
    // way within one publication are told by Events, docs/decisions.md).
    expect(report.statesChecked).toBeGreaterThanOrEqual(20 * 2);
    expect(report.problems).toEqual([]);
    expect(report.provisioned).toBe(20);
    expect(report.perHostMax).toMatchObject({ powerOn: 1, mediaInserts: 1 });
  }, 15 * 60_000);
});
