import { describe, expect, it } from 'vitest';
import type { RaidConfig } from './baremetalhost.schema.ts';
import type { Storage } from './hardware-data.schema.ts';
import { agentDisks, checkSoftwareRaid, targetRaidConfig } from './software-raid.ts';

const GiB = 1024 ** 3;
const disk = (name: string, serial: string, extra: Partial<Storage> = {}): Storage => ({
  name: `/dev/disk/by-path/pci-0000:00:17.0-ata-${name.slice(-1)}`,
  alternateNames: [name, `/dev/disk/by-path/pci-0000:00:17.0-ata-${name.slice(-1)}`],
  sizeBytes: 100 * GiB,
  serialNumber: serial,
  rotational: false,
  ...extra,
});
const two = [disk('/dev/sda', 'S-A'), disk('/dev/sdb', 'S-B')];

describe('targetRaidConfig: BMO buildTargetSoftwareRAIDCfg', () => {
  it('translates levels, sizes and physical disk hints; the first volume is root unless hints pick it', () => {
    const volumes = [
      { level: '1' as const, sizeGibibytes: 50, physicalDisks: [{ serialNumber: 'S-A' }, { serialNumber: 'S-B' }] },
      { level: '0' as const },
    ];
    expect(targetRaidConfig(volumes, false)).toEqual({
      logical_disks: [
        {
          size_gb: 50,
          raid_level: '1',
          controller: 'software',
          is_root_volume: true,
          physical_disks: [{ serial: 's== S-A' }, { serial: 's== S-B' }],
        },
        { size_gb: 'MAX', raid_level: '0', controller: 'software', is_root_volume: false },
      ],
    });
    expect(targetRaidConfig([{ level: '1' }], true).logical_disks[0]?.is_root_volume).toBe(false);
  });
});

describe('checkSoftwareRaid', () => {
  it.each<{ scenario: string; raid: RaidConfig; storage?: Storage[]; message: RegExp | undefined }>([
    { scenario: 'RAID-1 over two disks', raid: { softwareRAIDVolumes: [{ level: '1' }] }, storage: two, message: undefined },
    { scenario: 'no software volumes', raid: { softwareRAIDVolumes: [] }, storage: [], message: undefined },
    { scenario: 'no inspection: only the spec is checked', raid: { softwareRAIDVolumes: [{ level: '1' }] }, message: undefined },
    {
      scenario: 'hardware and software together',
      raid: { hardwareRAIDVolumes: [{ level: '1' }], softwareRAIDVolumes: [{ level: '1' }] },
      storage: two,
      message: /sets both hardwareRAIDVolumes and softwareRAIDVolumes/,
    },
    {
      scenario: 'a first volume that is not RAID-1',
      raid: { softwareRAIDVolumes: [{ level: '0' }] },
      storage: two,
      message: /the level in the first volume of software RAID must be RAID1 \(softwareRAIDVolumes\[0\] asks for RAID 0\)/,
    },
    {
      scenario: 'two volumes of size MAX',
      raid: { softwareRAIDVolumes: [{ level: '1' }, { level: '0' }] },
      storage: two,
      message: /only one volume with size 'MAX'/,
    },
    {
      scenario: 'RAID-1 on one disk',
      raid: { softwareRAIDVolumes: [{ level: '1' }] },
      storage: [disk('/dev/sda', 'S-A')],
      message: /^softwareRAIDVolumes\[0\] \(RAID 1\) needs at least 2 disks, and the host has 1 disk \(\/dev\/sda\)/,
    },
    {
      scenario: 'RAID 1+0 on two disks',
      raid: { softwareRAIDVolumes: [{ level: '1', sizeGibibytes: 10 }, { level: '1+0' }] },
      storage: two,
      message: /softwareRAIDVolumes\[1\] \(RAID 1\+0\) needs at least 4 disks, and the host has 2 disks \(\/dev\/sda, \/dev\/sdb\)/,
    },
    {
      scenario: 'a hint that matches no disk',
      raid: { softwareRAIDVolumes: [{ level: '1', physicalDisks: [{ serialNumber: 'S-A' }, { serialNumber: 'NOPE' }] }] },
      storage: two,
      message: /physicalDisks\[1\] \{"serialNumber":"NOPE"\} matches no disk of the host \(disks: \/dev\/sda, \/dev\/sdb\)/,
    },
    {
      scenario: 'two hints for the same disk',
      raid: { softwareRAIDVolumes: [{ level: '1', physicalDisks: [{ deviceName: '/dev/sda' }, { deviceName: '/dev/sda' }] }] },
      storage: two,
      message: /physicalDisks\[1\] .* matches only \/dev\/sda, already picked by an earlier entry/,
    },
    {
      scenario: 'md devices are not holders',
      raid: { softwareRAIDVolumes: [{ level: '1' }] },
      storage: [disk('/dev/sda', 'S-A'), { name: '/dev/md0', sizeBytes: 99 * GiB }],
      message: /has 1 disk \(\/dev\/sda\)/,
    },
  ])('$scenario', ({ raid, storage, message }) => {
    const found = checkSoftwareRaid(raid, storage);
    if (message === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(message);
  });
});

describe('the disks the agent reports', () => {
  it('leaves md devices out, and out-of-band names leave the disk checks to the agent', () => {
    const info = { disks: [{ name: '/dev/sda', size: 1 }, { name: '/dev/md0', size: 1 }, { name: '/dev/md127', size: 1 }] };
    expect(agentDisks(info).map((d) => d.name)).toEqual(['/dev/sda']);
    expect(agentDisks(null)).toEqual([]);
    const bmcNames: Storage[] = [{ name: 'SATA Bay 1', sizeBytes: 100 * GiB, serialNumber: 'X' }];
    expect(checkSoftwareRaid({ softwareRAIDVolumes: [{ level: '1' }] }, bmcNames)).toBeUndefined();
  });
});
