import { describe, expect, it } from 'vitest';
import {
  describeFirmwareSettingProblems,
  validateFirmwareSettings,
  type FirmwareSettingRule,
  type FirmwareSettingValue,
} from './firmware-schema.ts';

type Changes = Record<string, FirmwareSettingValue>;

// Rules as the HPE DL325 registry (BiosAttributeRegistryA43) states them, plus a Boolean and a Password.
const SCHEMA: Record<string, FirmwareSettingRule> = {
  WorkloadProfile: {
    attribute_type: 'Enumeration',
    allowable_values: ['GeneralPowerEfficientCompute', 'LowLatency', 'Custom'],
  },
  PatrolScrubDuration: { attribute_type: 'Integer', lower_bound: 1, upper_bound: 24, scalar_increment: 1 },
  MemoryStep: { attribute_type: 'Integer', lower_bound: 0, upper_bound: 64, scalar_increment: 8 },
  ServerName: { attribute_type: 'String', min_length: 0, max_length: 28, value_expression: '^[\\ -\\~]*$' },
  TpmChipId: { attribute_type: 'Enumeration', allowable_values: ['None', 'Tpm20'], read_only: true },
  SecureBootEnable: { attribute_type: 'Boolean' },
  AdminPassword: { attribute_type: 'Password' },
  Untyped: {},
};

describe('validateFirmwareSettings', () => {
  it.each([
    {
      scenario: 'an allowed enumeration value',
      changes: { WorkloadProfile: 'LowLatency' },
      values: { WorkloadProfile: 'LowLatency' },
    },
    { scenario: 'an integer within bounds', changes: { PatrolScrubDuration: 12 }, values: { PatrolScrubDuration: 12 } },
    {
      scenario: 'an integer given as a string (IntOrString) is converted',
      changes: { PatrolScrubDuration: '24' },
      values: { PatrolScrubDuration: 24 },
    },
    { scenario: 'an integer on the increment', changes: { MemoryStep: '16' }, values: { MemoryStep: 16 } },
    {
      scenario: 'a printable string within length',
      changes: { ServerName: 'rack-12 node 3' },
      values: { ServerName: 'rack-12 node 3' },
    },
    {
      scenario: 'a boolean given as a string is converted',
      changes: { SecureBootEnable: 'true' },
      values: { SecureBootEnable: true },
    },
    {
      scenario: 'an attribute without a type is allowed (BMO)',
      changes: { Untyped: 'anything' },
      values: { Untyped: 'anything' },
    },
  ] as { scenario: string; changes: Changes; values: Changes }[])('accepts $scenario', ({ changes, values }) => {
    expect(validateFirmwareSettings(SCHEMA, changes)).toEqual({ valid: true, problems: [], values });
  });

  it.each([
    {
      scenario: 'an unknown name',
      changes: { NoSuchSetting: 'x' },
      rule: 'unknown',
      message: 'Setting NoSuchSetting is invalid, it is not in the associated schema',
    },
    {
      scenario: 'a read-only attribute',
      changes: { TpmChipId: 'None' },
      rule: 'read-only',
      message: 'Setting TpmChipId is invalid, it is ReadOnly',
    },
    {
      scenario: 'a password attribute',
      changes: { AdminPassword: 'hunter2' },
      rule: 'password',
      message: "Setting AdminPassword is invalid, Password fields can't be set",
    },
    {
      scenario: 'a value not in the list',
      changes: { WorkloadProfile: 'Turbo' },
      rule: 'allowable-values',
      message:
        'Setting WorkloadProfile is invalid, unknown enumeration value - Turbo (allowed: GeneralPowerEfficientCompute, LowLatency, Custom)',
    },
    {
      scenario: 'an integer above the upper bound',
      changes: { PatrolScrubDuration: 25 },
      rule: 'upper-bound',
      message: 'Setting PatrolScrubDuration is invalid, integer 25 is above maximum value 24',
    },
    {
      scenario: 'an integer below the lower bound',
      changes: { PatrolScrubDuration: '0' },
      rule: 'lower-bound',
      message: 'Setting PatrolScrubDuration is invalid, integer 0 is below minimum value 1',
    },
    {
      scenario: 'a string where an integer is expected',
      changes: { PatrolScrubDuration: 'often' },
      rule: 'type',
      message: 'Setting PatrolScrubDuration is invalid, String often entered while integer expected',
    },
    {
      scenario: 'a fraction where an integer is expected',
      changes: { PatrolScrubDuration: 2.5 },
      rule: 'type',
      message: 'Setting PatrolScrubDuration is invalid, value 2.5 entered while integer expected',
    },
    {
      scenario: 'an integer off the increment',
      changes: { MemoryStep: 12 },
      rule: 'increment',
      message: 'Setting MemoryStep is invalid, integer 12 is not 0 plus a multiple of 8',
    },
    {
      scenario: 'a string above the maximum length',
      changes: { ServerName: 'x'.repeat(29) },
      rule: 'max-length',
      message: `Setting ServerName is invalid, string ${'x'.repeat(29)} length is above maximum length 28`,
    },
    {
      scenario: 'a string outside the value expression',
      changes: { ServerName: 'tab\there' },
      rule: 'value-expression',
      message: 'Setting ServerName is invalid, string tab\there does not match the pattern ^[\\ -\\~]*$',
    },
    {
      scenario: 'a number where a string is expected',
      changes: { ServerName: 7 },
      rule: 'type',
      message: 'Setting ServerName is invalid, 7 is not a string',
    },
    {
      scenario: 'a word where a boolean is expected',
      changes: { SecureBootEnable: 'yes' },
      rule: 'type',
      message: 'Setting SecureBootEnable is invalid, yes is not a boolean',
    },
  ] as { scenario: string; changes: Changes; rule: string; message: string }[])(
    'refuses $scenario, naming the setting and the rule',
    ({ changes, rule, message }) => {
      const result = validateFirmwareSettings(SCHEMA, changes);
      expect(result.valid).toBe(false);
      expect(result.values).toEqual({});
      expect(result.problems).toEqual([{ name: Object.keys(changes)[0], rule, message }]);
    },
  );

  it('reports every problem of a change set, and no values when any is refused', () => {
    const result = validateFirmwareSettings(SCHEMA, {
      WorkloadProfile: 'LowLatency',
      Bogus: 1,
      PatrolScrubDuration: 99,
    });
    expect(result.valid).toBe(false);
    expect(result.problems.map((p) => [p.name, p.rule])).toEqual([
      ['Bogus', 'unknown'],
      ['PatrolScrubDuration', 'upper-bound'],
    ]);
    expect(describeFirmwareSettingProblems(result.problems)).toBe(
      'Setting Bogus is invalid, it is not in the associated schema; Setting PatrolScrubDuration is invalid, integer 99 is above maximum value 24',
    );
  });

  it('does not treat inherited object keys as settings', () => {
    expect(validateFirmwareSettings(SCHEMA, { toString: 'x' }).problems[0]?.rule).toBe('unknown');
  });

  it('lists at most a dozen allowed values', () => {
    const many = Array.from({ length: 20 }, (_, i) => `V${i}`);
    const [only] = validateFirmwareSettings(
      { E: { attribute_type: 'Enumeration', allowable_values: many } },
      { E: 'nope' },
    ).problems;
    expect(only?.message).toContain('V11, ... (20 values)');
    expect(only?.message).not.toContain('V12');
  });
});
