/**
 * URI and identity rewriting between a shared mockup tree and one BMC's view of it. Behind a shared endpoint
 * many BMCs serve the same tree under their own ids (`/redfish/v1/Systems/<id>`); with unique identities each
 * BMC also reports its own MAC addresses and system UUID. The tree stays shared; only responses are rewritten.
 */

/** A rewritten prefix: `base` in the tree, `public` on the wire. */
export interface PrefixPair {
  readonly base: string;
  readonly public: string;
}

/** Rewrites strings of one BMC's responses, and request paths back to the tree. */
export class Rewriter {
  private readonly pairs: readonly PrefixPair[];
  private readonly values: ReadonlyMap<string, string>;
  private readonly caseInsensitive: boolean;

  /**
   * @param pairs prefixes to rewrite (identical pairs are dropped)
   * @param values whole-string replacements (MAC addresses, UUID), matched ignoring case
   */
  constructor(pairs: readonly PrefixPair[], values: ReadonlyMap<string, string>, caseInsensitive: boolean) {
    this.pairs = pairs.filter((pair) => pair.base !== pair.public);
    const lowered = new Map<string, string>();
    for (const [from, to] of values) lowered.set(from.toLowerCase(), to);
    this.values = lowered;
    this.caseInsensitive = caseInsensitive;
  }

  /** True when this rewriter changes nothing (one BMC per port with the mockup's identity). */
  get identity(): boolean {
    return this.pairs.length === 0 && this.values.size === 0;
  }

  /** The string as the BMC shows it. */
  toPublic(text: string): string {
    const value = this.values.get(text.toLowerCase());
    if (value !== undefined) return value;
    for (const pair of this.pairs) {
      const rest = stripPrefix(text, pair.base, this.caseInsensitive);
      if (rest !== undefined) return pair.public + rest;
    }
    return text;
  }

  /** The tree URI for a public request path (prefixes only). */
  toBase(path: string): string {
    for (const pair of this.pairs) {
      const rest = stripPrefix(path, pair.public, this.caseInsensitive);
      if (rest !== undefined) return pair.base + rest;
    }
    return path;
  }
}

/** The remainder of `text` after `prefix` when it starts with it at a path boundary, else undefined. */
function stripPrefix(text: string, prefix: string, caseInsensitive: boolean): string | undefined {
  if (text.length < prefix.length) return undefined;
  const head = text.slice(0, prefix.length);
  if (caseInsensitive ? head.toLowerCase() !== prefix.toLowerCase() : head !== prefix) return undefined;
  const rest = text.slice(prefix.length);
  return rest === '' || rest.startsWith('/') || rest.startsWith('#') || rest.startsWith('?') ? rest : undefined;
}

/** A MAC address unique to BMC `index`, keeping the vendor prefix (OUI) of `mac` and its separator and case. */
export function uniqueMac(mac: string, index: number, nic: number): string {
  const separator = mac.includes('-') ? '-' : ':';
  const octets = mac.split(/[:-]/);
  if (octets.length !== 6) return mac;
  const serial = ((index + 1) * 16 + nic) & 0xffffff;
  const tail = [(serial >> 16) & 0xff, (serial >> 8) & 0xff, serial & 0xff].map((byte) => byte.toString(16).padStart(2, '0'));
  const upper = mac === mac.toUpperCase();
  const result = [...octets.slice(0, 3), ...tail].join(separator);
  return upper ? result.toUpperCase() : result.toLowerCase();
}

/** A UUID unique to BMC `index`: the last 12 hex digits replaced by the index. */
export function uniqueUuid(uuid: string, index: number): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) return uuid;
  const tail = (index + 1).toString(16).padStart(12, '0');
  const result = `${uuid.slice(0, 24)}${tail}`;
  return uuid === uuid.toUpperCase() ? result.toUpperCase() : result;
}

/**
 * A drive serial unique to BMC `index` and drive `position`: the mockup serial's vendor prefix, then the index
 * (6 hex digits) and the position (2 digits), trimmed of the padding some BMCs add.
 */
export function uniqueSerial(serial: string, index: number, position: number): string {
  const trimmed = serial.trim();
  const tail = `${(index + 1).toString(16).toUpperCase().padStart(6, '0')}${String(position).padStart(2, '0')}`;
  return `${trimmed.slice(0, Math.max(0, trimmed.length - tail.length))}${tail}`;
}
