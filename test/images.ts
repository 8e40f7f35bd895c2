/**
 * Test helpers for images: the ImageError a call fails with, and disk images made by the real `qemu-img` from one
 * raw disk (a protective MBR, a GPT header and random data), so format detection and conversion are checked on
 * what the tools really write, not on hand-made headers.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ImageError } from '../lib/image-error.ts';

/** The ImageError `fn` (a promise or a function) fails with; fails the test when it does not. */
export async function imageFailure(fn: Promise<unknown> | (() => unknown)): Promise<ImageError> {
  try {
    await (typeof fn === 'function' ? fn() : fn);
  } catch (err) {
    if (err instanceof ImageError) return err;
    throw err;
  }
  throw new Error('expected an ImageError');
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export interface TestImages {
  /** The raw disk every other image is converted from. */
  raw: { path: string; bytes: Buffer };
  qcow2: string;
  vmdk: string;
  vdi: string;
  vhdx: string;
  /** A dynamic VHD (qemu-img's `vpc`). */
  vhd: string;
  gzip: string;
}

/** A raw disk of `sizeBytes` with a protective MBR and a GPT header, the rest random. */
export function rawDisk(sizeBytes: number): Buffer {
  const disk = randomBytes(sizeBytes);
  disk.fill(0, 0, 1024);
  disk[450] = 0xee; // protective MBR partition type
  disk[510] = 0x55;
  disk[511] = 0xaa;
  disk.write('EFI PART', 512, 'latin1');
  return disk;
}

/** Writes a raw disk and its qcow2, vmdk, vdi, vhdx, vhd and gzip forms under `dir`. */
export function makeTestImages(dir: string, qemuImg: string, sizeBytes = 4 * 1024 * 1024): TestImages {
  const raw = join(dir, 'disk.raw');
  const bytes = rawDisk(sizeBytes);
  writeFileSync(raw, bytes);
  const convert = (format: string, name: string) => {
    const out = join(dir, name);
    execFileSync(qemuImg, ['convert', '-f', 'raw', '-O', format, raw, out], { stdio: 'pipe' });
    return out;
  };
  const gzip = join(dir, 'disk.raw.gz');
  writeFileSync(gzip, gzipSync(readFileSync(raw)));
  return {
    raw: { path: raw, bytes },
    qcow2: convert('qcow2', 'disk.qcow2'),
    vmdk: convert('vmdk', 'disk.vmdk'),
    vdi: convert('vdi', 'disk.vdi'),
    vhdx: convert('vhdx', 'disk.vhdx'),
    vhd: convert('vpc', 'disk.vhd'),
    gzip,
  };
}
