import { describe, expect, it } from 'vitest';
import type { RootDeviceHints } from './baremetalhost.schema.ts';
import {
  matchRootDevice,
  MIN_ROOT_DISK_BYTES,
  translateRootDeviceHints,
  type BlockDevice,
} from './root-device-hints.ts';

const GiB = 2 ** 30;

describe('translateRootDeviceHints: BMO MakeHintMap', () => {
  const table: [scenario: string, hints: RootDeviceHints | undefined, expected: Record<string, string>][] = [
    ['no hints', undefined, {}],
    ['empty hints', {}, {}],
    ['deviceName', { deviceName: '/dev/sda' }, { name: 's== /dev/sda' }],
    [
      'deviceName by path',
      { deviceName: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1' },
      { by_path: 's== /dev/disk/by-path/pci-0000:00:1f.2-ata-1' },
    ],
    ['hctl', { hctl: '0:0:0:0' }, { hctl: 's== 0:0:0:0' }],
    ['model is a substring', { model: 'PERC H730' }, { model: '<in> PERC H730' }],
    ['vendor is a substring', { vendor: 'DELL' }, { vendor: '<in> DELL' }],
    ['serialNumber', { serialNumber: 'S3EVNX0J' }, { serial: 's== S3EVNX0J' }],
    ['minSizeGigabytes', { minSizeGigabytes: 100 }, { size: '>= 100' }],
    ['minSizeGigabytes 0 is unset', { minSizeGigabytes: 0 }, {}],
    ['wwn', { wwn: '0x5000c500a1b2c3d4' }, { wwn: 's== 0x5000c500a1b2c3d4' }],
    [
      'wwnWithExtension',
      { wwnWithExtension: '0x5000c500a1b2c3d4abc' },
      { wwn_with_extension: 's== 0x5000c500a1b2c3d4abc' },
    ],
    ['wwnVendorExtension', { wwnVendorExtension: '0xabc' }, { wwn_vendor_extension: 's== 0xabc' }],
    ['rotational true', { rotational: true }, { rotational: 'true' }],
    ['rotational false', { rotational: false }, { rotational: 'false' }],
    ['empty strings are unset', { deviceName: '', model: '', serialNumber: '' }, {}],
    [
      'every hint at once',
      {
        deviceName: '/dev/vda',
        hctl: '1:0:0:0',
        model: 'm',
        vendor: 'v',
        serialNumber: 's',
        minSizeGigabytes: 20,
        wwn: 'w',
        wwnWithExtension: 'we',
        wwnVendorExtension: 'wv',
        rotational: false,
      },
      {
        name: 's== /dev/vda',
        hctl: 's== 1:0:0:0',
        model: '<in> m',
        vendor: '<in> v',
        serial: 's== s',
        size: '>= 20',
        wwn: 's== w',
        wwn_with_extension: 's== we',
        wwn_vendor_extension: 's== wv',
        rotational: 'false',
      },
    ],
  ];
  it.each(table)('%s', (_, hints, expected) => {
    expect(translateRootDeviceHints(hints)).toEqual(expected);
  });
});

/** IPA's own matcher fixture: three disks, lists of serials and WWNs, a rotational flag given as text. */
const ipaDevices = [
  { name: '/dev/sda', size: 64424509440, model: 'ok model', serial: 'fakeserial', wwn: 'wwn_1' },
  {
    name: '/dev/sdb',
    size: 128849018880,
    model: 'big model',
    serial: ['veryfakeserial', 'alsoveryfakeserial'],
    rotational: 'yes',
    wwn: ['wwn_2', 'wwn_2_ext'],
  },
  {
    name: '/dev/sdc',
    size: 10737418240,
    model: 'small model',
    serial: 'veryveryfakeserial',
    rotational: false,
    wwn: 'wwn_3',
  },
] as unknown as BlockDevice[];

/** A small host: a USB stick, two SSDs and an HDD, in lsblk order. */
const host: BlockDevice[] = [
  {
    name: '/dev/sda',
    size: 960 * GiB,
    model: 'SAMSUNG MZ7LH960',
    vendor: 'ATA',
    serial: 'S4NFNA0M',
    wwn: '0x5002538e0000aaaa',
    rotational: false,
    hctl: '0:0:0:0',
    by_path: '/dev/disk/by-path/pci-0000:00:17.0-ata-1',
  },
  {
    name: '/dev/sdb',
    size: 480 * GiB,
    model: 'INTEL SSDSC2KB48',
    vendor: 'ATA',
    serial: 'BTYF0001',
    wwn: '0x55cd2e4150000001',
    rotational: false,
    hctl: '1:0:0:0',
    by_path: '/dev/disk/by-path/pci-0000:00:17.0-ata-2',
  },
  {
    name: '/dev/sdc',
    size: 4000 * GiB,
    model: 'ST4000NM0035',
    vendor: 'SEAGATE',
    serial: 'ZC1A2B3C',
    wwn: '0x5000c500a1b2c3d4',
    rotational: true,
    hctl: '2:0:0:0',
    by_path: '/dev/disk/by-path/pci-0000:00:17.0-ata-3',
  },
  {
    name: '/dev/sdd',
    size: 2 * GiB,
    model: 'Cruzer Blade',
    vendor: 'SanDisk',
    serial: '4C530001',
    rotational: true,
    hctl: '6:0:0:0',
  },
];

const pick = (devices: readonly BlockDevice[], hints?: Record<string, unknown>) => {
  const choice = matchRootDevice(devices, hints);
  return choice.ok ? choice.device.name : `${choice.code}: ${choice.message}`;
};

describe('matchRootDevice: IPA device_hints semantics', () => {
  const table: [scenario: string, hints: Record<string, unknown>, expected: string][] = [
    ['one size hint', { size: '>= 70' }, '/dev/sdb'],
    ['rotational false (a bool hint)', { rotational: false }, '/dev/sdc'],
    ['rotational true against "yes" on the device', { size: '>=100', rotational: true }, '/dev/sdb'],
    [
      'several hints, operators without a space',
      { size: '>= 50', model: 's==big model', serial: 's==veryfakeserial' },
      '/dev/sdb',
    ],
    [
      '<or> with a trailing <or>',
      { size: '<= 20', model: '<or> model 5 <or> foomodel <or> small model <or>', serial: 's== veryveryfakeserial' },
      '/dev/sdc',
    ],
    ['<in> substring', { rotational: false, model: '<in> small' }, '/dev/sdc'],
    ['a WWN from a list of WWNs', { wwn: 'wwn_2_ext' }, '/dev/sdb'],
    [
      'no operators: size == and strings s==',
      { size: '120', model: 'big model', serial: 'veryfakeserial' },
      '/dev/sdb',
    ],
    ['size as a number', { size: 120 }, '/dev/sdb'],
    ['a serial from a list of serials', { serial: 's== alsoveryfakeserial' }, '/dev/sdb'],
    ['case-insensitive strings', { model: 'BIG MODEL' }, '/dev/sdb'],
    ['name', { name: 's== /dev/sda' }, '/dev/sda'],
    ['first match in device order', { size: '>= 10' }, '/dev/sda'],
    ['string inequality', { name: 's!= /dev/sda' }, '/dev/sdb'],
    ['<or> of sizes never matches (a float is not text)', { size: '<or> 60 <or> 120' }, 'RootDeviceNotFound'],
    ['size == means exactly, in GiB', { size: '== 61' }, 'RootDeviceNotFound'],
  ];
  it.each(table)('%s', (_, hints, expected) => {
    expect(pick(ipaDevices, hints)).toContain(expected);
  });

  it('skips a device whose attribute is empty', () => {
    expect(pick([{ name: '/dev/sda', size: 10 * GiB, model: ' ' }], { model: 'foo' })).toContain('RootDeviceNotFound');
  });

  it('reads a missing attribute as the text "none", as Python str(None)', () => {
    expect(pick([{ name: '/dev/sda', size: 10 * GiB }], { model: 'none' })).toBe('/dev/sda');
  });
});

describe('matchRootDevice: Metal3 hints through BMO translation', () => {
  const table: [scenario: string, hints: RootDeviceHints, expected: string][] = [
    ['serialNumber', { serialNumber: 'ZC1A2B3C' }, '/dev/sdc'],
    ['serialNumber, other case', { serialNumber: 'btyf0001' }, '/dev/sdb'],
    ['deviceName', { deviceName: '/dev/sdb' }, '/dev/sdb'],
    ['deviceName by path', { deviceName: '/dev/disk/by-path/pci-0000:00:17.0-ata-3' }, '/dev/sdc'],
    ['hctl', { hctl: '1:0:0:0' }, '/dev/sdb'],
    ['model substring', { model: 'SSDSC2KB' }, '/dev/sdb'],
    ['vendor substring', { vendor: 'seagate' }, '/dev/sdc'],
    ['minSizeGigabytes: first large enough in lsblk order', { minSizeGigabytes: 500 }, '/dev/sda'],
    ['minSizeGigabytes beyond the SSDs', { minSizeGigabytes: 1000 }, '/dev/sdc'],
    ['rotational false: the first SSD', { rotational: false }, '/dev/sda'],
    [
      'rotational true and at least 4 GiB: the HDD, not the USB stick',
      { rotational: true, minSizeGigabytes: 4 },
      '/dev/sdc',
    ],
    ['wwn', { wwn: '0x55cd2e4150000001' }, '/dev/sdb'],
    [
      'all hints of one disk',
      {
        model: 'INTEL',
        vendor: 'ATA',
        serialNumber: 'BTYF0001',
        minSizeGigabytes: 400,
        rotational: false,
        hctl: '1:0:0:0',
      },
      '/dev/sdb',
    ],
  ];
  it.each(table)('%s', (_, hints, expected) => {
    expect(pick(host, translateRootDeviceHints(hints))).toBe(expected);
  });
});

describe('matchRootDevice: no hints, IPA guess_root_disk', () => {
  it('takes the smallest disk of at least 4 GiB', () => {
    expect(pick(host)).toBe('/dev/sdb');
    expect(pick(host, {})).toBe('/dev/sdb');
  });

  it('breaks a size tie by name', () => {
    expect(
      pick([
        { name: '/dev/sdb', size: 8 * GiB },
        { name: '/dev/sda', size: 8 * GiB },
      ]),
    ).toBe('/dev/sda');
  });

  it('accepts exactly 4 GiB', () => {
    expect(
      pick([
        { name: '/dev/vda', size: MIN_ROOT_DISK_BYTES },
        { name: '/dev/vdb', size: MIN_ROOT_DISK_BYTES - 1 },
      ]),
    ).toBe('/dev/vda');
  });

  it('fails when every disk is smaller, naming the largest', () => {
    const choice = matchRootDevice([
      { name: '/dev/vda', size: 3 * GiB },
      { name: '/dev/vdb', size: GiB },
    ]);
    expect(choice).toEqual({
      ok: false,
      code: 'RootDeviceNotFound',
      message:
        'no disk of at least 4 GiB: root device hints were not given and every disk is smaller ' +
        '(the largest, /dev/vda, has 3 GiB)',
    });
  });

  it('fails when there is no disk', () => {
    expect(matchRootDevice([])).toMatchObject({
      ok: false,
      code: 'RootDeviceNotFound',
      message: 'the host reports no disks to write the image to',
    });
  });
});

describe('matchRootDevice: a failure names the hint and what each disk has', () => {
  it("names a serialNumber no disk has, and the disks' serials", () => {
    const choice = matchRootDevice(host, translateRootDeviceHints({ serialNumber: 'NOPE123' }));
    expect(choice.ok).toBe(false);
    expect(choice.ok ? '' : choice.message).toBe(
      'no disk matches rootDeviceHints.serialNumber (Ironic hint serial: "s== NOPE123", matched as "s== nope123"): ' +
        '/dev/sda has "S4NFNA0M", /dev/sdb has "BTYF0001", /dev/sdc has "ZC1A2B3C", /dev/sdd has "4C530001"',
    );
  });

  it("names minSizeGigabytes with the disks' sizes", () => {
    const choice = matchRootDevice(host, translateRootDeviceHints({ minSizeGigabytes: 5000 }));
    expect(choice.ok ? '' : choice.message).toContain(
      'no disk matches rootDeviceHints.minSizeGigabytes (Ironic hint size: ">= 5000"',
    );
    expect(choice.ok ? '' : choice.message).toContain('/dev/sdc has 4000 GiB');
  });

  it('names only the hint that fails when the others match', () => {
    const choice = matchRootDevice(host, translateRootDeviceHints({ rotational: false, vendor: 'HITACHI' }));
    expect(choice.ok ? '' : choice.message).toMatch(/^no disk matches rootDeviceHints\.vendor /);
    expect(choice.ok ? '' : choice.message).not.toContain('rootDeviceHints.rotational');
  });

  it('says when each hint matches some disk but no disk matches all', () => {
    const choice = matchRootDevice(host, translateRootDeviceHints({ rotational: true, serialNumber: 'S4NFNA0M' }));
    expect(choice).toMatchObject({ ok: false, code: 'RootDeviceNotFound' });
    expect(choice.ok ? '' : choice.message).toContain(
      'each hint matches some disk, but no single disk matches them all',
    );
    expect(choice.ok ? '' : choice.message).toContain('/dev/sda has false');
  });
});

describe('matchRootDevice: hints IPA refuses', () => {
  const table: [scenario: string, hints: Record<string, unknown>, message: string][] = [
    ['an unknown hint', { colour: 'blue' }, 'The hints "colour" are invalid'],
    ['size not an integer', { size: 'not-int' }, 'Root device hint "size" is not an integer value'],
    ['size zero', { size: 0 }, 'Root device hint "size" should be a positive integer'],
    ['size negative', { size: -123 }, 'should be a positive integer'],
    ['<or> of sizes with a non-integer', { size: '<or> 123 <or> non-int <or> 789' }, 'is not an integer value'],
    [
      '<range-in> on size (IPA reads its values as integers)',
      { size: '<range-in> [ 10 100 )' },
      'is not an integer value',
    ],
    ['rotational not a bool', { rotational: 'not-bool' }, 'Root device hint "rotational" is not a Boolean value'],
    ['a string hint given as a number', { serial: 123 }, 'Root device hint "serial" is not a string value'],
    ['an empty expression', { model: '  ' }, 'expression is empty'],
    ['an operator without a value', { model: 's==' }, 'cannot be parsed'],
    ['a numeric operator on text attributes', { model: '>= 5' }, 'could not convert'],
  ];
  it.each(table)('%s', (_, hints, message) => {
    const choice = matchRootDevice(host, hints);
    expect(choice).toMatchObject({ ok: false, code: 'RootDeviceHintsInvalid' });
    expect(choice.ok ? '' : choice.message).toContain(message);
  });

  it.each([
    ['true', true],
    ['on', true],
    ['Y', true],
    ['1', true],
    ['no', false],
    ['f', false],
    ['0', false],
  ])('rotational %s reads as %s', (text, value) => {
    expect(pick(host, { rotational: text })).toBe(value ? '/dev/sdc' : '/dev/sda');
  });
});
