import { describe, expect, it } from 'vitest';
import {
  applyControl,
  currentWave,
  hostsToStart,
  initialRolloutState,
  isFinished,
  markStarted,
  recordReply,
  renderPlan,
  rolloutPhase,
  rolloutStatus,
  strategyOf,
  waveSizes,
  type RolloutHostKey,
  type RolloutState,
  type Strategy,
} from './firmware-rollout.ts';
import type { RolloutReply } from './host-model.ts';

const hosts = (n: number): RolloutHostKey[] => Array.from({ length: n }, (_, i) => ({ namespace: 'ns', name: `host-${i}` }));
const control = { generation: 1, paused: false, abort: false };
const T = '2026-11-24T10:00:00.000Z';
const reply = (state: RolloutState, name: string, outcome: RolloutReply['outcome'], message: string = outcome): RolloutReply => ({
  host: { namespace: 'ns', name },
  attempt: state.hosts.find((h) => h.name === name)?.attempt ?? 0,
  outcome,
  message,
});

/** Starts what the plan starts, answers each started host with `answer`, until nothing starts or answers. */
function run(state: RolloutState, strategy: Strategy, answer: (name: string) => RolloutReply['outcome'], log: string[][] = []): RolloutState {
  for (let round = 0; round < 1000; round++) {
    const starts = hostsToStart(state, strategy);
    state = markStarted(state, starts, T);
    const inFlight = state.hosts.filter((h) => h.state === 'InProgress');
    if (inFlight.length === 0) return state;
    log.push(inFlight.map((h) => h.name));
    const first = inFlight[0] as RolloutState['hosts'][number];
    state = recordReply(state, reply(state, first.name, answer(first.name)), strategy, T);
  }
  throw new Error('the rollout did not settle');
}

describe('waves', () => {
  it.each([
    { total: 30, canary: 1, waves: [25, 50, 100], sizes: [1, 8, 7, 14], names: ['canary', 'wave 1', 'wave 2', 'wave 3'] },
    { total: 4, canary: 1, waves: [25, 50, 100], sizes: [1, 1, 1, 1], names: ['canary', 'wave 1', 'wave 2', 'wave 3'] },
    { total: 2, canary: 1, waves: [25, 50, 100], sizes: [1, 1], names: ['canary', 'wave 1'] },
    { total: 10, canary: 0, waves: [100], sizes: [10], names: ['wave 1'] },
    { total: 0, canary: 1, waves: [50, 100], sizes: [], names: [] },
    { total: 3, canary: 5, waves: [100], sizes: [3], names: ['canary'] },
  ])('$total hosts, canary $canary, waves $waves', ({ total, canary, waves, sizes, names }) => {
    const w = waveSizes(total, strategyOf({ canary, waves }));
    expect(w.map((x) => x.size)).toEqual(sizes);
    expect(w.map((x) => x.name)).toEqual(names);
  });
});

describe('a rollout that goes well', () => {
  const strategy = strategyOf({ canary: 1, waves: [25, 50, 100], maxUnavailable: 3, failureBudget: 1 });

  it('the canary alone, then one wave at a time, never more than maxUnavailable in flight; Completed', () => {
    const log: string[][] = [];
    const state = run(initialRolloutState(hosts(30), strategy, control), strategy, () => 'updated', log);
    expect(log[0]).toEqual(['host-0']);
    expect(Math.max(...log.map((l) => l.length))).toBe(3);
    // Hosts in flight together are always of one wave.
    for (const flight of log) {
      const waves = new Set(flight.map((name) => state.hosts.find((h) => h.name === name)?.wave));
      expect(waves.size).toBe(1);
    }
    expect(isFinished(state)).toBe(true);
    expect(rolloutPhase(state).phase).toBe('Completed');
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Completed', total: 30, updated: 30, progress: '30/30', failed: 0 });
  });

  it('skipped hosts (gone, not Redfish) do not fail it', () => {
    const state = run(initialRolloutState(hosts(5), strategy, control), strategy, (n) => (n === 'host-2' ? 'skipped' : 'updated'));
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Completed', updated: 4, skipped: 1 });
  });

  it('no hosts: Completed at once', () => {
    const state = applyControl(initialRolloutState([], strategy, control), control, T);
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Completed', total: 0, progress: '0/0' });
  });
});

