/** The provisioning limit's arbiter: grants, refusals in order, reserved offers that expire, rebuilt from a list. */
import { describe, expect, it } from 'vitest';
import type { HostObject } from './objects.ts';
import { ProvisioningLimiter, slotViewOf } from './provisioning-limit.ts';

function limiter(limit = 2, countVirtualMedia = true) {
  let now = 0;
  const l = new ProvisioningLimiter({ limit, countVirtualMedia, offerTtlMs: 1000, now: () => now });
  return { l, advance: (ms: number) => (now += ms) };
}
const shows = (state: string, delayed = false) => ({ state, delayed });

describe('ProvisioningLimiter', () => {
  it('grants up to the limit, then refuses with the reason and the place in line', () => {
    const { l } = limiter();
    expect(l.claim('a')).toEqual({ granted: true });
    expect(l.claim('b')).toEqual({ granted: true });
    expect(l.claim('a')).toEqual({ granted: true }); // a holder asking again keeps its slot
    expect(l.claim('c')).toEqual({ granted: false, reason: expect.stringContaining('2 of 2 hosts are inspecting, provisioning or deprovisioning (PROVISIONING_LIMIT=2); number 1 in line') });
    expect(l.claim('d')).toMatchObject({ granted: false, reason: expect.stringContaining('number 2 in line') });
    expect(l.snapshot()).toEqual({ holders: ['a', 'b'], waiting: ['c', 'd'], offered: [] });
  });

  it('a host moving between the heavy states keeps its slot; leaving them frees it for the first in line', () => {
    const { l } = limiter();
    l.claim('a');
    l.claim('b');
    l.claim('c');
    l.claim('d');
    l.observe('a', shows('deprovisioning'));
    expect(l.offers()).toEqual([]);
    l.observe('a', shows('available'));
    expect(l.offers()).toEqual(['c']);
    expect(l.offers()).toEqual([]); // reserved for c
    expect(l.claim('e')).toMatchObject({ granted: false }); // no jumping the line
    expect(l.claim('c')).toEqual({ granted: true });
    expect(l.snapshot()).toEqual({ holders: ['b', 'c'], waiting: ['d', 'e'], offered: [] });
  });

  it('an offer not taken in time goes to the next host, and the slow one goes to the end of the line', () => {
    const { l, advance } = limiter(1);
    l.claim('a');
    l.claim('b');
    l.claim('c');
    l.forget('a');
    expect(l.offers()).toEqual(['b']);
    advance(1000);
    expect(l.offers()).toEqual(['c']);
    expect(l.snapshot().waiting).toEqual(['c', 'b']);
  });

  it('a delayed host that no longer wants the state leaves the line and lets its offer go', () => {
    const { l } = limiter(1);
    l.claim('a');
    l.claim('b');
    l.claim('c');
    l.observe('a', shows('provisioned'));
    expect(l.offers()).toEqual(['b']);
    l.observe('b', shows('available')); // offered, but its image was removed meanwhile
    expect(l.offers()).toEqual(['c']);
    expect(l.snapshot()).toEqual({ holders: [], waiting: ['c'], offered: ['c'] });
  });

  it('a deleted host frees what it held', () => {
    const { l } = limiter(1);
    l.claim('a');
    l.claim('b');
    l.forget('a');
    expect(l.offers()).toEqual(['b']);
  });

  it('a new term rebuilds the picture from the listed statuses: holders, and the delayed in the order they were refused', () => {
    const { l } = limiter(2);
    l.seed([
      { key: 'late', view: shows('available', true), since: '2026-01-01T00:00:09Z' },
      { key: 'p', view: shows('provisioning'), since: '' },
      { key: 'early', view: shows('registering', true), since: '2026-01-01T00:00:01Z' },
      { key: 'done', view: shows('provisioned'), since: '' },
    ]);
    expect(l.snapshot()).toEqual({ holders: ['p'], waiting: ['early', 'late'], offered: [] });
    expect(l.offers()).toEqual(['early']);
  });

  it('counts hosts booting virtual media only when asked (BMO and Ironic do not count them)', () => {
    const host = (address: string): HostObject => ({ metadata: { name: 'h' }, spec: { bmc: { address } } });
    const bmo = new ProvisioningLimiter({ limit: 1 });
    expect(bmo.counts(host('redfish-virtualmedia://10.0.0.1/redfish/v1/Systems/1'))).toBe(false);
    expect(bmo.counts(host('idrac-virtualmedia://10.0.0.1/redfish/v1/Systems/1'))).toBe(false);
    expect(bmo.counts(host('ipmi://10.0.0.1'))).toBe(true);
    expect(bmo.counts(host('redfish://10.0.0.1/redfish/v1/Systems/1'))).toBe(true);
    expect(new ProvisioningLimiter({ limit: 1, countVirtualMedia: true }).counts(host('redfish-virtualmedia://10.0.0.1/x'))).toBe(true);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new ProvisioningLimiter({ limit: 0 })).toThrow(/positive integer/);
  });

  it('reads what a listed host shows', () => {
    const host: HostObject = { metadata: { name: 'h' }, status: { provisioning: { state: 'available' }, operationalStatus: 'delayed', lastUpdated: 't' } };
    expect(slotViewOf(host)).toEqual({ view: { state: 'available', delayed: true }, since: 't' });
    expect(slotViewOf({ metadata: { name: 'h' } })).toBeUndefined();
  });
});
