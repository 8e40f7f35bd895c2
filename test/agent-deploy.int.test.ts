/**
 * Disk images end to end on the real stack (issue 8's proof, points 1-4): Tempered's processes (worker,
 * bridge, agent API) against the real apiserver and Temporal, simulated BMCs that boot the deploy ISO the
 * agent API remasters into a deploy agent: the simulator's own for most hosts, the real ironic-python-agent
 * 13.0.0 on loop devices for two. Users' objects only: BareMetalHosts, Secrets, annotations.
 *
 * 1. raw and qcow2 images built here land on the disk the hints pick, byte for byte (the converted raw image's
 *    hash), with a `config-2` partition holding the Secret's user data and the host's UID; other disks untouched.
 * 2. Hints by serial, by size and by rotational pick the expected disk; a hint no disk matches names the hint.
 * 3. Wrong checksum, checksum file without the image, 404 image, format mismatch: each a `provisioning error`
 *    naming what was expected and found; the corrected spec provisions the same object.
 * 4. Deprovisioning cleans (partition table and config drive gone, the data between the erased ends kept) and
 *    returns to `available`; the full-erase annotation zeroes the disk.
 *
 * Every host boots from the disk the image went to and finds its config drive there; the simulator's counters
 * show each image written once, after the automated (metadata) cleaning of the first provisioning.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { ipaRunner } from '../sim/agent/ipa-runner.ts';
import type { SimDisk } from '../sim/agent/runner.ts';
import { readConfigDrive, startSimulator, type SimulatedBmc, type Simulator } from '../sim/index.ts';
import { imageTools } from '../stack/binaries.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { bmhClient, simHostSpec, type Bmh } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { isoFile, makeRawImage, readAt, readGpt, toQcow2 } from './fixtures/disk-images.ts';
import { unique } from './support.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const NS = unique('agents');
const dir = join(stack.stateDir, NS);
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const USER_DATA = `#cloud-config\nhostname: written-by-${NS}\n`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const WRONG_SUM = sha256(Buffer.from('not the image'));

let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let raw: Buffer;
let qcow2: Buffer;
const hosts = bmhClient(stack.kube.kubeconfig, NS);

/** The BMH of a simulated host: its BMC, boot MAC, the user data Secret, and what the test adds. */
function spec(bmc: SimulatedBmc, extra: Record<string, unknown>): Record<string, unknown> {
  return simHostSpec(bmc, { userData: { name: 'user-data' }, ...extra });
}
const image = (file: string, extra: Record<string, unknown> = {}) =>
  ({ url: images.url(`/${file}`), checksum: images.url('/SHA256SUMS'), ...extra });

/**
 * The image's bytes are on `disk` (but for the GPT, rewritten to add the config drive), and the drive holds the
 * user data and UID.
 */
async function expectImageOn(disk: SimDisk, uid: string): Promise<void> {
  const gptEnd = 34 * 512;
  const backupStart = raw.length - 33 * 512;
  expect(sha256(readAt(disk.path, gptEnd, backupStart - gptEnd)), `the image's bytes on ${disk.name}`)
    .toBe(sha256(raw.subarray(gptEnd, backupStart)));
  const gpt = readGpt(disk.path);
  const last = gpt?.partitions.at(-1);
  expect(gpt?.partitions).toHaveLength(2);
  expect(last?.firstLba ?? 0, 'the config drive is in the last 64 MiB')
    .toBeGreaterThanOrEqual((disk.sizeBytes - 64 * MiB) / 512 - 2048);
  const volume = join(dir, `config-drive-${uid}.iso`);
  writeFileSync(volume, readAt(disk.path, (last?.firstLba ?? 0) * 512, 4 * MiB));
  expect(await isoFile(volume, '/openstack/latest/user_data')).toBe(USER_DATA);
  expect(JSON.parse(await isoFile(volume, '/openstack/latest/meta_data.json')))
    .toMatchObject({ uuid: uid, 'metal3-namespace': NS });
}

/** A disk nothing was written to: no partition table, zeros where one would be. */
function expectUntouched(disk: SimDisk): void {
  expect(readGpt(disk.path), `${disk.name} has no partition table`).toBeUndefined();
  expect(readAt(disk.path, 0, 4 * MiB).every((b) => b === 0), `${disk.name} starts with zeros`).toBe(true);
}

