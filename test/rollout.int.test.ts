/**
 * Firmware rollouts across a fleet, end to end: 30 BareMetalHosts on simulated BMCs of three vendor profiles
 * (DMTF, HPE iLO 5 whose BIOS images are flashed at the next boot, Lenovo XCC), FirmwareRollout objects on the
 * real apiserver, Tempered's real worker and bridge, the real Temporal server.
 *
 * Proves, from the issue: (4) canary 1, waves 25/50/100, one host's flash failing (a simulator fault): the rollout
 * pauses when the failure budget is used, `resume` after the fault is cleared completes it; maxUnavailable is
 * never exceeded, checked from the simulator's own records of each flash; `abort` in a second rollout stops it
 * with every host in a reported state; (5) the worker SIGKILLed at 5 random moments of a third rollout: every
 * host flashed exactly once (the simulator's counters). The overlap check has a self-test that plants a fault.
 * The first rollout is created, resumed and read through `tempered rollout`, the second aborted and followed
 * (`status --watch`) through it: the CLI against the real apiserver.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFirmwareTiming, maxOverlap, startSimulator, type SimulatedBmc, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { bmhClient } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { createFirmwareHost, firmwareClient, type Rollout } from './firmware-objects.ts';
import { randomMoment, waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = Date.now().toString(36);
const NS = `fleet-${RUN}`;
const PASSWORD = `Fleet-${RUN}-pw`;
const PROFILES = ['dmtf', 'ilo5', 'xcc'] as const;
const COUNT = 30;
/** A BIOS flash of 420 s takes 2.8 s here. */
const COMPRESSION = 150;
const MAX_UNAVAILABLE = 3;
const IMAGES = ['bios-2.0.0.bin', 'bios-2.1.0.bin', 'bios-2.2.0.bin'];

const hosts = bmhClient(stack.kube.kubeconfig, NS);
const fw = firmwareClient(stack.kube.kubeconfig, NS);
let sim: Simulator;
let files: ImageServer;
let engine: Engine;
const names: string[] = [];
const bmcOf = new Map<string, SimulatedBmc>();

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-fleet-'));
  process.stderr.write(`[rollout.int] ${describeFirmwareTiming(COMPRESSION)}\n`);
  sim = await startSimulator({
    bmcs: Array.from({ length: COUNT }, (_, i) => ({
      profile: PROFILES[i % PROFILES.length],
      id: `${PROFILES[i % PROFILES.length]}-${i}`,
      password: PASSWORD,
      uniqueIdentity: true,
      quirkWindowMs: 100,
      firmwareCompression: COMPRESSION,
    })),
  });
  files = await startImageServer(Object.fromEntries(IMAGES.map((name) => [`/${name}`, Buffer.alloc(32 * 1024, 5)])));
  await hosts.createNamespace();
  const env = { TEMPERED_FIRMWARE_TASK_POLL_MS: '250', TEMPERED_FIRMWARE_HELD_AFTER_MS: '1500' };
  engine = await startTestEngine(stack, dir, RUN, NS, env);
  for (const [i, bmc] of sim.bmcs.entries()) {
    const name = `host-${i}`;
    names.push(name);
    bmcOf.set(name, bmc);
    await createFirmwareHost(hosts, name, bmc, PASSWORD);
    await fw.labelHost(name, { fleet: RUN });
  }
  await waitFor(
    'the fleet available with its firmware read',
    async () => {
      const ready = async (n: string) => {
        const available = (await hosts.get(n)).status?.provisioning?.state === 'available';
        return available && Boolean((await fw.hfc(n))?.status?.components);
      };
      const all = await Promise.all(names.map(ready));
      return all.every(Boolean);
    },
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
});

afterAll(async () => {
  await engine?.stop();
  await files?.stop();
  await sim?.stop();
});

const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

/** `tempered rollout ARGS` against the test's apiserver and namespace: its exit code and output. */
function tempered(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'rollout', ...args, '--kubeconfig', stack.kube.kubeconfig, '-n', NS]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const spec = (image: string, strategy: Record<string, unknown>) => ({
  selector: { matchLabels: { fleet: RUN } },
  updates: [{ component: 'bios', url: files.url(`/${image}`) }],
  strategy: { maxUnavailable: MAX_UNAVAILABLE, ...strategy },
});

const rolloutIn = (name: string, phases: string[], timeoutMs = 600_000) =>
  waitFor(`rollout ${name} in ${phases.join(' or ')}`, async () => {
    const r = await fw.rollout(name);
    return r?.status?.phase && phases.includes(r.status.phase) ? r : undefined;
  }, {
    timeoutMs,
    intervalMs: 500,
    detail: () => fw.rollout(name).then((r) => JSON.stringify(r?.status && { ...r.status, hosts: undefined })),
  });

