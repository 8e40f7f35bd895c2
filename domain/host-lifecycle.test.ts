/**
 * The one transition step: it moves only along the table's edges (and fails loudly, with a typed failure,
 * on any other move), and every state change folded from an operation's outcome goes through it.
 */
import { describe, expect, it } from 'vitest';
import { LIVE_ISO as live, NOW, hostDesired as desired, hostIn as state } from '../test/fixtures/hosts.ts';
import { applyFailure, applySuccess, delay, operationalStatusOf, operationOfState, transition, undelay } from './host-lifecycle.ts';
import { IllegalTransition, PROVISIONING_STATES, TRANSITIONS, TRIGGERS, canTransition, nextState, type TransitionTrigger } from './host-state.ts';

const triggers = Object.keys(TRIGGERS) as TransitionTrigger[];

describe('transition', () => {
  it.each(TRANSITIONS)('moves "$from" to "$to" on $trigger', ({ from, to, trigger }) => {
    expect(transition(state(from), trigger, desired(), NOW).state.provisioningState).toBe(to);
  });

  const missing = PROVISIONING_STATES.flatMap((from) => triggers.filter((t) => nextState(from, t) === undefined).map((trigger) => ({ from, trigger })));
  it('has moves the table lacks to refuse', () => {
    expect(missing.length).toBeGreaterThan(100);
  });

  it.each(missing)('refuses "$from" on $trigger with a typed InternalError', ({ from, trigger }) => {
    let thrown: unknown;
    try {
      transition(state(from), trigger, desired(), NOW);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IllegalTransition);
    expect(thrown).toMatchObject({ type: 'InternalError', from, trigger, message: expect.stringContaining('illegal transition') });
  });

  it('refuses the move the old hand-written decision made: provisioning → available', () => {
    expect(canTransition('provisioning', 'available')).toBe(false);
    for (const trigger of triggers) {
      if (nextState('provisioning', trigger) === 'available') throw new Error(`${trigger} leads provisioning to available`);
    }
  });

  it('clears errors of the state left, but keeps registration and provisioning errors', () => {
    const inspectionError = state('inspecting', { errorType: 'inspection error', errorMessage: 'x', errorCount: 2 });
    expect(transition(inspectionError, 'deleteRequested', desired({}, { deleting: true }), NOW).state).toMatchObject({ errorType: '', errorCount: 0 });
    const provisioningError = state('available', { errorType: 'provisioning error', errorCount: 1 });
    expect(transition(provisioningError, 'provisionRequested', desired({ online: true, image: live }), NOW).state.errorType).toBe('provisioning error');
  });

  it('copies the spec image when a host stops being externally provisioned', () => {
    const moved = transition(state('externally provisioned'), 'externallyProvisionedCleared', desired({ image: live }), NOW);
    expect(moved.state).toMatchObject({ provisioningState: 'provisioned', image: live });
  });
});

describe('operation outcomes move through the transition step', () => {
  const d = desired({ online: true, image: live });
  it.each([
    { name: 'inspect done → preparing', from: 'inspecting', to: 'preparing', fold: (s: ReturnType<typeof state>) => applySuccess(s, { name: 'inspect' }, { poweredOn: false }, d, NOW) },
    { name: 'prepare done → available', from: 'preparing', to: 'available', fold: (s: ReturnType<typeof state>) => applySuccess(s, { name: 'prepare' }, { poweredOn: false }, d, NOW) },
    { name: 'provision done → provisioned', from: 'provisioning', to: 'provisioned', fold: (s: ReturnType<typeof state>) => applySuccess(s, { name: 'provision', image: live }, { poweredOn: true }, d, NOW) },
    { name: 'deprovision done → available', from: 'deprovisioning', to: 'available', fold: (s: ReturnType<typeof state>) => applySuccess(s, { name: 'deprovision' }, { poweredOn: false }, d, NOW) },
    {
      name: 'deprovision done while deleting → powering off before delete',
      from: 'deprovisioning',
      to: 'powering off before delete',
      fold: (s: ReturnType<typeof state>) => applySuccess(s, { name: 'deprovision' }, { poweredOn: false }, { ...d, deleting: true }, NOW),
    },
    {
      name: 'failed deploy → deprovisioning',
      from: 'provisioning',
      to: 'deprovisioning',
      fold: (s: ReturnType<typeof state>) => applyFailure(s, 'provision', { code: 'VirtualMediaFailed', message: 'x' }, d, NOW, 0),
    },
  ])('$name', ({ from, to, fold }) => {
    expect(fold(state(from)).state.provisioningState).toBe(to);
    expect(canTransition(from as never, to as never)).toBe(true);
  });

  it('an outcome folded in a state the table does not move from fails loudly', () => {
    expect(() => applySuccess(state('available'), { name: 'inspect' }, { poweredOn: false }, d, NOW)).toThrow(IllegalTransition);
  });
});

describe('delayed under the provisioning limit', () => {
  it('shows operationalStatus delayed, before any error, and goes back when it stops waiting', () => {
    const failed = state('available', { errorType: 'provisioning error', errorMessage: 'x', errorCount: 1 });
    const delayed = delay(failed, 'provisioning', '20 of 20 slots busy');
    expect(delayed).toMatchObject({ provisioningState: 'available', operationalStatus: 'delayed', delayed: { state: 'provisioning' } });
    expect(operationalStatusOf(undelay(delayed))).toBe('error');
    expect(transition(delayed, 'provisionRequested', desired({ online: true, image: live }), NOW).state.delayed).toBeUndefined();
  });
});

describe('operationOfState', () => {
  it('gives every state an errorType bucket for an engine bug', () => {
    for (const s of PROVISIONING_STATES) expect(operationOfState(s)).toBeTruthy();
    expect(operationOfState('provisioning')).toBe('provision');
  });
});
