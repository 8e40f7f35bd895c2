// RAID on the simulator over real HTTP: the controllers and volumes of the vendor trees, volumes created and
// deleted as the vendor does it (XCC at once, iDRAC at the next boot with a Task), refused with the reason a
// controller gives, and the disks the host's OS sees after each change.
import { describe, expect, it } from 'vitest';
import { type BmcSpec, startSimulator } from './index.ts';
import { redfishClient, until, useSimulatorFixture } from '../test/sim.ts';

const fixture = useSimulatorFixture();

async function one(spec: BmcSpec) {
  const sim = await startSimulator({ bmcs: [{ quirkWindowMs: 0, ...spec }] });
  fixture.running.push(sim);
  const [bmc] = sim.bmcs;
  if (!bmc) throw new Error('no BMC');
  return { bmc, client: redfishClient(bmc) };
}

function messageIds(body: Record<string, unknown> | undefined): string[] {
  const error = body?.['error'] as { '@Message.ExtendedInfo'?: { MessageId: string }[] } | undefined;
  return (error?.['@Message.ExtendedInfo'] ?? []).map((i) => i.MessageId);
}

const XCC = '/redfish/v1/Systems/1/Storage/RAID_Slot1';
const xccDrive = (n: number) => ({ '@odata.id': `${XCC}/Drives/Disk.${n}` });
const DELL = '/redfish/v1/Systems/System.Embedded.1/Storage/RAID.Integrated.1-1';
const dellDrive = (n: number) => ({
  '@odata.id': `${DELL}/Drives/Disk.Bay.${n}:Enclosure.Internal.0-1:RAID.Integrated.1-1`,
});

describe('controllers and volumes of the trees', () => {
  it('xcc: the captured RAID-1 on the two SSDs, and the HDDs the OS sees as they are', async () => {
    const { bmc } = await one({ profile: 'xcc' });
    expect(bmc.storage().controllers).toEqual([
      expect.objectContaining({
        id: 'RAID_Slot1',
        raidTypes: ['RAID0', 'RAID1', 'RAID5', 'RAID6', 'RAID10', 'RAID50', 'RAID60'],
        applyTimes: ['Immediate'],
      }),
    ]);
    expect(bmc.logicalDisks().map((d) => [d.kind, d.id, d.sizeBytes, d.rotational])).toEqual([
      ['volume', '1', 999653638144, false],
      ['drive', 'Disk.2', 2400476553216, true],
      ['drive', 'Disk.3', 2400476553216, true],
    ]);
  });

  it('profiles without a volumes collection have no RAID (NVMe, SimpleStorage, OEM-only)', async () => {
    for (const profile of ['supermicro', 'dmtf', 'ami', 'ilo5']) {
      const { bmc } = await one({ profile });
      expect(bmc.storage().controllers.filter((c) => c.raidTypes.length > 0)).toEqual([]);
    }
  });
});

