/**
 * The disk image `npm start` gives every other simulated host, so a new user sees the deploy agent's path next
 * to the live ISO's: a 32 MiB whole-disk image (GPT, one partition of random bytes) made at start and converted
 * to qcow2 with qemu-img, and a `SHA256SUMS` file naming it, as a Metal3 user's image server would have.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeRawImage, toQcow2 } from './disk-images.ts';

/** Where the demo image is and the checksum file that lists it (`demo.qcow2`). */
export interface DemoImage {
  path: string;
  sums: string;
}

/** Makes the demo's qcow2 image in `dir`. */
export async function makeDemoImage(dir: string): Promise<DemoImage> {
  mkdirSync(dir, { recursive: true });
  const raw = join(dir, 'demo.raw');
  await makeRawImage(raw, 32);
  const path = join(dir, 'demo.qcow2');
  const qcow2 = await toQcow2(raw, path);
  rmSync(raw);
  return { path, sums: `${createHash('sha256').update(qcow2).digest('hex')}  demo.qcow2\n` };
}
