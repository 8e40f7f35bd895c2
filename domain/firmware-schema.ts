/**
 * Validation of BIOS (firmware) settings against a FirmwareSchema, the check behind HostFirmwareSettings'
 * `Valid` condition and the one the BMC driver runs before it sends anything. Pure: the same answer in a
 * workflow, the bridge and an activity.
 *
 * The rules are BMO's (`SettingSchema.Validate` in `firmwareschema_types.go`: unknown name, ReadOnly, names
 * containing "Password", Enumeration values, Integer bounds, String lengths, Booleans) plus what a Redfish
 * attribute registry can add when the driver validates with the registry itself: `ValueExpression` and
 * `ScalarIncrement`. Values are converted to the JSON type the BMC expects (HostFirmwareSettings holds
 * IntOrString: `"5"` for an Integer becomes 5, `"true"` for a Boolean becomes true), as Ironic does.
 */
import type { SettingSchema } from './firmware-schema.schema.ts';

/** A setting's rules: the FirmwareSchema fields, plus the registry's extras when they are known. */
export interface FirmwareSettingRule extends SettingSchema {
  /** Redfish `ValueExpression`: a regular expression a String value must match. */
  value_expression?: string;
  /** Redfish `ScalarIncrement`: an Integer value must be lower_bound plus a multiple of it. */
  scalar_increment?: number;
  /** The host must be reset for a change to take effect (Ironic's `reset_required`). */
  reset_required?: boolean;
}

/** A setting's value as HostFirmwareSettings or a caller gives it. */
export type FirmwareSettingValue = string | number | boolean;

/** Which rule a value broke. */
export type FirmwareSettingRuleId =
  | 'unknown'
  | 'read-only'
  | 'password'
  | 'type'
  | 'allowable-values'
  | 'lower-bound'
  | 'upper-bound'
  | 'increment'
  | 'min-length'
  | 'max-length'
  | 'value-expression';

/** One refused setting: its name, the rule, and a message that names both. */
export interface FirmwareSettingProblem {
  name: string;
  rule: FirmwareSettingRuleId;
  message: string;
}

/** The outcome of a validation. */
export interface FirmwareSettingsValidation {
  valid: boolean;
  /** Every refused setting, in the order given. */
  problems: FirmwareSettingProblem[];
  /** The accepted settings, converted to the JSON type their attribute has (only when `valid`, all of them). */
  values: Record<string, FirmwareSettingValue>;
}

const LISTED_VALUES = 12;

function problem(name: string, rule: FirmwareSettingRuleId, detail: string): FirmwareSettingProblem {
  // BMO's wording ("Setting X is invalid, ..."), so messages read the same as on a Metal3 install.
  return { name, rule, message: `Setting ${name} is invalid, ${detail}` };
}

function listed(values: readonly string[]): string {
  const shown = values.slice(0, LISTED_VALUES).join(', ');
  return values.length > LISTED_VALUES ? `${shown}, ... (${values.length} values)` : shown;
}

/** Checks one value against its rule; returns the converted value or the problem. */
function check(
  name: string,
  rule: FirmwareSettingRule,
  value: FirmwareSettingValue,
): FirmwareSettingValue | FirmwareSettingProblem {
  if (rule.read_only === true) return problem(name, 'read-only', 'it is ReadOnly');
  if (name.includes('Password') || rule.attribute_type === 'Password') {
    return problem(name, 'password', "Password fields can't be set");
  }
  const text = String(value);
  switch (rule.attribute_type) {
    case 'Enumeration': {
      const allowed = rule.allowable_values ?? [];
      if (allowed.length > 0 && !allowed.includes(text)) {
        return problem(name, 'allowable-values', `unknown enumeration value - ${text} (allowed: ${listed(allowed)})`);
      }
      return text;
    }
    case 'Integer': {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)
            ? Number(value)
            : NaN;
      if (!Number.isInteger(number))
        return problem(
          name,
          'type',
          `${typeof value === 'string' ? 'String' : 'value'} ${text} entered while integer expected`,
        );
      if (rule.lower_bound !== undefined && number < rule.lower_bound) {
        return problem(name, 'lower-bound', `integer ${number} is below minimum value ${rule.lower_bound}`);
      }
      if (rule.upper_bound !== undefined && number > rule.upper_bound) {
        return problem(name, 'upper-bound', `integer ${number} is above maximum value ${rule.upper_bound}`);
      }
      const step = rule.scalar_increment;
      if (step !== undefined && step > 1 && (number - (rule.lower_bound ?? 0)) % step !== 0) {
        return problem(
          name,
          'increment',
          `integer ${number} is not ${rule.lower_bound ?? 0} plus a multiple of ${step}`,
        );
      }
      return number;
    }
    case 'String': {
      if (typeof value !== 'string') return problem(name, 'type', `${text} is not a string`);
      const length = [...value].length;
      if (rule.min_length !== undefined && length < rule.min_length) {
        return problem(name, 'min-length', `string ${value} length is below minimum length ${rule.min_length}`);
      }
      if (rule.max_length !== undefined && length > rule.max_length) {
        return problem(name, 'max-length', `string ${value} length is above maximum length ${rule.max_length}`);
      }
      const pattern = compile(rule.value_expression);
      if (pattern && !pattern.test(value)) {
        return problem(
          name,
          'value-expression',
          `string ${value} does not match the pattern ${rule.value_expression ?? ''}`,
        );
      }
      return value;
    }
    case 'Boolean':
      if (value === true || value === false) return value;
      if (text === 'true' || text === 'false') return text === 'true';
      return problem(name, 'type', `${text} is not a boolean`);
    case undefined:
      // BMO allows the set when the registry gave no type for the setting.
      return value;
    default:
      return problem(name, 'type', `unexpected attribute type ${String(rule.attribute_type)}`);
  }
}

/** A ValueExpression as a RegExp; undefined when absent or not a pattern JavaScript understands. */
function compile(expression: string | undefined): RegExp | undefined {
  if (!expression) return undefined;
  // Registries write Perl-style patterns (`^[\ -\~]*$` escapes a space) that only non-unicode mode accepts.
  for (const flags of ['u', '']) {
    try {
      return new RegExp(expression, flags);
    } catch {
      // try the next mode
    }
  }
  return undefined;
}

/**
 * Validates `changes` against `schema` (a FirmwareSchema's `spec.schema`, or the BMC's registry with its
 * extras). Every setting is checked; all problems are returned, each naming the setting and the rule.
 */
export function validateFirmwareSettings(
  schema: Readonly<Record<string, FirmwareSettingRule>>,
  changes: Readonly<Record<string, FirmwareSettingValue>>,
): FirmwareSettingsValidation {
  const problems: FirmwareSettingProblem[] = [];
  const values: Record<string, FirmwareSettingValue> = {};
  for (const [name, value] of Object.entries(changes)) {
    const rule = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!rule) {
      problems.push(problem(name, 'unknown', 'it is not in the associated schema'));
      continue;
    }
    const result = check(name, rule, value);
    if (typeof result === 'object') problems.push(result);
    else values[name] = result;
  }
  return { valid: problems.length === 0, problems, values: problems.length === 0 ? values : {} };
}

/** One line for a condition or error message: every problem, separated by semicolons. */
export function describeFirmwareSettingProblems(problems: readonly FirmwareSettingProblem[]): string {
  return problems.map((p) => p.message).join('; ');
}