const provisioned = (name: string, timeoutMs = 240_000) =>
  hosts.inState(name, 'provisioned', (h) => h.status?.poweredOn === true, timeoutMs);

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  raw = await makeRawImage(join(dir, 'disk.raw'), 48);
  qcow2 = await toQcow2(join(dir, 'disk.raw'), join(dir, 'disk.qcow2'));
  const { xorriso } = await imageTools(() => {});
  const ipaIso = join(dir, 'ipa.iso');
  await buildStandInIpaIso(ipaIso, { xorriso });
  images = await startImageServer({
    '/disk.raw': raw,
    '/disk.qcow2': qcow2,
    '/SHA256SUMS': `${sha256(raw)}  disk.raw\n${sha256(qcow2)}  disk.qcow2\n`,
    '/OTHER-SUMS': `${sha256(raw)}  another.raw\n`,
    '/ipa.iso': readFileSync(ipaIso),
  });
  const small = [{ sizeBytes: 5 * GiB }, { sizeBytes: 6 * GiB }];
  sim = await startSimulator({
    stateDir: join(dir, 'sim'),
    runners: { ipa: ipaRunner({ stateDir: join(dir, 'ipa'), progress: (m) => process.stderr.write(`[ipa] ${m}\n`) }) },
    bmcs: [
      ...['serial', 'rotational', 'size', 'nomatch', 'badsum', 'notlisted', 'missing', 'format'].map((id) => ({
        id: `sim-${id}`,
        profile: 'idrac',
        uniqueIdentity: true,
        // The size host's third disk is smaller, so only its fourth reaches the size hint.
        ...(id === 'size' ? { disks: [undefined, undefined, { sizeBytes: 500 * GiB }] } : {}),
      })),
      { id: 'ipa-raw', profile: 'dmtf', agent: 'ipa' as const, uniqueIdentity: true, disks: small },
      { id: 'ipa-qcow2', profile: 'dmtf', agent: 'ipa' as const, uniqueIdentity: true, disks: small },
    ],
  });
  engine = await startTestEngine(stack, dir, NS, NS, { TEMPERED_IPA_ISO_URL: images.url('/ipa.iso') });
  await hosts.createNamespace();
  await hosts.core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'user-data' }, stringData: { userData: USER_DATA } },
  });
  for (const bmc of sim.bmcs) await hosts.secret(`${bmc.id}-bmc`, bmc.username, bmc.password);
}, 900_000);

afterAll(async () => {
  await engine?.stop();
  await sim?.stop();
  await images?.stop();
});

