import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { imageFailure as failure } from '../test/images.ts';
import { streamImageToTarget, type StreamProgress } from './image-stream.ts';

const dir = mkdtempSync(join(tmpdir(), 'tempered-image-stream-'));
const image = randomBytes(5 * 1024 * 1024 + 12345); // not a multiple of any block size
const sha256 = createHash('sha256').update(image).digest('hex');
const md5 = createHash('md5').update(image).digest('hex');
const sha512 = createHash('sha512').update(image).digest('hex');
let server: ImageServer;
let target = 0;
const newTarget = (fill?: { size: number; byte: number }) => {
  const path = join(dir, `disk-${target++}`);
  if (fill) writeFileSync(path, Buffer.alloc(fill.size, fill.byte));
  return path;
};

beforeAll(async () => {
  server = await startImageServer(
    { '/os.img': image, '/moved': { redirect: '/os.img' }, '/broken': { status: 503 } },
    { refuseHead: true },
  );
});

afterAll(async () => {
  await server.stop();
});

describe('streamImageToTarget', () => {
  it('writes exactly the image at the offset, leaving the rest of the disk as it was', async () => {
    const disk = newTarget({ size: 8 * 1024 * 1024, byte: 0xaa });
    const result = await streamImageToTarget({
      url: server.url('/os.img'),
      target: disk,
      offset: 4096,
      checksum: { algorithm: 'sha256', value: sha256 },
      blockSize: 1024 * 1024,
    });
    expect(result).toMatchObject({ bytes: image.length, digest: { algorithm: 'sha256', value: sha256 } });
    const bytes = readFileSync(disk);
    expect(bytes.length).toBe(8 * 1024 * 1024); // not truncated
    expect(bytes.subarray(0, 4096).every((b) => b === 0xaa)).toBe(true);
    expect(bytes.subarray(4096, 4096 + image.length).equals(image)).toBe(true);
    expect(bytes.subarray(4096 + image.length).every((b) => b === 0xaa)).toBe(true);
  });

  it('creates a file target that does not exist, and never sends HEAD or Range', async () => {
    const disk = newTarget();
    const headsBefore = server.heads('/os.img');
    const rangedBefore = server.rangedGets('/os.img');
    await streamImageToTarget({ url: server.url('/os.img'), target: disk });
    expect(readFileSync(disk).equals(image)).toBe(true);
    expect(server.heads('/os.img')).toBe(headsBefore);
    expect(server.rangedGets('/os.img')).toBe(rangedBefore);
  });

  it.each([
    ['md5', md5],
    ['sha512', sha512],
  ] as const)('verifies %s', async (algorithm, value) => {
    const result = await streamImageToTarget({
      url: server.url('/os.img'),
      target: newTarget(),
      checksum: { algorithm, value: value.toUpperCase() },
    });
    expect(result.digest).toEqual({ algorithm, value });
  });

  it('keeps many small writes in flight and in order', async () => {
    const disk = newTarget();
    await streamImageToTarget({ url: server.url('/os.img'), target: disk, blockSize: 64 * 1024, writesInFlight: 6 });
    expect(readFileSync(disk).equals(image)).toBe(true);
  });

  it('follows a redirect', async () => {
    const result = await streamImageToTarget({
      url: server.url('/moved'),
      target: newTarget(),
      checksum: { algorithm: 'sha256', value: sha256 },
    });
    expect(result.bytes).toBe(image.length);
  });

  it('fails on a mismatch with the expected and the found digest', async () => {
    const wrong = 'f'.repeat(64);
    const err = await failure(
      streamImageToTarget({
        url: server.url('/os.img'),
        target: newTarget(),
        checksum: { algorithm: 'sha256', value: wrong },
      }),
    );
    expect(err.code).toBe('ImageChecksumMismatch');
    expect(err.retryable).toBe(false);
    expect(err.expected).toBe(wrong);
    expect(err.found).toBe(sha256);
    expect(err.message).toContain(`has sha256 ${sha256}, but spec.image.checksum expects ${wrong}`);
  });

  it('reports progress up to the whole image', async () => {
    const seen: StreamProgress[] = [];
    await streamImageToTarget({
      url: server.url('/os.img'),
      target: newTarget(),
      blockSize: 256 * 1024,
      progressIntervalMs: 0,
      onProgress: (p) => seen.push(p),
    });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.at(-1)).toMatchObject({ bytesWritten: image.length, totalBytes: image.length });
    expect(seen.map((p) => p.bytesWritten)).toEqual([...seen.map((p) => p.bytesWritten)].sort((a, b) => a - b));
  });

  it('refuses an image larger than the disk before writing past it', async () => {
    const disk = newTarget({ size: 1024 * 1024, byte: 0 });
    const err = await failure(
      streamImageToTarget({ url: server.url('/os.img'), target: disk, capacityBytes: 1024 * 1024 }),
    );
    expect(err.code).toBe('ImageWriteFailed');
    expect(err.message).toContain(`has ${image.length} bytes, more than the 1048576 bytes of ${disk}`);
    expect(statSync(disk).size).toBe(1024 * 1024);
  });

  it("slows writes down to maxBytesPerSecond (the simulator's slow disks)", async () => {
    const started = performance.now();
    await streamImageToTarget({
      url: server.url('/os.img'),
      target: newTarget(),
      blockSize: 1024 * 1024,
      maxBytesPerSecond: 20 * 1024 * 1024,
    });
    // 5.01 MiB at 20 MiB/s: the last block may start no earlier than 250 ms in; a lower bound only.
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const run = streamImageToTarget({
      url: server.url('/os.img'),
      target: newTarget(),
      blockSize: 64 * 1024,
      progressIntervalMs: 0,
      maxBytesPerSecond: 1024 * 1024,
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('stop now')),
    });
    await expect(run).rejects.toThrow('stop now');
  });
});

