/**
 * Reading a booted ISO's kernel command line (parsed by lib/boot-config.ts): UEFI and legacy configurations, the
 * EFI/BOOT fallback, and HTTP reads by range (and whole, from a server that ignores ranges), on ISOs built by the
 * real xorriso.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDeployIso, tools as imageTools } from '../test/fixtures/disk-images.ts';
import { httpReader, isoKernelParams, redactParams } from './boot-iso.ts';
import { type FileServer, startFileServer } from '../test/sim.ts';

let tools: Awaited<ReturnType<typeof imageTools>>;
let dir: string;
let files: FileServer;

beforeAll(async () => {
  tools = await imageTools();
  dir = mkdtempSync(join(tmpdir(), 'boot-iso-test-'));
  files = await startFileServer();
}, 600_000);

afterAll(async () => {
  await files?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kernel command lines', () => {
  it('hides tokens and passwords', () => {
    expect(
      redactParams({ 'ipa-agent-token': 'secret', 'ipa-api-url': 'http://x', password: 'p', empty_token: '' }),
    ).toEqual({
      'ipa-agent-token': '***',
      'ipa-api-url': 'http://x',
      password: '***',
      empty_token: '',
    });
  });
});

describe('reading a deploy ISO over HTTP', () => {
  it('reads grub.cfg for UEFI and isolinux.cfg for legacy BIOS with range requests', async () => {
    const iso = await makeDeployIso({ 'ipa-api-url': 'http://127.0.0.1:6385', 'ipa-agent-token': 'tok' });
    const url = files.addBytes('/ranged.iso', iso);
    const before = files.hits.get('/ranged.iso') ?? 0;
    expect(await isoKernelParams(httpReader(url), 'UEFI')).toEqual({
      'ipa-api-url': 'http://127.0.0.1:6385',
      'ipa-agent-token': 'tok',
    });
    // A handful of 64 KiB ranges, not the whole image.
    expect((files.hits.get('/ranged.iso') ?? 0) - before).toBeLessThanOrEqual(4);
    expect(await isoKernelParams(httpReader(url), 'Legacy')).toEqual({
      initrd: '/initrd',
      text: '',
      'ipa-api-url': 'http://127.0.0.1:6385',
      'ipa-agent-token': 'tok',
    });
  });

  it('falls back to /EFI/BOOT/grub.cfg, and says undefined when a mode has no configuration', async () => {
    const tree = join(dir, 'efi-only');
    mkdirSync(join(tree, 'EFI', 'BOOT'), { recursive: true });
    writeFileSync(
      join(tree, 'EFI', 'BOOT', 'grub.cfg'),
      'menuentry "x" {\n linuxefi /vmlinuz ipa-api-url=http://e\n}\n',
    );
    execFileSync(tools.xorriso, ['-as', 'mkisofs', '-quiet', '-r', '-o', `${tree}.iso`, tree], { stdio: 'pipe' });
    const url = files.addBytes('/efi-only.iso', readFileSync(`${tree}.iso`));
    expect(await isoKernelParams(httpReader(url), 'UEFI')).toEqual({ 'ipa-api-url': 'http://e' });
    expect(await isoKernelParams(httpReader(url), 'Legacy')).toBeUndefined();
  });

  it('reads the whole image once from a server that ignores ranges', async () => {
    const iso = await makeDeployIso({ 'ipa-api-url': 'http://whole' });
    let requests = 0;
    const server: Server = createServer((_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-length': String(iso.length) }).end(iso);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.iso`;
      expect(await isoKernelParams(httpReader(url), 'UEFI')).toEqual({ 'ipa-api-url': 'http://whole' });
      expect(requests).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fails on a missing image', async () => {
    await expect(isoKernelParams(httpReader(`${files.origin}/missing.iso`), 'UEFI')).rejects.toThrow(/answered 404/);
  });
});
