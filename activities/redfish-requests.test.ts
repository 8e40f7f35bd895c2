// The Redfish requests of one host's register → provisioned (live ISO), activity by activity, against a simulated
// BMC with sessions (the DMTF mockup): the real activities, the real pool and driver, over HTTP. A request budget
// that names where each request goes, so a change that adds one shows which activity pays for it.
import { describe, expect, it } from 'vitest';
import { startSimulator, type SimulatedBmc } from '../sim/index.ts';
import { useSimulatorFixture } from '../test/sim.ts';
import { BmcConnectionPool } from './bmc/pool.ts';
import type { BmcTarget } from './contract.ts';
import { createActivities } from './index.ts';

const fixture = useSimulatorFixture();

async function startBmc(): Promise<SimulatedBmc> {
  const sim = await startSimulator({ bmcs: [{ id: 'budget', profile: 'dmtf', powerDelayMs: 0, password: 'pw' }] });
  fixture.running.push(sim);
  const [bmc] = sim.bmcs;
  if (!bmc) throw new Error('no simulated BMC');
  return bmc;
}

describe('Redfish requests of register → provisioned (live ISO)', () => {
  it('register, firmware reading, inspection and the virtual-media boot stay within 29 requests; a power check is one', async () => {
    const bmc = await startBmc();
    const iso = fixture.files.add('/budget.iso', 64 * 1024);
    let activity = '';
    const seen: { activity: string; request: string }[] = [];
    const pool = new BmcConnectionPool({
      defaults: { redfish: { client: { onExchange: (e) => seen.push({ activity, request: `${e.method} ${e.path}` }) } } },
    });
    const activities = createActivities({
      credentials: { read: async () => ({ username: bmc.username, password: bmc.password, version: '1' }) },
      drivers: pool,
    });
    const target: BmcTarget = { host: { namespace: 'ns', name: 'budget', uid: 'budget-uid' }, address: bmc.address, credentialsName: 'bmc' };
    const run = async (name: string, fn: () => Promise<unknown>) => {
      activity = name;
      await fn();
    };
    const of = (name: string) => seen.filter((s) => s.activity === name).map((s) => s.request);
    const system = `GET ${bmc.systemPath}`;

    try {
      await run('registerBmc', () => activities.registerBmc(target, { firmware: {} }));
      await run('inspectHardware', () => activities.inspectHardware(target));
      await run('bootVirtualMedia', () =>
        activities.bootVirtualMedia(target, { url: iso, mode: 'UEFI', check: { url: iso, format: 'live-iso' }, verify: true }),
      );
      await run('readPower', () => activities.readPower(target));
    } finally {
      activity = 'close';
      await pool.close();
    }

    // Registering, with the firmware reading in the same call: the service root, the login and the system once
    // (the reading's first look takes it from the registration); the BMC's own firmware version is not asked
    // for. Then Bios and its settings once (the registry lookup only needs Bios, kept), the registry, and the
    // manager once (for the BMC's version, in the firmware inventory).
    const register = of('registerBmc');
    expect(register.slice(0, 3)).toEqual(['GET /redfish/v1/', 'POST /redfish/v1/SessionService/Sessions', system]);
    expect(register.filter((r) => r === system)).toHaveLength(1);
    expect(register.filter((r) => r.endsWith('/Bios'))).toHaveLength(1);
    expect(register.filter((r) => r.endsWith('/Bios/Settings'))).toHaveLength(1);
    expect(register.filter((r) => r.includes('/Managers/'))).toHaveLength(1);
    expect(register).toHaveLength(10);
    // Inspection keeps only the hardware details: neither the manager nor the BIOS attributes are read, nor
    // UpdateService again (where the inventories are was learnt by the firmware reading), nor the DIMMs (the
    // system gives its total memory).
    const inspection = of('inspectHardware');
    expect(inspection.filter((r) => /\/Managers\/|\/Bios$|\/UpdateService$|\/Memory/.test(r))).toEqual([]);
    expect(inspection).toHaveLength(5);
    // The boot's verification takes the power-on's last poll (the host on) instead of reading the system again.
    const boot = of('bootVirtualMedia');
    expect(boot.filter((r) => r === system)).toHaveLength(4);
    expect(boot).toHaveLength(14);
    // The whole pipeline, then a power check on the same session, and the session's DELETE when the pool closes.
    expect(seen.filter((s) => !['readPower', 'close'].includes(s.activity))).toHaveLength(29);
    expect(seen.filter((s) => s.request.startsWith('POST /redfish/v1/SessionService'))).toHaveLength(1);
    expect(of('readPower')).toEqual([system]);
    expect(of('close')).toEqual([expect.stringMatching(/^DELETE \/redfish\/v1\/SessionService\/Sessions\//)]);
    // The boot happened: power on, the ISO inserted.
    expect(bmc.state()).toMatchObject({ power: 'On' });
  });
});
