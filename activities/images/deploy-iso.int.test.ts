/**
 * The deploy ISO, remastered by the real xorriso and read back with it: the agent's kernel parameters on every
 * kernel line of GRUB and ISOLINUX, the kernel, initrd and El Torito boot entries kept, other files byte for byte;
 * the stand-in base IPA ISO of the local stack; bases that cannot carry the parameters refused.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelParamsOf } from '../../lib/boot-config.ts';
import { isoBootImages, isoVolumeId, listIsoFiles, makeIso, readIsoFile } from '../../lib/iso.ts';
import { imageTools } from '../../stack/binaries.ts';
import { imageFailure } from '../../test/images.ts';
import { buildDeployIso, buildStandInIpaIso } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tempered-deploy-iso-'));
const standIn = join(dir, 'ipa-stand-in.iso');
const agent = {
  'ipa-api-url': 'http://127.0.0.1:6385',
  'ipa-agent-token': 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5',
  boot_method: 'vmedia',
  'ipa-inspection-callback-url': 'http://127.0.0.1:6385/v1/continue_inspection',
} as const;
let xorriso: string;

const text = async (iso: string, path: string) => (await readIsoFile(iso, path, { xorriso }))?.toString('utf8') ?? '';

beforeAll(async () => {
  ({ xorriso } = await imageTools(() => {}));
  await buildStandInIpaIso(standIn, { xorriso });
}, 120_000);

describe("buildStandInIpaIso: the local stack's base IPA ISO", () => {
  it('has a placeholder kernel and initramfs saying so, real boot configs, BIOS and UEFI entries', async () => {
    expect(await isoVolumeId(standIn, { xorriso })).toBe('VMEDIA_BOOT_ISO');
    expect((await listIsoFiles(standIn, { xorriso })).sort()).toEqual([
      '/README.txt',
      '/boot/grub/efiboot.img',
      '/boot/grub/grub.cfg',
      '/initrd',
      '/isolinux/isolinux.bin',
      '/isolinux/isolinux.cfg',
      '/vmlinuz',
    ]);
    expect(await text(standIn, '/vmlinuz')).toContain('Tempered stand-in for the ironic-python-agent kernel');
    expect(await text(standIn, '/initrd')).toContain('Tempered stand-in for the ironic-python-agent initramfs');
    expect(kernelParamsOf(await text(standIn, '/boot/grub/grub.cfg'), 'grub')).toEqual({
      kernel: '/vmlinuz',
      initrd: '/initrd',
      params: {},
    });
    expect(kernelParamsOf(await text(standIn, '/isolinux/isolinux.cfg'), 'isolinux')).toEqual({
      kernel: '/vmlinuz',
      initrd: '/initrd',
      params: { text: true },
    });
    expect(await isoBootImages(standIn, { xorriso })).toEqual([
      { platform: 'BIOS', path: '/isolinux/isolinux.bin' },
      { platform: 'UEFI', path: '/boot/grub/efiboot.img' },
    ]);
  });

  it('is reproducible', async () => {
    const again = join(dir, 'again.iso');
    await buildStandInIpaIso(again, { xorriso });
    expect(readFileSync(again).equals(readFileSync(standIn))).toBe(true);
  });
});

describe('buildDeployIso', () => {
  it('puts the agent parameters on the UEFI and BIOS kernel lines and keeps the rest', async () => {
    const output = join(dir, 'deploy.iso');
    const result = await buildDeployIso({ baseIso: standIn, output, kernelParams: agent, xorriso });
    expect(result.patched).toEqual(['/boot/grub/grub.cfg', '/isolinux/isolinux.cfg']);
    expect(kernelParamsOf(await text(output, '/boot/grub/grub.cfg'), 'grub')).toEqual({
      kernel: '/vmlinuz',
      initrd: '/initrd',
      params: agent,
    });
    expect(kernelParamsOf(await text(output, '/isolinux/isolinux.cfg'), 'isolinux')).toEqual({
      kernel: '/vmlinuz',
      initrd: '/initrd',
      params: { text: true, ...agent },
    });
    expect(await text(output, '/boot/grub/grub.cfg')).toContain(
      `linux /vmlinuz ipa-api-url=${agent['ipa-api-url']} ipa-agent-token=${agent['ipa-agent-token']} ` +
        'boot_method=vmedia',
    );
    expect(await isoBootImages(output, { xorriso })).toEqual(await isoBootImages(standIn, { xorriso }));
    expect(await isoVolumeId(output, { xorriso })).toBe('VMEDIA_BOOT_ISO');
    for (const file of ['/vmlinuz', '/initrd', '/isolinux/isolinux.bin']) {
      expect(await text(output, file)).toBe(await text(standIn, file));
    }
  });

  it('replaces parameters a base already carries and keeps its own (an ironic-python-agent-builder ISO)', async () => {
    const base = join(dir, 'builder.iso');
    await makeIso({
      xorriso,
      output: base,
      volumeId: 'IPA',
      files: {
        vmlinuz: 'k',
        initrd: 'i',
        'EFI/BOOT/grub.cfg':
          'menuentry "IPA" {\n  linuxefi /vmlinuz nofb ipa-api-url=http://stale:6385 ipa-debug=1\n' +
          '  initrdefi /initrd\n}\n',
        'isolinux/isolinux.cfg':
          'default ipa\nlabel ipa\n  kernel /vmlinuz\n  append initrd=/initrd nofb ipa-api-url=http://stale:6385 --\n',
      },
    });
    const output = join(dir, 'builder-deploy.iso');
    const result = await buildDeployIso({ baseIso: base, output, kernelParams: agent, xorriso });
    expect(result.patched).toEqual(['/EFI/BOOT/grub.cfg', '/isolinux/isolinux.cfg']);
    const grub = await text(output, '/EFI/BOOT/grub.cfg');
    expect(grub).not.toContain('stale');
    expect(kernelParamsOf(grub, 'grub')?.params).toEqual({ nofb: true, 'ipa-debug': '1', ...agent });
    expect(kernelParamsOf(await text(output, '/isolinux/isolinux.cfg'), 'isolinux')?.params).toEqual({
      nofb: true,
      ...agent,
    });
  });

  it('is reproducible: replicas of the agent API serve byte-identical ISOs for the same boot', async () => {
    const one = join(dir, 'replica-1.iso');
    const two = join(dir, 'replica-2.iso');
    await buildDeployIso({ baseIso: standIn, output: one, kernelParams: agent, xorriso });
    await buildDeployIso({ baseIso: standIn, output: two, kernelParams: agent, xorriso });
    expect(readFileSync(one).equals(readFileSync(two))).toBe(true);
  });

  it('can remaster its own output (a new token for the next boot)', async () => {
    const first = join(dir, 'first.iso');
    const second = join(dir, 'second.iso');
    await buildDeployIso({ baseIso: standIn, output: first, kernelParams: agent, xorriso });
    await buildDeployIso({
      baseIso: first,
      output: second,
      kernelParams: { 'ipa-agent-token': 'another-token' },
      xorriso,
    });
    expect(kernelParamsOf(await text(second, '/boot/grub/grub.cfg'), 'grub')?.params).toEqual({
      ...agent,
      'ipa-agent-token': 'another-token',
    });
  });

  it('refuses a base that is not an ISO', async () => {
    const junk = join(dir, 'junk.iso');
    writeFileSync(junk, Buffer.alloc(64 * 1024, 1));
    const err = await imageFailure(
      buildDeployIso({ baseIso: junk, output: join(dir, 'x.iso'), kernelParams: agent, xorriso }),
    );
    expect(err.code).toBe('DeployIsoInvalid');
    expect(err.message).toContain(`${junk} cannot be read as an ISO 9660 image`);
  });

  it('refuses an ISO without GRUB or ISOLINUX configuration, naming the paths it looked for', async () => {
    const bare = join(dir, 'bare.iso');
    await makeIso({ xorriso, output: bare, volumeId: 'BARE', files: { 'README.txt': 'nothing to boot' } });
    const err = await imageFailure(
      buildDeployIso({ baseIso: bare, output: join(dir, 'y.iso'), kernelParams: agent, xorriso }),
    );
    expect(err.code).toBe('DeployIsoInvalid');
    expect(err.message).toBe(
      `the deploy ISO ${bare} has neither /boot/grub/grub.cfg nor /EFI/BOOT/grub.cfg nor /isolinux/isolinux.cfg, ` +
        "so it cannot carry the agent's kernel parameters",
    );
  });

  it('refuses a GRUB configuration without a linux line', async () => {
    const base = join(dir, 'no-linux.iso');
    await makeIso({
      xorriso,
      output: base,
      volumeId: 'X',
      files: { 'boot/grub/grub.cfg': 'set timeout=5\nchainloader +1\n' },
    });
    const err = await imageFailure(
      buildDeployIso({ baseIso: base, output: join(dir, 'z.iso'), kernelParams: agent, xorriso }),
    );
    expect(err.code).toBe('DeployIsoInvalid');
    expect(err.message).toContain('has /boot/grub/grub.cfg without a linux line');
  });
});
