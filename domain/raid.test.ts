import { describe, expect, it } from 'vitest';
import type { HardwareRaidVolume } from './baremetalhost.schema.ts';
import {
  hardwareRaidStatus,
  planHardwareRaid,
  raidCapacityBytes,
  type RaidController,
  type RaidDrive,
} from './raid.ts';

const GIB = 1024 ** 3;

function drive(id: string, gib: number, rotational = false): RaidDrive {
  return {
    id,
    path: `/redfish/v1/Systems/1/Storage/RAID/Drives/${id}`,
    capacityBytes: gib * GIB,
    rotational,
    mediaType: rotational ? 'HDD' : 'SSD',
    protocol: 'SAS',
  };
}

function perc(overrides: Partial<RaidController> = {}): RaidController {
  return {
    id: 'RAID.Integrated.1-1',
    path: '/redfish/v1/Systems/1/Storage/RAID.Integrated.1-1',
    name: 'PERC H745 Front',
    supportedRaidTypes: ['RAID0', 'RAID1', 'RAID5', 'RAID6', 'RAID10'],
    drives: [
      drive('SSD0', 480),
      drive('SSD1', 480),
      drive('HDD2', 2000, true),
      drive('HDD3', 2000, true),
      drive('HDD4', 2000, true),
      drive('HDD5', 2000, true),
    ],
    volumes: [],
    volumesPath: '/redfish/v1/Systems/1/Storage/RAID.Integrated.1-1/Volumes',
    applyTimes: ['OnReset'],
    ...overrides,
  };
}

const nvme: RaidController = {
  id: 'NVMeSSD',
  path: '/redfish/v1/Systems/1/Storage/NVMeSSD',
  name: 'NVMe Storage System',
  supportedRaidTypes: [],
  drives: [drive('Disk.Bay.2', 3800), drive('Disk.Bay.3', 3800)],
  volumes: [],
  volumesPath: undefined,
  applyTimes: [],
};

function plan(controllers: RaidController[], volumes: HardwareRaidVolume[] | null | undefined) {
  return planHardwareRaid(controllers, volumes);
}

