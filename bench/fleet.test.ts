// The fleet bench's transition times: a state a host passed through within one workflow task has no upsert of
// its own and takes the time (and the publication) of the next state's; a state the status never showed is
// visible when a later one is.
import { describe, expect, it } from 'vitest';
import { fillPassedStates, visibleAt } from './fleet.ts';

describe('fillPassedStates', () => {
  it('gives the states passed within a task the time and publication of the next upserted one', () => {
    const passed = ['registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned'];
    const transitions = new Map([['registering', 5], ['inspecting', 15], ['provisioning', 30], ['provisioned', 38]]);
    const carried = { scheduled: 30, started: 30.5 };
    const publications = new Map([['provisioning', carried]]);
    fillPassedStates(passed, transitions, publications);
    expect([...transitions]).toEqual([['registering', 5], ['inspecting', 15], ['provisioning', 30], ['provisioned', 38], ['available', 30], ['preparing', 30]]);
    expect(publications.get('preparing')).toBe(carried);
    expect(publications.get('available')).toBe(carried);
  });

  it('leaves a state with no later upserted state, and every recorded one, as they are', () => {
    const transitions = new Map([['registering', 5]]);
    fillPassedStates(['registering', 'inspecting'], transitions, undefined);
    expect([...transitions]).toEqual([['registering', 5]]);
  });
});

describe('visibleAt', () => {
  it('is when the watch saw the state, or, for a state it never saw, the first later state it saw', () => {
    const transitions = new Map([['registering', 5], ['inspecting', 15], ['provisioning', 30], ['provisioned', 38]]);
    const seen = new Map([['inspecting', 20], ['provisioned', 45]]);
    expect(visibleAt('inspecting', seen, transitions)).toBe(20);
    expect(visibleAt('registering', seen, transitions)).toBe(20); // shown only by the state after it
    expect(visibleAt('provisioning', seen, transitions)).toBe(45);
    expect(visibleAt('provisioned', new Map([['inspecting', 20]]), transitions)).toBeUndefined(); // never shown, nor anything after it
  });
});
