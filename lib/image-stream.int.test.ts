/**
 * The agent's write path on real block devices: a raw image streamed onto a loop device (hashed, fsynced, read
 * back through the device), and a qcow2 image downloaded, verified and converted onto one by the real qemu-img,
 * the way IPA writes a non-raw image. Each loop device is backed by a file this test creates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { imageTools } from '../stack/binaries.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { attachLoopDevice, type LoopDevice } from '../stack/loop-devices.ts';
import { makeTestImages, sha256, type TestImages } from '../test/images.ts';
import { streamImageToTarget } from './image-stream.ts';
import { convertToRaw } from './qemu-img.ts';

const dir = mkdtempSync(join(tmpdir(), 'tempered-image-loop-'));
const DISK_BYTES = 16 * 1024 * 1024;
let tools: Awaited<ReturnType<typeof imageTools>>;
let images: TestImages;
let server: ImageServer;
const attached: LoopDevice[] = [];

async function loopDisk(name: string): Promise<LoopDevice> {
  const file = join(dir, name);
  writeFileSync(file, Buffer.alloc(DISK_BYTES, 0x5a));
  const loop = await attachLoopDevice(file, tools.losetup);
  attached.push(loop);
  return loop;
}

async function readDevice(device: string, length: number): Promise<Buffer> {
  const handle = await open(device, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

beforeAll(async () => {
  tools = await imageTools(() => {});
  images = await makeTestImages(dir);
  server = await startImageServer({ '/os.raw': { path: images.raw.path }, '/os.qcow2': { path: images.qcow2 } });
}, 120_000);

afterEach(async () => {
  await Promise.all(attached.splice(0).map((l) => l.detach()));
});

afterAll(async () => {
  await server?.stop();
});

describe('writing images onto loop devices', () => {
  it('streams a raw image onto the device, verified, the rest of the disk untouched', async () => {
    const loop = await loopDisk('raw-disk');
    const result = await streamImageToTarget({
      url: server.url('/os.raw'),
      target: loop.device,
      checksum: { algorithm: 'sha256', value: sha256(images.raw.bytes) },
    });
    expect(result.bytes).toBe(images.raw.bytes.length);
    const onDisk = await readDevice(loop.device, DISK_BYTES);
    expect(onDisk.subarray(0, images.raw.bytes.length).equals(images.raw.bytes)).toBe(true);
    expect(onDisk.subarray(images.raw.bytes.length).every((b) => b === 0x5a)).toBe(true);
    await loop.detach();
    // fsynced through to the backing file
    expect(readFileSync(loop.file).subarray(0, images.raw.bytes.length).equals(images.raw.bytes)).toBe(true);
  });

  it('downloads a qcow2 image, verifies it and converts it onto the device with qemu-img', async () => {
    const loop = await loopDisk('qcow2-disk');
    const staged = join(dir, 'staged.qcow2');
    const qcow2 = readFileSync(images.qcow2);
    await streamImageToTarget({
      url: server.url('/os.qcow2'),
      target: staged,
      checksum: { algorithm: 'sha256', value: sha256(qcow2) },
    });
    await convertToRaw({ source: staged, sourceFormat: 'qcow2', target: loop.device, qemuImg: tools.qemuImg });
    const onDisk = await readDevice(loop.device, images.raw.bytes.length);
    expect(sha256(onDisk)).toBe(sha256(images.raw.bytes));
  });

  it('refuses an image larger than the device', async () => {
    const loop = await loopDisk('small-disk');
    await expect(
      streamImageToTarget({
        url: server.url('/os.raw'),
        target: loop.device,
        offset: DISK_BYTES - 4096,
        capacityBytes: 4096,
      }),
    ).rejects.toMatchObject({ code: 'ImageWriteFailed' });
  });
});
