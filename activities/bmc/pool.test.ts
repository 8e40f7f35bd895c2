import { describe, expect, it } from 'vitest';
import { parseBmcAddress } from '../../domain/bmc-address.ts';
import type { BmcDriver } from './driver.ts';
import type { BmcDriverOptions } from './factory.ts';
import { BmcConnectionPool } from './pool.ts';

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
