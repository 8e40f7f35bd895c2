/**
 * Software RAID through the deploy agent on the real stack (issue 10, `spec.raid.softwareRAIDVolumes`): Tempered's
 * processes against the real apiserver and Temporal, and simulated hosts whose agent builds md devices on their
 * disk files as IPA does with mdadm.
 *
 * 1. Two disks, `softwareRAIDVolumes: [{level: "1"}]`, a qcow2 image: preparing (delete_configuration,
 *    erase_devices_metadata, create_configuration through the agent) → available → provisioned; `status.raid`
 *    shows the volume; the simulator holds /dev/md0 over both disks and the image is readable from each member.
 * 2. A level-1 volume on a host with one disk is a `preparation error` that names the level and the disk, with a
 *    PreparationError Event; removing the volume recovers the host.
 * 3. A `physicalDisks` hint that matches no disk is a `preparation error` naming the hint; the corrected hint
 *    builds the RAID on the same object.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { startSimulator, type MdDevice, type SimulatedBmc, type Simulator } from '../sim/index.ts';
import { imageTools } from '../stack/binaries.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { bmhClient, simHostSpec, type Bmh } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { makeRawImage, readAt, toQcow2 } from './fixtures/disk-images.ts';
import { unique } from './support.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const NS = unique('swraid');
const dir = join(stack.stateDir, NS);
const GiB = 1024 ** 3;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let raw: Buffer;
const hosts = bmhClient(stack.kube.kubeconfig, NS);

const spec = simHostSpec;

const qcow2Image = () => ({ url: images.url('/disk.qcow2'), checksum: images.url('/SHA256SUMS'), format: 'qcow2' });

/** The image's bytes (up to its backup GPT, which the agent moved to the end of the md device) on every member. */
function expectImageOnEveryMember(bmc: SimulatedBmc, md: MdDevice): void {
  const backupStart = raw.length - 33 * 512;
  const gptEnd = 34 * 512;
  for (const member of md.members) {
    const disk = bmc.disks().find((d) => d.name === member.disk);
    expect(disk, member.disk).toBeDefined();
    const at = member.startBytes + md.dataOffsetBytes;
    expect(sha256(readAt(disk?.path ?? '', at + gptEnd, backupStart - gptEnd)), `the image on ${member.partition}`).toBe(
      sha256(raw.subarray(gptEnd, backupStart)),
    );
  }
}

/** Waits for a preparation error and returns the host. */
function preparationError(name: string): Promise<Bmh> {
  let seen: Bmh | undefined;
  return waitFor(
    `${name} to show a preparation error`,
    async () => {
      seen = await hosts.get(name);
      return seen.status?.errorType === 'preparation error' ? seen : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 250, detail: () => seen?.status },
  );
}

async function preparationEvents(name: string): Promise<string[]> {
  const fieldSelector = `involvedObject.name=${name},reason=PreparationError`;
  const events = await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector });
  return events.items.map((e) => e.message ?? '');
}

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  raw = await makeRawImage(join(dir, 'disk.raw'), 48);
  const qcow2 = await toQcow2(join(dir, 'disk.raw'), join(dir, 'disk.qcow2'));
  const { xorriso } = await imageTools(() => {});
  const ipaIso = join(dir, 'ipa.iso');
  await buildStandInIpaIso(ipaIso, { xorriso });
  images = await startImageServer({
    '/disk.qcow2': qcow2,
    '/SHA256SUMS': `${sha256(qcow2)}  disk.qcow2\n`,
    '/ipa.iso': readFileSync(ipaIso),
  });
  const twoDisks = [{ sizeBytes: 10 * GiB }, { sizeBytes: 10 * GiB }];
  sim = await startSimulator({
    stateDir: join(dir, 'sim'),
    bmcs: [
      { id: 'raid1', profile: 'dmtf', uniqueIdentity: true, disks: twoDisks },
      { id: 'onedisk', profile: 'ilo5', uniqueIdentity: true },
      { id: 'hints', profile: 'dmtf', uniqueIdentity: true, disks: twoDisks },
    ],
  });
  engine = await startTestEngine(stack, dir, NS, NS, { TEMPERED_IPA_ISO_URL: images.url('/ipa.iso') });
  await hosts.createNamespace();
  for (const bmc of sim.bmcs) await hosts.secret(`${bmc.id}-bmc`, bmc.username, bmc.password);
}, 900_000);

afterAll(async () => {
  await engine?.stop();
  await sim?.stop();
  await images?.stop();
});

