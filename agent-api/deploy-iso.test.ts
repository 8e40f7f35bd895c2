/**
 * The deploy ISO cache: the base ISO is downloaded once and revalidated, each boot's ISO is remastered once
 * (concurrent requests share the build), a base that cannot be fetched says why, idle ISOs are swept.
 * The remaster step is the images part's; here a stand-in that appends the parameters proves the wiring.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { BaseIsoError, DeployIsoStore, type RemasterIso } from './deploy-iso.ts';

let images: ImageServer;
beforeAll(async () => {
  images = await startImageServer({ '/ipa.iso': Buffer.from('BASE-ISO-BYTES') });
});
afterAll(async () => images?.stop());

const appendParams: RemasterIso = async ({ baseIso, kernelParams, output }) => {
  // The stand-in's own latency (pacing, not a wait): a build takes a while, so concurrent requests overlap it.
  await new Promise((r) => setTimeout(r, 20));
  const text = Object.entries(kernelParams).map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(' ');
  writeFileSync(output, Buffer.concat([readFileSync(baseIso), Buffer.from(`|${text}`)]));
};

function store(options: { baseFreshMs?: number } = {}) {
  return new DeployIsoStore({ dir: mkdtempSync(join(tmpdir(), 'iso-store-')), remaster: appendParams, ...options });
}

describe('deploy ISO store', () => {
  it('remasters the base with the boot parameters, once per boot, sharing concurrent builds', async () => {
    const s = store();
    const base = images.url('/ipa.iso');
    const [a, b] = await Promise.all([s.get('boot-1', base, { 'ipa-agent-token': 't1' }), s.get('boot-1', base, { 'ipa-agent-token': 't1' })]);
    expect(a).toBe(b);
    expect(readFileSync(a, 'utf8')).toBe('BASE-ISO-BYTES|ipa-agent-token=t1');
    const c = await s.get('boot-2', base, { 'ipa-agent-token': 't2' });
    expect(readFileSync(c, 'utf8')).toBe('BASE-ISO-BYTES|ipa-agent-token=t2');
    expect(s.counters).toMatchObject({ remasters: 2, baseDownloads: 1 });
    await s.get('boot-1', base, { 'ipa-agent-token': 't1' });
    expect(s.counters.remasters).toBe(2);
    expect(images.gets('/ipa.iso')).toBeGreaterThanOrEqual(1);
  });

  it('asks the base\'s server again once the copy is no longer fresh', async () => {
    const s = store({ baseFreshMs: 0 });
    const before = images.gets('/ipa.iso');
    await s.get('boot-a', images.url('/ipa.iso'), { x: true });
    await s.get('boot-b', images.url('/ipa.iso'), { y: true });
    expect(images.gets('/ipa.iso') - before).toBe(2); // the test server has no validators: fetched again
    expect(s.counters.baseDownloads).toBe(2);
  });

  it('a base that answers 404 is a BaseIsoError naming the URL and the status', async () => {
    const error = await store().get('boot-x', images.url('/missing.iso'), { x: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BaseIsoError);
    expect((error as Error).message).toContain('/missing.iso answers 404');
  });

  it('sweeps ISOs not read for longer than the idle time', async () => {
    const s = new DeployIsoStore({ dir: mkdtempSync(join(tmpdir(), 'iso-store-')), remaster: appendParams, isoIdleMs: 60_000 });
    const path = await s.get('boot-old', images.url('/ipa.iso'), { x: true });
    expect(s.sweep(Date.now())).toBe(0);
    const old = new Date(Date.now() - 120_000);
    utimesSync(path, old, statSync(path).mtime);
    expect(s.sweep(Date.now())).toBe(1);
    expect(existsSync(path)).toBe(false);
  });
});
