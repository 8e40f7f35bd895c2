/**
 * The ISO 9660 reader against images built by the real `xorriso` (Debian): plain ISO 9660 names, Joliet,
 * Rock Ridge (including a name long enough to need a continuation area), a config drive laid out as
 * openstacksdk builds one, and an image at an offset inside a bigger file (a partition).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianCommands } from '../stack/binaries.ts';
import { Iso9660, IsoError, bufferReader, isoVolumeId, withFileIso } from './iso9660.ts';

let xorriso: string;
let dir: string;

const LONG = `${'a-very-long-file-name-'.repeat(9)}end.txt`;

beforeAll(async () => {
  ({ xorriso } = await debianCommands({ xorriso: 'xorriso' }, () => undefined));
  dir = mkdtempSync(join(tmpdir(), 'iso9660-test-'));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'boot', 'grub'), { recursive: true });
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  mkdirSync(join(tree, 'openstack', 'latest'), { recursive: true });
  writeFileSync(
    join(tree, 'boot', 'grub', 'grub.cfg'),
    'menuentry "boot" {\n  linuxefi /vmlinuz ipa-api-url=http://x\n}\n',
  );
  writeFileSync(join(tree, 'isolinux', 'isolinux.cfg'), 'label boot\n  append initrd=/initrd ipa-api-url=http://x\n');
  writeFileSync(join(tree, 'openstack', 'latest', 'meta_data.json'), '{"uuid": "1234"}');
  writeFileSync(join(tree, 'openstack', 'latest', 'user_data'), '#cloud-config\n');
  writeFileSync(join(tree, LONG), 'long');
  // A file bigger than one sector, so reads span sectors.
  writeFileSync(join(tree, 'big.bin'), Buffer.alloc(5000, 7));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function build(name: string, flags: string[], volumeId = 'config-2'): Buffer {
  const out = join(dir, `${name}.iso`);
  execFileSync(xorriso, ['-as', 'mkisofs', '-quiet', ...flags, '-V', volumeId, '-o', out, join(dir, 'tree')], {
    stdio: 'pipe',
  });
  return readFileSync(out);
}

describe('Iso9660', () => {
  it.each([
    {
      scenario: 'Rock Ridge and Joliet (openstacksdk config drive flags)',
      flags: ['-J', '-r', '-l', '-ldots', '-allow-lowercase', '-allow-multidot'],
      naming: 'rockridge',
    },
    { scenario: 'Rock Ridge only', flags: ['-r'], naming: 'rockridge' },
    { scenario: 'Joliet only', flags: ['--norock', '-J', '-joliet-long'], naming: 'joliet' },
  ])('reads names and files: $scenario', async ({ flags, naming }) => {
    const iso = await Iso9660.open(bufferReader(build(naming + flags.length, flags)));
    expect(iso.volumeId).toBe('config-2');
    expect(iso.naming).toBe(naming);
    expect((await iso.readFile('/boot/grub/grub.cfg'))?.toString()).toContain('linuxefi /vmlinuz ipa-api-url=http://x');
    expect((await iso.readFile('isolinux/isolinux.cfg'))?.toString()).toContain('append initrd=/initrd');
    expect((await iso.readFile('/openstack/latest/meta_data.json'))?.toString()).toBe('{"uuid": "1234"}');
    expect((await iso.readFile('/openstack/latest/user_data'))?.toString()).toBe('#cloud-config\n');
    expect(await iso.readFile('/big.bin')).toEqual(Buffer.alloc(5000, 7));
    const root = (await iso.list('/'))?.map((entry) => entry.name).sort();
    expect(root).toContain('openstack');
    expect(root).toContain('big.bin');
    expect(await iso.readFile('/openstack/latest/missing')).toBeUndefined();
    expect(await iso.readFile('/openstack')).toBeUndefined();
    expect(await iso.list('/big.bin')).toBeUndefined();
  });

  it('reads a Rock Ridge name too long for one directory record', async () => {
    const iso = await Iso9660.open(bufferReader(build('long', ['-r'])));
    expect((await iso.list('/'))?.map((entry) => entry.name)).toContain(LONG);
    expect((await iso.readFile(`/${LONG}`))?.toString()).toBe('long');
  });

  it('matches plain ISO 9660 names case-insensitively, without their version suffix', async () => {
    const iso = await Iso9660.open(bufferReader(build('plain', ['--norock'])));
    expect(iso.naming).toBe('plain');
    const names = (await iso.list('/'))?.map((entry) => entry.name) ?? [];
    expect(names).toContain('BIG.BIN');
    expect(names.some((name) => name.includes(';'))).toBe(false);
    expect((await iso.readFile('/boot/grub/grub.cfg'))?.toString()).toContain('linuxefi');
  });

  it('reads an image at an offset inside a bigger file, as a partition of a disk', async () => {
    const image = build('partition', ['-J', '-r'], 'VMEDIA_BOOT_ISO');
    const disk = join(dir, 'disk.img');
    const base = 1024 * 1024;
    writeFileSync(disk, Buffer.concat([Buffer.alloc(base, 0xaa), image, Buffer.alloc(4096)]));
    expect(await isoVolumeId(disk, base)).toBe('VMEDIA_BOOT_ISO');
    expect(await isoVolumeId(disk, 0)).toBeUndefined();
    const text = await withFileIso(disk, base, async (iso) =>
      (await iso.readFile('/openstack/latest/meta_data.json'))?.toString(),
    );
    expect(text).toBe('{"uuid": "1234"}');
  });

  it('refuses bytes that are not ISO 9660', async () => {
    await expect(Iso9660.open(bufferReader(Buffer.alloc(64 * 1024)))).rejects.toBeInstanceOf(IsoError);
    await expect(Iso9660.open(bufferReader(Buffer.alloc(100)))).rejects.toBeInstanceOf(IsoError);
  });
});