describe('software RAID through the deploy agent', () => {
  it('builds a RAID-1 over two disks in preparing and provisions the image onto the md device', async () => {
    const bmc = sim.bmc('raid1');
    await hosts.create('raid1', spec(bmc, { raid: { softwareRAIDVolumes: [{ level: '1' }] }, image: qcow2Image() }));
    const host = await hosts.inState('raid1', 'provisioned', (h) => h.status?.poweredOn === true, 300_000);
    expect(host.status?.errorType || '').toBe('');
    expect((host.status as { provisioning?: { raid?: unknown } }).provisioning?.raid).toEqual({
      softwareRAIDVolumes: [{ level: '1' }],
    });
    const [md, esp, ...others] = bmc.mdDevices();
    expect(others).toEqual([]);
    // install_bootloader (UEFI) made an ESP on each holder, mirrored as md 'esp', as IPA does for an md root.
    expect(esp).toMatchObject({ volumeName: 'esp', level: '1', members: [{ disk: '/dev/sda' }, { disk: '/dev/sdb' }] });
    expect(md).toMatchObject({
      name: '/dev/md0',
      level: '1',
      isRootVolume: true,
      members: [{ disk: '/dev/sda', partition: '/dev/sda1' }, { disk: '/dev/sdb', partition: '/dev/sdb1' }],
    });
    // The deploy wrote to the md device (the smallest disk IPA lists), once, and the mirror holds it twice.
    const counters = bmc.agentCounters();
    expect(counters.steps).toMatchObject({ delete_configuration: 1, create_configuration: 1, write_image: 1 });
    expect(counters.imageWrites).toBe(1);
    expectImageOnEveryMember(bmc, md as MdDevice);
    await bmc.bootSettled();
    expect(bmc.diskBoot()).toMatchObject({ device: '/dev/md0', partitionTable: 'gpt' });
  }, 600_000);

  it('a RAID-1 on a host with one disk is a preparation error; removing the volume recovers', async () => {
    const bmc = sim.bmc('onedisk');
    await hosts.create('onedisk', spec(bmc, { raid: { softwareRAIDVolumes: [{ level: '1' }] } }));
    const failed = await preparationError('onedisk');
    expect(failed.status?.errorMessage).toMatch(
      /softwareRAIDVolumes\[0\] \(RAID 1\) needs at least 2 disks, and the host has 1 disk \(\/dev\/sda\)/,
    );
    // Events go out after the status write, in the background: wait for the warning.
    await waitFor('onedisk PreparationError Event', async () => (await preparationEvents('onedisk')).some((m) => /needs at least 2 disks/.test(m)), { timeoutMs: 30_000, intervalMs: 200 });
    // Refused from the disks the agent listed, before anything was changed; the host was powered off.
    expect(bmc.agentCounters().commands['poll.get_hardware_info']).toBeGreaterThan(0);
    expect(bmc.agentCounters().steps['delete_configuration'] ?? 0).toBe(0);
    expect(bmc.agentCounters().steps['create_configuration'] ?? 0).toBe(0);
    await hosts.patchSpec('onedisk', { raid: null });
    const recovered = await hosts.inState('onedisk', 'available', (h) => !h.status?.errorType, 240_000);
    expect(recovered.status?.errorMessage || '').toBe('');
    expect(bmc.mdDevices()).toEqual([]);
  }, 600_000);

  it('a physicalDisks hint that matches no disk names the hint; the corrected hint builds the RAID', async () => {
    const bmc = sim.bmc('hints');
    const [first, second] = bmc.disks();
    const volume = (serial: string) => ({
      level: '1',
      physicalDisks: [{ serialNumber: first?.serial }, { serialNumber: serial }],
    });
    await hosts.create('hints', spec(bmc, { raid: { softwareRAIDVolumes: [volume('NO-SUCH-SERIAL')] } }));
    const failed = await preparationError('hints');
    expect(failed.status?.errorMessage).toMatch(/physicalDisks\[1\] \{"serialNumber":"NO-SUCH-SERIAL"\} matches no disk/);
    await hosts.patchSpec('hints', { raid: { softwareRAIDVolumes: [volume(second?.serial ?? '')] } });
    const host = await hosts.inState('hints', 'available', (h) => !h.status?.errorType, 240_000);
    expect((host.status as { provisioning?: { raid?: unknown } }).provisioning?.raid).toEqual({
      softwareRAIDVolumes: [volume(second?.serial ?? '')],
    });
    expect(bmc.mdDevices()).toMatchObject([
      { name: '/dev/md0', members: [{ disk: first?.name }, { disk: second?.name }] },
    ]);
  }, 600_000);
});