describe('planHardwareRaid', () => {
  it('leaves the host alone without hardwareRAIDVolumes', () => {
    expect(
      plan(
        [
          perc({
            volumes: [
              {
                id: '1',
                path: 'v1',
                name: 'os',
                raidType: 'RAID1',
                capacityBytes: 480 * GIB,
                drives: ['SSD0', 'SSD1'],
                pendingOperation: undefined,
              },
            ],
          }),
        ],
        undefined,
      ),
    ).toEqual({ ok: true, unchanged: true, deletes: [], creates: [] });
  });

  it('deletes every volume for []', () => {
    const volume = {
      id: '1',
      path: 'v1',
      name: 'os',
      raidType: 'RAID1',
      capacityBytes: 480 * GIB,
      drives: ['SSD0', 'SSD1'],
      pendingOperation: undefined,
    };
    const result = plan([perc({ volumes: [volume] })], []);
    expect(result).toEqual({
      ok: true,
      unchanged: false,
      deletes: [{ controller: 'RAID.Integrated.1-1', volume }],
      creates: [],
    });
  });

  it('builds a RAID-1 from the two smallest alike drives, as large as possible', () => {
    const result = plan([nvme, perc()], [{ level: '1', name: 'root' }]);
    expect(result).toMatchObject({ ok: true, unchanged: false, deletes: [] });
    if (!result.ok) throw new Error(result.message);
    expect(result.creates).toEqual([
      {
        index: 0,
        controller: 'RAID.Integrated.1-1',
        volumesPath: '/redfish/v1/Systems/1/Storage/RAID.Integrated.1-1/Volumes',
        raidType: 'RAID1',
        drives: [drive('SSD0', 480).path, drive('SSD1', 480).path],
        driveIds: ['SSD0', 'SSD1'],
        capacityBytes: undefined,
        name: 'root',
      },
    ]);
  });

  it('honours rotational, numberOfPhysicalDisks and size, and gives each volume its own drives', () => {
    const result = plan(
      [perc()],
      [
        { level: '1', sizeGibibytes: 100 },
        { level: '5', rotational: true, numberOfPhysicalDisks: 4, sizeGibibytes: 5000 },
      ],
    );
    if (!result.ok) throw new Error(result.message);
    expect(result.creates.map((c) => [c.raidType, c.driveIds, c.capacityBytes])).toEqual([
      ['RAID1', ['SSD0', 'SSD1'], 100 * GIB],
      ['RAID5', ['HDD2', 'HDD3', 'HDD4', 'HDD5'], 5000 * GIB],
    ]);
  });

  it('uses the physicalDisks named', () => {
    const result = plan([perc()], [{ level: '0', controller: 'RAID.Integrated.1-1', physicalDisks: ['HDD5'] }]);
    if (!result.ok) throw new Error(result.message);
    expect(result.creates[0]?.driveIds).toEqual(['HDD5']);
  });

  it('does nothing when the host already has exactly that', () => {
    const volume = {
      id: 'Disk.Virtual.0',
      path: 'v0',
      name: 'root',
      raidType: 'RAID1',
      capacityBytes: 480 * GIB,
      drives: ['SSD0', 'SSD1'],
      pendingOperation: undefined,
    };
    expect(plan([perc({ volumes: [volume] })], [{ level: '1', name: 'root' }])).toMatchObject({
      ok: true,
      unchanged: true,
    });
    // Another name, size or level is another volume: replaced.
    expect(plan([perc({ volumes: [volume] })], [{ level: '1', name: 'data' }])).toMatchObject({
      ok: true,
      unchanged: false,
    });
    expect(plan([perc({ volumes: [volume] })], [{ level: '0', name: 'root' }])).toMatchObject({
      ok: true,
      unchanged: false,
    });
  });

  it.each([
    {
      scenario: 'a level no controller supports',
      controllers: [perc()],
      volumes: [{ level: '6+0' }],
      says: 'level 6+0 (RAID60) is not supported by controller (RAID.Integrated.1-1: RAID0, RAID1, RAID5, RAID6, RAID10)',
    },
    {
      scenario: 'RAID 2 (no Redfish RAIDType)',
      controllers: [perc()],
      volumes: [{ level: '2' }],
      says: 'RAID level 2 cannot be built through Redfish',
    },
    {
      scenario: 'a host without a RAID controller',
      controllers: [nvme],
      volumes: [{ level: '1' }],
      says: 'the host has no hardware RAID controller (its storage NVMeSSD does no RAID)',
    },
    {
      scenario: 'an unknown controller',
      controllers: [perc()],
      volumes: [{ level: '1', controller: 'RAID.Slot.9-1' }],
      says: 'there is no controller RAID.Slot.9-1 (controllers: RAID.Integrated.1-1)',
    },
    {
      scenario: 'physicalDisks without controller',
      controllers: [perc()],
      volumes: [{ level: '1', physicalDisks: ['SSD0', 'SSD1'] }],
      says: "'controller' must be specified if 'physicalDisks' are used",
    },
    {
      scenario: 'an unknown drive',
      controllers: [perc()],
      volumes: [{ level: '1', controller: 'RAID.Integrated.1-1', physicalDisks: ['SSD0', 'SSD9'] }],
      says: 'controller RAID.Integrated.1-1 has no drive SSD9',
    },
    {
      scenario: 'three drives for RAID-1',
      controllers: [perc()],
      volumes: [{ level: '1', controller: 'RAID.Integrated.1-1', physicalDisks: ['HDD2', 'HDD3', 'HDD4'] }],
      says: '3 drive(s) cannot make RAID level 1 (it takes 2, a multiple of 2)',
    },
    {
      scenario: 'too large a size',
      controllers: [perc()],
      volumes: [{ level: '1', controller: 'RAID.Integrated.1-1', physicalDisks: ['SSD0', 'SSD1'], sizeGibibytes: 500 }],
      says: '500 GiB does not fit on SSD0, SSD1 (at most 480 GiB at level 1)',
    },
    {
      scenario: 'not enough free drives',
      controllers: [perc()],
      volumes: [{ level: '6', rotational: false }],
      says: 'no controller has 4 free non-rotational drives of one kind for level 6',
    },
    {
      scenario: 'a drive used twice',
      controllers: [perc()],
      volumes: [
        { level: '0', controller: 'RAID.Integrated.1-1', physicalDisks: ['SSD0'] },
        { level: '0', controller: 'RAID.Integrated.1-1', physicalDisks: ['SSD0'] },
      ],
      says: 'drive SSD0 is already used by another volume',
    },
    {
      scenario: 'a repeated name',
      controllers: [perc()],
      volumes: [
        { level: '0', name: 'x' },
        { level: '0', name: 'x' },
      ],
      says: 'the names (x) of hardwareRAIDVolumes[1] and hardwareRAIDVolumes[0] are repeated',
    },
    {
      scenario: 'a wrong numberOfPhysicalDisks',
      controllers: [perc()],
      volumes: [
        { level: '1', controller: 'RAID.Integrated.1-1', physicalDisks: ['SSD0', 'SSD1'], numberOfPhysicalDisks: 3 },
      ],
      says: 'numberOfPhysicalDisks (3) is not the number of physicalDisks (2)',
    },
  ] as { scenario: string; controllers: RaidController[]; volumes: HardwareRaidVolume[]; says: string }[])(
    'refuses $scenario with a message that says why',
    ({ controllers, volumes, says }) => {
      const result = plan(controllers, volumes);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toContain(says);
    },
  );
});

