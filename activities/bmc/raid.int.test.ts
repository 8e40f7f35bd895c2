/**
 * Hardware RAID through the Redfish driver against the simulator: controllers and volumes read back in the
 * shape of `status.raid`, a Metal3 `hardwareRAIDVolumes` applied on the vendor's terms (Lenovo XCC at once,
 * Dell iDRAC at the next reboot, so a replacement takes two reboots), calls repeated at any point sending
 * nothing twice, and configurations a host cannot have refused with a clear message before anything is sent.
 *
 * Uses a private simulator; nothing of the shared stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HardwareRaidVolume } from '../../domain/baremetalhost.schema.ts';
import { startSimulator, type SimulatedBmc, type Simulator } from '../../sim/index.ts';
import type { BmcDriver, RaidApplyResult, RaidOps } from './driver.ts';
import { createBmcDriver } from './factory.ts';
import { failure } from '../../test/expect-failure.ts';
import { SIM_REDFISH } from '../../test/bmc-peers.ts';

type Driver = BmcDriver & { raid: RaidOps };

let sim: Simulator;
const drivers: BmcDriver[] = [];
const DELL_QUIET = {
  quirks: { remove: ['sys518-after-write', 'busy-503-after-power-on', 'power-on-conflict-after-off'] },
};

beforeAll(async () => {
  sim = await startSimulator({
    bmcs: [
      ...['dmtf', 'ilo5', 'ami', 'xcc', 'idrac', 'supermicro'].map((profile) => ({
        profile,
        id: profile,
        quirkWindowMs: 0,
      })),
      { profile: 'xcc', id: 'xcc-apply', quirkWindowMs: 0 },
      { profile: 'idrac', id: 'idrac-apply', quirkWindowMs: 0, ...DELL_QUIET },
    ],
  });
});

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await sim?.stop();
});

function driverFor(bmc: SimulatedBmc): Driver {
  const d = createBmcDriver({
    address: bmc.address,
    credentials: { username: bmc.username, password: bmc.password },
    redfish: SIM_REDFISH,
  });
  drivers.push(d);
  if (!d.raid) throw new Error('a Redfish driver has RAID operations');
  return d as Driver;
}

/** What the preparing workflow does: apply, reboot while the BMC holds changes, until nothing is left to do. */
async function converge(d: Driver, volumes: HardwareRaidVolume[]): Promise<RaidApplyResult[]> {
  const steps: RaidApplyResult[] = [];
  for (let round = 0; round < 5; round += 1) {
    const step = await d.raid.apply(volumes);
    steps.push(step);
    if (!step.rebootRequired) return steps;
    await d.setPower('reboot');
  }
  throw new Error(`RAID did not converge: ${JSON.stringify(steps)}`);
}

/** POSTs and DELETEs the BMC received (measure after the driver's first call: logging in is a POST too). */
const writes = (bmc: SimulatedBmc): number =>
  (bmc.counters().requests.POST ?? 0) + (bmc.counters().requests.DELETE ?? 0);

describe('controllers and volumes, read back as status.raid', () => {
  it('xcc: the captured RAID-1 volume', async () => {
    const readout = await driverFor(sim.bmc('xcc')).raid.read();
    expect(readout.controllers.map((c) => [c.id, c.supportedRaidTypes.length, c.drives.length, c.applyTimes])).toEqual([
      ['RAID_Slot1', 7, 4, ['Immediate']],
    ]);
    expect(readout.status).toEqual([
      {
        level: '1',
        name: 'Volume 1',
        controller: 'RAID_Slot1',
        sizeGibibytes: 931,
        physicalDisks: ['Disk.0', 'Disk.1'],
        numberOfPhysicalDisks: 2,
        rotational: false,
      },
    ]);
    expect(readout.pending).toEqual({ tasks: [], volumes: [] });
  });

  it.each([
    { profile: 'idrac', controllers: [['RAID.Integrated.1-1', 7]] },
    { profile: 'supermicro', controllers: [['NVMeSSD', 0]] },
    { profile: 'ami', controllers: [['1', 0]] },
    { profile: 'ilo5', controllers: [] },
  ])('$profile: $controllers and no volume', async ({ profile, controllers }) => {
    const readout = await driverFor(sim.bmc(profile)).raid.read();
    expect(readout.controllers.map((c) => [c.id, c.supportedRaidTypes.length])).toEqual(controllers);
    expect(readout.status).toEqual([]);
  });
});

