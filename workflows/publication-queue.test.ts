/** The publication queue: what is sent, what is merged or folded, and that a slot claim loses nothing. */
import { describe, expect, it } from 'vitest';
import { hostIn } from '../test/fixtures/hosts.ts';
import type { HostEvent } from '../domain/host-model.ts';
import { PublicationQueue, unchanged, visibleKey } from './publication-queue.ts';

const event = (reason: string): HostEvent => ({ type: 'Normal', reason, message: reason });
const nothing = { events: [], removeAnnotations: [] };

describe('PublicationQueue', () => {
  it('merges changes within one state into its latest snapshot, and keeps each state a publication of its own', () => {
    const q = new PublicationQueue(true);
    q.add(hostIn('registering'), { events: [event('A')], removeAnnotations: ['x'] });
    q.add(hostIn('registering', { poweredOn: true }), { events: [event('B')], removeAnnotations: ['y'], hardwareData: { h: 1 } });
    q.add(hostIn('inspecting'), nothing);
    expect(q.length).toBe(2);
    const first = q.next(undefined, false);
    expect(first).toMatchObject({ state: { provisioningState: 'registering', poweredOn: true }, removeAnnotations: ['x', 'y'], hardwareData: { h: 1 } });
    expect(first?.events.map((e) => e.reason)).toEqual(['A', 'B']);
    expect(q.next('registering', false)?.state.provisioningState).toBe('inspecting');
    expect(q.next('inspecting', false)).toBeUndefined();
  });

  it('folds a superseded snapshot of a state already shown into the next one (v2), its Events first', () => {
    const q = new PublicationQueue(true);
    q.add(hostIn('registering', { poweredOn: true }), { events: [event('Registered')], removeAnnotations: ['a'], hardwareData: { h: 1 } });
    q.add(hostIn('inspecting'), { events: [event('InspectionStarted')], removeAnnotations: ['b'] });
    const sent = q.next('registering', false);
    expect(sent?.state.provisioningState).toBe('inspecting');
    expect(sent?.events.map((e) => e.reason)).toEqual(['Registered', 'InspectionStarted']);
    expect(sent).toMatchObject({ removeAnnotations: ['a', 'b'], hardwareData: { h: 1 } });
  });

  it('does not fold before v2, for a state not shown yet, or when forced', () => {
    const cases: [boolean, string | undefined, boolean][] = [[false, 'registering', false], [true, 'none', false], [true, 'registering', true]];
    for (const [coalesce, shown, force] of cases) {
      const q = new PublicationQueue(coalesce);
      q.add(hostIn('registering'), nothing);
      q.add(hostIn('inspecting'), nothing);
      expect(q.next(shown, force)?.state.provisioningState).toBe('registering');
    }
  });

  it('folds what a claim supersedes into both what it shows and what it shows if refused', () => {
    const q = new PublicationQueue(true);
    const before = hostIn('registering', { poweredOn: true });
    q.add(before, { events: [event('Registered')], removeAnnotations: ['a'] });
    q.addClaim(hostIn('inspecting'), { events: [event('InspectionStarted')], removeAnnotations: ['inspect'] }, before);
    const sent = q.next('registering', false);
    expect(sent?.events.map((e) => e.reason)).toEqual(['Registered', 'InspectionStarted']);
    expect(sent?.claim?.fallback).toMatchObject({ state: before, removeAnnotations: ['a'] });
    expect(sent?.claim?.fallback.events.map((e) => e.reason)).toEqual(['Registered']);
  });

  it('never folds a claim into what follows it', () => {
    const q = new PublicationQueue(true);
    q.addClaim(hostIn('provisioning'), nothing, hostIn('available'));
    q.add(hostIn('provisioned'), nothing);
    expect(q.next('provisioning', false)?.claim).toBeDefined();
  });
});

describe('unchanged', () => {
  const state = hostIn('available');
  const key = visibleKey(state);
  it('skips a snapshot that shows nothing new', () => {
    expect(unchanged({ state, ...nothing }, key, false)).toBe(true);
    expect(unchanged({ state: { ...state, powerCheckedAt: 'later', retryAfter: 'x' }, ...nothing }, key, false)).toBe(true);
  });
  it('sends one with a visible change, Events, removals, hardware, a claim, or when forced', () => {
    expect(unchanged({ state: { ...state, poweredOn: true }, ...nothing }, key, false)).toBe(false);
    expect(unchanged({ state, events: [event('X')], removeAnnotations: [] }, key, false)).toBe(false);
    expect(unchanged({ state, events: [], removeAnnotations: ['x'] }, key, false)).toBe(false);
    expect(unchanged({ state, ...nothing, hardwareData: {} }, key, false)).toBe(false);
    expect(unchanged({ state, ...nothing, claim: { fallback: { state, ...nothing } } }, key, false)).toBe(false);
    expect(unchanged({ state, ...nothing }, key, true)).toBe(false);
  });
});