describe('raidCapacityBytes', () => {
  it.each([
    { level: '0', disks: [100, 200], gib: 200 },
    { level: '1', disks: [100, 120], gib: 100 },
    { level: '5', disks: [100, 100, 100], gib: 200 },
    { level: '6', disks: [100, 100, 100, 100], gib: 200 },
    { level: '1+0', disks: [100, 100, 100, 100], gib: 200 },
    { level: '5+0', disks: [100, 100, 100, 100, 100, 100], gib: 400 },
  ])('level $level of $disks GiB gives $gib GiB', ({ level, disks, gib }) => {
    expect(
      raidCapacityBytes(
        level,
        disks.map((d) => ({ capacityBytes: d * GIB })),
      ),
    ).toBe(gib * GIB);
  });
});

describe('hardwareRaidStatus', () => {
  it('reports the volumes in the shape of status.raid, without pending deletions or volumes of no RAID type', () => {
    const controller = perc({
      volumes: [
        {
          id: 'Disk.Virtual.0',
          path: 'v0',
          name: 'root',
          raidType: 'RAID1',
          capacityBytes: 480 * GIB,
          drives: ['SSD0', 'SSD1'],
          pendingOperation: undefined,
        },
        {
          id: 'Disk.Virtual.1',
          path: 'v1',
          name: 'old',
          raidType: 'RAID0',
          capacityBytes: 2000 * GIB,
          drives: ['HDD2'],
          pendingOperation: 'Delete',
        },
        {
          id: 'JBOD',
          path: 'v2',
          name: undefined,
          raidType: undefined,
          capacityBytes: 2000 * GIB,
          drives: ['HDD3'],
          pendingOperation: undefined,
        },
      ],
    });
    expect(hardwareRaidStatus([controller])).toEqual([
      {
        level: '1',
        name: 'root',
        controller: 'RAID.Integrated.1-1',
        sizeGibibytes: 480,
        physicalDisks: ['SSD0', 'SSD1'],
        numberOfPhysicalDisks: 2,
        rotational: false,
      },
    ]);
  });
});
