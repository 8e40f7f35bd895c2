// One process serves 1,000 BMCs, in both layouts, cheaply: the mockup trees are shared (loaded once, frozen),
// so a BMC costs its small state only. Every BMC answers over HTTP; everything stops by itself.
import { describe, expect, it } from 'vitest';
import { type Layout, startSimulator } from './index.ts';

async function thousand(layout: Layout): Promise<void> {
  const warm = await startSimulator({ bmcs: { count: 6, profiles: 'mix' }, layout });
  await warm.stop();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const sim = await startSimulator({ bmcs: { count: 1000, profiles: 'mix', password: 'pw' }, layout });
  try {
    const startMs = performance.now() - started;
    const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    expect(sim.bmcs).toHaveLength(1000);
    expect(new Set(sim.bmcs.map((bmc) => bmc.address)).size).toBe(1000);
    expect(new Set(sim.bmcs.map((bmc) => bmc.bootMACAddress)).size).toBe(1000);
    // Every host has disks of its own (1,500 in the mix), named but not yet created: idle hosts cost no files.
    const disks = sim.bmcs.flatMap((bmc) => bmc.disks());
    expect(disks.length).toBeGreaterThanOrEqual(1000);
    expect(new Set(disks.map((disk) => disk.path)).size).toBe(disks.length);
    expect(new Set(disks.map((disk) => disk.serial)).size).toBe(disks.length);
    expect(sim.endpoints).toHaveLength(layout === 'shared' ? 6 : 1000);
    expect(startMs).toBeLessThan(15_000);
    // Shared trees: the state of 1,000 BMCs fits in a few tens of MiB (measured: about 9 MiB).
    expect(heapMiB).toBeLessThan(64);

    const authorization = `Basic ${Buffer.from('admin:pw').toString('base64')}`;
    const queue = [...sim.bmcs];
    const powers: string[] = [];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let bmc = queue.shift(); bmc; bmc = queue.shift()) {
          const response = await fetch(`http://127.0.0.1:${bmc.port}${bmc.systemPath}`, { headers: { authorization } });
          const body = (await response.json()) as { PowerState?: string; '@odata.id'?: string };
          expect(response.status).toBe(200);
          expect(body['@odata.id']).toBe(bmc.systemPath);
          powers.push(body.PowerState ?? '');
        }
      }),
    );
    expect(powers).toHaveLength(1000);
    expect(new Set(powers)).toEqual(new Set(['Off']));
    const touched = sim.bmcs.filter((bmc) => (bmc.counters().requests['GET'] ?? 0) === 1);
    expect(touched).toHaveLength(1000);
  } finally {
    await sim.stop();
  }
  const [first] = sim.bmcs;
  await expect(fetch(`http://127.0.0.1:${first?.port}/redfish/v1`)).rejects.toThrow();
}

describe('1,000 BMCs in one process', () => {
  it('one port per BMC', { timeout: 60_000 }, async () => {
    await thousand('port-per-bmc');
  });

  it('many systems behind one port per profile', { timeout: 60_000 }, async () => {
    await thousand('shared');
  });
});
