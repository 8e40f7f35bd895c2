import { describe, expect, it } from 'vitest';
import {
  componentProblem,
  componentStatuses,
  firmwareIntentOf,
  hfcConditions,
  hfsConditions,
  statusUpdatesOf,
  type HfcObject,
  type HfsObject,
  type SchemaObject,
} from './firmware-status.ts';

const SCHEMA = {
  ProcVirtualization: { attribute_type: 'Enumeration' as const, allowable_values: ['Enabled', 'Disabled'] },
  BootRetries: { attribute_type: 'Integer' as const, lower_bound: 0, upper_bound: 10 },
  SerialNumber: { attribute_type: 'String' as const, read_only: true },
};
const STATUS = { ProcVirtualization: 'Disabled', BootRetries: '3', SerialNumber: 'ABC' };
const hfs = (settings: Record<string, string | number>, generation = 2): HfsObject => ({ metadata: { name: 'host-0', namespace: 'ns', generation }, spec: { settings } });
const schemaObject: SchemaObject = { metadata: { name: 'schema-1', namespace: 'ns' }, spec: { schema: SCHEMA } };

describe('HostFirmwareSettings conditions (BMO)', () => {
  it('no change: Valid, no ChangeDetected', () => {
    expect(hfsConditions(hfs({ BootRetries: 3 }), STATUS, SCHEMA).conditions).toEqual([
      { type: 'Valid', status: 'True', reason: 'Success', message: '' },
      { type: 'ChangeDetected', status: 'False', reason: 'Success', message: '' },
    ]);
  });

  it('a valid change: ChangeDetected and Valid', () => {
    const c = hfsConditions(hfs({ ProcVirtualization: 'Enabled', BootRetries: '7' }), STATUS, SCHEMA);
    expect(c.conditions.map((x) => `${x.type}=${x.status}`)).toEqual(['Valid=True', 'ChangeDetected=True']);
  });

  it('an unknown name and an out-of-range value: Valid False, naming each setting and rule', () => {
    const c = hfsConditions(hfs({ NoSuchSetting: 'x', BootRetries: 42, SerialNumber: 'Z', AdminPassword: 'p' }), STATUS, SCHEMA);
    expect(c.conditions[0]).toMatchObject({ type: 'Valid', status: 'False', reason: 'ConfigurationError' });
    expect(c.problems.map((p) => [p.name, p.rule])).toEqual([
      ['NoSuchSetting', 'unknown'],
      ['AdminPassword', 'password'],
      ['BootRetries', 'upper-bound'],
      ['SerialNumber', 'read-only'],
    ]);
    expect(c.conditions[0]?.message).toContain('Setting BootRetries is invalid, integer 42 is above maximum value 10');
    expect(c.conditions[0]?.message).toContain('Setting NoSuchSetting is invalid, it is not in the Status field');
  });

  it('before the schema is known nothing is decided', () => {
    expect(hfsConditions(hfs({ BootRetries: 7 }), STATUS, undefined).conditions[0]).toMatchObject({ type: 'Valid', status: 'Unknown' });
  });
});

describe('HostFirmwareComponents conditions (BMO)', () => {
  const hfc = (updates: { component: string; url: string }[]): HfcObject => ({ metadata: { name: 'h', namespace: 'ns' }, spec: { updates } });
  it.each([
    { name: 'nothing asked', spec: [], status: undefined, want: ['Valid=True', 'ChangeDetected=False'] },
    { name: 'applied', spec: [{ component: 'bios', url: 'u' }], status: [{ component: 'bios', url: 'u' }], want: ['Valid=True', 'ChangeDetected=False'] },
    { name: 'a new update', spec: [{ component: 'bios', url: 'u' }], status: [], want: ['Valid=True', 'ChangeDetected=True'] },
    { name: 'an unknown component', spec: [{ component: 'gpu', url: 'u' }], status: [], want: ['Valid=False', 'ChangeDetected=True'] },
  ])('$name', ({ spec, status, want }) => {
    expect(hfcConditions(hfc(spec), status).conditions.map((x) => `${x.type}=${x.status}`)).toEqual(want);
  });

  it('component names: bios, bmc, nic:<id>', () => {
    expect(['bios', 'bmc', 'nic:NIC.Slot.1'].map(componentProblem)).toEqual([undefined, undefined, undefined]);
    expect(componentProblem('nic:')).toMatch(/only 'bmc', 'bios' or 'nic:<id>'/);
  });
});

