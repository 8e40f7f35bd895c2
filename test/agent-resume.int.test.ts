/**
 * Disk image deploys survive the death of any process in the middle of the write (issue 8, "Resumable"): the
 * worker SIGKILLed, the agent API SIGKILLed, the Temporal server restarted, each while the simulated agent is
 * writing a qcow2 image to a disk slowed down to widen the window. The agent keeps writing; a new worker's
 * attempt adopts the running command instead of starting another (activities/agent), the agent's heartbeats
 * reach the agent API again, the workflow carries on from its history. Each host ends `provisioned` with the
 * image written exactly once (the simulated agent's counter) and its bytes on the disk. While it writes, the
 * host's Progressing condition names the step and since when.
 *
 * This file runs its own Temporal dev server, so restarting it does not disturb other test files.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { startSimulator, type SimulatedBmc, type Simulator } from '../sim/index.ts';
import { imageTools } from '../stack/binaries.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startTemporal, type TemporalServer } from '../stack/temporal.ts';
import { bmhClient, simHostSpec } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { makeRawImage, sha256Of, toQcow2 } from './fixtures/disk-images.ts';
import { unique } from './support.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const NS = unique('resume');
const dir = join(stack.stateDir, NS);
const MiB = 1024 ** 2;
/** 64 MiB at 2 MiB/s: the write takes about 32 s, time enough to kill a process in the middle of it. */
const IMAGE_MIB = 64;
const DISK_BYTES_PER_SEC = 2 * MiB;

let temporal: TemporalServer;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let rawPath: string;
const hosts = bmhClient(stack.kube.kubeconfig, NS);

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  rawPath = join(dir, 'disk.raw');
  await makeRawImage(rawPath, IMAGE_MIB);
  const qcow2 = await toQcow2(rawPath, join(dir, 'disk.qcow2'));
  const { xorriso } = await imageTools(() => {});
  await buildStandInIpaIso(join(dir, 'ipa.iso'), { xorriso });
  images = await startImageServer({
    '/disk.qcow2': { path: join(dir, 'disk.qcow2') },
    '/SHA256SUMS': `${createHash('sha256').update(qcow2).digest('hex')}  disk.qcow2\n`,
    '/ipa.iso': readFileSync(join(dir, 'ipa.iso')),
  });
  mkdirSync(join(dir, 'temporal'), { recursive: true });
  temporal = await startTemporal({ stateDir: join(dir, 'temporal'), progress: () => {} });
  sim = await startSimulator({
    stateDir: join(dir, 'sim'),
    bmcs: ['worker', 'agent-api', 'temporal'].map((id) => ({
      id: `kill-${id}`,
      profile: 'dmtf',
      uniqueIdentity: true,
      agentSettings: { diskBytesPerSec: DISK_BYTES_PER_SEC },
    })),
  });
  engine = await startTestEngine({ ...stack, temporal }, dir, NS, NS, { TEMPERED_IPA_ISO_URL: images.url('/ipa.iso') });
  await hosts.createNamespace();
  for (const bmc of sim.bmcs) await hosts.secret(`${bmc.id}-bmc`, bmc.username, bmc.password);
}, 600_000);

afterAll(async () => {
  await engine?.stop();
  await sim?.stop();
  await images?.stop();
  await temporal?.stop();
});

/** Creates the host and resolves once its agent is in the middle of writing the image. */
async function deployUntilMidWrite(bmc: SimulatedBmc): Promise<void> {
  await hosts.create(
    bmc.id,
    simHostSpec(bmc, {
      image: { url: images.url('/disk.qcow2'), checksum: images.url('/SHA256SUMS'), format: 'qcow2' },
      automatedCleaningMode: 'disabled',
    }),
  );
  await waitFor(`${bmc.id} writing its image`, () => (bmc.agentCounters().steps['write_image'] ?? 0) >= 1, {
    timeoutMs: 240_000,
    intervalMs: 100,
    detail: async () => ({ status: (await hosts.get(bmc.id)).status, agent: bmc.agentCounters() }),
  });
  // A host in a long step says which step, and since when (the Progressing condition).
  let progressing: string | undefined;
  await waitFor(`${bmc.id}'s Progressing condition naming the write`, async () => {
    progressing = (await hosts.get(bmc.id)).status?.conditions?.find((c) => c.type === 'Progressing')?.message;
    return /writing the image \(qcow2\), since \d{4}-\d\d-\d\dT/.test(progressing ?? '');
  }, { timeoutMs: 20_000, intervalMs: 100, detail: () => progressing });
}

/** The host is provisioned, the image was written once, and its bytes are on the disk IPA's default picks. */
async function expectProvisionedOnce(bmc: SimulatedBmc): Promise<void> {
  await hosts.inState(bmc.id, 'provisioned', (h) => h.status?.poweredOn === true, 300_000);
  expect(bmc.agentCounters().imageWrites, 'the image was written once').toBe(1);
  const [, smaller] = bmc.disks();
  const dataEnd = IMAGE_MIB * MiB - 33 * 512;
  expect(sha256Of(smaller!.path, 34 * 512, dataEnd - 34 * 512)).toBe(sha256Of(rawPath, 34 * 512, dataEnd - 34 * 512));
}

describe('a deploy resumes after a process dies in the middle of the image write', () => {
  it('the worker, SIGKILLed: a new worker adopts the running write', async () => {
    const bmc = sim.bmc('kill-worker');
    await deployUntilMidWrite(bmc);
    const victim = engine.worker();
    process.kill(-victim.proc.pid, 'SIGKILL');
    await victim.proc.exited;
    expect(bmc.agentCounters().imageWrites, 'killed before the write ended').toBe(0);
    await engine.startWorker();
    await expectProvisionedOnce(bmc);
  });

  it('the agent API, SIGKILLed: the agent heartbeats to the new one and the deploy ends', async () => {
    const bmc = sim.bmc('kill-agent-api');
    await deployUntilMidWrite(bmc);
    const victim = engine.agentApi();
    process.kill(-victim.proc.pid, 'SIGKILL');
    await victim.proc.exited;
    expect(bmc.agentCounters().imageWrites, 'killed before the write ended').toBe(0);
    await engine.startAgentApi();
    await expectProvisionedOnce(bmc);
  });

  it('the Temporal server, restarted: the workflow carries on from its history', async () => {
    const bmc = sim.bmc('kill-temporal');
    await deployUntilMidWrite(bmc);
    await temporal.restart();
    expect(bmc.agentCounters().imageWrites, 'restarted before the write ended').toBe(0);
    await expectProvisionedOnce(bmc);
  });
});
