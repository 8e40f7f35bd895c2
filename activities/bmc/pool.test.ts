import { afterEach, describe, expect, it } from 'vitest';
import { parseBmcAddress } from '../../domain/bmc-address.ts';
import { DEFAULT_LIFECYCLE_CONFIG } from '../../domain/host-lifecycle.ts';
import { FakeClock } from '../../test/fake-clock.ts';
import { basicResources, startFakeRedfish, type FakeRedfish } from '../../test/fakes/redfish-server.ts';
import type { BmcDriver } from './driver.ts';
import type { BmcDriverOptions } from './factory.ts';
import { BmcConnectionPool, DEFAULT_POOL_IDLE_MS } from './pool.ts';

/** A driver fake that only records its creation and closing. */
function recordingFactory() {
  const created: { options: BmcDriverOptions; closed: boolean }[] = [];
  const create = (options: BmcDriverOptions): BmcDriver => {
    const entry = { options, closed: false };
    created.push(entry);
    return {
      address: parseBmcAddress(typeof options.address === 'string' ? options.address : options.address.raw),
      identify: () => Promise.reject(new Error('unused')),
      getPowerState: async () => 'on',
      setPower: () => Promise.reject(new Error('unused')),
      setBootOverride: () => Promise.reject(new Error('unused')),
      virtualMedia: undefined,
      inspection: undefined,
      bios: undefined,
      firmware: undefined,
      secureBoot: undefined,
      raid: undefined,
      close: async () => {
        entry.closed = true;
      },
    };
  };
  return { created, create };
}

const target = (password = 'pw', address = 'redfish://10.0.0.1/redfish/v1/Systems/1'): BmcDriverOptions => ({ address, credentials: { username: 'admin', password } });

describe('BmcConnectionPool', () => {
  it('reuses one driver per address, user and TLS choice', async () => {
    const f = recordingFactory();
    const pool = new BmcConnectionPool({ create: f.create });
    await pool.use(target(), (d) => d.getPowerState());
    await pool.use(target(), (d) => d.getPowerState());
    await pool.use({ ...target(), disableCertificateVerification: true }, (d) => d.getPowerState());
    await pool.use(target('pw', 'redfish://10.0.0.2/redfish/v1/Systems/1'), (d) => d.getPowerState());
    expect(f.created).toHaveLength(3);
    expect(pool.size).toBe(3);
    await pool.close();
    expect(f.created.every((c) => c.closed)).toBe(true);
  });

  it('replaces the driver when the password changed, closing the old one once released', async () => {
    const f = recordingFactory();
    const pool = new BmcConnectionPool({ create: f.create });
    await pool.use(target('old'), async () => {
      await pool.use(target('new'), (d) => d.getPowerState());
      expect(f.created[0]?.closed).toBe(false); // still in use by the outer call
    });
    expect(f.created).toHaveLength(2);
    expect(f.created[0]?.closed).toBe(true);
    expect(f.created[1]?.closed).toBe(false);
    await pool.close();
  });

  it('drops a driver whose BMC answered that a resource is gone, so the next call learns the BMC afresh', async () => {
    const f = recordingFactory();
    const pool = new BmcConnectionPool({ create: f.create });
    await pool.use(target(), (d) => d.getPowerState());
    const gone = Object.assign(new Error('GET /redfish/v1/Systems/1: HTTP 404 (no such resource)'), { code: 'BmcNotFound' });
    await expect(pool.use(target(), () => Promise.reject(gone))).rejects.toBe(gone);
    expect(f.created[0]?.closed).toBe(true);
    // Any other failure (a BMC that does not answer) keeps the driver and its session.
    await pool.use(target(), (d) => d.getPowerState());
    await expect(pool.use(target(), () => Promise.reject(Object.assign(new Error('timeout'), { code: 'BmcUnreachable' })))).rejects.toThrow('timeout');
    expect(f.created).toHaveLength(2);
    expect(f.created[1]?.closed).toBe(false);
    await pool.close();
  });

  it('closes drivers idle longer than idleMs, never one in use', async () => {
    const f = recordingFactory();
    const pool = new BmcConnectionPool({ create: f.create, idleMs: 1000 });
    await pool.use(target(), (d) => d.getPowerState());
    expect(await pool.sweep(Date.now() + 500)).toBe(0);
    await pool.use(target('pw', 'redfish://10.0.0.3'), async () => {
      expect(await pool.sweep(Date.now() + 5000)).toBe(1);
    });
    expect(f.created[0]?.closed).toBe(true);
    expect(f.created[1]?.closed).toBe(false);
    expect(pool.size).toBe(1);
    await pool.close();
  });

  it('passes pool defaults to every driver it creates', async () => {
    const f = recordingFactory();
    const pool = new BmcConnectionPool({ create: f.create, defaults: { ipmi: { cipherSuite: 17 } } });
    await pool.use(target('pw', 'ipmi://10.0.0.4'), (d) => d.getPowerState());
    expect(f.created[0]?.options.ipmi?.cipherSuite).toBe(17);
    await pool.close();
  });
});

