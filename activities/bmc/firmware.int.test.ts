/**
 * Firmware updates through the Redfish driver against every vendor profile of the simulator, exactly once:
 * an update is started, a second driver (a restarted worker: no state shared with the first) asks to start the
 * same update and gets the same task back without a second flash, the task is polled by its URI to the end
 * (through a BMC reboot where the vendor reboots), the host is rebooted where the component needs it, and the
 * new version is read back. The BMC's own counters (accepted updates per image) prove one flash per image.
 *
 * Uses a private simulator; nothing of the shared stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PROFILE_IDS,
  describeFirmwareTiming,
  startSimulator,
  type SimulatedBmc,
  type Simulator,
} from '../../sim/index.ts';
import type { BmcDriver, FirmwareOps, FirmwareUpdateRequest } from './driver.ts';
import { createBmcDriver } from './factory.ts';
import { failure } from '../../test/expect-failure.ts';
import { SIM_REDFISH, serveIso } from '../../test/bmc-peers.ts';
import { waitFor } from '../../test/wait.ts';

type Driver = BmcDriver & { firmware: FirmwareOps };

let sim: Simulator;
let shared: Simulator;
let files: Awaited<ReturnType<typeof serveIso>>;
const drivers: BmcDriver[] = [];
const COMPRESSION = 2000;

beforeAll(async () => {
  files = await serveIso(4096);
  // Realistic flash times compressed 2000x: a BIOS flash takes 210 ms, a BMC flash 300 ms plus a 75 ms reboot.
  process.stderr.write(`[firmware.int] ${describeFirmwareTiming(COMPRESSION)}\n`);
  sim = await startSimulator({
    bmcs: [
      ...PROFILE_IDS.map((profile) => ({ profile, id: profile, quirkWindowMs: 200, firmwareCompression: COMPRESSION })),
      { profile: 'ilo5', id: 'ilo5-restart', quirkWindowMs: 200, firmwareCompression: 400 },
      { profile: 'dmtf', id: 'dmtf-again', quirkWindowMs: 0, taskDurationMs: 100 },
      { profile: 'xcc', id: 'xcc-push', quirkWindowMs: 0, taskDurationMs: 300 },
      { profile: 'multinode', id: 'chassis', nodes: 2, quirkWindowMs: 0, taskDurationMs: 400 },
    ],
  });
  shared = await startSimulator({ bmcs: { count: 2, profiles: ['dmtf'], quirkWindowMs: 0, taskDurationMs: 400 }, layout: 'shared' });
});

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await sim?.stop();
  await shared?.stop();
  await files?.close();
});

/** A new driver: what a restarted worker builds (no discovery, session or task shared with another). */
function worker(bmc: SimulatedBmc): Driver {
  const d = createBmcDriver({
    address: bmc.address,
    credentials: { username: bmc.username, password: bmc.password },
    redfish: SIM_REDFISH,
  });
  drivers.push(d);
  if (!d.firmware) throw new Error('a Redfish driver has firmware operations');
  return d as Driver;
}

/** Polls a task by URI to its end, rebooting the host when the BMC holds a BIOS update for it (as Ironic does). */
async function pollToEnd(d: Driver, uri: string): Promise<string[]> {
  const states: string[] = [];
  let rebooted = false;
  let failed: unknown;
  await waitFor(
    `task ${uri} to end`,
    async () => {
      let state: string;
      try {
        const task = await d.firmware.readTask(uri);
        state = task.state;
        if (task.done) {
          states.push(state);
          return true;
        }
      } catch (err) {
        // A BMC rebooting itself drops the connection: a transient failure, polled again.
        if ((err as { disposition?: string }).disposition !== 'transient') failed = err;
        state = 'unreachable';
      }
      if (states.at(-1) !== state) states.push(state);
      if (state === 'Starting' && !rebooted) {
        rebooted = true;
        await d.setPower('reboot').catch((err: unknown) => (failed = err));
      }
      return false;
    },
    { timeoutMs: 30_000, intervalMs: 40, detail: () => states, failIf: () => (failed === undefined ? undefined : String(failed)) },
  );
  return states;
}

const version = (components: Awaited<ReturnType<FirmwareOps['list']>>, component: string) =>
  components.find((c) => c.component === component)?.version;

