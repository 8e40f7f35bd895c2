/**
 * Inventory from each vendor mockup equals the values in the mockup's own JSON files: the driver reads the tree
 * over HTTP from the simulator, the test reads the same tree straight from `sim/mockups/` and computes MACs, CPU
 * count, memory, disk sizes, firmware versions and the BIOS version on its own.
 *
 * Uses a private simulator (one BMC per profile); nothing of the shared stack.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILE_IDS, PROFILES, startSimulator, type Simulator } from '../../sim/index.ts';
import { mockupDir } from '../../sim/profiles.ts';
import { createBmcDriver } from './factory.ts';
import type { Inventory } from './driver.ts';
import { SIM_REDFISH } from '../../test/bmc-peers.ts';

type Json = Record<string, unknown>;

/** Reads `<uri>/index.json` from a mockup folder, in either layout, matching path segments case-insensitively. */
function mockupReader(dir: string): (uri: string) => Json | undefined {
  const root = existsSync(join(dir, 'redfish', 'v1', 'index.json')) ? join(dir, 'redfish', 'v1') : dir;
  return (uri: string) => {
    const rest = uri.replace(/^\/redfish\/v1\/?/i, '').replace(/\/+$/, '');
    let path = root;
    for (const segment of rest ? rest.split('/') : []) {
      const entry = readdirSync(path).find((e) => e.toLowerCase() === decodeURIComponent(segment).toLowerCase());
      if (!entry) return undefined;
      path = join(path, entry);
    }
    const file = join(path, 'index.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Json) : undefined;
  };
}

const id = (v: unknown): string | undefined => (v && typeof v === 'object' ? ((v as Json)['@odata.id'] as string | undefined) : undefined);
const state = (r: Json): unknown => ((r.Status as Json | undefined) ?? {}).State;

interface Expected {
  macs: string[];
  cpuCount: number;
  ramMebibytes: number;
  diskSizes: number[];
  /** `<collection>/<Id>=<Version>` of every inventory member. */
  firmware: string[];
  biosVersion: string;
  manufacturer: string;
}

/** The values a mockup tree states about its system, computed from the files alone. */
function expectedFromFiles(dir: string, systemPath: string): Expected {
  const read = mockupReader(dir);
  const members = (collection: string | undefined): Json[] => {
    const c = collection ? read(collection) : undefined;
    return ((c?.Members as unknown[]) ?? []).map(id).flatMap((m) => (m ? [read(m)].filter((x): x is Json => !!x) : []));
  };
  const system = read(systemPath);
  if (!system) throw new Error(`${dir} has no ${systemPath}`);
  const macs = members(id(system.EthernetInterfaces))
    .filter((n) => state(n) !== 'Absent')
    .map((n) => String(n.MACAddress ?? n.PermanentMACAddress ?? '').toLowerCase())
    .filter(Boolean);
  const cpus = members(id(system.Processors)).filter((p) => state(p) !== 'Absent' && (p.ProcessorType === undefined || p.ProcessorType === 'CPU'));
  const threads = cpus.reduce((n, p) => n + (typeof p.TotalThreads === 'number' ? p.TotalThreads : 0), 0);
  const summary = (system.ProcessorSummary as Json | undefined) ?? {};
  const dimms = members(id(system.Memory)).filter((m) => state(m) !== 'Absent');
  const mib = dimms.reduce((n, m) => n + (typeof m.CapacityMiB === 'number' ? m.CapacityMiB : 0), 0);
  const gib = ((system.MemorySummary as Json | undefined) ?? {}).TotalSystemMemoryGiB;
  const drives = members(id(system.Storage)).flatMap((s) => ((s.Drives as unknown[]) ?? []).map(id).flatMap((d) => (d ? [read(d)].filter((x): x is Json => !!x) : [])));
  let diskSizes = drives.filter((d) => state(d) !== 'Absent' && typeof d.CapacityBytes === 'number').map((d) => d.CapacityBytes as number);
  if (diskSizes.length === 0) {
    diskSizes = members(id(system.SimpleStorage)).flatMap((s) => ((s.Devices as Json[]) ?? []).filter((d) => state(d) !== 'Absent' && typeof d.CapacityBytes === 'number').map((d) => d.CapacityBytes as number));
  }
  const rootDoc = read('/redfish/v1') ?? {};
  const update = id(rootDoc.UpdateService);
  const service = update ? read(update) : undefined;
  // Every member of both inventories, in collection order (a member without a Version is listed with '').
  const firmware = (['FirmwareInventory', 'SoftwareInventory'] as const).flatMap((source) =>
    members(id(service?.[source])).map((f) => `${source}/${String(f.Id)}=${typeof f.Version === 'string' ? f.Version : ''}`),
  );
  return {
    macs: macs.sort(),
    cpuCount: threads || (summary.LogicalProcessorCount as number | undefined) || (summary.Count as number | undefined) || 0,
    // Ironic: MemorySummary when the BMC gives it, the DIMMs otherwise.
    ramMebibytes: typeof gib === 'number' && gib > 0 ? Math.round(gib * 1024) : mib,
    diskSizes: diskSizes.sort((a, b) => a - b),
    firmware,
    biosVersion: String(system.BiosVersion ?? ''),
    manufacturer: String(system.Manufacturer ?? ''),
  };
}

let sim: Simulator;
const inventories = new Map<string, Inventory>();

beforeAll(async () => {
  sim = await startSimulator({ bmcs: PROFILE_IDS.map((profile) => ({ profile, id: profile })) });
  for (const bmc of sim.bmcs) {
    const d = createBmcDriver({ address: bmc.address, credentials: { username: bmc.username, password: bmc.password }, redfish: SIM_REDFISH });
    try {
      const inv = await d.inspection?.inventory();
      if (inv) inventories.set(bmc.profile, inv);
    } finally {
      await d.close();
    }
  }
});

afterAll(async () => {
  await sim?.stop();
});

describe.each(PROFILE_IDS.map((p) => [p, PROFILES[p].mockup] as const))('inventory of the %s mockup (%s)', (profile, mockup) => {
  let inv: Inventory;
  let want: Expected;
  beforeAll(() => {
    const found = inventories.get(profile);
    if (!found) throw new Error(`no inventory for ${profile}`);
    inv = found;
    want = expectedFromFiles(mockupDir(mockup), sim.bmc(profile).systemPath);
  });

  it('has the tree\'s MAC addresses', () => {
    expect(want.macs.length).toBeGreaterThan(0);
    expect(inv.hardware.nics.map((n) => n.mac).sort()).toEqual(want.macs);
  });
  it('has the tree\'s CPU count (logical threads)', () => {
    expect(inv.hardware.cpu.count).toBe(want.cpuCount);
  });
  it('has the tree\'s memory', () => {
    expect(inv.hardware.ramMebibytes).toBe(want.ramMebibytes);
  });
  it('has the tree\'s disk sizes', () => {
    expect(inv.hardware.storage.map((s) => s.sizeBytes).sort((a, b) => a - b)).toEqual(want.diskSizes);
  });
  it('has every member of the tree\'s firmware and software inventories, and the BIOS version', () => {
    const listed = inv.firmware.filter((f) => f.source === 'FirmwareInventory' || f.source === 'SoftwareInventory').map((f) => `${f.source}/${f.id}=${f.version}`);
    expect(want.firmware.length).toBeGreaterThan(1);
    expect(listed).toEqual(want.firmware);
    expect(inv.hardware.firmware.bios.version).toBe(want.biosVersion);
    expect(inv.hardware.systemVendor.manufacturer).toBe(want.manufacturer);
  });
});
