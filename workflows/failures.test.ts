/** How the host workflow names failures: by their coded type, walking the cause chain. */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { transition } from '../domain/host-lifecycle.ts';
import { IllegalTransition } from '../domain/host-state.ts';
import { hostDesired, hostIn, NOW } from '../test/fixtures/hosts.ts';
import { hostFailureOf } from './failures.ts';

describe('hostFailureOf', () => {
  it('surfaces a move the transition table does not have as an InternalError naming the move', () => {
    let thrown: unknown;
    try {
      transition(hostIn('provisioning'), 'deprovisioned', hostDesired(), NOW);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IllegalTransition);
    expect(hostFailureOf(thrown)).toEqual({
      code: 'InternalError',
      message: "illegal transition: the state machine has no move from 'provisioning' on deprovisioned (a bug in Tempered)",
    });
  });

  it('finds the coded failure inside a child or activity failure', () => {
    const inner = ApplicationFailure.create({ type: 'BmcAuthFailed', message: 'refused', nonRetryable: true });
    const outer = Object.assign(new Error('child failed'), { cause: inner });
    expect(hostFailureOf(outer)).toEqual({ code: 'BmcAuthFailed', message: 'refused' });
  });
});
