/**
 * Root device hints, both ends: BMO's translation of `spec.rootDeviceHints` into Ironic's
 * `instance_info.root_device` (`pkg/provisioner/ironic/devicehints`), and the matcher IPA applies to the host's
 * block devices (IPA `device_hints.py` over oslo.utils `specs_matcher`, with `guess_root_disk` when there are no
 * hints: the smallest disk of at least 4 GiB). The simulated agent uses the matcher so it picks exactly the disk a
 * real IPA would; a failure names the hint that no disk satisfies and what each disk has instead.
 *
 * The expression grammar (operators `==`, `s==`, `<in>`, `<or>`, `<range-in>`, ...) and its quirks are
 * reproduced on purpose: values are lower-cased and URL-quoted on both sides, `size` compares GiB as a float,
 * a missing device attribute reads as the string "none", an empty one skips the device.
 */
import type { RootDeviceHints } from './baremetalhost.schema.ts';

/** Ironic's `root_device`: hint name → expression, as BMO writes it (all strings). */
export type IronicRootDeviceHints = Record<string, string>;

/** One block device as IPA serializes it (`BlockDevice.serialize()`; `size` in bytes). */
export interface BlockDevice {
  name: string;
  size: number;
  model?: string | null;
  vendor?: string | null;
  serial?: string | string[] | null;
  wwn?: string | string[] | null;
  wwn_with_extension?: string | string[] | null;
  wwn_vendor_extension?: string | string[] | null;
  rotational?: boolean | null;
  hctl?: string | null;
  by_path?: string | null;
  tran?: string | null;
}

export type RootDeviceChoice =
  | { ok: true; device: BlockDevice; reason: string }
  | { ok: false; code: 'RootDeviceNotFound' | 'RootDeviceHintsInvalid'; message: string };

/** IPA's `guess_root_disk` minimum when no hints are given. */
export const MIN_ROOT_DISK_BYTES = 4 * 2 ** 30;

/** BMO's `MakeHintMap`: every set hint, with the operator BMO chooses for it. */
export function translateRootDeviceHints(hints: RootDeviceHints | undefined): IronicRootDeviceHints {
  const out: IronicRootDeviceHints = {};
  if (!hints) return out;
  if (hints.deviceName) {
    if (hints.deviceName.startsWith('/dev/disk/by-path/')) out.by_path = `s== ${hints.deviceName}`;
    else out.name = `s== ${hints.deviceName}`;
  }
  if (hints.hctl) out.hctl = `s== ${hints.hctl}`;
  if (hints.model) out.model = `<in> ${hints.model}`;
  if (hints.vendor) out.vendor = `<in> ${hints.vendor}`;
  if (hints.serialNumber) out.serial = `s== ${hints.serialNumber}`;
  if (hints.minSizeGigabytes) out.size = `>= ${hints.minSizeGigabytes}`;
  if (hints.wwn) out.wwn = `s== ${hints.wwn}`;
  if (hints.wwnWithExtension) out.wwn_with_extension = `s== ${hints.wwnWithExtension}`;
  if (hints.wwnVendorExtension) out.wwn_vendor_extension = `s== ${hints.wwnVendorExtension}`;
  if (hints.rotational !== undefined) out.rotational = hints.rotational ? 'true' : 'false';
  return out;
}

type HintType = 'str' | 'int' | 'bool';

/** IPA's `VALID_ROOT_DEVICE_HINTS`, in its order. */
const HINT_TYPES: Readonly<Record<string, HintType>> = {
  size: 'int',
  model: 'str',
  wwn: 'str',
  serial: 'str',
  vendor: 'str',
  wwn_with_extension: 'str',
  wwn_vendor_extension: 'str',
  name: 'str',
  rotational: 'bool',
  hctl: 'str',
  by_path: 'str',
  tran: 'str',
};