describe.each(PROFILE_IDS.map((p) => [p]))('%s: a BIOS update, exactly once', (profile) => {
  it('starts once, a restarted worker finds the same task, the version is read back after the task (and reboot)', async () => {
    const bmc = sim.bmc(profile);
    const image = `bios-9.${PROFILE_IDS.indexOf(profile)}.1.bin`;
    const request: FirmwareUpdateRequest = {
      imageUrl: files.urlFor(image),
      since: new Date(Date.now() - 1000).toISOString(),
    };
    const first = worker(bmc);
    const before = version(await first.firmware.list(), 'bios');
    const started = await first.firmware.startUpdate(request);
    expect(started.state).toBe('started');
    expect(started.taskUri).toMatch(/^\/redfish\/v1\//i);

    // The worker dies here; its replacement asks again and resumes polling the same task.
    const second = worker(bmc);
    const resumed = await second.firmware.startUpdate(request);
    // The same task, still running or (on a loaded machine, the flash being compressed to a fraction of a second)
    // already completed: never a second one.
    expect(['running', 'completed']).toContain(resumed.state);
    expect(resumed.taskUri).toBe(started.taskUri);
    // Read while the task still runs (it is checked after), the version is the old one.
    const during = version(await second.firmware.list(), 'bios');
    if (!(await second.firmware.readTask(resumed.taskUri ?? '')).done) expect(during).toBe(before);

    const states = await pollToEnd(second, resumed.taskUri ?? '');
    expect(states.at(-1)).toBe('Completed');
    let after = version(await second.firmware.list(), 'bios');
    if (after === before) {
      // HPE stages a BIOS image and flashes it at the next boot (the task is already Completed).
      expect(bmc.quirks()).toContain('bios-firmware-staged');
      await second.setPower('reboot');
      after = version(await second.firmware.list(), 'bios');
    }
    expect(after).toBe(`9.${PROFILE_IDS.indexOf(profile)}.1`);

    // Asked once more after the end: the BMC's task says it is done, nothing is sent.
    expect(await worker(bmc).firmware.startUpdate(request)).toMatchObject({
      state: 'completed',
      taskUri: started.taskUri,
    });
    expect(bmc.counters().firmwareUpdatesByImage).toEqual({ [image]: 1 });
    expect(
      bmc
        .state()
        .flashes.filter((f) => f.image === image)
        .map((f) => f.outcome),
    ).toEqual(['completed']);
  });
});

describe("a BMC update across the BMC's own reboot", () => {
  it('a worker restarted while the BMC is away gets the same task once it is back; one flash', async () => {
    const bmc = sim.bmc('ilo5-restart');
    const request: FirmwareUpdateRequest = {
      imageUrl: files.urlFor('ilo5_3.10.bin'),
      since: new Date(Date.now() - 1000).toISOString(),
    };
    const started = await worker(bmc).firmware.startUpdate(request);
    expect(started.state).toBe('started');
    await waitFor('the BMC rebooting itself', () => bmc.state().bmcRebooting, { timeoutMs: 10_000, intervalMs: 20 });
    // Started now, the replacement worker cannot reach the BMC: a transient failure its activity retries.
    const replacement = worker(bmc);
    const err = await failure(replacement.firmware.startUpdate(request));
    expect(err).toMatchObject({ disposition: 'transient' });
    let permanent: unknown;
    const resumed = await waitFor(
      'the replacement worker finding the task once the BMC is back',
      () =>
        replacement.firmware.startUpdate(request).catch((retry: unknown) => {
          if ((retry as { disposition?: string }).disposition !== 'transient') permanent = retry;
          return undefined;
        }),
      { timeoutMs: 10_000, intervalMs: 20, failIf: () => (permanent === undefined ? undefined : String(permanent)) },
    );
    expect(['running', 'completed']).toContain(resumed.state);
    expect(resumed.taskUri).toBe(started.taskUri);
    expect((await pollToEnd(replacement, resumed.taskUri ?? '')).at(-1)).toBe('Completed');
    expect(version(await replacement.firmware.list(), 'bmc')).toBe('3.10');
    expect(bmc.counters()).toMatchObject({ firmwareUpdates: 1, firmwareFlashes: 1, bmcReboots: 1 });
  });
});

describe('self-test of the proof', () => {
  it('the per-image counter sees a second flash when the exactly-once check is skipped', async () => {
    const bmc = sim.bmc('dmtf-again');
    const d = worker(bmc);
    // simpleUpdate is the bare POST startUpdate guards: sent twice, the BMC accepts two flashes of one image.
    await d.firmware.simpleUpdate({ imageUrl: files.urlFor('bios-6.6.6.bin') });
    await d.firmware.simpleUpdate({ imageUrl: files.urlFor('bios-6.6.6.bin') });
    expect(bmc.counters().firmwareUpdatesByImage['bios-6.6.6.bin']).toBe(2);
  });
});

describe('several hosts behind one task service flash the same image', () => {
  it.each([
    { what: 'the two systems of a multi-node chassis', hosts: () => sim.bmcs.filter((b) => b.id.startsWith('chassis-')) },
    { what: 'two BMCs behind one shared port', hosts: () => [...shared.bmcs] },
  ])('$what: each starts its own task, and finds its own again', async ({ hosts }) => {
    const [a, b] = hosts();
    if (!a || !b) throw new Error('two hosts expected');
    const request: FirmwareUpdateRequest = { imageUrl: files.urlFor('bios-5.5.5.bin'), since: new Date(Date.now() - 1000).toISOString() };
    const first = await worker(a).firmware.startUpdate(request);
    const second = await worker(b).firmware.startUpdate(request);
    expect([first.state, second.state]).toEqual(['started', 'started']);
    expect(second.taskUri).not.toBe(first.taskUri);
    // Restarted workers, one per host: each is handed its own host's task.
    expect(await worker(b).firmware.startUpdate(request)).toMatchObject({ state: 'running', taskUri: second.taskUri });
    expect(await worker(a).firmware.startUpdate(request)).toMatchObject({ state: 'running', taskUri: first.taskUri });
    for (const [host, started] of [[a, first], [b, second]] as const) {
      const d = worker(host);
      expect((await pollToEnd(d, started.taskUri ?? '')).at(-1)).toBe('Completed');
      expect(version(await d.firmware.list(), 'bios')).toBe('5.5.5');
      expect(host.counters().firmwareUpdatesByImage).toEqual({ 'bios-5.5.5.bin': 1 });
    }
  });
});

describe('what counts as the same update', () => {
  it('a failed task does not: the update is started again', async () => {
    const bmc = sim.bmc('dmtf-again');
    const d = worker(bmc);
    const missing: FirmwareUpdateRequest = { imageUrl: files.urlFor('missing-bios-7.0.bin') };
    const failed = await d.firmware.startUpdate(missing);
    expect((await pollToEnd(d, failed.taskUri ?? '')).at(-1)).toBe('Exception');
    expect((await d.firmware.startUpdate(missing)).state).toBe('started');
    expect(bmc.counters().firmwareUpdatesByImage['missing-bios-7.0.bin']).toBe(2);
  });

  it('a completed task from before `since` does not: the same image can be flashed again later', async () => {
    const bmc = sim.bmc('dmtf-again');
    const d = worker(bmc);
    const request: FirmwareUpdateRequest = { imageUrl: files.urlFor('bios-7.1.bin') };
    const first = await d.firmware.startUpdate(request);
    await pollToEnd(d, first.taskUri ?? '');
    expect(
      (await d.firmware.startUpdate({ ...request, since: new Date(Date.now() - 60_000).toISOString() })).state,
    ).toBe('completed');
    // `since` must be later than the first task's end: wait for the clock to pass it.
    const ended = Date.now();
    await waitFor('the clock past the first task\'s end', () => Date.now() > ended, { intervalMs: 1 });
    const later = await d.firmware.startUpdate({ ...request, since: new Date().toISOString() });
    expect(later.state).toBe('started');
    expect(later.taskUri).not.toBe(first.taskUri);
  });

  it('a component already at the wanted version: nothing is sent', async () => {
    const bmc = sim.bmc('dmtf-again');
    const d = worker(bmc);
    const current = version(await d.firmware.list(), 'bios') ?? '';
    const posts = bmc.counters().requests.POST ?? 0;
    expect(
      await d.firmware.startUpdate({ imageUrl: files.urlFor('bios-x.bin'), component: 'bios', version: current }),
    ).toMatchObject({ state: 'current', taskUri: undefined });
    expect(bmc.counters().requests.POST ?? 0).toBe(posts);
  });

  it('a multipart push is found again by its file name', async () => {
    const bmc = sim.bmc('xcc-push');
    const request: FirmwareUpdateRequest = {
      imageUrl: 'lnvgy_fw_uefi_ive999z-9.99.uxz',
      push: { image: new Uint8Array(2048).fill(3), filename: 'lnvgy_fw_uefi_ive999z-9.99.uxz' },
    };
    const started = await worker(bmc).firmware.startUpdate(request);
    expect(started.state).toBe('started');
    expect(await worker(bmc).firmware.startUpdate(request)).toMatchObject({
      state: 'running',
      taskUri: started.taskUri,
    });
    expect(bmc.counters()).toMatchObject({ firmwareUpdates: 1, firmwareBytesRead: 2048 });
  });
});
