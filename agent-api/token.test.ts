/** Agent tokens and deploy ISO URL signatures: derived, checkable by any replica, and not forgeable. */
import { describe, expect, it } from 'vitest';
import { AgentKeys, newAgentKey } from './token.ts';

const keys = new AgentKeys('the installation key of this test, long enough');
const other = new AgentKeys('the installation key of another installation!!');

describe('agent tokens', () => {
  it('name their boot and are checked against the host they were made for', () => {
    const token = keys.tokenFor('uid-1', 'b7-x1');
    expect(token.length).toBeGreaterThanOrEqual(32); // IPA adopts tokens of 32 characters or more
    expect(token).toMatch(/^[A-Za-z0-9._-]+$/); // safe on a kernel command line and in a query string
    expect(keys.verifyToken('uid-1', token)).toEqual({ bootId: 'b7-x1' });
  });

  it.each([
    ['another host', () => keys.verifyToken('uid-2', keys.tokenFor('uid-1', 'b1'))],
    ['another installation', () => keys.verifyToken('uid-1', other.tokenFor('uid-1', 'b1'))],
    ['a boot id swapped in', () => keys.verifyToken('uid-1', `b2${keys.tokenFor('uid-1', 'b1').slice(2)}`)],
    ['one character changed', () => {
      const t = keys.tokenFor('uid-1', 'b1');
      return keys.verifyToken('uid-1', `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`);
    }],
    ['no boot id', () => keys.verifyToken('uid-1', keys.tokenFor('uid-1', 'b1').slice(2))],
    ['not a string', () => keys.verifyToken('uid-1', 42)],
    ['the Ironic mask', () => keys.verifyToken('uid-1', '******')],
  ])('refuse %s', (_name, check) => {
    expect(check()).toBeUndefined();
  });

  it('refuse a short installation key, and a new key is long and random', () => {
    expect(() => new AgentKeys('short')).toThrow(/at least 32/);
    const a = newAgentKey();
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(newAgentKey()).not.toBe(a);
  });
});

describe('deploy ISO URLs', () => {
  const ref = { hostUid: 'uid-1', bootId: 'b1', purpose: 'deploy' as const, baseIso: 'http://images/ipa.iso?x=1', expires: 2_000_000_000 };
  const parse = (url: string) => {
    const u = new URL(url);
    const [, , , hostUid = '', bootId = '', file = ''] = u.pathname.split('/');
    return { hostUid: decodeURIComponent(hostUid), bootId, purpose: file.replace(/\.iso$/, ''), query: u.searchParams };
  };

  it('round-trip under the API URL and carry no token', () => {
    const url = keys.deployIsoUrl('http://api:6385/', ref);
    expect(url.startsWith('http://api:6385/v1/deploy-iso/uid-1/b1/deploy.iso?')).toBe(true);
    expect(url).not.toContain(keys.tokenFor('uid-1', 'b1').split('.')[1]);
    expect(keys.checkDeployIso(parse(url), 1_000)).toEqual({ ok: true, ref });
  });

  it.each([
    ['another base ISO', (u: URL) => u.searchParams.set('base', 'http://evil/x.iso')],
    ['a later expiry', (u: URL) => u.searchParams.set('expires', '2000000001')],
    ['another purpose', (u: URL) => (u.pathname = u.pathname.replace('deploy.iso', 'inspect.iso'))],
    ['another host', (u: URL) => (u.pathname = u.pathname.replace('uid-1', 'uid-2'))],
    ['no signature', (u: URL) => u.searchParams.delete('sig')],
  ])('refuse %s (403)', (_name, tamper) => {
    const u = new URL(keys.deployIsoUrl('http://api', ref));
    tamper(u);
    expect(keys.checkDeployIso(parse(u.toString()), 1_000)).toMatchObject({ ok: false, status: 403 });
  });

  it('refuse an expired URL (410) and one signed by another installation (403)', () => {
    expect(keys.checkDeployIso(parse(keys.deployIsoUrl('http://api', ref)), ref.expires + 1)).toMatchObject({ ok: false, status: 410 });
    expect(keys.checkDeployIso(parse(other.deployIsoUrl('http://api', ref)), 1_000)).toMatchObject({ ok: false, status: 403 });
  });
});

describe('deploy ISO URLs with extra kernel parameters', () => {
  it('sign them too', () => {
    const ref = { hostUid: 'uid-1', bootId: 'b1', purpose: 'deploy' as const, baseIso: 'http://ppi/host.iso', expires: 2_000_000_000, extraKernelParams: 'ip=dhcp console=ttyS0' };
    const u = new URL(keys.deployIsoUrl('http://api', ref));
    const parse = () => ({ hostUid: 'uid-1', bootId: 'b1', purpose: 'deploy', query: u.searchParams });
    expect(keys.checkDeployIso(parse(), 1)).toEqual({ ok: true, ref });
    u.searchParams.set('params', 'ip=dhcp init=/bin/sh');
    expect(keys.checkDeployIso(parse(), 1)).toMatchObject({ ok: false, status: 403 });
  });
});
