/**
 * Simulated hosts' disks: one per drive of the mockup (Storage → Drives, else SimpleStorage devices), one
 * default disk for a mockup with none, the same facts on the BMC's Redfish Drive and in `disks()`, serials
 * unique per host in a fleet, test overrides shown on both sides, and sparse files that take no space.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DISK } from './disks.ts';
import { type Simulator, startSimulator } from './index.ts';
import { redfishClient } from './testing.ts';

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
      { id: 'xcc-hdd', profile: 'xcc', disks: [{ rotational: true, sizeBytes: 2 * 1024 ** 4, serial: 'HDD-0001' }] },
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

describe('disks of simulated hosts', () => {
  it.each([
    { id: 'dmtf', names: ['/dev/sda', '/dev/sdb'], sizes: [8_000_000_000_000, 4_000_000_000_000] },
    { id: 'ilo5', names: ['/dev/sda'], sizes: [DEFAULT_DISK.sizeBytes] },
    { id: 'ami', names: ['/dev/sda'], sizes: [2_013_667_524_608] },
    { id: 'xcc', names: ['/dev/sda', '/dev/sdb'], sizes: [960_197_124_096, 960_197_124_096] },
    { id: 'idrac', names: ['/dev/sda'], sizes: [479_559_942_144] },
    { id: 'smc', names: ['/dev/nvme0n1', '/dev/nvme1n1'], sizes: [6_401_252_745_216, 6_401_252_745_216] },
  ])('$id: $names', ({ id, names, sizes }) => {
    const disks = sim.bmc(id).disks();
    expect(disks.map((disk) => disk.name)).toEqual(names);
    expect(disks.map((disk) => disk.sizeBytes)).toEqual(sizes);
    for (const disk of disks) {
      expect(disk.path.startsWith(join(dir, 'disks', id))).toBe(true);
      const file = statSync(disk.path);
      expect(file.size).toBe(disk.sizeBytes);
      expect(file.blocks).toBe(0);
      expect(disk.serial).not.toBe('');
    }
    expect(new Set(disks.map((disk) => disk.serial)).size).toBe(disks.length);
  });

  it.each(['ami', 'xcc', 'idrac', 'smc', 'xcc-hdd'])('%s: the Redfish drives and the disks agree', async (id) => {
    const drives = await redfishDrives(id);
    const disks = sim.bmc(id).disks();
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
    const [first, second] = sim.bmc('xcc-hdd').disks();
    expect(first).toMatchObject({ rotational: true, sizeBytes: 2 * 1024 ** 4, serial: 'HDD-0001', hctl: '0:0:0:0' });
    expect(second).toMatchObject({ rotational: false, sizeBytes: 960_197_124_096, hctl: '1:0:0:0' });
    const [drive] = await redfishDrives('xcc-hdd');
    expect(drive).toMatchObject({ MediaType: 'HDD', RotationSpeedRPM: 7200, SerialNumber: 'HDD-0001' });
  });

  it('gives every host of a fleet its own serials, on the BMC and in the disks', async () => {
    const fleet = await startSimulator({ bmcs: { count: 12, profiles: 'mix' }, layout: 'shared' });
    try {
      const serials = fleet.bmcs.flatMap((bmc) => bmc.disks().map((disk) => disk.serial));
      expect(new Set(serials).size).toBe(serials.length);
      const xcc = fleet.bmcs.find((bmc) => bmc.profile === 'xcc');
      expect(xcc).toBeDefined();
      const client = redfishClient(xcc!);
      const disk0 = (await client.get(`/redfish/v1/Systems/${xcc!.id}/Storage/RAID_Slot1/Drives/Disk.0`)).json;
      expect(disk0?.['SerialNumber']).toBe(xcc!.disks()[0]?.serial);
      // Without a state folder the files appear only when a host needs them, in a folder stop() removes.
      expect(() => statSync(xcc!.disks()[0]!.path)).toThrow();
    } finally {
      await fleet.stop();
    }
    expect(() => statSync(fleet.stateDir)).toThrow();
  });
});