/** The Metal3 field behind each Ironic hint, for messages. */
const METAL3_FIELD: Readonly<Record<string, string>> = {
  size: 'minSizeGigabytes',
  model: 'model',
  wwn: 'wwn',
  serial: 'serialNumber',
  vendor: 'vendor',
  wwn_with_extension: 'wwnWithExtension',
  wwn_vendor_extension: 'wwnVendorExtension',
  name: 'deviceName',
  rotational: 'rotational',
  hctl: 'hctl',
  by_path: 'deviceName',
  tran: 'tran',
};

/** A hint that cannot be parsed or applied (IPA: ValueError, or an exception of the matcher). */
class HintError extends Error {}

// --- oslo.utils specs_matcher grammar -------------------------------------------------------------------------

/** Unary operators in pyparsing's MatchFirst order ('==' before '=', '<=' before '<', ...). */
const UNARY_OPS = ['==', '=', '!=', '<in>', '>=', '<=', '>', '<', 's==', 's!=', 's<=', 's<', 's>=', 's>'];
const KEYWORDS = [...UNARY_OPS, '<all-in>', '<or>', '<range-in>'];

/**
 * Tokens of `expr` as `specs_matcher.make_grammar()` parses a prefix of it: `[op, args...]`, or `[atom]` when it
 * has no operator; undefined where pyparsing raises ParseException.
 */
function parseSpec(expr: string): string[] | undefined {
  let pos = 0;
  const skip = () => {
    while (pos < expr.length && /\s/.test(expr[pos] ?? '')) pos++;
  };
  const literal = (word: string): boolean => {
    skip();
    if (!expr.startsWith(word, pos)) return false;
    pos += word.length;
    return true;
  };
  const atom = (): string | undefined => {
    skip();
    if (KEYWORDS.some((k) => expr.startsWith(k, pos))) return undefined;
    const m = /^\S+/.exec(expr.slice(pos));
    if (!m) return undefined;
    pos += m[0].length;
    return m[0];
  };
  const attempt = (parse: () => string[] | undefined): string[] | undefined => {
    const start = pos;
    const out = parse();
    if (out === undefined) pos = start;
    return out;
  };
  const disjunction = () => {
    const atoms: string[] = [];
    for (;;) {
      const start = pos;
      const a = literal('<or>') ? atom() : undefined;
      if (a === undefined) {
        pos = start;
        break;
      }
      atoms.push(a);
    }
    return atoms.length > 0 ? ['<or>', ...atoms] : undefined;
  };
  const nary = () => {
    if (!literal('<all-in>')) return undefined;
    const atoms: string[] = [];
    for (let a = atom(); a !== undefined; a = atom()) atoms.push(a);
    return atoms.length > 0 ? ['<all-in>', ...atoms] : undefined;
  };
  const range = () => {
    if (!literal('<range-in>')) return undefined;
    const atoms = [atom(), atom(), atom(), atom()];
    return atoms.every((a) => a !== undefined) ? ['<range-in>', ...(atoms as string[])] : undefined;
  };
  const unary = () => {
    skip();
    const op = UNARY_OPS.find((o) => expr.startsWith(o, pos)); // MatchFirst: no second choice
    if (op === undefined) return undefined;
    pos += op.length;
    const a = atom();
    return a === undefined ? undefined : [op, a];
  };
  const single = () => {
    const a = atom();
    return a === undefined ? undefined : [a];
  };
  for (const alternative of [disjunction, nary, range, unary, single]) {
    const out = attempt(alternative);
    if (out) return out;
  }
  return undefined;
}

/** Python's `urllib.parse.quote`: UTF-8 percent-encoding of all but letters, digits, `_.-~` and `/`. */
function pyQuote(text: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(text);
  } catch {
    throw new HintError(`the value ${JSON.stringify(text)} is not valid Unicode`);
  }
  return encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%2F/g, '/');
}

/** Python's `str()` of a hint or device value. */
function pyStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  return String(value);
}

