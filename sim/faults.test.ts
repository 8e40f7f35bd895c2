// Fault injection per BMC (error rate, latency, connection resets, lost responses, 503 bursts, auth
// failures), switchable at run time, and the side-effect counters that show whether a client did something
// twice under those faults.
import { describe, expect, it } from 'vitest';
import { type SimulatedBmc, startSimulator } from './index.ts';
import { useSimulatorFixture, type RedfishClient, redfishClient } from '../test/sim.ts';

const SYSTEM = '/redfish/v1/Systems/437XR1138R2';
const CD1 = `${SYSTEM}/VirtualMedia/CD1`;

const fixture = useSimulatorFixture();
const { running } = fixture;

async function dmtf(count = 1): Promise<SimulatedBmc[]> {
  const sim = await startSimulator({ bmcs: Array.from({ length: count }, () => ({ profile: 'dmtf', quirkWindowMs: 0 })) });
  running.push(sim);
  return [...sim.bmcs];
}

async function statuses(client: RedfishClient, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let index = 0; index < count; index += 1) {
    out.push(await client.get(SYSTEM).then((response) => response.status, () => -1));
  }
  return out;
}

describe('fault injection', () => {
  it('answers a seeded fraction of requests with the configured 5xx, and stops when switched off', async () => {
    const [bmc] = await dmtf();
    if (!bmc) throw new Error('no BMC');
    bmc.faults({ errorRate: 0.3, errorStatus: 502, seed: 42 });
    const client = redfishClient(bmc);
    const seen = await statuses(client, 200);
    const failed = seen.filter((status) => status === 502).length;
    expect(failed).toBeGreaterThan(35);
    expect(failed).toBeLessThan(85);
    expect(seen.filter((status) => status !== 502 && status !== 200)).toEqual([]);
    expect(bmc.counters().faults.errors).toBe(failed);
    expect(bmc.counters().responses['502']).toBe(failed);
    bmc.faults({ errorRate: 0 });
    expect(await statuses(client, 20)).toEqual(Array(20).fill(200));
  });

  it('delays requests by latencyMs', async () => {
    const [bmc] = await dmtf();
    if (!bmc) throw new Error('no BMC');
    bmc.faults({ latencyMs: 150 });
    const started = performance.now();
    expect((await redfishClient(bmc).get(SYSTEM)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(bmc.counters().faults.delayed).toBe(1);
  });

  it('drops connections without an answer', async () => {
    const [bmc] = await dmtf();
    if (!bmc) throw new Error('no BMC');
    bmc.faults({ resetRate: 1 });
    await expect(redfishClient(bmc).post(`${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'On' })).rejects.toThrow();
    expect(bmc.state().power).toBe('Off');
    expect(bmc.counters().faults.resets).toBe(1);
    bmc.faults({ resetRate: 0, lostResponseRate: 1 });
    await expect(redfishClient(bmc).post(`${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'On' })).rejects.toThrow();
    expect(bmc.state().power).toBe('On');
    expect(bmc.counters().faults.lostResponses).toBe(1);
    expect(bmc.counters().resetActions).toEqual({ On: 1 });
  });

  it('answers a burst of 503 with Retry-After, then recovers', async () => {
    const [bmc] = await dmtf();
    if (!bmc) throw new Error('no BMC');
    bmc.faults({ burst503: 3, retryAfterSec: 2 });
    const client = redfishClient(bmc);
    const first = await client.get(SYSTEM);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(await statuses(client, 3)).toEqual([503, 503, 200]);
    expect(bmc.counters().faults.burst503).toBe(3);
    expect(bmc.faults().burst503).toBe(0);
  });

  it('refuses every credential while authFailure is on (as after a password change)', async () => {
    const [bmc] = await dmtf();
    if (!bmc) throw new Error('no BMC');
    const client = redfishClient(bmc);
    bmc.faults({ authFailure: true });
    expect((await client.get(SYSTEM)).status).toBe(401);
    expect((await client.post('/redfish/v1/SessionService/Sessions', { UserName: bmc.username, Password: bmc.password })).status).toBe(401);
    expect(bmc.counters().faults.auth).toBe(2);
    bmc.faults({ authFailure: false });
    expect((await client.get(SYSTEM)).status).toBe(200);
  });

  it('takes initial faults from the BMC spec', async () => {
    const sim = await startSimulator({ bmcs: [{ faults: { burst503: 1 } }] });
    running.push(sim);
    const [bmc] = sim.bmcs;
    if (!bmc) throw new Error('no BMC');
    expect((await redfishClient(bmc).get(SYSTEM)).status).toBe(503);
    expect((await redfishClient(bmc).get(SYSTEM)).status).toBe(200);
  });
});

/** Reads until the BMC gives a definite answer (a read that fails says nothing). */
async function readBack(read: () => Promise<boolean>): Promise<boolean> {
  for (let tries = 1; tries <= 200; tries += 1) {
    try {
      return await read();
    } catch {
      // a transient fault: ask again
    }
  }
  throw new Error('the BMC never answered');
}

/** The careful client: read the state back, and act only when it is not reached yet. Returns the attempts made. */
async function converge(attempt: () => Promise<unknown>, done: () => Promise<boolean>): Promise<number> {
  for (let attempts = 0; attempts <= 200; attempts += 1) {
    if (await readBack(done)) return attempts;
    await attempt().catch(() => undefined);
  }
  throw new Error('did not converge');
}

/** The JSON of a GET that must answer 200 (anything else is a transient failure to retry). */
async function read(client: RedfishClient, path: string): Promise<Record<string, unknown>> {
  const response = await client.get(path);
  if (response.status !== 200 || !response.json) throw new Error(`GET ${path}: ${response.status}`);
  return response.json;
}

describe('side-effect counters under 20% transient faults', () => {
  it('show each side effect once for a client that reads back before retrying', async () => {
    const bmcs = await dmtf(10);
    const url = fixture.files.add('/media/converge.iso', 1000);
    let attempts = 0;
    await Promise.all(
      bmcs.map(async (bmc, index) => {
        bmc.faults({ errorRate: 0.1, resetRate: 0.05, lostResponseRate: 0.05, seed: index + 1 });
        const client = redfishClient(bmc);
        const inserted = async () => (await read(client, CD1))['Inserted'] === true;
        const inserts = await converge(() => client.post(`${CD1}/Actions/VirtualMedia.InsertMedia`, { Image: url }), inserted);
        const once = async () => ((await read(client, SYSTEM))['Boot'] as { BootSourceOverrideTarget?: string }).BootSourceOverrideTarget === 'Cd';
        const patches = await converge(() => client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' } }), once);
        const on = async () => (await read(client, SYSTEM))['PowerState'] === 'On';
        const resets = await converge(() => client.post(`${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'On' }), on);
        attempts += inserts + patches + resets;
      }),
    );
    for (const bmc of bmcs) {
      const counters = bmc.counters();
      expect(counters).toMatchObject({ mediaInserts: 1, powerOn: 1, boots: 1 });
      expect(counters.bootOverrides).toBeGreaterThanOrEqual(1);
      expect(bmc.state().booted).toMatchObject({ source: 'Cd', image: url });
    }
    const injected = bmcs.reduce((sum, bmc) => sum + bmc.counters().faults.errors + bmc.counters().faults.resets + bmc.counters().faults.lostResponses, 0);
    expect(injected).toBeGreaterThan(0);
    // Faults made the client try again (30 operations in all), yet no side effect happened twice.
    expect(attempts).toBeGreaterThan(30);
  });

  it('catch a client that retries blindly after a lost response', async () => {
    const [bmc] = await dmtf();
    if (!bmc) throw new Error('no BMC');
    const client = redfishClient(bmc);
    const url = fixture.files.add('/media/blind.iso', 1000);
    bmc.faults({ lostResponseRate: 1 });
    await client.post(`${CD1}/Actions/VirtualMedia.InsertMedia`, { Image: url }).catch(() => undefined);
    bmc.faults({ lostResponseRate: 0 });
    expect((await client.post(`${CD1}/Actions/VirtualMedia.InsertMedia`, { Image: url })).status).toBe(204);
    expect(bmc.counters().mediaInserts).toBe(2);
    expect(fixture.files.hits.get('/media/blind.iso')).toBe(2);
    bmc.resetCounters();
    expect(bmc.counters().mediaInserts).toBe(0);
  });
});