describe('streamImageToTarget: what goes wrong on the way', () => {
  it('a 404 is refused for good, naming the URL and the status', async () => {
    const err = await failure(streamImageToTarget({ url: server.url('/missing.img'), target: newTarget() }));
    expect(err).toMatchObject({ code: 'ImageUrlRefused', retryable: false, status: 404 });
    expect(err.message).toBe(`the image ${server.url('/missing.img')} answered 404`);
  });

  it('a 503 is transient', async () => {
    const err = await failure(streamImageToTarget({ url: server.url('/broken'), target: newTarget() }));
    expect(err).toMatchObject({ code: 'ImageFetchFailed', retryable: true, status: 503 });
  });

  it('a refused connection is transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failure(streamImageToTarget({ url: `http://127.0.0.1:${port}/os.img`, target: newTarget() }));
    expect(err).toMatchObject({ code: 'ImageFetchFailed', retryable: true });
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('a body cut short is transient', async () => {
    const short = createServer((_, res) => {
      res.writeHead(200, { 'content-length': 1024 * 1024 });
      res.write(Buffer.alloc(1000));
      setImmediate(() => res.destroy());
    });
    await new Promise<void>((resolve) => short.listen(0, '127.0.0.1', resolve));
    const { port } = short.address() as AddressInfo;
    try {
      const err = await failure(streamImageToTarget({ url: `http://127.0.0.1:${port}/os.img`, target: newTarget() }));
      expect(err).toMatchObject({ code: 'ImageFetchFailed', retryable: true });
    } finally {
      short.closeAllConnections();
      await new Promise((resolve) => short.close(resolve));
    }
  });

  it('resends the GET when a connection closes before any answer (a kept-alive socket closed)', async () => {
    let connections = 0;
    const http = createServer((_, res) => {
      res.writeHead(200, { 'content-length': image.length }).end(image);
    });
    // The first connection reads the request and closes unanswered; the next ones are handed to the HTTP server.
    const flaky = createNetServer((socket) => {
      connections += 1;
      if (connections === 1) socket.once('data', () => socket.destroy());
      else http.emit('connection', socket);
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const { port } = flaky.address() as AddressInfo;
    try {
      const result = await streamImageToTarget({
        url: `http://127.0.0.1:${port}/os.img`,
        target: newTarget(),
        checksum: { algorithm: 'sha256', value: sha256 },
      });
      expect(result.bytes).toBe(image.length);
      expect(connections).toBe(2);
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });

  it('a target that cannot be opened fails the write', async () => {
    const err = await failure(
      streamImageToTarget({ url: server.url('/os.img'), target: join(dir, 'no-such-dir', 'disk') }),
    );
    expect(err).toMatchObject({ code: 'ImageWriteFailed', retryable: false });
    expect(err.message).toContain('ENOENT');
  });
});