/** IPA's `_extract_hint_operator_and_values`. */
function operatorAndValues(expression: unknown, hint: string): { op: string; values: string[] } {
  const expr = pyStr(expression).trim().toLowerCase();
  if (!expr) throw new HintError(`Root device hint ${hint} expression is empty`);
  const ast = parseSpec(expr);
  if (!ast) throw new HintError(`Root device hint ${hint} expression ${JSON.stringify(expr)} cannot be parsed`);
  if (ast.length <= 1) return { op: '', values: [expr] };
  const op = ast[0] ?? '';
  return {
    op,
    values: expr
      .split(op)
      .filter((v) => v !== '')
      .map((v) => v.trim()),
  };
}

/** IPA's `_normalize_hint_expression`: values lower-cased and URL-quoted, operators kept. */
function normalize(expression: unknown, hint: string): string {
  const { op, values } = operatorAndValues(expression, hint);
  return (op + values.map((v) => ` ${pyQuote(v)} `).join(op)).trim();
}

const TRUE_STRINGS = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE_STRINGS = ['0', 'f', 'false', 'off', 'n', 'no'];

/** oslo.utils `bool_from_string(strict=True)`; undefined where it raises. */
function strictBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  const text = pyStr(value).trim().toLowerCase();
  if (TRUE_STRINGS.includes(text)) return true;
  if (FALSE_STRINGS.includes(text)) return false;
  return undefined;
}

/** Python's `float()` of a value; throws where Python raises. */
function pyFloat(value: unknown): number {
  if (typeof value === 'number') return value;
  const text = pyStr(value).trim().toLowerCase().replace(/_/g, '');
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/.test(text)) return Number(text);
  if (/^[+-]?(inf|infinity)$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/.test(text)) return NaN;
  throw new HintError(`could not convert ${JSON.stringify(pyStr(value))} to a number`);
}

/** Python comparison of two values (numbers, or strings by code point). */
function compare(x: unknown, y: unknown): number {
  if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  throw new HintError(`cannot order ${pyStr(x)} and ${pyStr(y)}`);
}

function rangeIn(x: unknown, args: string[]): boolean {
  const [open, low, high, close] = args;
  const value = pyFloat(x);
  const lo = pyFloat(low);
  const hi = pyFloat(high);
  if (lo > hi) throw new HintError("<range-in> operator's first argument has to be smaller or equal to the second");
  const lower = open === '[' ? value >= lo : open === '(' ? value > lo : undefined;
  const upper = close === ']' ? value <= hi : close === ')' ? value < hi : undefined;
  if (lower === undefined || upper === undefined)
    throw new HintError('<range-in> needs "[" or "(" first and "]" or ")" last');
  return lower && upper;
}

/** oslo.utils `specs_matcher.match(value, spec)`. */
function specsMatch(value: unknown, spec: string): boolean {
  const tree = parseSpec(spec) ?? [spec];
  const [op, ...args] = tree;
  if (tree.length === 1) return op === value;
  const y = args[0];
  switch (op) {
    case '=':
    case '>=':
      return pyFloat(value) >= pyFloat(y);
    case '==':
      return pyFloat(value) === pyFloat(y);
    case '!=':
      return pyFloat(value) !== pyFloat(y);
    case '<=':
      return pyFloat(value) <= pyFloat(y);
    case '<':
      return pyFloat(value) < pyFloat(y);
    case '>':
      return pyFloat(value) > pyFloat(y);
    case 's==':
      return value === y;
    case 's!=':
      return value !== y;
    case 's<':
      return compare(value, y) < 0;
    case 's<=':
      return compare(value, y) <= 0;
    case 's>':
      return compare(value, y) > 0;
    case 's>=':
      return compare(value, y) >= 0;
    case '<in>':
      if (typeof value !== 'string') throw new HintError(`<in> needs a text value, not ${pyStr(value)}`);
      return value.includes(y ?? '');
    case '<or>':
      return args.some((a) => a === value);
    case '<range-in>':
      return rangeIn(value, args);
    case '<all-in>':
      throw new HintError('<all-in> compares with a list literal, which no disk attribute is');
    default:
      throw new HintError(`unknown operator ${pyStr(op)}`);
  }
}

/**
 * IPA's `parse_root_device_hints`: names checked, string hints normalized, `size` values checked as positive
 * integers, `rotational` as a strict boolean, and the default operator added (`s==` strings, `==` size).
 * Undefined when there are no hints.
 */
