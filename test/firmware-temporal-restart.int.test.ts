/**
 * A Temporal server restarted in the middle of a BIOS flash (issue 10: "a worker or Temporal restart mid-flash
 * resumes polling the same BMC task and never starts a second flash"). The engine here runs on a Temporal dev
 * server of its own (file-backed, restarted on the same port and database), so the restart disturbs no other
 * test; the apiserver is the suite's, the BMC the simulator's DMTF tree with a flash of 420 s compressed 40x.
 * The worker SIGKILLed mid-flash is in test/firmware.int.test.ts.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFirmwareTiming, startSimulator, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startTemporal, type TemporalServer } from '../stack/temporal.ts';
import { bmhClient } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { createFirmwareHost, firmwareClient } from './firmware-objects.ts';
import { randomMoment, waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = `tr${Date.now().toString(36)}`;
const NS = `fw-restart-${RUN}`;
const PASSWORD = `Tr-${RUN}-pw`;
/** A BIOS flash of 420 s takes 10.5 s. */
const COMPRESSION = 40;
const IMAGE = 'bios-6.0.0.bin';

const hosts = bmhClient(stack.kube.kubeconfig, NS);
const fw = firmwareClient(stack.kube.kubeconfig, NS);
let temporal: TemporalServer;
let sim: Simulator;
let files: ImageServer;
let engine: Engine;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-fw-restart-'));
  process.stderr.write(`[firmware-temporal-restart.int] ${describeFirmwareTiming(COMPRESSION)}\n`);
  mkdirSync(join(dir, 'temporal'));
  temporal = await startTemporal({ stateDir: join(dir, 'temporal'), progress: () => {} });
  sim = await startSimulator({
    bmcs: [{ profile: 'dmtf', id: 'restart', password: PASSWORD, uniqueIdentity: true, firmwareCompression: COMPRESSION }],
  });
  files = await startImageServer({ [`/${IMAGE}`]: Buffer.alloc(64 * 1024, 6) });
  await hosts.createNamespace();
  const env = { TEMPERED_FIRMWARE_TASK_POLL_MS: '250', TEMPERED_FIRMWARE_HELD_AFTER_MS: '1500' };
  engine = await startTestEngine({ temporal, kube: stack.kube }, dir, RUN, NS, env);
});

afterAll(async () => {
  await engine?.stop();
  await files?.stop();
  await sim?.stop();
  await temporal?.stop();
});

describe('a Temporal restart in the middle of a flash', () => {
  it('the update goes on polling the same BMC task: one flash, the new version read back', async () => {
    const name = 'restarted';
    const bmc = sim.bmc('restart');
    await createFirmwareHost(hosts, name, bmc, PASSWORD);
    await hosts.inState(name, 'available', () => true, 180_000);
    await waitFor('components read', async () => (await fw.hfc(name))?.status?.components, { timeoutMs: 120_000 });
    await fw.setUpdates(name, [{ component: 'bios', url: files.url(`/${IMAGE}`) }]);
    await waitFor('the flash to start', () => bmc.state().flashes.some((f) => f.outcome === 'running'), {
      timeoutMs: 120_000,
      intervalMs: 50,
    });
    // A kill test's random moment (deliberate): somewhere in the first half of the flash; the server is down
    // for its restart's few seconds.
    const moment = await randomMoment(5000);
    await temporal.restart();
    process.stderr.write(`[firmware-temporal-restart.int] restarted ${moment} ms into the flash; flashes: ${JSON.stringify(bmc.state().flashes)}\n`);
    await waitFor(
      'the new version read back',
      async () => {
        const bios = (await fw.hfc(name))?.status?.components?.find((c) => c.component === 'bios');
        return bios?.currentVersion === '6.0.0';
      },
      { timeoutMs: 240_000, intervalMs: 250 },
    );
    await hosts.inState(name, 'available', (h) => h.status?.operationalStatus === 'OK' && !h.status.errorType);
    expect(bmc.counters().firmwareUpdatesByImage).toEqual({ [IMAGE]: 1 });
    expect(bmc.state().flashes.map((f) => f.outcome)).toEqual(['completed']);
  }, 600_000);
});
