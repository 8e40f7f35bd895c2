/**
 * Simulated hosts' disks as their OS sees them: RAID volumes and the drives not in one (Storage controllers),
 * else the SimpleStorage devices, else one default disk; the same facts on the BMC's Redfish Drive and in
 * `disks()`; a volume created over Redfish becoming a disk with its own file; serials unique per host in a
 * fleet; test overrides shown on both sides; sparse files that take no space.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DISK } from './disks.ts';
import { type Simulator, startSimulator } from './index.ts';
import { bootDisk, redfishClient } from '../test/sim.ts';

let dir: string;
let sim: Simulator;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'disks-test-'));
  sim = await startSimulator({
    stateDir: dir,
    bmcs: [
      { id: 'dmtf', profile: 'dmtf' },
      { id: 'ilo5', profile: 'ilo5' },
      { id: 'ami', profile: 'ami' },
      { id: 'xcc', profile: 'xcc' },
      { id: 'idrac', profile: 'idrac' },
      { id: 'smc', profile: 'supermicro' },
      { id: 'idrac-hdd', profile: 'idrac', disks: [{ rotational: true, sizeBytes: 2 * 1024 ** 4, serial: 'HDD-0001' }] },
      { id: 'xcc-raid', profile: 'xcc', quirkWindowMs: 0, quirks: { remove: ['if-match-required'] } },
    ],
  });
});

afterAll(async () => {
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every present Drive of the system, as a Redfish client reads it. */
async function redfishDrives(id: string): Promise<Record<string, unknown>[]> {
  const bmc = sim.bmc(id);
  const client = redfishClient(bmc);
  const system = (await client.get(bmc.systemPath)).json ?? {};
  const storageLink = (system['Storage'] as { '@odata.id'?: string } | undefined)?.['@odata.id'];
  if (!storageLink) return [];
  const out: Record<string, unknown>[] = [];
  for (const member of ((await client.get(storageLink)).json?.['Members'] ?? []) as { '@odata.id': string }[]) {
    const storage = (await client.get(member['@odata.id'])).json ?? {};
    for (const drive of (storage['Drives'] ?? []) as { '@odata.id': string }[])
      out.push((await client.get(drive['@odata.id'])).json ?? {});
  }
  return out;
}

const SSD_480 = 479_559_942_144;
const HDD_1200 = 1_199_638_052_864;
const HDD_2400 = 2_400_476_553_216;