function parseHints(hints: Readonly<Record<string, unknown>> | undefined): Map<string, unknown> | undefined {
  if (!hints || Object.keys(hints).length === 0) return undefined;
  const invalid = Object.keys(hints).filter((name) => !(name in HINT_TYPES));
  if (invalid.length > 0) {
    throw new HintError(
      `The hints "${invalid.join(', ')}" are invalid. Valid hints are: "${Object.keys(HINT_TYPES).join(', ')}"`,
    );
  }
  const parsed = new Map<string, unknown>();
  for (const [name, expression] of Object.entries(hints)) {
    const type = HINT_TYPES[name];
    if (type === 'str') {
      if (typeof expression !== 'string') {
        throw new HintError(`Root device hint "${name}" is not a string value. Hint expression: ${pyStr(expression)}`);
      }
      parsed.set(name, normalize(expression, name));
    } else if (type === 'int') {
      for (const v of operatorAndValues(expression, name).values) {
        if (!/^[+-]?\d+$/.test(v.replace(/_/g, ''))) {
          throw new HintError(
            `Root device hint "${name}" is not an integer value. Current value: ${pyStr(expression)}`,
          );
        }
        if (Number(v.replace(/_/g, '')) <= 0) {
          throw new HintError(
            `Root device hint "${name}" should be a positive integer. Current value: ${pyStr(expression)}`,
          );
        }
      }
      parsed.set(name, expression);
    } else {
      const value = strictBool(expression);
      if (value === undefined)
        throw new HintError(`Root device hint "${name}" is not a Boolean value. Current value: ${pyStr(expression)}`);
      parsed.set(name, value);
    }
  }
  for (const [name, expression] of parsed) {
    if (HINT_TYPES[name] === 'bool') continue;
    const text = pyStr(expression);
    const ast = parseSpec(text);
    if (!ast) throw new HintError(`Root device hint ${name} expression ${JSON.stringify(text)} cannot be parsed`);
    if (ast.length > 1) parsed.set(name, text);
    else parsed.set(name, `${HINT_TYPES[name] === 'str' ? 's==' : '=='} ${text}`);
  }
  return parsed;
}

/** Whether one device satisfies one parsed hint, as `find_devices_by_hints` decides it. */
function satisfies(device: BlockDevice, hint: string, expected: unknown): boolean {
  const type = HINT_TYPES[hint];
  const raw = (device as unknown as Record<string, unknown>)[hint];
  if (type === 'str' && Array.isArray(raw)) {
    const values = raw.filter((v) => v !== null && v !== undefined);
    // Any value of a multi-valued attribute (several serials or WWNs) may match; an invalid one is skipped.
    return values.some((v) => {
      try {
        return specsMatch(normalize(v, hint), expected as string);
      } catch (err) {
        if (err instanceof HintError) return false;
        throw err;
      }
    });
  }
  if (type === 'str') {
    let value: string;
    try {
      value = normalize(raw, hint);
    } catch (err) {
      if (err instanceof HintError) return false; // an empty attribute skips the device
      throw err;
    }
    return specsMatch(value, expected as string);
  }
  if (type === 'bool') {
    const value = strictBool(raw);
    return value !== undefined && value === expected;
  }
  return specsMatch(device.size / 2 ** 30, expected as string); // size: GiB as a float
}

const gib = (bytes: number): string => `${Number((bytes / 2 ** 30).toFixed(2))} GiB`;

/** What a device has for a hint's attribute, for the message. */
function shown(device: BlockDevice, hint: string): string {
  if (hint === 'size') return gib(device.size);
  const raw = (device as unknown as Record<string, unknown>)[hint];
  if (raw === null || raw === undefined || raw === '') return 'none';
  return Array.isArray(raw) ? raw.map((v) => JSON.stringify(v)).join(' or ') : JSON.stringify(raw);
}