describe('BmcConnectionPool between power checks', () => {
  const interval = DEFAULT_LIFECYCLE_CONFIG.powerCheckIntervalMs;

  it('keeps a steady host\'s driver from one power check to the next, and closes it once the host stops calling', async () => {
    const f = recordingFactory();
    const clock = new FakeClock();
    const pool = new BmcConnectionPool({ create: f.create, now: () => clock.now() });
    expect(DEFAULT_POOL_IDLE_MS).toBeGreaterThan(interval);
    await pool.use(target(), (d) => d.getPowerState());
    // Past the old fixed idle time (2 minutes) and up to a check that is a minute late: still open.
    await clock.advance(120_000 + 1000);
    expect(await pool.sweep()).toBe(0);
    await clock.advance(interval + 60_000 - (120_000 + 1000));
    expect(await pool.sweep()).toBe(0);
    await pool.use(target(), (d) => d.getPowerState());
    expect(f.created).toHaveLength(1);
    expect(f.created[0]?.closed).toBe(false);
    // No call for the whole idle time: closed, and the next call starts a new driver.
    await clock.advance(DEFAULT_POOL_IDLE_MS - 1);
    expect(await pool.sweep()).toBe(0);
    await clock.advance(1);
    expect(await pool.sweep()).toBe(1);
    expect(f.created[0]?.closed).toBe(true);
    await pool.use(target(), (d) => d.getPowerState());
    expect(f.created).toHaveLength(2);
    await pool.close();
  });

  describe('with a Redfish BMC that expires sessions', () => {
    let fake: FakeRedfish | undefined;
    afterEach(async () => {
      await fake?.close();
      fake = undefined;
    });

    it('a power check after the BMC expired the session costs a GET, one re-login and the GET again; close DELETEs the new session', async () => {
      fake = await startFakeRedfish({ resources: basicResources({}), sessions: true });
      const clock = new FakeClock();
      const pool = new BmcConnectionPool({ now: () => clock.now() });
      const bmc: BmcDriverOptions = { address: `redfish+http://127.0.0.1:${fake.port}/redfish/v1/Systems/1`, credentials: { username: 'admin', password: 'secret' } };
      const seen = () => fake?.requests.map((r) => `${r.method} ${r.path}`) ?? [];
      expect(await pool.use(bmc, (d) => d.getPowerState())).toBe('off');
      expect(seen()).toEqual(['GET /redfish/v1', 'POST /redfish/v1/SessionService/Sessions', 'GET /redfish/v1/Systems/1']);

      // The next check, one interval later: the same session, one request.
      await clock.advance(interval);
      expect(await pool.sweep()).toBe(0);
      fake.requests.length = 0;
      expect(await pool.use(bmc, (d) => d.getPowerState())).toBe('off');
      expect(seen()).toEqual(['GET /redfish/v1/Systems/1']);

      // The BMC timed the session out meanwhile: one re-login, no service root, no logout.
      await clock.advance(interval);
      fake.tokens.clear();
      fake.requests.length = 0;
      expect(await pool.use(bmc, (d) => d.getPowerState())).toBe('off');
      expect(seen()).toEqual(['GET /redfish/v1/Systems/1', 'POST /redfish/v1/SessionService/Sessions', 'GET /redfish/v1/Systems/1']);
      expect(fake.requests.map((r) => r.auth)).toEqual(['session', 'none', 'session']);

      await pool.close();
      expect(fake.deletedSessions).toEqual(['/redfish/v1/SessionService/Sessions/2']);
    });
  });
});

describe('BmcConnectionPool.close', () => {
  it('closes every driver, a bounded number at a time', async () => {
    let inFlight = 0;
    let most = 0;
    let closed = 0;
    const create = (options: BmcDriverOptions): BmcDriver => ({
      ...recordingFactory().create(options),
      close: async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        closed++;
      },
    });
    const pool = new BmcConnectionPool({ create });
    for (let i = 0; i < 100; i++) await pool.use(target('pw', `redfish://10.0.1.${i}`), (d) => d.getPowerState());
    await pool.close(8);
    expect(closed).toBe(100);
    expect(most).toBe(8);
    expect(pool.size).toBe(0);
  });
});