/** Every flash of `image` on the fleet's BMCs, as the simulator recorded it: host, start, end, outcome. */
function flashesOf(image: string) {
  return names.flatMap((name) =>
    (bmcOf.get(name)?.state().flashes ?? [])
      .filter((f) => f.image === image)
      .map((f) => ({
        host: name,
        start: Date.parse(f.startedAt),
        end: f.endedAt ? Date.parse(f.endedAt) : Date.now(),
        outcome: f.outcome,
      })),
  );
}

/** The most flashes that ran at once (the simulator's maxOverlap over the flash spans). */
function mostAtOnce(spans: { host: string; start: number; end: number }[]): number {
  return maxOverlap(spans.map((s) => ({ bmcId: s.host, method: 'FLASH', path: s.host, start: s.start, end: s.end })));
}

describe('(4) a rollout over 30 hosts of 3 vendor profiles', () => {
  it('canary 1, waves 25/50/100: paused by a failed flash, resumed after the fault is cleared, completed', async () => {
    const failing = bmcOf.get('host-11') as SimulatedBmc;
    failing.faults({ flashFailure: true });
    const created = await tempered([
      'create', 'first', '--selector', `fleet=${RUN}`, '--update', `bios=${files.url(`/${IMAGES[0] as string}`)}`,
      '--canary', '1', '--waves', '25,50,100', '--max-unavailable', String(MAX_UNAVAILABLE), '--failure-budget', '1',
    ]);
    expect(created, created.stderr).toMatchObject({ code: 0, stdout: `firmwarerollout ${NS}/first created\n` });
    const paused = await rolloutIn('first', ['Paused']);
    expect(paused.status?.message).toMatch(/failure budget used \(host-11: /);
    expect(paused.status?.hosts?.find((h) => h.name === 'host-11')).toMatchObject({
      state: 'Failed',
      message: expect.stringMatching(/BmcTaskFailed/),
    });
    // The bridge paused the spec, once, for this budget pause.
    const pausedSpec = await waitFor('spec.paused set by the bridge', async () => {
      const r = await fw.rollout('first');
      return r?.spec['paused'] === true ? r : undefined;
    });
    expect(pausedSpec.metadata.annotations?.['tempered.dev/failure-budget-pause']).toBe('1');
    // Waves: the canary alone first, then 8, 7 and 14 hosts.
    const waves = [['canary', 1], ['wave 1', 8], ['wave 2', 7], ['wave 3', 14]];
    expect(paused.status?.waves?.map((w) => [w.name, w.total])).toEqual(waves);
    // While paused nothing new starts: the hosts not done are still pending once those in flight finished.
    const whilePaused = await rolloutIn('first', ['Paused']);
    const settled = async () => ((await fw.rollout('first'))?.status?.inProgress ?? 1) === 0;
    await waitFor('in-flight hosts done', settled, { timeoutMs: 120_000, intervalMs: 500 });
    expect(whilePaused.status?.pending).toBeGreaterThan(0);

    const shown = await tempered(['status', 'first']);
    expect(shown.stdout).toContain(`${NS}/first: Paused (failure budget used`);
    expect(shown.stdout).toMatch(/✘ host-11 +Failed +BmcTaskFailed/);

    failing.faults({ flashFailure: false });
    const resumed = await tempered(['resume', 'first']);
    expect(resumed).toMatchObject({ code: 0, stdout: `firmwarerollout ${NS}/first resumed\n` });
    const done = await rolloutIn('first', ['Completed']);
    expect(done.status).toMatchObject({ total: COUNT, updated: COUNT, failed: 0, progress: `${COUNT}/${COUNT}` });
    const json = await tempered(['status', 'first', '--json']);
    expect((JSON.parse(json.stdout) as Rollout).status?.phase).toBe('Completed');
    expect(done.status?.hosts?.find((h) => h.name === 'host-11')).toMatchObject({
      state: 'Updated',
      attempt: 2,
      versions: [{ component: 'bios', version: '2.0.0' }],
    });
    for (const name of names) {
      const hfc = await fw.hfc(name);
      expect(hfc?.status?.components?.find((c) => c.component === 'bios')?.currentVersion, name).toBe('2.0.0');
      const counters = bmcOf.get(name)?.counters();
      expect(counters?.firmwareUpdatesByImage[IMAGES[0] as string], name).toBe(name === 'host-11' ? 2 : 1);
    }
    const flashes = flashesOf(IMAGES[0] as string);
    expect(flashes.filter((f) => f.outcome === 'completed')).toHaveLength(COUNT);
    expect(flashes.filter((f) => f.outcome === 'failed').map((f) => f.host)).toEqual(['host-11']);
    expect(mostAtOnce(flashes)).toBeLessThanOrEqual(MAX_UNAVAILABLE);
    expect(mostAtOnce(flashes)).toBeGreaterThan(1);
    // The canary's flash ended before any other host's began.
    const canary = flashes.find((f) => f.host === 'host-0');
    expect(flashes.filter((f) => f.host !== 'host-0').every((f) => f.start >= (canary?.end ?? Infinity))).toBe(true);
    // Every host back where it was: available, no error.
    for (const name of names) {
      const back = { provisioning: { state: 'available' }, operationalStatus: 'OK' };
      expect((await hosts.get(name)).status, name).toMatchObject(back);
    }
  }, 900_000);

  it('self-test of the overlap check: it sees flashes that overlapped beyond maxUnavailable', () => {
    const spans = Array.from({ length: MAX_UNAVAILABLE + 1 }, (_, i) => ({ host: `h${i}`, start: 1e3 + i, end: 5e3 }));
    expect(mostAtOnce(spans)).toBe(MAX_UNAVAILABLE + 1);
    expect(mostAtOnce(spans.map((s, i) => ({ ...s, start: i * 10_000, end: i * 10_000 + 5 })))).toBe(1);
  });

  it('abort: hosts in flight finish their flash, no new one starts, every host ends in a reported state', async () => {
    const image = IMAGES[1] as string;
    await fw.createRollout('aborted', spec(image, { canary: 1, waves: [100] }));
    const flashed = () => flashesOf(image).filter((f) => f.outcome === 'completed').length >= 4;
    await waitFor('a few hosts flashed', flashed, { timeoutMs: 300_000, intervalMs: 200 });
    const aborting = await tempered(['abort', 'aborted']);
    expect(aborting).toMatchObject({ code: 0, stdout: `firmwarerollout ${NS}/aborted aborted\n` });
    // The first status the workflow published after it saw the abort: the hosts it had started by then.
    const seen = await waitFor('the abort seen by the workflow', async () => {
      const o = await fw.rollout('aborted');
      return o?.status?.phase === 'Aborted' || o?.status?.message?.startsWith('aborting') ? o : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 });
    const startedBeforeAbort = new Set(seen.status?.hosts?.filter((h) => h.state !== 'Aborted').map((h) => h.name));
    expect(seen.status?.pending).toBe(0);
    // `status --watch` follows the rollout and ends with it.
    const watched = await tempered(['status', 'aborted', '--watch', '--json']);
    expect(watched.code).toBe(0);
    expect((JSON.parse(watched.stdout.trim().split('\n').at(-1) ?? '{}') as Rollout).status?.phase).toBe('Aborted');
    const r = (await rolloutIn('aborted', ['Aborted'])) as Rollout;
    expect(r.status?.inProgress).toBe(0);
    expect(r.status?.pending).toBe(0);
    const states = r.status?.hosts?.map((h) => h.state) ?? [];
    expect(states).toHaveLength(COUNT);
    expect(states.every((s) => s === 'Updated' || s === 'Aborted')).toBe(true);
    expect(r.status?.aborted).toBeGreaterThan(0);
    const flashes = flashesOf(image);
    // Every flash that started ran to its end (none cut short), and none started after the abort was seen.
    expect(flashes.every((f) => f.outcome === 'completed')).toBe(true);
    for (const h of r.status?.hosts ?? []) {
      expect(flashes.filter((f) => f.host === h.name).length, h.name).toBe(h.state === 'Updated' ? 1 : 0);
    }
    // No flash on a host the rollout had not started when it saw the abort.
    expect(flashes.filter((f) => !startedBeforeAbort.has(f.host))).toEqual([]);
    expect(startedBeforeAbort.size).toBeLessThan(COUNT);
    expect(mostAtOnce(flashes)).toBeLessThanOrEqual(MAX_UNAVAILABLE);
  }, 600_000);
});

describe('(5) the worker SIGKILLed at 5 random moments of a rollout', () => {
  it('every host is flashed exactly once', async () => {
    const image = IMAGES[2] as string;
    await fw.createRollout('killed', spec(image, { canary: 1, waves: [25, 50, 100], failureBudget: 3 }));
    for (let kill = 1; kill <= 5; kill++) {
      // A random moment while the rollout runs: after some flashes started, before it ends.
      const started = () => flashesOf(image).length >= kill * 4;
      await waitFor(`flashes before kill ${kill}`, started, { timeoutMs: 600_000, intervalMs: 200 });
      // A kill test's random moment (deliberate).
      const moment = await randomMoment(3000);
      const victim = engine.worker();
      process.kill(-victim.proc.pid, 'SIGKILL');
      await victim.proc.exited;
      process.stderr.write(`[rollout.int] kill ${kill} (${moment} ms after its window opened): ${flashesOf(image).length} flashes started\n`);
      await engine.startWorker();
    }
    const done = await rolloutIn('killed', ['Completed', 'Failed', 'Paused'], 900_000);
    expect(done.status).toMatchObject({ phase: 'Completed', updated: COUNT });
    for (const name of names) {
      expect(bmcOf.get(name)?.counters().firmwareUpdatesByImage[image], name).toBe(1);
      const outcomes = bmcOf.get(name)?.state().flashes.filter((f) => f.image === image).map((f) => f.outcome);
      expect(outcomes, name).toEqual(['completed']);
    }
    expect(mostAtOnce(flashesOf(image))).toBeLessThanOrEqual(MAX_UNAVAILABLE);
  }, 1_200_000);
});
