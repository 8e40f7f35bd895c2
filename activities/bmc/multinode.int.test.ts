/**
 * Several systems behind one BMC (the simulator's `multinode` chassis: four systems, one manager, one port)
 * through the Redfish driver: power, boot override and virtual media act on the system the address names and
 * read back from it; and the driver's one-request-in-flight-per-BMC holds across the drivers of the BMC's
 * systems, proven from the BMC's side (its count of requests answered at once, and the timeline of every
 * request). A self-test gives each driver a lock of its own (as separate worker processes would have) and shows
 * the same measurement catching overlapping requests.
 *
 * Uses a private simulator; nothing of the shared stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  maxOverlap,
  startSimulator,
  type SimulatedBmc,
  type SimulatedEndpoint,
  type Simulator,
} from '../../sim/index.ts';
import type { BmcDriver } from './driver.ts';
import { createBmcDriver } from './factory.ts';
import { leasedBmcLocks } from './lock.ts';
import { SIM_REDFISH, serveIso } from '../../test/bmc-peers.ts';

let sim: Simulator;
let files: Awaited<ReturnType<typeof serveIso>>;

beforeAll(async () => {
  files = await serveIso();
  sim = await startSimulator({
    bmcs: [
      { profile: 'multinode', id: 'state', quirkWindowMs: 0, taskDurationMs: 300 },
      { profile: 'multinode', id: 'load', quirkWindowMs: 0, taskDurationMs: 300 },
    ],
    timeline: true,
  });
});

afterAll(async () => {
  await sim?.stop();
  await files?.close();
});

function nodes(chassis: string): SimulatedBmc[] {
  return sim.bmcs.filter((b) => b.id.startsWith(`${chassis}-node`));
}

function endpointOf(chassis: string): SimulatedEndpoint {
  const found = sim.endpoints.find((e) => e.bmcIds.some((id) => id.startsWith(`${chassis}-node`)));
  if (!found) throw new Error(`no endpoint for ${chassis}`);
  return found;
}

async function withDrivers<T>(
  bmcs: SimulatedBmc[],
  run: (drivers: BmcDriver[]) => Promise<T>,
  lockScope?: (i: number) => string,
): Promise<T> {
  const drivers = bmcs.map((bmc, i) =>
    createBmcDriver({
      address: bmc.address,
      credentials: { username: bmc.username, password: bmc.password },
      redfish: { ...SIM_REDFISH, ...(lockScope ? { lockScope: lockScope(i) } : {}) },
    }),
  );
  try {
    return await run(drivers);
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
  }
}

describe('each system of the chassis is its own host', () => {
  it('power, boot and virtual media act on the addressed system and read back from it', async () => {
    const [n0, n1, n2, n3] = nodes('state');
    if (!n0 || !n1 || !n2 || !n3) throw new Error('four nodes expected');
    expect(new Set([n0, n1, n2, n3].map((n) => n.port)).size).toBe(1);
    await withDrivers([n0, n1, n2, n3], async ([d0, d1, d2, d3]) => {
      if (!d0 || !d1 || !d2 || !d3) throw new Error('four drivers expected');
      expect((await d1.identify()).systemPath).toBe('/redfish/v1/Systems/Node1');
      await d1.setPower('on');
      await d3.setPower('on');
      expect([n0, n1, n2, n3].map((n) => n.state().power)).toEqual(['Off', 'On', 'Off', 'On']);
      expect(await Promise.all([d0, d1, d2, d3].map((d) => d.getPowerState()))).toEqual(['off', 'on', 'off', 'on']);

      await d2.setBootOverride({ device: 'pxe' });
      expect([n0, n1, n2, n3].map((n) => n.state().boot.target)).toEqual(['None', 'None', 'Pxe', 'None']);

      const inserted = await d0.virtualMedia?.insert(files.url);
      expect(inserted?.slot).toMatch(/^\/redfish\/v1\/Systems\/Node0\/VirtualMedia\//);
      expect([n0, n1, n2, n3].map((n) => n.state().media.some((m) => m.inserted))).toEqual([true, false, false, false]);
      expect((await d1.virtualMedia?.list())?.some((slot) => slot.inserted)).toBe(false);

      const inventories = await Promise.all([d0, d1].map((d) => d.inspection?.inventory()));
      expect(inventories.map((inv) => inv?.system.path)).toEqual([
        '/redfish/v1/Systems/Node0',
        '/redfish/v1/Systems/Node1',
      ]);
      expect(inventories[0]?.hardware.nics[0]?.mac).not.toBe(inventories[1]?.hardware.nics[0]?.mac);
      expect(inventories.map((inv) => inv?.manager?.path)).toEqual([
        '/redfish/v1/Managers/BMC',
        '/redfish/v1/Managers/BMC',
      ]);
    });
  });
});

describe('one request in flight per BMC, across its systems', () => {
  /** What four workers' activities do at once against the four systems of one chassis. */
  async function busyChassis(drivers: BmcDriver[]): Promise<void> {
    await Promise.all(
      drivers.map(async (d, i) => {
        await d.identify();
        await d.setPower(i % 2 === 0 ? 'on' : 'off');
        await d.setBootOverride({ device: i % 2 === 0 ? 'disk' : 'pxe' });
        await d.inspection?.inventory();
        await d.getPowerState();
      }),
    );
  }

  it('holds with one driver per system in one worker (measured at the BMC)', async () => {
    const chassis = nodes('load');
    for (const node of chassis) node.faults({ latencyMs: 15 });
    const endpoint = endpointOf('load');
    endpoint.resetTraffic(true);
    await withDrivers(chassis, busyChassis);
    const traffic = endpoint.traffic();
    expect(traffic.requests).toBeGreaterThan(40);
    expect(traffic.maxInFlight).toBe(1);
    expect(maxOverlap(endpoint.timeline())).toBe(1);
    // Every system was really asked for, through the one BMC.
    expect(
      new Set(
        endpoint
          .timeline()
          .map((span) => span.bmcId)
          .filter((id) => id !== null),
      ).size,
    ).toBe(4);
  });

  it('holds while a firmware task is polled on one system and the others are worked on', async () => {
    const chassis = nodes('load');
    const endpoint = endpointOf('load');
    endpoint.resetTraffic(true);
    await withDrivers(chassis, async (drivers) => {
      const [first, ...others] = drivers;
      if (!first?.firmware) throw new Error('firmware expected');
      const ref = await first.firmware.simpleUpdate({
        imageUrl: files.urlFor('bios-4.4.4.bin'),
        targets: ['/redfish/v1/Systems/Node0'],
      });
      await Promise.all([first.firmware.waitTask(ref), busyChassis(others)]);
    });
    expect(endpoint.traffic().maxInFlight).toBe(1);
    expect(maxOverlap(endpoint.timeline())).toBe(1);
  });

  it('self-test: drivers that do not share the lock (separate processes) are caught overlapping', async () => {
    const chassis = nodes('load');
    const endpoint = endpointOf('load');
    endpoint.resetTraffic(true);
    await withDrivers(chassis, busyChassis, (i) => `worker process ${i}`);
    expect(endpoint.traffic().maxInFlight).toBeGreaterThan(1);
    expect(maxOverlap(endpoint.timeline())).toBeGreaterThan(1);
  });

  it('gives the lock back when the drivers close', () => {
    expect(leasedBmcLocks()).toBe(0);
  });
});