function describeHint(hint: string, original: Readonly<Record<string, unknown>>, parsed: unknown): string {
  const given = JSON.stringify(pyStr(original[hint]));
  const matched = JSON.stringify(pyStr(parsed));
  return `rootDeviceHints.${METAL3_FIELD[hint] ?? hint} (Ironic hint ${hint}: ${given}, matched as ${matched})`;
}

/**
 * Every device that satisfies all `hints`, in the order given: IPA's `find_devices_by_hints`, which software RAID
 * uses to pick the holder disk of each `physical_disks` entry. Invalid hints throw the parser's message.
 */
export function findDevicesByHints(devices: readonly BlockDevice[], hints: Readonly<Record<string, unknown>>): BlockDevice[] {
  const parsed = parseHints(hints);
  if (!parsed) return [...devices];
  return devices.filter((device) => [...parsed].every(([hint, expected]) => satisfies(device, hint, expected)));
}

/**
 * The disk IPA picks as the root device: with hints, the first device (in the order given, which is IPA's
 * `lsblk` order) that satisfies every hint; without, the smallest disk of at least 4 GiB (ties by name). When
 * none fits, the message names each hint no disk satisfies and what each disk has for it.
 */
export function matchRootDevice(
  devices: readonly BlockDevice[],
  hints?: Readonly<Record<string, unknown>>,
): RootDeviceChoice {
  let parsed: Map<string, unknown> | undefined;
  try {
    parsed = parseHints(hints);
  } catch (err) {
    if (err instanceof HintError)
      return {
        ok: false,
        code: 'RootDeviceHintsInvalid',
        message: `the root device hints cannot be used: ${err.message}`,
      };
    throw err;
  }
  if (!parsed) return guessRootDisk(devices);
  const original = hints ?? {};
  try {
    for (const device of devices) {
      if ([...parsed].every(([hint, expected]) => satisfies(device, hint, expected))) {
        return {
          ok: true,
          device,
          reason: `the first disk matching the root device hints ${[...parsed.keys()].join(', ')}`,
        };
      }
    }
    if (devices.length === 0)
      return {
        ok: false,
        code: 'RootDeviceNotFound',
        message: 'the host reports no disks, so none can match the root device hints',
      };
    const unmatched = [...parsed].filter(([hint, expected]) => !devices.some((d) => satisfies(d, hint, expected)));
    const disks = (hint: string) => devices.map((d) => `${d.name} has ${shown(d, hint)}`).join(', ');
    if (unmatched.length > 0) {
      const parts = unmatched.map(([hint, expected]) => `${describeHint(hint, original, expected)}: ${disks(hint)}`);
      return { ok: false, code: 'RootDeviceNotFound', message: `no disk matches ${parts.join('; no disk matches ')}` };
    }
    const all = [...parsed].map(([hint, expected]) => `${describeHint(hint, original, expected)}: ${disks(hint)}`);
    return {
      ok: false,
      code: 'RootDeviceNotFound',
      message: `each hint matches some disk, but no single disk matches them all: ${all.join('; ')}`,
    };
  } catch (err) {
    if (err instanceof HintError)
      return {
        ok: false,
        code: 'RootDeviceHintsInvalid',
        message: `the root device hints cannot be applied to the disks: ${err.message}`,
      };
    throw err;
  }
}

/** IPA's `guess_root_disk`: devices sorted by (size, name); the first of at least 4 GiB. */
function guessRootDisk(devices: readonly BlockDevice[]): RootDeviceChoice {
  const sorted = [...devices].sort((a, b) => a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const device = sorted.find((d) => d.size >= MIN_ROOT_DISK_BYTES);
  if (device) return { ok: true, device, reason: 'no root device hints: the smallest disk of at least 4 GiB' };
  if (devices.length === 0)
    return { ok: false, code: 'RootDeviceNotFound', message: 'the host reports no disks to write the image to' };
  const largest = sorted[sorted.length - 1] as BlockDevice;
  return {
    ok: false,
    code: 'RootDeviceNotFound',
    message:
      'no disk of at least 4 GiB: root device hints were not given and every disk is smaller ' +
      `(the largest, ${largest.name}, has ${gib(largest.size)})`,
  };
}
