/**
 * Reads shared within one activity (bmc/reads.ts) on the Redfish driver: the first look of an operation may be
 * answered by a read since our last change; polls, read-backs and anything after a change go to the BMC.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseBmcAddress, type RedfishBmcAddress } from '../../../domain/bmc-address.ts';
import { basicResources, startFakeRedfish, type FakeRedfish, type FakeRedfishOptions, type Json } from '../../../test/fakes/redfish-server.ts';
import { withSharedReads } from '../reads.ts';
import { RedfishDriver } from './driver.ts';

const SYS = '/redfish/v1/Systems/1';
const RESET = `${SYS}/Actions/ComputerSystem.Reset`;
const CD = `${SYS}/VirtualMedia/CD1`;
const INSERT = `${CD}/Actions/VirtualMedia.InsertMedia`;

let fakes: FakeRedfish[] = [];
let drivers: RedfishDriver[] = [];

afterEach(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await Promise.all(fakes.map((f) => f.close()));
  fakes = [];
  drivers = [];
});

/** A BMC whose reset is accepted at once and shows On only at the `pollsToOn`-th read of the system after it. */
async function bmc(pollsToOn: number): Promise<FakeRedfish> {
  let polls = 0;
  const options: FakeRedfishOptions = {
    resources: basicResources(),
    actions: {
      [RESET]: () => ({ status: 204 }),
      [INSERT]: (b, fk) => {
        Object.assign(fk.resources[CD] as Json, { Image: b.Image, Inserted: true });
        return { status: 204 };
      },
    },
    intercept: (req, fk) => {
      const reset = fk.requests.some((r) => r.method === 'POST' && r.path === RESET);
      if (req.method === 'GET' && req.path === SYS && reset && ++polls === pollsToOn) (fk.resources[SYS] as Json).PowerState = 'On';
      return undefined;
    },
  };
  const f = await startFakeRedfish(options);
  fakes.push(f);
  return f;
}

function driver(f: FakeRedfish): RedfishDriver {
  const d = new RedfishDriver({
    address: parseBmcAddress(`redfish+http://127.0.0.1:${f.port}${SYS}`) as RedfishBmcAddress,
    credentials: { username: 'admin', password: 'secret' },
    client: { retryDelayMs: 10, maxInlineRetryAfterMs: 2000, auth: 'basic' },
    timings: { powerPollInitialMs: 0, powerPollIntervalMs: 10, powerTimeoutMs: 2000, retryDelayMs: 10, attempts: 4, maxRetryDelayMs: 2000 },
  });
  drivers.push(d);
  return d;
}

const systemGets = (f: FakeRedfish) => f.requests.filter((r) => r.method === 'GET' && r.path === SYS).length;
const order = (f: FakeRedfish) => f.requests.filter((r) => r.path !== '/redfish/v1/').map((r) => `${r.method} ${r.path}`);

describe('reads shared within one activity', () => {
  it("lets a power change start from the activity's last read of the system, and still polls the BMC until it is on", async () => {
    const shared = await bmc(3);
    const d = driver(shared);
    await withSharedReads(async () => {
      expect(await d.getPowerState()).toBe('off');
      expect(await d.setPower('on')).toMatchObject({ state: 'on', changed: true, sent: ['On'] });
    });
    // One look before the change, then three polls after it: the power change's own look was the kept read.
    expect(systemGets(shared)).toBe(1 + 3);

    const alone = await bmc(3);
    const a = driver(alone);
    expect(await a.getPowerState()).toBe('off');
    await a.setPower('on');
    // Outside a scope nothing is kept: the power change looks again.
    expect(systemGets(alone)).toBe(1 + 1 + 3);
  });

  it('forgets what it kept when a request changes the BMC: the next look after an insert reads the system again', async () => {
    const f = await bmc(1);
    const d = driver(f);
    await withSharedReads(async () => {
      await d.getPowerState();
      await d.virtualMedia!.insert('http://images/live.iso');
      await d.setPower('on');
    });
    const seen = order(f);
    const inserted = seen.indexOf(`POST ${INSERT}`);
    const reset = seen.indexOf(`POST ${RESET}`);
    expect(inserted).toBeGreaterThan(-1);
    expect(reset).toBeGreaterThan(inserted);
    // Between the insert and the reset: the insert's read-back of the slot, and a fresh look at the system.
    expect(seen.slice(inserted + 1, reset)).toEqual([`GET ${CD}`, `GET ${SYS}`]);
  });

  it("keeps an insert's read-back for the next insert of the same image, which then sends nothing", async () => {
    const f = await bmc(1);
    const d = driver(f);
    await withSharedReads(async () => {
      expect(await d.virtualMedia!.insert('http://images/live.iso')).toMatchObject({ changed: true });
      const before = f.requests.length;
      expect(await d.virtualMedia!.insert('http://images/live.iso')).toMatchObject({ changed: false });
      expect(f.requests.length).toBe(before);
    });
  });
});
