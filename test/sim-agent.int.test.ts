/**
 * A Metal3 user's BareMetalHost on a simulated host, provisioned by Tempered's real processes (worker, bridge,
 * agent API) through the simulator's deploy agent: the host boots the deploy ISOs the engine remasters and
 * inserts over Redfish, the agent looks up and heartbeats against the real agent API, cleans (metadata) and
 * writes a qcow2 image built by the test with qemu-img, with the config drive, to the disk the root device hints
 * pick. Then the bytes are checked on the disk files: the image's data, a `config-2` volume holding the
 * host's UID and the Secret's user data, the other disk untouched; the host boots from its disk; a deprovision
 * cleans the metadata away. The counters prove the image was written once.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { readPartitionTable } from '../sim/partitions.ts';
import { readConfigDrive, type Simulator, startSimulator } from '../sim/index.ts';
import { imageTools } from '../stack/binaries.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startTestEngine, watchHosts } from './engine-fixture.ts';
import { makeRawImage, sha256Of, toQcow2 } from './fixtures/disk-images.ts';
import { waitFor } from './wait.ts';

const stack = inject('stack');
const RUN = Date.now().toString(36);
const NS = `simagent-${RUN}`;
const PASSWORD = `Sim-${RUN}-pw`;
const USER_DATA = `#cloud-config\nhostname: deployed-${RUN}\n`;
const MIB = 1024 * 1024;

const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const objects = kc.makeApiClient(k8s.CustomObjectsApi);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const bmh = { group: 'metal3.io', version: 'v1alpha1', namespace: NS, plural: 'baremetalhosts' };

interface Bmh {
  metadata: { name: string; uid?: string };
  status?: { provisioning?: { state?: string }; errorType?: string; errorMessage?: string; operationalStatus?: string };
}

let dir: string;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let stopWatch: (() => void) | undefined;
let raw: { path: string; sizeBytes: number };
const seen = new Map<string, string[]>();
const simLog: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tempered-sim-agent-'));
  const { xorriso } = await imageTools(() => undefined);
  const standIn = await buildStandInIpaIso(join(dir, 'ipa.iso'), { xorriso });
  const rawPath = join(dir, 'os.raw');
  raw = { path: rawPath, sizeBytes: (await makeRawImage(rawPath, 64)).length };
  const qcow2 = await toQcow2(rawPath, join(dir, 'os.qcow2'));
  writeFileSync(join(dir, 'SHA256SUMS'), `${createHash('sha256').update(qcow2).digest('hex')}  os.qcow2\n`);
  images = await startImageServer({
    '/ipa.iso': { path: standIn.output },
    '/os.qcow2': { path: join(dir, 'os.qcow2') },
    '/SHA256SUMS': readFileSync(join(dir, 'SHA256SUMS')),
  });
  // The DMTF mockup: two SATA disks, 8 TB (/dev/sda) and 4 TB (/dev/sdb).
  sim = await startSimulator({
    stateDir: join(dir, 'sim'),
    bmcs: [{ id: 'deploy-0', profile: 'dmtf', password: PASSWORD, uniqueIdentity: true }],
    log: (line) => simLog.push(line),
  });
  await core.createNamespace({ body: { metadata: { name: NS } } });
  stopWatch = await watchHosts<Bmh>(kc, NS, (_type, obj) => {
    const state = obj.status?.provisioning?.state;
    if (state === undefined) return;
    const list = seen.get(obj.metadata.name) ?? [];
    if (list.at(-1) !== state) list.push(state);
    seen.set(obj.metadata.name, list);
  });
  engine = await startTestEngine(stack, dir, RUN, NS, { TEMPERED_IPA_ISO_URL: images.url('/ipa.iso') });
}, 600_000);

afterAll(async () => {
  stopWatch?.();
  await engine?.stop();
  await images?.stop();
  await sim?.stop();
});

const getHost = async (name: string): Promise<Bmh> => (await objects.getNamespacedCustomObject({ ...bmh, name })) as Bmh;

const inState = (name: string, state: string, timeoutMs = 300_000) =>
  waitFor(`${name} ${state}`, async () => ((await getHost(name)).status?.provisioning?.state === state ? getHost(name) : undefined), {
    timeoutMs,
    intervalMs: 500,
    detail: async () =>
      `states ${JSON.stringify(seen.get(name))}, status ${JSON.stringify((await getHost(name)).status)}, ` +
      `agent ${JSON.stringify(sim.bmc('deploy-0').agentCounters())}, last sim lines ${JSON.stringify(simLog.slice(-15))}`,
  });

describe('a BareMetalHost provisioned through the simulated agent', () => {
  it('writes the qcow2 image and the config drive to the disk the hints pick, once', async () => {
    const bmc = sim.bmc('deploy-0');
    const [big, small] = bmc.disks();
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'bmc' }, stringData: { username: bmc.username, password: PASSWORD } } });
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'user-data' }, stringData: { userData: USER_DATA } } });
    await objects.createNamespacedCustomObject({
      ...bmh,
      body: {
        apiVersion: 'metal3.io/v1alpha1',
        kind: 'BareMetalHost',
        metadata: { name: 'deploy-0' },
        spec: {
          online: true,
          bootMACAddress: bmc.bootMACAddress,
          bmc: { address: bmc.address, credentialsName: 'bmc' },
          // The 8 TB disk, although IPA alone would pick the smaller one.
          rootDeviceHints: { serialNumber: big!.serial },
          image: { url: images.url('/os.qcow2'), checksum: images.url('/SHA256SUMS'), checksumType: 'sha256', format: 'qcow2' },
          userData: { name: 'user-data' },
        },
      },
    });
    const host = await inState('deploy-0', 'provisioned');

    // The image's partition data is on the chosen disk; its GPT now spans the disk and lists the config drive.
    const dataEnd = raw.sizeBytes - 33 * 512;
    expect(sha256Of(big!.path, 34 * 512, dataEnd - 34 * 512)).toBe(sha256Of(raw.path, 34 * 512, dataEnd - 34 * 512));
    const drive = await readConfigDrive(big!);
    expect(drive).toBeDefined();
    const metaData = JSON.parse(drive?.files['openstack/latest/meta_data.json']?.toString() ?? '{}') as Record<string, unknown>;
    expect(metaData).toMatchObject({ uuid: host.metadata.uid, 'metal3-name': 'deploy-0', 'metal3-namespace': NS });
    expect(drive?.files['openstack/latest/user_data']?.toString()).toBe(USER_DATA);
    // The other disk holds no image (cleaning zeroed its ends, nothing else).
    expect(await readPartitionTable(small!.path, small!.sizeBytes)).toBeUndefined();
    expect(bmc.agentCounters()).toMatchObject({ imageWrites: 1, configDrives: 1 });
    expect(bmc.agentCounters().metadataErases).toBeGreaterThanOrEqual(2);

    // The provisioned host boots from that disk and finds the config drive there.
    await waitFor('the disk boot', () => bmc.diskBoot() ?? undefined, { timeoutMs: 60_000 });
    expect(bmc.diskBoot()).toMatchObject({ device: big!.name, partitionTable: 'gpt', configDrive: { files: expect.arrayContaining(['openstack/latest/user_data']) } });
  }, 600_000);

  it('deprovisions: cleaning removes the partition table and the config drive, the host is available again', async () => {
    const bmc = sim.bmc('deploy-0');
    const [big] = bmc.disks();
    const erased = bmc.agentCounters().metadataErases;
    await objects.patchNamespacedCustomObject({ ...bmh, name: 'deploy-0', body: { spec: { image: null, userData: null } } }, mergePatch);
    await inState('deploy-0', 'available');
    expect(await readPartitionTable(big!.path, big!.sizeBytes)).toBeUndefined();
    expect(await readConfigDrive(big!)).toBeUndefined();
    expect(bmc.agentCounters().metadataErases).toBeGreaterThan(erased);
    expect(bmc.agentCounters().imageWrites).toBe(1);
    // The data between the erased ends is still there: metadata cleaning, not a full erase.
    expect(sha256Of(big!.path, 2 * MIB, MIB)).toBe(sha256Of(raw.path, 2 * MIB, MIB));
  }, 600_000);
});
