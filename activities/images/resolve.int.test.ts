/**
 * resolveImage and checkImage against a real HTTP server, with images written by the real qemu-img: every way a
 * spec.image can be wrong ends in its own error code with a message naming what was expected and what was found,
 * and the wrong digest that only the download can reveal is caught by the agent's writer (lib/image-stream.ts).
 * The activities run in Temporal's activity environment, so the failure types are what workflows will see.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageFileName, imageInfoFor, type ResolvedImage } from '../../domain/image.ts';
import type { ImageIntent } from '../../domain/host-model.ts';
import { streamImageToTarget } from '../../lib/image-stream.ts';
import { makeIso } from '../../lib/iso.ts';
import { imageTools } from '../../stack/binaries.ts';
import { startImageServer, type ImageServer } from '../../stack/image-server.ts';
import { imageFailure, makeTestImages, sha256, type TestImages } from '../../test/images.ts';
import { createActivities } from '../index.ts';
import { checkImageUrl, resolveImage } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tempered-resolve-'));
let server: ImageServer;
let images: TestImages;
let digests: Record<string, string>;
let ignoresRange: Server;
let ignoresRangeUrl: string;

beforeAll(async () => {
  const tools = await imageTools(() => {});
  images = await makeTestImages(dir);
  const iso = join(dir, 'live.iso');
  await makeIso({ files: { 'README.txt': 'a live ISO' }, output: iso, volumeId: 'LIVE', xorriso: tools.xorriso });
  const read = (path: string) => readFileSync(path);
  digests = Object.fromEntries(
    (['qcow2', 'vmdk', 'vdi', 'vhdx', 'vhd', 'gzip'] as const).map((k) => [k, sha256(read(images[k]))]),
  );
  digests.raw = sha256(images.raw.bytes);
  const other = 'b'.repeat(64);
  server = await startImageServer(
    {
      '/os.raw': { path: images.raw.path },
      '/os.qcow2': { path: images.qcow2 },
      '/os.vmdk': { path: images.vmdk },
      '/os.vdi': { path: images.vdi },
      '/os.vhdx': { path: images.vhdx },
      '/os.vhd': { path: images.vhd },
      '/os.raw.gz': { path: images.gzip },
      '/live.iso': { path: iso },
      '/empty.img': Buffer.alloc(0),
      '/moved.qcow2': { redirect: '/os.qcow2' },
      '/SHA256SUMS': `# made by sha256sum\n${other}  other.qcow2\n${digests.qcow2}  os.qcow2\n${digests.raw} *os.raw\n`,
      '/CHECKSUM': `SHA256 (os.vmdk) = ${digests.vmdk}\nSHA256 (os.vdi) = ${digests.vdi}\n`,
      '/OTHER-SUMS': `${other}  other.qcow2\n${other}  os.qcow2.sig\n`,
      '/one-digest.sha256': `${digests.raw}\n`,
      '/down': { status: 503 },
    },
    { refuseHead: true },
  );
  // A server that ignores Range and answers 200 with the whole body, as some do.
  ignoresRange = createServer((_, res) => {
    const body = readFileSync(images.qcow2);
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => ignoresRange.listen(0, '127.0.0.1', resolve));
  ignoresRangeUrl = `http://127.0.0.1:${(ignoresRange.address() as AddressInfo).port}/os.qcow2`;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  ignoresRange?.closeAllConnections();
  await new Promise((resolve) => ignoresRange?.close(resolve));
});

describe('resolveImage: good specs', () => {
  it('a raw image with a sha256 digest', async () => {
    const image = await resolveImage({ url: server.url('/os.raw'), checksum: digests.raw, format: 'raw' });
    expect(image).toEqual({
      url: server.url('/os.raw'),
      fileName: 'os.raw',
      checksum: { algorithm: 'sha256', value: digests.raw },
      diskFormat: 'raw',
      detectedFormat: 'gpt',
      sizeBytes: images.raw.bytes.length,
    });
  });

  it('a qcow2 image whose checksum is a SHA256SUMS URL (GNU lines, comments, other names)', async () => {
    const image = await resolveImage({
      url: server.url('/os.qcow2'),
      checksum: server.url('/SHA256SUMS'),
      checksumType: 'sha256',
      format: 'qcow2',
    });
    expect(image).toMatchObject({
      checksum: { algorithm: 'sha256', value: digests.qcow2 },
      checksumUrl: server.url('/SHA256SUMS'),
      diskFormat: 'qcow2',
      detectedFormat: 'qcow2',
    });
  });

  it.each([
    ['vmdk', '/os.vmdk'],
    ['vdi', '/os.vdi'],
  ] as const)(
    'a %s image, format unset: detected from its first bytes; BSD-style checksum file',
    async (format, path) => {
      const image = await resolveImage({ url: server.url(path), checksum: server.url('/CHECKSUM') });
      expect(image).toMatchObject({ diskFormat: format, detectedFormat: format, checksum: { value: digests[format] } });
    },
  );

  it('a checksum file of one bare digest', async () => {
    const image = await resolveImage({
      url: server.url('/os.raw'),
      checksum: server.url('/one-digest.sha256'),
      checksumType: 'auto',
      format: 'raw',
    });
    expect(image.checksum).toEqual({ algorithm: 'sha256', value: digests.raw });
  });

  it('follows a redirect; the file name looked up is the one in spec.image.url', async () => {
    const image = await resolveImage({ url: server.url('/moved.qcow2'), checksum: digests.qcow2, format: 'qcow2' });
    expect(image.detectedFormat).toBe('qcow2');
  });

  it('never sends HEAD (this server refuses it, as presigned URLs do) and reads only a ranged probe', async () => {
    const before = { heads: server.heads('/os.qcow2'), gets: server.gets('/os.qcow2') };
    await resolveImage({ url: server.url('/os.qcow2'), checksum: digests.qcow2, format: 'qcow2' });
    expect(server.heads('/os.qcow2')).toBe(before.heads);
    expect(server.gets('/os.qcow2')).toBe(before.gets); // no full download
    expect(server.rangedGets('/os.qcow2')).toBeGreaterThan(0);
  });

  it('copes with a server that ignores Range', async () => {
    const image = await resolveImage({ url: ignoresRangeUrl, checksum: digests.qcow2, format: 'qcow2' });
    expect(image).toMatchObject({ detectedFormat: 'qcow2', sizeBytes: readFileSync(images.qcow2).length });
  });

  it('gives the agent what it verifies: a good digest streams through', async () => {
    const image = await resolveImage({
      url: server.url('/os.raw'),
      checksum: server.url('/SHA256SUMS'),
      format: 'raw',
    });
    const info = imageInfoFor(image, { nodeUuid: 'uid-1' });
    const disk = join(dir, 'good-disk');
    const written = await streamImageToTarget({
      url: info.urls[0] ?? '',
      target: disk,
      checksum: { algorithm: info.os_hash_algo, value: info.os_hash_value },
    });
    expect(written.digest.value).toBe(digests.raw);
    expect(readFileSync(disk).equals(images.raw.bytes)).toBe(true);
  });
});

describe('resolveImage: each wrong spec, its code and its message', () => {
  const cases: [scenario: string, image: () => ImageIntent, code: string, message: () => string][] = [
    [
      'a 404 image',
      () => ({ url: server.url('/gone.qcow2'), checksum: digests.qcow2, format: 'qcow2' }),
      'ImageUrlRefused',
      () => `the image ${server.url('/gone.qcow2')} answered 404 Not Found; fix spec.image.url`,
    ],
    [
      'a 404 checksum file',
      () => ({ url: server.url('/os.qcow2'), checksum: server.url('/NO-SUMS'), format: 'qcow2' }),
      'ImageUrlRefused',
      () => `the checksum file ${server.url('/NO-SUMS')} answered 404 Not Found; fix spec.image.checksum`,
    ],
    [
      'a checksum file without the name',
      () => ({ url: server.url('/os.qcow2'), checksum: server.url('/OTHER-SUMS'), format: 'qcow2' }),
      'ImageChecksumNotListed',
      () =>
        'the checksum file does not list os.qcow2 (it lists other.qcow2, os.qcow2.sig); ' +
        `checksum file: ${server.url('/OTHER-SUMS')}`,
    ],
    [
      'qcow2 declared, raw found',
      () => ({ url: server.url('/os.raw'), checksum: digests.raw, format: 'qcow2' }),
      'ImageFormatMismatch',
      () =>
        `spec.image.format is qcow2, but the image ${server.url('/os.raw')} is raw (a GPT-partitioned disk); ` +
        'set spec.image.format to raw',
    ],
    [
      'raw declared, qcow2 found',
      () => ({ url: server.url('/os.qcow2'), checksum: digests.qcow2, format: 'raw' }),
      'ImageFormatMismatch',
      () =>
        `spec.image.format is raw, but the image ${server.url('/os.qcow2')} is qcow2; set spec.image.format to qcow2`,
    ],
    [
      'raw declared, gzip found',
      () => ({ url: server.url('/os.raw.gz'), checksum: digests.gzip, format: 'raw' }),
      'ImageFormatMismatch',
      () =>
        `spec.image.format is raw, but the image ${server.url('/os.raw.gz')} is gzip-compressed data; ` +
        'the agent writes raw, qcow2, vmdk and vdi images',
    ],
    [
      'vmdk declared, vdi found',
      () => ({ url: server.url('/os.vdi'), checksum: digests.vdi, format: 'vmdk' }),
      'ImageFormatMismatch',
      () => `spec.image.format is vmdk, but the image ${server.url('/os.vdi')} is vdi; set spec.image.format to vdi`,
    ],
    [
      'format unset, vhdx found',
      () => ({ url: server.url('/os.vhdx'), checksum: digests.vhdx }),
      'ImageFormatUnsupported',
      () =>
        `the image ${server.url('/os.vhdx')} is vhdx, ` +
        'which the deploy agent cannot write (raw, qcow2, vmdk and vdi can be)',
    ],
    [
      'format unset, ISO found',
      () => ({ url: server.url('/live.iso'), checksum: digests.raw }),
      'ImageFormatUnsupported',
      () => `is an ISO 9660 image, which the deploy agent cannot write`,
    ],
    [
      'an empty image',
      () => ({ url: server.url('/empty.img'), checksum: digests.raw, format: 'raw' }),
      'ImageFormatUnsupported',
      () => `the image ${server.url('/empty.img')} is an empty file`,
    ],
    [
      'no checksum',
      () => ({ url: server.url('/os.raw'), format: 'raw' }),
      'ImageChecksumInvalid',
      () => 'spec.image: checksum is required for normal images',
    ],
    [
      'an md5-length digest typed sha256',
      () => ({
        url: server.url('/os.raw'),
        checksum: 'd41d8cd98f00b204e9800998ecf8427e',
        checksumType: 'sha256',
        format: 'raw',
      }),
      'ImageChecksumInvalid',
      () =>
        'spec.image.checksum: checksumType sha256 expects a digest of 64 hexadecimal digits, but the checksum has 32',
    ],
    [
      'a checksum file listing a digest of another type',
      () => ({
        url: server.url('/os.qcow2'),
        checksum: server.url('/SHA256SUMS'),
        checksumType: 'sha512',
        format: 'qcow2',
      }),
      'ImageChecksumInvalid',
      () => 'checksumType sha512 expects a digest of 128 hexadecimal digits, but the checksum has 64',
    ],
    [
      'a URL that does not parse',
      () => ({ url: 'http://exa mple/os.raw', checksum: digests.raw, format: 'raw' }),
      'ImageUrlInvalid',
      () => "spec.image.url 'http://exa mple/os.raw' cannot be parsed as a URL",
    ],
    [
      'an ftp URL',
      () => ({ url: 'ftp://images/os.raw', checksum: digests.raw, format: 'raw' }),
      'ImageUrlInvalid',
      () => 'must be an http:// or https:// URL, not ftp:',
    ],
    [
      'a live ISO',
      () => ({ url: server.url('/live.iso'), format: 'live-iso' }),
      'ImageFormatUnsupported',
      () => 'is booted by virtual media, not written to a disk by the deploy agent',
    ],
  ];

  it.each(cases)('%s', async (_, image, code, message) => {
    const err = await imageFailure(resolveImage(image()));
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(message());
  });

  it('a 503 is transient, and so is a server that cannot be reached', async () => {
    const busy = await imageFailure(resolveImage({ url: server.url('/down'), checksum: digests.raw, format: 'raw' }));
    expect(busy).toMatchObject({ code: 'ImageFetchFailed', retryable: true, status: 503 });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const down = await imageFailure(
      resolveImage({ url: `http://127.0.0.1:${port}/os.raw`, checksum: digests.raw, format: 'raw' }),
    );
    expect(down).toMatchObject({ code: 'ImageFetchFailed', retryable: true });
    expect(down.message).toContain('ECONNREFUSED');
  });

  it("a wrong digest passes resolution and fails the agent's write, naming both digests", async () => {
    const wrong = 'c'.repeat(64);
    const image = await resolveImage({ url: server.url('/os.raw'), checksum: wrong, format: 'raw' });
    const info = imageInfoFor(image, { nodeUuid: 'uid-1' });
    const err = await imageFailure(
      streamImageToTarget({
        url: info.urls[0] ?? '',
        target: join(dir, 'bad-disk'),
        checksum: { algorithm: info.os_hash_algo, value: info.os_hash_value },
      }),
    );
    expect(err.code).toBe('ImageChecksumMismatch');
    expect(err.message).toContain(
      `the image ${server.url('/os.raw')} has sha256 ${digests.raw}, but spec.image.checksum expects ${wrong}`,
    );
  });

  it('looks up the name of spec.image.url, not the redirect target', () => {
    expect(imageFileName(server.url('/moved.qcow2'))).toBe('moved.qcow2');
  });
});

describe('the activities as workflows see them', () => {
  const activities = createActivities({
    credentials: { read: () => Promise.reject(new Error('no BMC here')) },
    drivers: { use: () => Promise.reject(new Error('no BMC here')) },
  });
  // The failures are the point of these tests: the SDK's "Activity failed" warnings would only be noise.
  const image = (spec: ImageIntent): ImageIntent => spec;
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  it('resolveImage fails with an ApplicationFailure typed by its code, non-retryable, expected and found', async () => {
    const err = await env
      .run(
        activities.resolveImage,
        image({ url: server.url('/os.qcow2'), checksum: server.url('/OTHER-SUMS'), format: 'qcow2' }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('ImageChecksumNotListed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('the checksum file does not list os.qcow2');
    expect(failure.details?.[0]).toMatchObject({
      code: 'ImageChecksumNotListed',
      expected: 'os.qcow2',
      found: 'other.qcow2, os.qcow2.sig',
    });
  });

  it('resolveImage returns the resolved image', async () => {
    const resolved = (await env.run(
      activities.resolveImage,
      image({ url: server.url('/os.qcow2'), checksum: digests.qcow2, format: 'qcow2' }),
    )) as ResolvedImage;
    expect(resolved.checksum.value).toBe(digests.qcow2);
  });

  it('checkImage (live ISO) passes on a server that refuses HEAD and fails a 404 for good', async () => {
    expect(
      await env.run(activities.checkImage, image({ url: server.url('/live.iso'), format: 'live-iso' })),
    ).toMatchObject({ reachable: true });
    expect(server.heads('/live.iso')).toBe(0);
    const err = (await env
      .run(activities.checkImage, image({ url: server.url('/gone.iso'), format: 'live-iso' }))
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('ImageUrlRefused');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toBe(`the image URL ${server.url('/gone.iso')} answered 404 Not Found; fix spec.image.url`);
  });

  it('checkImage tolerates a URL the worker cannot reach (the BMC may)', async () => {
    expect(await checkImageUrl('http://127.0.0.1:9/live.iso', { timeoutMs: 5000 })).toEqual({ reachable: false });
  });
});
