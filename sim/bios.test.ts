// BIOS settings on the simulator over real HTTP: changes checked against the attribute registry the profile's
// tree carries (HPE's captured one, the DMTF one written for the simulator), refused with the vendor's
// message ids (every problem of a PATCH in one answer), accepted ones pending until the next boot; profiles
// without a registry check names and JSON types only.
import { describe, expect, it } from 'vitest';
import { startSimulator } from './index.ts';
import { biosRegistry } from './bios.ts';
import { loadMockupTree } from './tree.ts';
import { serviceModel } from './service-model.ts';
import { mockupDir } from './profiles.ts';
import { redfishClient, until, useSimulatorFixture } from '../test/sim.ts';

const { running } = useSimulatorFixture();

async function one(profile: string) {
  const sim = await startSimulator({ bmcs: [{ profile, quirkWindowMs: 0 }] });
  running.push(sim);
  const [bmc] = sim.bmcs;
  if (!bmc) throw new Error('no BMC');
  return { bmc, client: redfishClient(bmc) };
}

function infos(body: Record<string, unknown> | undefined): { MessageId: string; MessageArgs: string[] }[] {
  const error = body?.['error'] as
    | { '@Message.ExtendedInfo'?: { MessageId: string; MessageArgs: string[] }[] }
    | undefined;
  return error?.['@Message.ExtendedInfo'] ?? [];
}

const DMTF_SETTINGS = '/redfish/v1/Systems/437XR1138R2/Bios/Settings';
const ILO_SETTINGS = '/redfish/v1/systems/1/bios/settings/';

describe('attribute registries in the bundled trees', () => {
  it.each([
    { profile: 'dmtf', mockup: 'dmtf-rackmount1', id: 'BiosAttributeRegistryP89.v1_0_0', attributes: 10 },
    { profile: 'ilo5', mockup: 'hpe-ilo5-dl325', id: 'BiosAttributeRegistryA43.v1_2_52', attributes: 339 },
  ])('$profile: the registry its Bios names is found ($id)', ({ mockup, id, attributes }) => {
    const model = serviceModel(loadMockupTree(mockupDir(mockup)), mockup.startsWith('hpe'));
    const registry = biosRegistry(model);
    expect(registry?.id).toBe(id);
    expect(registry?.attributes.size).toBe(attributes);
  });

  it.each(['ami-gigabyte', 'dell-idrac', 'lenovo-xcc', 'supermicro-x12'])('%s carries none', (mockup) => {
    expect(biosRegistry(serviceModel(loadMockupTree(mockupDir(mockup)), false))).toBeNull();
  });

  it('every current value of the HPE capture passes its own registry (the checks are not stricter than iLO)', async () => {
    const { bmc, client } = await one('ilo5');
    const current = bmc.state().bios.current;
    const registry = biosRegistry(serviceModel(loadMockupTree(mockupDir('hpe-ilo5-dl325')), true));
    const writable = Object.fromEntries(
      Object.entries(current).filter(([name]) => {
        const attribute = registry?.attributes.get(name);
        return attribute && !attribute.readOnly;
      }),
    );
    expect(Object.keys(writable).length).toBeGreaterThan(200);
    const res = await client.patchWithEtag(ILO_SETTINGS, { Attributes: writable }, true);
    expect(res.status).toBe(204);
  });
});

