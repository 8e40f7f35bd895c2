/**
 * Fault injection: with 20% of requests failing (15% answered 500, 5% connections dropped), a batch of host
 * operations on a fleet of simulated BMCs still converges, and every side effect is counted exactly once by the
 * BMCs. Each operation is retried the way its activity would be (transient codes only), on a fresh read of the
 * BMC's state each time, so nothing is done twice.
 *
 * Uses a private simulator (two BMCs per vendor profile, vendor quirks on); nothing of the shared stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILE_IDS, startSimulator, type SimulatedBmc, type Simulator } from '../../sim/index.ts';
import type { BmcDriver } from './driver.ts';
import { BmcError } from './errors.ts';
import { createBmcDriver } from './factory.ts';
import { sleep } from './lock.ts';
import { SIM_REDFISH, serveIso } from '../../test/bmc-peers.ts';

let sim: Simulator;
let files: Awaited<ReturnType<typeof serveIso>>;

beforeAll(async () => {
  files = await serveIso();
  sim = await startSimulator({
    bmcs: [...PROFILE_IDS, ...PROFILE_IDS].map((profile, i) => ({
      profile,
      quirkWindowMs: 300,
      taskDurationMs: 300,
      faults: { errorRate: 0.15, resetRate: 0.05, seed: 1000 + i },
    })),
  });
});

afterAll(async () => {
  await sim?.stop();
  await files?.close();
});

/** What an activity's retry policy does: retry transient failures (a few ms apart here), fail on permanent ones. */
async function asActivity<T>(what: string, fn: () => Promise<T>, attempts = 40): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof BmcError) || err.disposition !== 'transient' || attempt >= attempts) {
        throw new Error(`${what} failed after ${attempt} attempt(s): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      await sleep(20); // the stand-in retry policy's backoff: pacing, not a wait for something
    }
  }
}

async function lifecycle(bmc: SimulatedBmc): Promise<void> {
  const driver: BmcDriver = createBmcDriver({ address: bmc.address, credentials: { username: bmc.username, password: bmc.password }, redfish: SIM_REDFISH });
  try {
    const media = driver.virtualMedia;
    if (!media) throw new Error('no virtual media');
    await asActivity('register', () => driver.identify());
    await asActivity('inspect', async () => driver.inspection?.inventory());
    await asActivity('insert', () => media.insert(files.url));
    await asActivity('boot cd', () => driver.setBootOverride({ device: 'cd' }));
    await asActivity('power on', () => driver.setPower('on'));
    await asActivity('power off', () => driver.setPower('off'));
    await asActivity('eject', () => media.eject());
    await asActivity('boot disk', () => driver.setBootOverride({ device: 'disk' }));
  } finally {
    await driver.close();
  }
}

describe('20% injected transient faults', () => {
  it('a batch of operations on every vendor profile converges, each side effect counted once', async () => {
    await Promise.all(sim.bmcs.map((bmc) => lifecycle(bmc)));
    for (const bmc of sim.bmcs) {
      const c = bmc.counters();
      const s = bmc.state();
      const label = `${bmc.id} (${bmc.profile})`;
      // Faults really happened on every BMC.
      expect(c.faults.errors + c.faults.resets, label).toBeGreaterThan(0);
      // Each side effect exactly once.
      expect({ label, powerOn: c.powerOn, powerOff: c.powerOff, inserts: c.mediaInserts, ejects: c.mediaEjects, boots: c.boots, bootOverrides: c.bootOverrides }).toEqual({
        label,
        powerOn: 1,
        powerOff: 1,
        inserts: 1,
        ejects: 1,
        boots: 1,
        bootOverrides: 2,
      });
      // And the BMC ends where the lifecycle left it; the one boot was from the inserted image.
      expect(s.power, label).toBe('Off');
      expect(s.media.filter((m) => m.inserted), label).toEqual([]);
      expect(s.boot.target, label).toBe('Hdd');
      expect(s.booted?.image, label).toBe(files.url);
    }
  });
});