describe('disk images through the deploy agent', () => {
  it('raw and qcow2 images land byte for byte on the disk each hint picks, through both agents', async () => {
    const bmc = (id: string) => sim.bmc(id);
    const disksOf = (id: string) => bmc(id).disks();
    const rawImage = { image: image('disk.raw', { format: 'raw' }) };
    const qcow2Image = { image: image('disk.qcow2', { format: 'qcow2' }) };
    const deploy = (name: string, extra: Record<string, unknown>) => hosts.create(name, spec(bmc(name), extra));
    await deploy('sim-serial', { ...rawImage, rootDeviceHints: { serialNumber: disksOf('sim-serial')[1]?.serial } });
    await deploy('sim-rotational', {
      image: image('disk.qcow2', { format: 'qcow2', checksumType: 'sha256' }),
      rootDeviceHints: { rotational: true },
    });
    await deploy('sim-size', { ...qcow2Image, rootDeviceHints: { minSizeGigabytes: 1000 } });
    await deploy('ipa-raw', { ...rawImage, rootDeviceHints: { serialNumber: disksOf('ipa-raw')[1]?.serial } });
    await deploy('ipa-qcow2', { ...qcow2Image, rootDeviceHints: { minSizeGigabytes: 6 }, bootMode: 'legacy' });

    const expected: [string, number][] = [
      ['sim-serial', 1], ['sim-rotational', 2], ['sim-size', 3], ['ipa-raw', 1], ['ipa-qcow2', 1],
    ];
    for (const [name, index] of expected) {
      const host = await provisioned(name);
      const disks = disksOf(name);
      await expectImageOn(disks[index] as SimDisk, host.metadata.uid as string);
      for (const [i, disk] of disks.entries()) if (i !== index) expectUntouched(disk);
      expect(host.status?.operationalStatus).toBe('OK');
      expect(host.status?.errorType || '').toBe('');
      // The host booted from that disk and found its config drive there.
      await bmc(name).bootSettled();
      expect(bmc(name).diskBoot()).toMatchObject({ device: disks[index]?.name, partitionTable: 'gpt' });
      expect(bmc(name).diskBoot()?.configDrive?.files)
        .toEqual(expect.arrayContaining(['openstack/latest/user_data', 'openstack/latest/meta_data.json']));
    }
    for (const name of ['sim-serial', 'sim-rotational', 'sim-size']) {
      expect(bmc(name).agentCounters(), `${name} written once`).toMatchObject({ imageWrites: 1, configDrives: 1 });
      // Automated cleaning (metadata, the default) ran before the first provisioning.
      expect(bmc(name).agentCounters().metadataErases).toBeGreaterThan(0);
    }
  });

  it('a hint no disk matches is a provisioning error that names the hint', async () => {
    await hosts.create('sim-nomatch', spec(sim.bmc('sim-nomatch'), {
      image: image('disk.raw', { format: 'raw' }),
      rootDeviceHints: { serialNumber: 'NO-SUCH-SERIAL' },
    }));
    const failed = await waitForError('sim-nomatch');
    expect(failed.status?.errorMessage).toContain('NO-SUCH-SERIAL');
    for (const disk of sim.bmc('sim-nomatch').disks()) expectUntouched(disk);
  });

  it.each([
    // IPA's own message names both: the checksum the spec expects (`image checksum`) and the one the bytes have.
    ['sim-badsum', () => image('disk.raw', { format: 'raw', checksum: WRONG_SUM }),
      () => new RegExp(`image checksum: ${WRONG_SUM}; verification checksum: ${sha256(raw)}`)],
    ['sim-notlisted', () => image('disk.raw', { format: 'raw', checksum: images.url('/OTHER-SUMS') }),
      () => /does not list disk\.raw \(it lists another\.raw\)/],
    ['sim-missing', () => image('missing.raw', { format: 'raw', checksum: sha256(raw) }),
      () => /missing\.raw answered 404/],
    ['sim-format', () => image('disk.raw', { format: 'qcow2' }),
      () => /spec\.image\.format is qcow2, but the image .* is raw/],
  ])('%s: a clear provisioning error; the corrected spec provisions the same object', async (name, wrong, expected) => {
    await hosts.create(name, spec(sim.bmc(name), { image: wrong() }));
    const failed = await waitForError(name);
    expect(failed.status?.errorMessage).toMatch(expected());
    // Counted as BMO counts failures (errorCount drives the backoff), and reset by the success.
    expect(failed.status?.errorCount).toBeGreaterThanOrEqual(1);
    const uid = failed.metadata.uid;
    await hosts.patchSpec(name, { image: image('disk.raw', { format: 'raw' }) });
    const host = await provisioned(name);
    expect(host.metadata.uid).toBe(uid);
    expect(host.status?.errorType || '').toBe('');
    expect(host.status?.errorCount).toBe(0);
  });

  it('deprovisioning cleans the disk metadata; the full-erase annotation zeroes the disk', async () => {
    const serialDisk = sim.bmc('sim-serial').disks()[1] as SimDisk;
    const erased = sim.bmc('sim-serial').agentCounters().metadataErases;
    await hosts.patchSpec('sim-serial', { image: null, userData: null });
    await hosts.inState('sim-serial', 'available', undefined, 180_000);
    expect(readGpt(serialDisk.path), 'the partition table is gone').toBeUndefined();
    expect(await readConfigDrive(serialDisk), 'the config drive is gone').toBeUndefined();
    expect(readAt(serialDisk.path, 0, MiB).every((b) => b === 0)).toBe(true);
    expect(sim.bmc('sim-serial').agentCounters().metadataErases).toBeGreaterThan(erased);
    // The data between the erased ends is still there: metadata cleaning, not a full erase.
    expect(sha256(readAt(serialDisk.path, 2 * MiB, MiB))).toBe(sha256(raw.subarray(2 * MiB, 3 * MiB)));

    const rotationalDisk = sim.bmc('sim-rotational').disks()[2] as SimDisk;
    expect(statSync(rotationalDisk.path).blocks).toBeGreaterThan(0);
    await hosts.annotate('sim-rotational', { 'cleaning.tempered.dev/full-erase': 'true' });
    await hosts.patchSpec('sim-rotational', { image: null });
    await hosts.inState('sim-rotational', 'available', undefined, 180_000);
    expect(sim.bmc('sim-rotational').agentCounters().fullErases).toBeGreaterThan(0);
    expect(statSync(rotationalDisk.path).blocks, 'every byte of the disk is zero again').toBe(0);
  });
});

/** Waits for a provisioning error, wherever BMO's failure handling has moved the host since. */
function waitForError(name: string): Promise<Bmh> {
  let seen: Bmh | undefined;
  return waitFor(`${name} to show a provisioning error`, async () => {
    seen = await hosts.get(name);
    return seen.status?.errorType === 'provisioning error' ? seen : undefined;
  }, { timeoutMs: 180_000, intervalMs: 250, detail: () => seen?.status });
}