describe('HostFirmwareComponents status', () => {
  it('keeps the first version seen, records the flash', () => {
    const before = [{ component: 'bios', initialVersion: '1.0', currentVersion: '1.0' }];
    const after = componentStatuses(before, [{ component: 'bios', version: '2.0' }, { component: 'bmc', version: '5' }], [{ component: 'bios', url: 'u', version: '2.0', at: 't' }]);
    expect(after).toEqual([
      { component: 'bios', initialVersion: '1.0', currentVersion: '2.0', lastVersionFlashed: '2.0', updatedAt: 't' },
      { component: 'bmc', initialVersion: '5', currentVersion: '5' },
    ]);
  });

  it('status.updates is the spec itself once all of it was applied', () => {
    const spec = [{ component: 'bmc', url: 'b' }, { component: 'bios', url: 'a' }];
    expect(statusUpdatesOf(spec, [{ component: 'bios', url: 'a' }, { component: 'bmc', url: 'b' }])).toEqual(spec);
    expect(statusUpdatesOf(spec, [{ component: 'bios', url: 'a' }])).toEqual([{ component: 'bios', url: 'a' }]);
  });
});

describe('the intent sent to the host workflow', () => {
  it('settings converted to the schema types when valid, the reason when not; updates and policy', () => {
    const withStatus = { ...hfs({ BootRetries: '7' }), status: { settings: STATUS } };
    const intent = firmwareIntentOf({
      hfs: withStatus,
      schema: schemaObject,
      hfc: { metadata: { name: 'h' }, spec: { updates: [{ component: 'bios', url: 'u' }] }, status: { updates: [] } },
      hup: { metadata: { name: 'h' }, spec: { firmwareSettings: 'onReboot' } },
    });
    expect(intent).toEqual({
      settings: { values: { BootRetries: 7 } },
      updates: { spec: [{ component: 'bios', url: 'u' }], applied: [] },
      policy: { firmwareSettings: 'onReboot' },
    });
    const invalid = firmwareIntentOf({ hfs: { ...hfs({ BootRetries: 99 }), status: { settings: STATUS } }, schema: schemaObject });
    expect(invalid?.settings?.invalid).toMatch(/BootRetries is invalid, integer 99 is above maximum value 10/);
  });

  it('no objects: no intent; settings wait for their schema', () => {
    expect(firmwareIntentOf({})).toBeUndefined();
    expect(firmwareIntentOf({ hfs: hfs({ BootRetries: 7 }) })).toBeUndefined();
  });

  it('objects that ask for nothing (as the bridge creates them at registration) are no intent', () => {
    const empty = { metadata: { name: 'h' }, spec: { updates: [] }, status: { components: [{ component: 'bios', initialVersion: '1.0', currentVersion: '1.0' }] } };
    expect(firmwareIntentOf({ hfs: { ...hfs({}), status: { settings: STATUS } }, schema: schemaObject, hfc: empty })).toBeUndefined();
    expect(firmwareIntentOf({ hfc: { metadata: { name: 'h' } } })).toBeUndefined();
    // Updates once applied stay known (adoption), even when the spec no longer asks for any.
    const applied = [{ component: 'bios', url: 'u' }];
    expect(firmwareIntentOf({ hfc: { ...empty, status: { updates: applied } } })).toEqual({ updates: { spec: [], applied } });
  });
});