describe('BIOS changes checked against the registry', () => {
  it.each([
    {
      scenario: 'a value not in the list',
      change: { ProcTurboMode: 'Sometimes' },
      id: 'Base.1.5.PropertyValueNotInList',
    },
    { scenario: 'an integer out of range', change: { ProcCoreDisable: 8 }, id: 'Base.1.8.PropertyValueOutOfRange' },
    { scenario: 'an integer as a string', change: { ProcCoreDisable: '2' }, id: 'Base.1.5.PropertyValueTypeError' },
    { scenario: 'a string over its length', change: { AdminPhone: '0'.repeat(21) }, id: 'Base.1.5.StringValueTooLong' },
    {
      scenario: 'a string outside its ValueExpression',
      change: { AdminPhone: 'call me' },
      id: 'Base.1.5.PropertyValueFormatError',
    },
    { scenario: 'an unknown attribute', change: { NoSuchAttribute: 'x' }, id: 'Base.1.5.PropertyUnknown' },
  ])('dmtf refuses $scenario with $id, and stages nothing', async ({ change, id }) => {
    const { bmc, client } = await one('dmtf');
    const res = await client.patch(DMTF_SETTINGS, { Attributes: change });
    expect(res.status).toBe(400);
    expect(infos(res.json).map((i) => i.MessageId)).toEqual([id]);
    expect(bmc.state().bios.pending).toEqual({});
    expect(bmc.counters()).toMatchObject({ biosPatches: 0, biosRefusals: 1 });
  });

  it.each([
    { scenario: 'a read-only attribute', change: { TpmChipId: 'None' }, id: 'iLO.2.14.PropertyNotWritableOrUnknown' },
    {
      scenario: 'an unknown attribute',
      change: { TurboBoost: 'Enabled' },
      id: 'iLO.2.14.PropertyNotWritableOrUnknown',
    },
    {
      scenario: 'an integer above its UpperBound',
      change: { PatrolScrubDuration: 25 },
      id: 'iLO.2.14.PropertyValueOutOfRange',
    },
    {
      scenario: 'a string over its MaxLength',
      change: { ServerName: 'n'.repeat(29) },
      id: 'iLO.2.14.PropertyValueExceedsMaxLength',
    },
    {
      scenario: 'a value not in the list',
      change: { WorkloadProfile: 'Fastest' },
      id: 'Base.1.4.PropertyValueNotInList',
    },
    {
      scenario: 'a string outside its ValueExpression',
      change: { Ipv4Address: '10.0.0.300' },
      id: 'Base.1.4.PropertyValueFormatError',
    },
  ])('ilo5 refuses $scenario with $id', async ({ change, id }) => {
    const { bmc, client } = await one('ilo5');
    const res = await client.patchWithEtag(ILO_SETTINGS, { Attributes: change }, true);
    expect(res.status).toBe(400);
    expect(infos(res.json).map((i) => i.MessageId)).toEqual([id]);
    expect(bmc.state().bios.pending).toEqual({});
  });

  it('answers every problem of one PATCH together, naming each attribute', async () => {
    const { client } = await one('dmtf');
    const res = await client.patch(DMTF_SETTINGS, {
      Attributes: { ProcTurboMode: 'Sometimes', BootMode: 'Uefi', ProcCoreDisable: -1, Bogus: 1 },
    });
    expect(res.status).toBe(400);
    expect(infos(res.json).map((i) => [i.MessageId, i.MessageArgs.join(',')])).toEqual([
      ['Base.1.5.PropertyValueNotInList', 'Sometimes,ProcTurboMode'],
      ['Base.1.8.PropertyValueOutOfRange', '-1,ProcCoreDisable'],
      ['Base.1.5.PropertyUnknown', 'Bogus'],
    ]);
  });

  it('accepts valid values and applies them at the next boot', async () => {
    const { bmc, client } = await one('ilo5');
    const change = { WorkloadProfile: 'LowLatency', PatrolScrubDuration: 12, ServerName: 'rack-12 node-3' };
    expect((await client.patchWithEtag(ILO_SETTINGS, { Attributes: change }, true)).status).toBe(204);
    expect(bmc.state().bios.pending).toEqual(change);
    expect(
      (await client.post('/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', { ResetType: 'On' })).status,
    ).toBeLessThan(300);
    await until(() => bmc.state().bios.lastApplied !== null);
    expect(bmc.state().bios.current).toMatchObject(change);
    expect(bmc.counters()).toMatchObject({ biosPatches: 1, biosApplies: 1, biosRefusals: 0 });
  });
});

describe('profiles without a registry', () => {
  it('check names and JSON types against the current attributes', async () => {
    const { bmc, client } = await one('supermicro');
    const { current } = bmc.state().bios;
    const [name, value] = Object.entries(current).find(([, v]) => typeof v === 'string') ?? [];
    if (!name) throw new Error('no string attribute');
    const wrongType = await client.patch('/redfish/v1/Systems/1/Bios/Settings', { Attributes: { [name]: 7 } });
    expect(infos(wrongType.json).map((i) => i.MessageId)).toEqual(['Base.1.5.PropertyValueTypeError']);
    const unknown = await client.patch('/redfish/v1/Systems/1/Bios/Settings', { Attributes: { NotAnAttribute: 'x' } });
    expect(infos(unknown.json).map((i) => i.MessageId)).toEqual(['Base.1.5.PropertyUnknown']);
    // Any string is taken: without a registry the BMC cannot know the allowed values.
    expect(
      (await client.patch('/redfish/v1/Systems/1/Bios/Settings', { Attributes: { [name]: `${String(value)}-x` } }))
        .status,
    ).toBe(204);
  });
});