describe('disks of simulated hosts', () => {
  it.each([
    { id: 'dmtf', names: ['/dev/sda', '/dev/sdb'], sizes: [8e12, 4e12], files: ['disk0', 'disk1'] },
    { id: 'ilo5', names: ['/dev/sda'], sizes: [DEFAULT_DISK.sizeBytes], files: ['disk0'] },
    { id: 'ami', names: ['/dev/sda'], sizes: [2_013_667_524_608], files: ['1'] },
    {
      id: 'xcc',
      names: ['/dev/sda', '/dev/sdb', '/dev/sdc'],
      sizes: [999_653_638_144, HDD_2400, HDD_2400],
      files: ['volume-RAID_Slot1-1', 'Disk.2', 'Disk.3'],
    },
    {
      id: 'idrac',
      names: ['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/sdd'],
      sizes: [SSD_480, SSD_480, HDD_1200, HDD_1200],
      files: [0, 1, 2, 3].map((n) => `Disk.Bay.${n}_Enclosure.Internal.0-1_RAID.Integrated.1-1`),
    },
    {
      id: 'smc',
      names: ['/dev/nvme0n1', '/dev/nvme1n1'],
      sizes: [6_401_252_745_216, 6_401_252_745_216],
      files: ['Disk.Bay.2', 'Disk.Bay.3'],
    },
  ])('$id: $names', ({ id, names, sizes, files }) => {
    const disks = sim.bmc(id).disks();
    expect(disks.map((disk) => disk.name)).toEqual(names);
    expect(disks.map((disk) => disk.sizeBytes)).toEqual(sizes);
    expect(disks.map((disk) => disk.path)).toEqual(files.map((file) => join(dir, 'disks', id, `${file}.img`)));
    for (const disk of disks) {
      const file = statSync(disk.path);
      expect(file.size).toBe(disk.sizeBytes);
      expect(file.blocks).toBe(0);
      expect(disk.serial).not.toBe('');
    }
    expect(new Set(disks.map((disk) => disk.serial)).size).toBe(disks.length);
  });

  it.each(['ami', 'xcc', 'idrac', 'smc', 'idrac-hdd'])('%s: the Redfish drives and the disks agree', async (id) => {
    const bmc = sim.bmc(id);
    const inVolumes = new Set(bmc.storage().volumes.flatMap((volume) => volume.drives));
    const drives = (await redfishDrives(id)).filter((drive) => !inVolumes.has(String(drive['@odata.id'])));
    const disks = bmc.disks().filter((disk) => !disk.path.includes('/volume-'));
    expect(drives).toHaveLength(disks.length);
    drives.forEach((drive, position) => {
      const disk = disks[position];
      expect(disk).toBeDefined();
      expect(drive['CapacityBytes']).toBe(disk?.sizeBytes);
      expect(String(drive['SerialNumber']).trim()).toBe(disk?.serial);
      expect(String(drive['Model']).trim()).toBe(disk?.model);
      expect(drive['MediaType'] === 'HDD').toBe(disk?.rotational);
    });
  });

  it('shows a test override on the BMC and in the disk', async () => {
    const [first, second] = sim.bmc('idrac-hdd').disks();
    expect(first).toMatchObject({ rotational: true, sizeBytes: 2 * 1024 ** 4, serial: 'HDD-0001', hctl: '0:0:0:0' });
    expect(second).toMatchObject({ rotational: false, sizeBytes: SSD_480, hctl: '1:0:0:0' });
    const [drive] = await redfishDrives('idrac-hdd');
    expect(drive).toMatchObject({ MediaType: 'HDD', RotationSpeedRPM: 7200, SerialNumber: 'HDD-0001' });
  });

  it('turns a RAID volume created over Redfish into one disk with its own file, keeping the others', async () => {
    const bmc = sim.bmc('xcc-raid');
    const before = bmc.disks();
    const storage = '/redfish/v1/Systems/1/Storage/RAID_Slot1';
    const drive = (n: number) => ({ '@odata.id': `${storage}/Drives/Disk.${n}` });
    const created = await redfishClient(bmc).post(`${storage}/Volumes`, {
      RAIDType: 'RAID1',
      Name: 'data',
      Links: { Drives: [drive(2), drive(3)] },
    });
    expect(created.status).toBe(201);
    const after = bmc.disks();
    expect(after.map((disk) => disk.name)).toEqual(['/dev/sda', '/dev/sdb']);
    expect(after[0]).toEqual(before[0]);
    expect(after[1]).toMatchObject({ path: join(dir, 'disks', 'xcc-raid', 'volume-RAID_Slot1-2.img'), rotational: true });
    expect(after[1]?.serial).toBe('XCC-RAID-VOLUME-2');
    // Its file appears when the host next boots.
    expect(() => statSync(after[1]!.path)).toThrow();
    await bootDisk(bmc);
    await bmc.bootSettled();
    expect(statSync(after[1]!.path)).toMatchObject({ size: after[1]!.sizeBytes, blocks: 0 });
  });

  it('gives every host of a fleet its own serials, on the BMC and in the disks', async () => {
    const fleet = await startSimulator({ bmcs: { count: 12, profiles: 'mix' }, layout: 'shared' });
    try {
      const serials = fleet.bmcs.flatMap((bmc) => bmc.disks().map((disk) => disk.serial));
      expect(new Set(serials).size).toBe(serials.length);
      const xcc = fleet.bmcs.find((bmc) => bmc.profile === 'xcc');
      expect(xcc).toBeDefined();
      const client = redfishClient(xcc!);
      // Its OS sees the RAID-1 volume, then Disk.2 and Disk.3.
      const disk2 = (await client.get(`/redfish/v1/Systems/${xcc!.id}/Storage/RAID_Slot1/Drives/Disk.2`)).json;
      expect(disk2?.['SerialNumber']).toBe(xcc!.disks()[1]?.serial);
      // Without a state folder the files appear only when a host needs them, in a folder stop() removes.
      expect(() => statSync(xcc!.disks()[0]!.path)).toThrow();
    } finally {
      await fleet.stop();
    }
    expect(() => statSync(fleet.stateDir)).toThrow();
  });
});