describe('applying hardwareRAIDVolumes', () => {
  it('xcc (Immediate): replaces the volume at once, reads it back, and a second apply sends nothing', async () => {
    const bmc = sim.bmc('xcc-apply');
    const d = driverFor(bmc);
    const spec: HardwareRaidVolume[] = [
      { level: '1', name: 'root' },
      { level: '0', name: 'scratch', rotational: true, numberOfPhysicalDisks: 2 },
    ];
    const steps = await converge(d, spec);
    expect(steps.map((s) => s.state)).toEqual(['applied']);
    expect(steps[0]).toMatchObject({
      deleted: ['/redfish/v1/Systems/1/Storage/RAID_Slot1/Volumes/1'],
      rebootRequired: false,
    });
    expect((await d.raid.read()).status).toEqual([
      {
        level: '1',
        name: 'root',
        controller: 'RAID_Slot1',
        sizeGibibytes: 931,
        physicalDisks: ['Disk.0', 'Disk.1'],
        numberOfPhysicalDisks: 2,
        rotational: false,
      },
      {
        level: '0',
        name: 'scratch',
        controller: 'RAID_Slot1',
        sizeGibibytes: 4471,
        physicalDisks: ['Disk.2', 'Disk.3'],
        numberOfPhysicalDisks: 2,
        rotational: true,
      },
    ]);
    const sent = writes(bmc);
    expect(await d.raid.apply(spec)).toMatchObject({ state: 'unchanged', rebootRequired: false });
    expect(writes(bmc)).toBe(sent);
    expect(bmc.counters()).toMatchObject({ volumeCreates: 2, volumeDeletes: 1, volumeRefusals: 0 });
    // What the host's OS sees now: the two volumes, no bare drive.
    expect(bmc.logicalDisks().map((disk) => [disk.kind, disk.name])).toEqual([
      ['volume', 'root'],
      ['volume', 'scratch'],
    ]);
  });

  it('idrac (OnReset): created at the reboot; repeated calls before it send nothing; [] deletes at the next', async () => {
    const bmc = sim.bmc('idrac-apply');
    const d = driverFor(bmc);
    const spec: HardwareRaidVolume[] = [{ level: '1', name: 'os', sizeGibibytes: 200 }];
    const first = await d.raid.apply(spec);
    expect(first).toMatchObject({ state: 'pending', rebootRequired: true, created: [] });
    expect(first.tasks).toHaveLength(1);
    // A worker restarted before the reboot applies again: the BMC's pending task says it is in hand.
    const sent = writes(bmc);
    expect(await d.raid.apply(spec)).toMatchObject({ state: 'pending', tasks: first.tasks });
    expect(writes(bmc)).toBe(sent);
    expect((await d.raid.read()).status).toEqual([]);

    await d.setPower('on');
    expect((await converge(d, spec)).map((s) => s.state)).toEqual(['unchanged']);
    expect((await d.raid.read()).status).toEqual([
      {
        level: '1',
        name: 'os',
        controller: 'RAID.Integrated.1-1',
        sizeGibibytes: 200,
        physicalDisks: [
          'Disk.Bay.0:Enclosure.Internal.0-1:RAID.Integrated.1-1',
          'Disk.Bay.1:Enclosure.Internal.0-1:RAID.Integrated.1-1',
        ],
        numberOfPhysicalDisks: 2,
        rotational: false,
      },
    ]);

    // Replacing it takes two reboots: the deletion, then the creation on the freed drives.
    const replaced = await converge(d, [{ level: '1', name: 'os2', rotational: true }]);
    expect(replaced.map((s) => s.state)).toEqual(['pending', 'pending', 'unchanged']);
    expect((await d.raid.read()).status.map((v) => [v.name, v.rotational])).toEqual([['os2', true]]);

    expect((await converge(d, [])).map((s) => s.state)).toEqual(['pending', 'unchanged']);
    expect((await d.raid.read()).status).toEqual([]);
    expect(bmc.counters()).toMatchObject({ volumeCreates: 2, volumeDeletes: 2, volumeChangesApplied: 4 });
  });

  it('leaves the host as it is without hardwareRAIDVolumes', async () => {
    const bmc = sim.bmc('xcc');
    const d = driverFor(bmc);
    await d.raid.read();
    const sent = writes(bmc);
    expect(await d.raid.apply(undefined)).toMatchObject({ state: 'unchanged' });
    expect(writes(bmc)).toBe(sent);
  });
});

describe('a configuration the host cannot have', () => {
  it.each([
    { profile: 'ami', spec: [{ level: '1' }], says: 'has no hardware RAID controller (its storage 1 does no RAID)' },
    {
      profile: 'supermicro',
      spec: [{ level: '0' }],
      says: 'has no hardware RAID controller (its storage NVMeSSD does no RAID)',
    },
    { profile: 'ilo5', spec: [{ level: '1' }], says: 'has no hardware RAID controller' },
    { profile: 'dmtf', spec: [{ level: '1' }], says: 'has no hardware RAID controller' },
    { profile: 'idrac', spec: [{ level: '2' }], says: 'RAID level 2 cannot be built through Redfish' },
    { profile: 'xcc', spec: [{ level: '6+0' }], says: 'no controller has 8 free drives of one kind for level 6+0' },
    {
      profile: 'xcc',
      spec: [{ level: '1', controller: 'RAID_Slot9' }],
      says: 'there is no controller RAID_Slot9 (controllers: RAID_Slot1)',
    },
    {
      profile: 'idrac',
      spec: [{ level: '1', sizeGibibytes: 2000 }],
      says: 'no controller has 2 free drives of one kind for level 1 and 2000 GiB',
    },
  ] as { profile: string; spec: HardwareRaidVolume[]; says: string }[])(
    '$profile $spec: RaidConfigInvalid, nothing sent',
    async ({ profile, spec, says }) => {
      const bmc = sim.bmc(profile);
      const d = driverFor(bmc);
      await d.raid.read();
      const sent = writes(bmc);
      const err = await failure(d.raid.apply(spec));
      expect(err).toMatchObject({ code: 'RaidConfigInvalid', disposition: 'permanent' });
      expect(err.message).toContain(says);
      expect(writes(bmc)).toBe(sent);
    },
  );
});
