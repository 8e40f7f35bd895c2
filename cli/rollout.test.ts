/** Unit tests of `tempered rollout`: the spec built from flags and the status it prints (pure parts). */
import { describe, expect, it } from 'vitest';
import { progressBar, renderRolloutStatus, specFromFlags, type RolloutView } from './rollout.ts';

describe('tempered rollout create: a spec from flags', () => {
  it('selector, updates, settings (whole numbers as numbers) and strategy', () => {
    expect(
      specFromFlags({
        selector: 'fleet=edge,rack=a',
        update: ['bios=http://fw/bios-2.bin', 'nic:NIC.1=http://fw/nic.bin'],
        setting: ['BootMode=Uefi', 'ProcCoreDisable=2'],
        canary: '1',
        waves: '25,50,100',
        'max-unavailable': '3',
        'failure-budget': '2',
      }),
    ).toEqual({
      selector: { matchLabels: { fleet: 'edge', rack: 'a' } },
      updates: [
        { component: 'bios', url: 'http://fw/bios-2.bin' },
        { component: 'nic:NIC.1', url: 'http://fw/nic.bin' },
      ],
      settings: { BootMode: 'Uefi', ProcCoreDisable: 2 },
      strategy: { canary: 1, waves: [25, 50, 100], maxUnavailable: 3, failureBudget: 2 },
    });
  });

  it.each([
    [{}, /--selector/],
    [{ selector: 'fleet' }, /not NAME=VALUE/],
    [{ selector: 'a=b', canary: 'one' }, /--canary must be a whole number/],
  ])('refuses %j', (values, message) => {
    expect(() => specFromFlags(values)).toThrow(message);
  });
});

describe('tempered rollout status', () => {
  const rollout: RolloutView = {
    metadata: { name: 'r1', namespace: 'metal3' },
    spec: {},
    status: {
      phase: 'Progressing',
      message: 'wave 1: 1 hosts in flight',
      total: 3,
      updated: 1,
      inProgress: 1,
      failed: 0,
      pending: 1,
      skipped: 0,
      aborted: 0,
      currentWave: 1,
      waves: [
        { name: 'canary', total: 1, updated: 1, inProgress: 0, failed: 0, pending: 0, skipped: 0, aborted: 0 },
        { name: 'wave 1', total: 2, updated: 0, inProgress: 1, failed: 0, pending: 1, skipped: 0, aborted: 0 },
      ],
      hosts: [
        { name: 'host-0', wave: 0, state: 'Updated', versions: [{ component: 'bios', version: '2.0' }] },
        { name: 'host-1', wave: 1, state: 'InProgress' },
        { name: 'host-2', wave: 1, state: 'Pending' },
      ],
    },
  };

  it('shows the phase, a progress bar, the waves and their hosts', () => {
    const text = renderRolloutStatus(rollout);
    expect(text).toContain('metal3/r1: Progressing (wave 1: 1 hosts in flight)');
    expect(text).toContain(`${progressBar(1, 3)} 1/3`);
    expect(text).toMatch(/canary +\[█+\] 1\/1/);
    expect(text).toMatch(/wave 1 +\[░+\] 0\/2 ◀/);
    expect(text).toMatch(/✔ host-0 +Updated +bios 2\.0/);
    expect(text).toMatch(/▶ host-1 +InProgress/);
  });

  it('a rollout the bridge has not started yet', () => {
    expect(renderRolloutStatus({ metadata: { name: 'r2', namespace: 'ns' }, spec: {} })).toBe(
      'ns/r2: Pending (the bridge has not started it yet)',
    );
  });

  it('progress bars', () => {
    expect(progressBar(0, 4, 4)).toBe('[░░░░]');
    expect(progressBar(2, 4, 4)).toBe('[██░░]');
    expect(progressBar(0, 0, 4)).toBe('[████]');
  });
});
