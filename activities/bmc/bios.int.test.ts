/**
 * BIOS settings through the Redfish driver against the simulator: the attribute registry read as FirmwareSchema
 * rules (for the profiles whose tree carries one), a valid change staged and applied at the next boot, and
 * invalid changes refused by the driver before anything reaches the BMC, with messages that name the setting
 * and the rule. The BMC's own request counters prove "nothing sent"; a raw PATCH shows those counters would
 * have seen one.
 *
 * Uses a private simulator (one BMC per profile); nothing of the shared stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILE_IDS, startSimulator, type SimulatedBmc, type Simulator } from '../../sim/index.ts';
import { redfishClient } from '../../test/sim.ts';
import type { BmcDriver } from './driver.ts';
import { createBmcDriver } from './factory.ts';
import { failure } from '../../test/expect-failure.ts';
import { SIM_REDFISH } from '../../test/bmc-peers.ts';

let sim: Simulator;
const drivers: BmcDriver[] = [];

beforeAll(async () => {
  sim = await startSimulator({
    bmcs: [
      ...PROFILE_IDS.map((profile) => ({ profile, id: profile, quirkWindowMs: 0 })),
      { profile: 'ilo5', id: 'ilo5-apply', quirkWindowMs: 0 },
      { profile: 'dmtf', id: 'dmtf-apply', quirkWindowMs: 0 },
    ],
  });
});

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await sim?.stop();
});

function driverFor(bmc: SimulatedBmc): BmcDriver & { bios: NonNullable<BmcDriver['bios']> } {
  const d = createBmcDriver({
    address: bmc.address,
    credentials: { username: bmc.username, password: bmc.password },
    redfish: SIM_REDFISH,
  });
  drivers.push(d);
  if (!d.bios) throw new Error('a Redfish driver has BIOS operations');
  return d as BmcDriver & { bios: NonNullable<BmcDriver['bios']> };
}

const patches = (bmc: SimulatedBmc): number => bmc.counters().requests.PATCH ?? 0;

type Settings = Record<string, string | number | boolean>;

describe('the attribute registry, as FirmwareSchema rules', () => {
  it.each([
    { profile: 'dmtf', id: 'BiosAttributeRegistryP89.v1_0_0', size: 10 },
    { profile: 'ilo5', id: 'BiosAttributeRegistryA43.v1_2_52', size: 339 },
  ])('$profile publishes $id', async ({ profile, id, size }) => {
    const registry = await driverFor(sim.bmc(profile)).bios.registry();
    expect(registry?.id).toBe(id);
    expect(Object.keys(registry?.schema ?? {})).toHaveLength(size);
  });

  it('ilo5: types, allowed values, bounds, lengths, patterns, read-only and uniqueness come through', async () => {
    const registry = await driverFor(sim.bmc('ilo5')).bios.registry();
    const schema = registry?.schema ?? {};
    expect(registry?.owningEntity).toBe('HPE');
    expect(registry?.supportedSystems).toEqual([
      { productName: 'ProLiant DL325 Gen10 Plus', systemId: 'A43', firmwareVersion: 'A43 v2.52 (10/29/2021)' },
    ]);
    expect(schema['WorkloadProfile']).toMatchObject({ attribute_type: 'Enumeration', read_only: false });
    expect(schema['WorkloadProfile']?.allowable_values).toContain('LowLatency');
    expect(schema['PatrolScrubDuration']).toMatchObject({
      attribute_type: 'Integer',
      lower_bound: 1,
      upper_bound: 24,
      scalar_increment: 1,
    });
    expect(schema['ServerName']).toMatchObject({
      attribute_type: 'String',
      min_length: 0,
      max_length: 28,
      value_expression: '^[\\ -\\~]*$',
    });
    expect(schema['TpmChipId']).toMatchObject({ read_only: true });
    expect(schema['SerialNumber']?.unique).toBe(true);
  });

  it.each(['ami', 'xcc', 'idrac', 'supermicro'])('%s publishes none: undefined, not an error', async (profile) => {
    expect(await driverFor(sim.bmc(profile)).bios.registry()).toBeUndefined();
  });

  it('reads the registry once per connection', async () => {
    const bmc = sim.bmc('ilo5');
    const d = driverFor(bmc);
    await d.bios.registry();
    const gets = bmc.counters().requests.GET ?? 0;
    await d.bios.registry();
    // A second call reads the system and its Bios (what the registry is named by), not the registry again.
    expect((bmc.counters().requests.GET ?? 0) - gets).toBeLessThanOrEqual(3);
  });
});

describe('changes validated before anything is sent', () => {
  it.each([
    { profile: 'ilo5', changes: { PatrolScrubDuration: 30 }, says: ['PatrolScrubDuration', 'above maximum value 24'] },
    { profile: 'ilo5', changes: { TurboBoost: 'Enabled' }, says: ['TurboBoost', 'not in the associated schema'] },
    { profile: 'ilo5', changes: { TpmChipId: 'None' }, says: ['TpmChipId', 'ReadOnly'] },
    {
      profile: 'ilo5',
      changes: { WorkloadProfile: 'Fastest' },
      says: ['WorkloadProfile', 'unknown enumeration value - Fastest'],
    },
    { profile: 'ilo5', changes: { ServerName: 'tab\there' }, says: ['ServerName', 'does not match the pattern'] },
    {
      profile: 'dmtf',
      changes: { ProcCoreDisable: 'two' },
      says: ['ProcCoreDisable', 'String two entered while integer expected'],
    },
    {
      profile: 'idrac',
      changes: { NoSuchAttribute: 'x' },
      says: ['NoSuchAttribute', 'publishes no attribute registry'],
    },
  ] as { profile: string; changes: Settings; says: string[] }[])(
    '$profile: $changes is refused naming the setting and the rule',
    async ({ profile, changes, says }) => {
      const bmc = sim.bmc(profile);
      const d = driverFor(bmc);
      const before = patches(bmc);
      const err = await failure(d.bios.apply(changes));
      expect(err).toMatchObject({ code: 'FirmwareSettingsInvalid', disposition: 'permanent' });
      for (const text of says) expect(err.message).toContain(text);
      expect(patches(bmc)).toBe(before);
      expect(bmc.state().bios.pending).toEqual({});
    },
  );

  it('self-test: the PATCH counter does see a PATCH that reaches the BMC (a raw one, refused by the BMC itself)', async () => {
    const bmc = sim.bmc('dmtf');
    const before = patches(bmc);
    const res = await redfishClient(bmc).patch('/redfish/v1/Systems/437XR1138R2/Bios/Settings', {
      Attributes: { ProcCoreDisable: 'two' },
    });
    expect(res.status).toBe(400);
    expect(patches(bmc)).toBe(before + 1);
    expect(bmc.counters().biosRefusals).toBeGreaterThan(0);
  });

  it('reports every problem of a change set in one message', async () => {
    const err = await failure(
      driverFor(sim.bmc('ilo5')).bios.apply({
        PatrolScrubDuration: 0,
        ServerName: 'x'.repeat(40),
        WorkloadProfile: 'LowLatency',
      }),
    );
    expect(err.message).toMatch(
      /Setting PatrolScrubDuration is invalid, integer 0 is below minimum value 1; Setting ServerName is invalid, string x+ length is above maximum length 28/,
    );
    expect(err.message).not.toContain('WorkloadProfile');
  });
});

describe('a valid change', () => {
  it.each([
    {
      id: 'ilo5-apply',
      changes: { WorkloadProfile: 'LowLatency', PatrolScrubDuration: '12' },
      applied: { WorkloadProfile: 'LowLatency', PatrolScrubDuration: 12 },
    },
    {
      id: 'dmtf-apply',
      changes: { ProcTurboMode: 'Disabled', ProcCoreDisable: '2' },
      applied: { ProcTurboMode: 'Disabled', ProcCoreDisable: 2 },
    },
  ] as { id: string; changes: Settings; applied: Settings }[])(
    '$id: is converted to the registry types, staged, applied at the next boot and read back',
    async ({ id, changes, applied }) => {
      const bmc = sim.bmc(id);
      const d = driverFor(bmc);
      const staged = await d.bios.apply(changes);
      expect(staged).toMatchObject({ changed: true, pending: applied, rebootRequired: true });
      expect(bmc.state().bios.pending).toEqual(applied);
      // The same change again sends nothing: it is already pending.
      const sent = patches(bmc);
      expect(await d.bios.apply(changes)).toMatchObject({ changed: false, rebootRequired: true });
      expect(patches(bmc)).toBe(sent);
      await d.setPower('on');
      const after = await d.bios.get();
      expect(after.attributes).toMatchObject(applied);
      expect(after.pending).toEqual({});
      expect(bmc.counters()).toMatchObject({ biosPatches: 1, biosApplies: 1, biosRefusals: 0 });
    },
  );
});
