import { describe, expect, it } from 'vitest';
import { firmwareSchemaName, inventoryIdOf } from './firmware.ts';

// The schema of BMO's own HostFirmwareSettings controller test, whose name BMO gives as schema-4bcc035f.
const BMO_TEST_SCHEMA = {
  AssetTag: { attribute_type: 'String' as const, min_length: 0, max_length: 20, unique: true },
  CustomPostMessage: { attribute_type: 'String' as const, min_length: 0, max_length: 20, unique: false, read_only: false },
  L2Cache: { attribute_type: 'String' as const, min_length: 0, max_length: 20, read_only: true },
  NetworkBootRetryCount: { attribute_type: 'Integer' as const, lower_bound: 0, upper_bound: 20, read_only: false },
  ProcVirtualization: { attribute_type: 'Enumeration' as const, allowable_values: ['Enabled', 'Disabled'], read_only: false },
  SecureBoot: { attribute_type: 'Enumeration' as const, allowable_values: ['Enabled', 'Disabled'], read_only: true },
};

describe('FirmwareSchema names', () => {
  it("are BMO's: the same rules give the same name a BMO install gives them", () => {
    expect(firmwareSchemaName(BMO_TEST_SCHEMA)).toBe('schema-4bcc035f');
  });

  it('do not depend on the order of the settings, and change with any rule', () => {
    const reversed = Object.fromEntries(Object.entries(BMO_TEST_SCHEMA).reverse());
    expect(firmwareSchemaName(reversed)).toBe('schema-4bcc035f');
    expect(firmwareSchemaName({ ...BMO_TEST_SCHEMA, L2Cache: { ...BMO_TEST_SCHEMA.L2Cache, max_length: 21 } })).not.toBe('schema-4bcc035f');
  });
});

describe('inventory ids of HostFirmwareComponents names', () => {
  it.each([
    ['bios', 'bios'],
    ['bmc', 'bmc'],
    ['nic:NIC.Slot.1-1', 'NIC.Slot.1-1'],
  ])('%s → %s', (component, id) => {
    expect(inventoryIdOf(component)).toBe(id);
  });
});
