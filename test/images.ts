/**
 * Test helpers for images: the ImageError a call fails with, and disk images made by the real tools from one raw
 * disk (test/fixtures/disk-images.ts: a GPT by sgdisk, random bytes; the rest by qemu-img), so format detection
 * and conversion are checked on what the tools really write, not on hand-made headers.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ImageError } from '../lib/image-error.ts';
import { convertRawImage, makeRawImage } from './fixtures/disk-images.ts';

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
  /** The raw disk every other image is converted from: a GPT (sgdisk) and random bytes. */
  raw: { path: string; bytes: Buffer };
  qcow2: string;
  vmdk: string;
  vdi: string;
  vhdx: string;
  /** A dynamic VHD (qemu-img's `vpc`). */
  vhd: string;
  gzip: string;
}

/** Writes a raw disk of `sizeMiB` and its qcow2, vmdk, vdi, vhdx, vhd and gzip forms under `dir`. */
export async function makeTestImages(dir: string, sizeMiB = 4): Promise<TestImages> {
  const raw = join(dir, 'disk.raw');
  const bytes = await makeRawImage(raw, sizeMiB);
  const convert = async (format: 'qcow2' | 'vmdk' | 'vdi' | 'vhdx' | 'vpc', name: string) => {
    await convertRawImage(raw, format, join(dir, name));
    return join(dir, name);
  };
  const gzip = join(dir, 'disk.raw.gz');
  writeFileSync(gzip, gzipSync(bytes));
  return {
    raw: { path: raw, bytes },
    qcow2: await convert('qcow2', 'disk.qcow2'),
    vmdk: await convert('vmdk', 'disk.vmdk'),
    vdi: await convert('vdi', 'disk.vdi'),
    vhdx: await convert('vhdx', 'disk.vhdx'),
    vhd: await convert('vpc', 'disk.vhd'),
    gzip,
  };
}