describe('xcc: volumes created and deleted at once', () => {
  it('creates a RAID-1 with a size computed from its drives, then deletes it', async () => {
    const { bmc, client } = await one({ profile: 'xcc' });
    const created = await client.post(`${XCC}/Volumes`, {
      RAIDType: 'RAID1',
      Name: 'data',
      Links: { Drives: [xccDrive(2), xccDrive(3)] },
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location') ?? '';
    expect(location).toBe(`${XCC}/Volumes/2`);
    const volume = (await client.get(location)).json;
    expect(volume).toMatchObject({
      RAIDType: 'RAID1',
      Name: 'data',
      CapacityBytes: Math.floor(2400476553216 / 1048576) * 1048576,
      Links: { Drives: [xccDrive(2), xccDrive(3)] },
    });
    expect(((await client.get(`${XCC}/Volumes`)).json?.['Members'] as unknown[]).length).toBe(2);
    expect(bmc.logicalDisks().map((d) => d.id)).toEqual(['1', '2']);

    expect((await client.delete(location)).status).toBe(204);
    expect((await client.get(location)).status).toBe(404);
    expect(bmc.logicalDisks().map((d) => d.id)).toEqual(['1', 'Disk.2', 'Disk.3']);
    expect(bmc.counters()).toMatchObject({ volumeCreates: 1, volumeDeletes: 1, volumeRefusals: 0 });
  });

  it.each([
    {
      scenario: 'a RAID type the controller lacks',
      body: { RAIDType: 'RAID00', Links: { Drives: [xccDrive(2), xccDrive(3)] } },
      id: 'Base.1.5.PropertyValueNotInList',
    },
    {
      scenario: 'too few drives for the level',
      body: { RAIDType: 'RAID5', Links: { Drives: [xccDrive(2), xccDrive(3)] } },
      id: 'Base.1.8.PropertyValueConflict',
    },
    {
      scenario: 'a drive already in a volume',
      body: { RAIDType: 'RAID1', Links: { Drives: [xccDrive(0), xccDrive(2)] } },
      id: 'Base.1.5.ResourceInUse',
    },
    {
      scenario: 'a size larger than the drives give',
      body: { RAIDType: 'RAID0', CapacityBytes: 3e12, Links: { Drives: [xccDrive(2)] } },
      id: 'Base.1.8.PropertyValueOutOfRange',
    },
    { scenario: 'no drives', body: { RAIDType: 'RAID0' }, id: 'Base.1.5.PropertyMissing' },
    {
      scenario: 'a drive of no controller of this system',
      body: { RAIDType: 'RAID0', Links: { Drives: [{ '@odata.id': `${XCC}/Drives/Disk.9` }] } },
      id: 'Base.1.5.PropertyValueNotInList',
    },
  ])('refuses $scenario with $id', async ({ body, id }) => {
    const { bmc, client } = await one({ profile: 'xcc' });
    const res = await client.post(`${XCC}/Volumes`, body);
    expect(res.status).toBe(400);
    expect(messageIds(res.json)).toEqual([id]);
    expect(bmc.counters().volumeCreates).toBe(0);
  });
});

describe('idrac: volume changes held for the next boot', () => {
  it('creates at the reboot (a Pending task until then), and deletes likewise', async () => {
    const { bmc, client } = await one({
      profile: 'idrac',
      quirks: { remove: ['sys518-after-write', 'busy-503-after-power-on', 'stale-power-state'] },
    });
    const accepted = await client.post(`${DELL}/Volumes`, {
      RAIDType: 'RAID1',
      Links: { Drives: [dellDrive(0), dellDrive(1)] },
    });
    expect(accepted.status).toBe(202);
    const monitor = accepted.headers.get('location') ?? '';
    expect((await client.get(monitor)).json).toMatchObject({
      TaskState: 'Pending',
      Payload: { HttpOperation: 'POST', TargetUri: `${DELL}/Volumes` },
    });
    expect((await client.get(`${DELL}/Volumes`)).json?.['Members']).toEqual([]);
    expect(bmc.storage().pending).toEqual([
      { kind: 'create', volume: `${DELL}/Volumes/Disk.Virtual.0:RAID.Integrated.1-1` },
    ]);
    // The drives are taken already: a second volume on them is refused.
    expect(
      messageIds((await client.post(`${DELL}/Volumes`, { RAIDType: 'RAID0', Links: { Drives: [dellDrive(1)] } })).json),
    ).toEqual(['Base.1.5.ResourceInUse']);

    await client.post('/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset', { ResetType: 'On' });
    await until(async () => (await client.get(monitor)).json?.['TaskState'] === 'Completed');
    const volume = `${DELL}/Volumes/Disk.Virtual.0:RAID.Integrated.1-1`;
    expect((await client.get(volume)).json).toMatchObject({
      RAIDType: 'RAID1',
      CapacityBytes: Math.floor(479559942144 / 1048576) * 1048576,
    });
    expect(
      bmc
        .logicalDisks()
        .filter((d) => d.kind === 'volume')
        .map((d) => d.drives),
    ).toEqual([
      [
        'Disk.Bay.0:Enclosure.Internal.0-1:RAID.Integrated.1-1',
        'Disk.Bay.1:Enclosure.Internal.0-1:RAID.Integrated.1-1',
      ],
    ]);

    const deleting = await client.delete(volume);
    expect(deleting.status).toBe(202);
    expect((await client.get(volume)).json?.['Operations']).toEqual([expect.objectContaining({ Operation: 'Delete' })]);
    expect((await client.delete(volume)).status).toBe(400);
    await client.post('/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset', {
      ResetType: 'ForceRestart',
    });
    await until(async () => (await client.get(volume)).status === 404);
    expect(bmc.counters()).toMatchObject({ volumeCreates: 1, volumeDeletes: 1, volumeChangesApplied: 2 });
  });
});
