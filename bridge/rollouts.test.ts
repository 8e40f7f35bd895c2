import { describe, expect, it } from 'vitest';
import type { HostObject } from './objects.ts';
import { controlOf, matchesSelector, selectHosts } from './rollouts.ts';

const host = (name: string, labels: Record<string, string>, extra: Partial<HostObject['metadata']> = {}): HostObject => ({
  metadata: { name, namespace: 'ns', labels, ...extra },
});

describe('label selectors', () => {
  it.each([
    { selector: { matchLabels: { rack: 'a' } }, labels: { rack: 'a', x: 'y' }, match: true },
    { selector: { matchLabels: { rack: 'a' } }, labels: { rack: 'b' }, match: false },
    { selector: { matchExpressions: [{ key: 'rack', operator: 'In' as const, values: ['a', 'b'] }] }, labels: { rack: 'b' }, match: true },
    { selector: { matchExpressions: [{ key: 'rack', operator: 'NotIn' as const, values: ['a'] }] }, labels: {}, match: true },
    { selector: { matchExpressions: [{ key: 'rack', operator: 'Exists' as const }] }, labels: {}, match: false },
    { selector: { matchExpressions: [{ key: 'rack', operator: 'DoesNotExist' as const }] }, labels: { rack: '' }, match: false },
  ])('$selector on $labels: $match', ({ selector, labels, match }) => {
    expect(matchesSelector(labels as Record<string, string>, selector)).toBe(match);
  });

  it('hosts of the namespace, not being deleted, in natural name order', () => {
    const hosts = [
      host('host-10', { fw: 'y' }),
      host('host-2', { fw: 'y' }),
      host('host-1', { fw: 'n' }),
      host('gone', { fw: 'y' }, { deletionTimestamp: '2026-01-01T00:00:00Z' }),
      { metadata: { name: 'other-ns', namespace: 'x', labels: { fw: 'y' } } },
    ];
    expect(selectHosts(hosts, 'ns', { matchLabels: { fw: 'y' } }).map((h) => h.name)).toEqual(['host-2', 'host-10']);
  });

  it('the control fields of a spec', () => {
    const spec = { selector: { matchLabels: { a: 'b' } }, updates: [{ component: 'bios', url: 'http://x/b.bin' }], paused: true };
    expect(controlOf({ metadata: { name: 'r', generation: 3 }, spec })).toEqual({ generation: 3, paused: true, abort: false });
    expect(controlOf({ metadata: { name: 'r' }, spec: { selector: 'nope' } })).toBeUndefined();
  });
});