describe('the failure budget', () => {
  const strategy = strategyOf({ canary: 1, waves: [50, 100], maxUnavailable: 2, failureBudget: 1 });

  it('pauses when used; the spec is paused by the bridge; a resume retries the failed hosts with a fresh budget', () => {
    let failing = true;
    let state = run(initialRolloutState(hosts(6), strategy, control), strategy, (n) => (n === 'host-2' && failing ? 'failed' : 'updated'));
    expect(rolloutPhase(state).phase).toBe('Paused');
    expect(rolloutPhase(state).message).toMatch(/host-2: failed/);
    expect(rolloutStatus(state)).toMatchObject({ budgetPauseActive: true, budgetPauses: 1, failed: 1 });
    expect(hostsToStart(state, strategy)).toEqual([]);
    // A spec still unpaused (the bridge's patch has not arrived) does not resume it.
    state = applyControl(state, { ...control, generation: 2 }, T);
    expect(rolloutPhase(state).phase).toBe('Paused');
    state = applyControl(state, { ...control, generation: 3, paused: true }, T);
    expect(rolloutPhase(state).phase).toBe('Paused');
    failing = false;
    state = applyControl(state, { ...control, generation: 4, paused: false }, T);
    expect(state.hosts.find((h) => h.name === 'host-2')).toMatchObject({ state: 'Pending', message: 'retrying after: failed' });
    state = run(state, strategy, () => 'updated');
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Completed', updated: 6, failed: 0 });
    expect(state.hosts.find((h) => h.name === 'host-2')?.attempt).toBe(2);
  });

  it('failures under the budget go on, and the rollout ends Failed', () => {
    const lenient = strategyOf({ canary: 1, waves: [100], maxUnavailable: 2, failureBudget: 3 });
    const state = run(initialRolloutState(hosts(5), lenient, control), lenient, (n) => (n === 'host-3' ? 'failed' : 'updated'));
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Failed', updated: 4, failed: 1 });
  });

  it('an answer for another attempt is ignored', () => {
    let state = markStarted(initialRolloutState(hosts(2), strategy, control), [{ namespace: 'ns', name: 'host-0' }], T);
    state = recordReply(state, { host: { namespace: 'ns', name: 'host-0' }, attempt: 7, outcome: 'failed', message: 'old' }, strategy, T);
    expect(state.hosts[0]?.state).toBe('InProgress');
  });
});

describe('pause and abort', () => {
  const strategy = strategyOf({ canary: 1, waves: [100], maxUnavailable: 2 });

  it('paused by the spec: nothing starts, hosts in flight finish', () => {
    let state = initialRolloutState(hosts(4), strategy, control);
    state = markStarted(state, hostsToStart(state, strategy), T);
    state = applyControl(state, { ...control, generation: 2, paused: true }, T);
    expect(rolloutPhase(state)).toEqual({ phase: 'Paused', message: 'paused: 1 hosts in flight finish' });
    state = recordReply(state, reply(state, 'host-0', 'updated'), strategy, T);
    expect(hostsToStart(state, strategy)).toEqual([]);
    state = applyControl(state, { ...control, generation: 3 }, T);
    expect(hostsToStart(state, strategy).map((h) => h.name)).toEqual(['host-1', 'host-2']);
  });

  it('abort: hosts not started end Aborted at once, hosts in flight finish, then the rollout is Aborted', () => {
    let state = initialRolloutState(hosts(5), strategy, control);
    state = run(state, strategy, () => 'updated');
    expect(isFinished(state)).toBe(true);
    state = initialRolloutState(hosts(5), strategy, control);
    state = markStarted(state, hostsToStart(state, strategy), T);
    state = recordReply(state, reply(state, 'host-0', 'updated'), strategy, T);
    state = markStarted(state, hostsToStart(state, strategy), T);
    state = applyControl(state, { ...control, generation: 2, abort: true }, T);
    expect(rolloutPhase(state).phase).toBe('Progressing');
    expect(rolloutPhase(state).message).toMatch(/aborting: waiting for 2 hosts/);
    expect(state.hosts.filter((h) => h.state === 'Aborted').map((h) => h.name)).toEqual(['host-3', 'host-4']);
    expect(hostsToStart(state, strategy)).toEqual([]);
    state = recordReply(state, reply(state, 'host-1', 'updated'), strategy, T);
    state = recordReply(state, reply(state, 'host-2', 'aborted', 'stopped after the current flash'), strategy, T);
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Aborted', updated: 2, aborted: 3, inProgress: 0, pending: 0 });
  });

  it('an abort while paused by the budget ends the rollout (failed hosts stay failed)', () => {
    const budget = strategyOf({ canary: 1, waves: [100], maxUnavailable: 1, failureBudget: 1 });
    let state = run(initialRolloutState(hosts(3), budget, control), budget, (n) => (n === 'host-0' ? 'failed' : 'updated'));
    expect(rolloutPhase(state).phase).toBe('Paused');
    state = applyControl(state, { ...control, generation: 5, abort: true }, T);
    expect(rolloutStatus(state)).toMatchObject({ phase: 'Aborted', failed: 1, aborted: 2 });
  });
});

describe('the plan in the UI', () => {
  it('names each wave with its hosts and results, and marks the current one', () => {
    const strategy = strategyOf({ canary: 1, waves: [100], maxUnavailable: 1 });
    let state = initialRolloutState(hosts(3), strategy, control);
    state = markStarted(state, hostsToStart(state, strategy), T);
    state = recordReply(state, reply(state, 'host-0', 'updated'), strategy, T);
    expect(currentWave(state)).toBe(1);
    const plan = renderPlan(state, { updates: [{ component: 'bios', url: 'http://fw/bios-2.bin' }], settings: {} });
    expect(plan).toContain('**canary** (1/1 updated, 0 failed): ✔ host-0');
    expect(plan).toContain('**wave 1** ◀ (0/2 updated, 0 failed): · host-1, · host-2');
    expect(plan).toContain('bios ← http://fw/bios-2.bin');
  });
});
