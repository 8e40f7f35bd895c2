/**
 * Test images made with the real tools (Debian's `sfdisk`, `sgdisk`, `qemu-img`, `xorriso`, installed through
 * the project's one installer): whole-disk images with a partition table and random data, their qcow2
 * conversion, config drives laid out as openstacksdk builds them (ISO 9660 `config-2`, gzip + base64), and
 * deploy ISOs whose boot configuration carries an IPA kernel command line. Shared by the deploy agent tests.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { debianCommands } from '../stack/binaries.ts';

const MIB = 1024 * 1024;

/** The tools the images need. */
export interface ImageTools {
  sfdisk: string;
  sgdisk: string;
  'qemu-img': string;
  xorriso: string;
}

/** Installs (once, from Debian) and returns the tools. */
export function imageTools(): Promise<ImageTools> {
  return debianCommands(
    { sfdisk: 'fdisk', sgdisk: 'gdisk', 'qemu-img': 'qemu-utils', xorriso: 'xorriso' },
    () => undefined,
  );
}

/** SHA-256 of a file, or of its first `length` bytes from `start`. */
export function sha256File(path: string, start = 0, length?: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(4 * MIB);
    let position = start;
    let left = length ?? Number.MAX_SAFE_INTEGER;
    while (left > 0) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, left), position);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
      position += read;
      left -= read;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** A whole-disk image. */
export interface DiskImage {
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Where the random data of the first partition starts and how long it is. */
  data: { start: number; length: number };
}

/**
 * A raw whole-disk image of `sizeMiB` with a `gpt` or `dos` table, one Linux partition from 1 MiB, and
 * `dataMiB` of random bytes at its start (so a written disk can be told from an empty one).
 */
export function makeDiskImage(
  tools: ImageTools,
  path: string,
  options: { label: 'gpt' | 'dos'; sizeMiB: number; dataMiB?: number },
): DiskImage {
  const sizeBytes = options.sizeMiB * MIB;
  writeFileSync(path, '');
  execFileSync('truncate', ['-s', String(sizeBytes), path]);
  const partitionMiB = options.sizeMiB - 2;
  if (options.label === 'gpt') {
    execFileSync(tools.sgdisk, ['-n', `1:2048:+${partitionMiB - 1}M`, '-t', '1:8300', '-c', '1:root', path], {
      stdio: 'pipe',
    });
  } else {
    execFileSync(tools.sfdisk, ['--quiet', path], {
      input: `label: dos\nstart=2048, size=${(partitionMiB - 1) * 2048}, type=83\n`,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }
  const length = (options.dataMiB ?? 2) * MIB;
  const fd = openSync(path, 'r+');
  writeSync(fd, randomBytes(length), 0, length, MIB);
  closeSync(fd);
  return { path, sizeBytes, sha256: sha256File(path), data: { start: MIB, length } };
}

/** Converts a raw image to `format` (qcow2, vmdk, vdi) next to it; returns the new path. */
export function convertImage(tools: ImageTools, raw: string, format: string): string {
  const out = raw.replace(/\.[^./]+$/, '') + `.${format}`;
  execFileSync(tools['qemu-img'], ['convert', '-f', 'raw', '-O', format, raw, out], { stdio: 'pipe' });
  return out;
}

/** A config drive as openstacksdk makes one: the ISO, and its gzip+base64 text. */
export interface ConfigDrive {
  iso: Buffer;
  encoded: string;
}

/** Builds a config drive holding `openstack/latest/{meta_data.json,user_data,network_data.json}`. */
export function makeConfigDrive(
  tools: ImageTools,
  dir: string,
  content: { metaData: Record<string, unknown>; userData?: string; networkData?: Record<string, unknown> },
): ConfigDrive {
  const tree = join(dir, `config-drive-${randomBytes(4).toString('hex')}`);
  for (const version of ['2012-08-10', 'latest']) {
    const folder = join(tree, 'openstack', version);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'meta_data.json'), JSON.stringify(content.metaData));
    if (content.userData !== undefined) writeFileSync(join(folder, 'user_data'), content.userData);
    if (content.networkData) writeFileSync(join(folder, 'network_data.json'), JSON.stringify(content.networkData));
  }
  const out = `${tree}.iso`;
  execFileSync(
    tools.xorriso,
    [
      '-as',
      'mkisofs',
      '-quiet',
      '-J',
      '-r',
      '-l',
      '-ldots',
      '-allow-lowercase',
      '-allow-multidot',
      '-V',
      'config-2',
      '-o',
      out,
      tree,
    ],
    { stdio: 'pipe' },
  );
  const iso = readFileSync(out);
  return { iso, encoded: gzipSync(iso).toString('base64') };
}

/**
 * A deploy ISO as Ironic builds one for virtual media: `/boot/grub/grub.cfg` (UEFI) and
 * `/isolinux/isolinux.cfg` (legacy BIOS) whose kernel line carries `params`, plus a dummy kernel and initrd.
 * With no params it is a plain live ISO.
 */
export function makeDeployIso(
  tools: ImageTools,
  dir: string,
  params: Record<string, string>,
  volumeId = 'VMEDIA_BOOT_ISO',
): Buffer {
  const tree = join(dir, `deploy-iso-${randomBytes(4).toString('hex')}`);
  mkdirSync(join(tree, 'boot', 'grub'), { recursive: true });
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  const line = Object.entries(params)
    .map(([key, value]) => (value === '' ? key : `${key}=${value}`))
    .join(' ');
  writeFileSync(join(tree, 'vmlinuz'), randomBytes(4096));
  writeFileSync(join(tree, 'initrd'), randomBytes(4096));
  writeFileSync(
    join(tree, 'boot', 'grub', 'grub.cfg'),
    [
      'set default=0',
      'set timeout=5',
      'menuentry "boot_partition" {',
      `linuxefi /vmlinuz ${line} --`,
      'initrdefi /initrd',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(tree, 'isolinux', 'isolinux.cfg'),
    ['default boot', 'label boot', 'kernel /vmlinuz', `append initrd=/initrd text ${line} --`, ''].join('\n'),
  );
  const out = `${tree}.iso`;
  execFileSync(tools.xorriso, ['-as', 'mkisofs', '-quiet', '-J', '-r', '-V', volumeId, '-o', out, tree], {
    stdio: 'pipe',
  });
  return readFileSync(out);
}
