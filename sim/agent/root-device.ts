/**
 * Which disk the simulated agent writes an image to: IPA's `get_os_install_device`. With root device hints the
 * first disk (in device order) that satisfies every hint; without, the smallest disk of at least 4 GiB.
 *
 * The one place the simulator makes this choice. The hint matcher here covers the operators Metal3 emits
 * (`s==`, `<in>`, `>=`, `<range-in>`, booleans) plus oslo's other comparisons; it is meant to give way to the
 * project's shared matcher (`matchRootDevice` in `domain/root-device-hints.ts`) once that exists.
 */
import type { SimDisk } from './runner.ts';
import { ipaErrors } from './errors.ts';

const GIB = 1024 ** 3;
const MIN_ROOT_BYTES = 4 * GIB;
const KNOWN = [
  'size',
  'model',
  'vendor',
  'serial',
  'wwn',
  'wwn_with_extension',
  'wwn_vendor_extension',
  'name',
  'hctl',
  'by_path',
  'tran',
  'rotational',
];

/** The disk to install on; throws DeviceNotFound (IPA's error) when none fits. */
export function chooseRootDevice(
  disks: readonly SimDisk[],
  hints: Record<string, unknown> | null | undefined,
): SimDisk {
  const entries = Object.entries(hints ?? {}).filter(
    ([, value]) => value !== undefined && value !== null && value !== '',
  );
  if (entries.length === 0) {
    const candidates = disks
      .filter((disk) => disk.sizeBytes >= MIN_ROOT_BYTES)
      .sort((a, b) => a.sizeBytes - b.sizeBytes || a.name.localeCompare(b.name));
    const chosen = candidates[0];
    if (!chosen)
      throw ipaErrors.deviceNotFound(
        'No suitable device was found for deployment - root device hints were not provided and all found block ' +
          'devices are smaller than 4294967296B.',
      );
    return chosen;
  }
  for (const [name] of entries) {
    if (!KNOWN.includes(name))
      throw ipaErrors.deviceNotFound(`No hint named ${name}; valid hints are ${KNOWN.join(', ')}`);
  }
  const chosen = disks.find((disk) => entries.every(([name, expression]) => matches(disk, name, expression)));
  if (!chosen) {
    throw ipaErrors.deviceNotFound(
      `No suitable device was found for deployment using these hints ${JSON.stringify(Object.fromEntries(entries))}`,
    );
  }
  return chosen;
}

function attribute(disk: SimDisk, name: string): string | number | boolean | undefined {
  switch (name) {
    case 'size':
      return disk.sizeBytes / GIB;
    case 'rotational':
      return disk.rotational;
    case 'name':
      return disk.name;
    case 'model':
      return disk.model;
    case 'vendor':
      return disk.vendor;
    case 'serial':
      return disk.serial;
    case 'wwn':
    case 'wwn_with_extension':
      return disk.wwn;
    case 'hctl':
      return disk.hctl;
    default:
      return undefined;
  }
}

function matches(disk: SimDisk, name: string, expression: unknown): boolean {
  const value = attribute(disk, name);
  if (value === undefined || value === '') return false;
  if (name === 'rotational') return value === parseBool(expression);
  const text = String(expression).trim();
  if (name === 'size') {
    if (typeof expression === 'number') return value === expression;
    return numeric(value as number, text);
  }
  return stringMatch(String(value).trim().toLowerCase(), text);
}

function parseBool(expression: unknown): boolean {
  if (typeof expression === 'boolean') return expression;
  const text = String(expression).trim().toLowerCase();
  if (['true', 't', 'yes', 'y', 'on', '1'].includes(text)) return true;
  if (['false', 'f', 'no', 'n', 'off', '0'].includes(text)) return false;
  throw ipaErrors.deviceNotFound(`Root device hint rotational has an invalid value '${String(expression)}'`);
}

function tokens(text: string): string[] {
  return text.split(/\s+/).filter((token) => token !== '');
}

function numeric(value: number, text: string): boolean {
  const [operator = '', ...rest] = tokens(text);
  const number = (token: string | undefined) => Number(token);
  if (operator === '<or>' || rest.includes('<or>')) {
    return tokens(text)
      .filter((token) => token !== '<or>')
      .some((token) => value === Number(token));
  }
  if (operator === '<range-in>') {
    const match = /^([[(])\s*(\S+)\s+(\S+)\s*([\])])$/.exec(rest.join(' '));
    if (!match) return false;
    const low = Number(match[2]);
    const high = Number(match[3]);
    return (match[1] === '[' ? value >= low : value > low) && (match[4] === ']' ? value <= high : value < high);
  }
  const operators: Record<string, (a: number, b: number) => boolean> = {
    '=': (a, b) => a >= b,
    '==': (a, b) => a === b,
    '!=': (a, b) => a !== b,
    '>=': (a, b) => a >= b,
    '>': (a, b) => a > b,
    '<=': (a, b) => a <= b,
    '<': (a, b) => a < b,
  };
  const compare = operators[operator];
  if (compare) return compare(value, number(rest[0]));
  return value === number(operator);
}

function stringMatch(value: string, text: string): boolean {
  const [operator = '', ...rest] = tokens(text);
  const argument = rest.join(' ').toLowerCase();
  switch (operator) {
    case 's==':
      return value === argument;
    case 's!=':
      return value !== argument;
    case 's>=':
      return value >= argument;
    case 's>':
      return value > argument;
    case 's<=':
      return value <= argument;
    case 's<':
      return value < argument;
    case '<in>':
      return value.includes(argument);
    case '<or>':
      return text
        .toLowerCase()
        .split('<or>')
        .map((part) => part.trim())
        .filter((part) => part !== '')
        .includes(value);
    default:
      if (text.includes('<or>'))
        return text
          .toLowerCase()
          .split('<or>')
          .map((part) => part.trim())
          .includes(value);
      return value === text.toLowerCase();
  }
}
