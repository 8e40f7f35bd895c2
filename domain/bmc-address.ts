/**
 * The one parser of Metal3 BMC addresses (`spec.bmc.address`): the scheme picks the protocol, Ironic's driver
 * and the capabilities (reference/metal3-api.md §3.1, BMO `pkg/hardwareutils/bmc`). Pure and deterministic, so
 * the admission webhook, the workflows, the activities and the CLI all use this same code.
 */
import type { ErrorCode } from './errors.ts';

/** The base schemes Metal3 accepts today (each Redfish one also as `<scheme>+http` and `<scheme>+https`). */
export const BMC_TYPES = [
  'ipmi',
  'libvirt',
  'redfish',
  'redfish-virtualmedia',
  'redfish-uefihttp',
  'idrac-redfish',
  'idrac-virtualmedia',
  'ilo5-redfish',
  'ilo5-virtualmedia',
] as const;
export type BmcType = (typeof BMC_TYPES)[number];

/** How the engine talks to the BMC. */
export type BmcProtocol = 'ipmi' | 'redfish';
/** Ironic's hardware type for the scheme (both `ipmi` and `libvirt` use `ipmi`). */
export type BmcDriverName = 'ipmi' | 'redfish' | 'idrac';
/** How the host boots the deploy ramdisk. */
export type BootInterface = 'ipxe' | 'redfish-virtual-media' | 'idrac-redfish-virtual-media' | 'redfish-https';
/** IPMI privilege levels Ironic accepts for `ipmi_priv_level`. */
export type IpmiPrivilegeLevel = 'ADMINISTRATOR' | 'OPERATOR' | 'USER' | 'CALLBACK';

/** What the driver chosen by a scheme can do, as Metal3 defines it per scheme. */
export interface BmcCapabilities {
  bootInterface: BootInterface;
  /** Boots the deploy image from virtual media (no provisioning network, no PXE). */
  virtualMedia: boolean;
  /** BIOS settings (HostFirmwareSettings). */
  biosSettings: boolean;
  /** Firmware updates (HostFirmwareComponents). */
  firmwareUpdates: boolean;
  /** `hardware`: hardware RAID through the BMC; `software-only`: the `no-raid` interface. */
  raid: 'hardware' | 'software-only';
  secureBoot: boolean;
  /** Out-of-band (`inspectionMode: fast`) inspection. */
  outOfBandInspection: boolean;
  /** The host needs `spec.bootMACAddress` up front (libvirt). */
  needsMac: boolean;
  requiresProvisioningNetwork: boolean;
  /** Can boot a PreprovisioningImage in ISO format. */
  isoPreprovisioningImage: boolean;
}

interface BmcAddressBase {
  /** The address as written. */
  raw: string;
  /** The scheme, lower-cased, with its `+http`/`+https` suffix (`ipmi` for a bare `host[:port]`). */
  scheme: string;
  type: BmcType;
  driver: BmcDriverName;
  /** Host name or IP address; IPv6 without brackets. */
  host: string;
  /** The port to use (defaults filled in: 623 for IPMI, 443/80 for Redfish over HTTPS/HTTP). */
  port: number;
  /** Whether the address named the port. */
  explicitPort: boolean;
  capabilities: BmcCapabilities;
}

export interface IpmiBmcAddress extends BmcAddressBase {
  protocol: 'ipmi';
  privilegeLevel: IpmiPrivilegeLevel;
}

export interface RedfishBmcAddress extends BmcAddressBase {
  protocol: 'redfish';
  transport: 'http' | 'https';
  /** Origin of the Redfish service, e.g. `https://[fd00::5]:8443`. */
  endpoint: string;
  /** The system's Redfish path as written (`/redfish/v1/Systems/1`); undefined when the address names none. */
  systemPath: string | undefined;
}

export type BmcAddress = IpmiBmcAddress | RedfishBmcAddress;

/** Result of {@link checkBmcAddress}: plain data, safe in workflow state and admission responses. */
export type BmcAddressCheck = { ok: true; address: BmcAddress } | { ok: false; code: ErrorCode; message: string };

/** A BMC address that cannot be used, with the error code Temporal failures and the webhook report. */
export class BmcAddressError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'BmcAddressError';
    this.code = code;
  }
}

const IPMI_CAPS: BmcCapabilities = {
  bootInterface: 'ipxe',
  virtualMedia: false,
  biosSettings: false,
  firmwareUpdates: false,
  raid: 'software-only',
  secureBoot: false,
  outOfBandInspection: false,
  needsMac: false,
  requiresProvisioningNetwork: true,
  isoPreprovisioningImage: false,
};

const REDFISH_PXE_CAPS: BmcCapabilities = {
  bootInterface: 'ipxe',
  virtualMedia: false,
  biosSettings: true,
  firmwareUpdates: true,
  raid: 'hardware',
  secureBoot: true,
  outOfBandInspection: true,
  needsMac: false,
  requiresProvisioningNetwork: true,
  isoPreprovisioningImage: false,
};

const NO_PROVISIONING_NETWORK = { requiresProvisioningNetwork: false, isoPreprovisioningImage: true } as const;

const TYPES: Record<BmcType, { protocol: BmcProtocol; driver: BmcDriverName; capabilities: BmcCapabilities }> = {
  ipmi: { protocol: 'ipmi', driver: 'ipmi', capabilities: IPMI_CAPS },
  libvirt: { protocol: 'ipmi', driver: 'ipmi', capabilities: { ...IPMI_CAPS, needsMac: true } },
  redfish: { protocol: 'redfish', driver: 'redfish', capabilities: REDFISH_PXE_CAPS },
  'ilo5-redfish': { protocol: 'redfish', driver: 'redfish', capabilities: REDFISH_PXE_CAPS },
  'redfish-virtualmedia': {
    protocol: 'redfish',
    driver: 'redfish',
    capabilities: { ...REDFISH_PXE_CAPS, ...NO_PROVISIONING_NETWORK, bootInterface: 'redfish-virtual-media', virtualMedia: true },
  },
  'ilo5-virtualmedia': {
    protocol: 'redfish',
    driver: 'redfish',
    capabilities: { ...REDFISH_PXE_CAPS, ...NO_PROVISIONING_NETWORK, bootInterface: 'redfish-virtual-media', virtualMedia: true },
  },
  'redfish-uefihttp': {
    protocol: 'redfish',
    driver: 'redfish',
    capabilities: { ...REDFISH_PXE_CAPS, ...NO_PROVISIONING_NETWORK, bootInterface: 'redfish-https' },
  },
  'idrac-redfish': { protocol: 'redfish', driver: 'idrac', capabilities: REDFISH_PXE_CAPS },
  'idrac-virtualmedia': {
    protocol: 'redfish',
    driver: 'idrac',
    capabilities: { ...REDFISH_PXE_CAPS, ...NO_PROVISIONING_NETWORK, bootInterface: 'idrac-redfish-virtual-media', virtualMedia: true },
  },
};

/** Schemes Metal3 removed, each with the release that removed it and what to use instead. */
const REMOVED: Record<string, string> = {
  idrac: "the WS-Man 'idrac' driver was removed in BMO 0.6.0; use 'idrac-redfish://' or 'idrac-virtualmedia://' with the system path, e.g. idrac-virtualmedia://<host>/redfish/v1/Systems/System.Embedded.1",
  ibmc: "the 'ibmc' driver was removed in BMO 0.6.0; use 'redfish://' or 'redfish-virtualmedia://' with the system path",
  ilo4: "the 'ilo4' driver was removed in BMO 0.12; iLO 4 has no supported Redfish driver, use 'ipmi://<host>' (or 'ilo5-redfish://' after upgrading to iLO 5)",
  'ilo4-virtualmedia': "the 'ilo4-virtualmedia' driver was removed in BMO 0.12; iLO 4 has no supported virtual media driver, use 'ipmi://<host>' with a provisioning network",
  ilo5: "the 'ilo5' driver was removed in BMO 0.12; use 'ilo5-redfish://' or 'ilo5-virtualmedia://' (or 'redfish://') with the system path, e.g. ilo5-virtualmedia://<host>/redfish/v1/Systems/1",
  irmc: "the 'irmc' driver was removed in BMO 0.13; use 'redfish://' or 'redfish-virtualmedia://' (iRMC S5 and later speak Redfish) or 'ipmi://'",
};

const PRIVILEGE_LEVELS: readonly IpmiPrivilegeLevel[] = ['ADMINISTRATOR', 'OPERATOR', 'USER', 'CALLBACK'];
const DNS_NAME = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9])$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Whether `text` is an IPv6 address (RFC 4291 text forms, optional zone id). */
export function isIpv6(text: string): boolean {
  const pct = text.indexOf('%');
  if (pct >= 0 && !/^[\w.-]+$/.test(text.slice(pct + 1))) return false;
  let addr = pct < 0 ? text : text.slice(0, pct);
  const lastColon = addr.lastIndexOf(':');
  if (lastColon < 0) return false;
  const tail = addr.slice(lastColon + 1);
  if (tail.includes('.')) {
    // An embedded IPv4 address stands for the last two groups.
    if (!IPV4.test(tail)) return false;
    addr = `${addr.slice(0, lastColon + 1)}0:0`;
  }
  const hex = /^[0-9a-fA-F]{1,4}$/;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  if (halves.length === 2) {
    const [head = '', rest = ''] = halves;
    const parts = [...(head ? head.split(':') : []), ...(rest ? rest.split(':') : [])];
    return parts.length <= 7 && parts.every((p) => hex.test(p));
  }
  const groups = addr.split(':');
  return groups.length === 8 && groups.every((p) => hex.test(p));
}

function validHost(host: string): boolean {
  return IPV4.test(host) || DNS_NAME.test(host);
}

function invalid(address: string, why: string): BmcAddressError {
  return new BmcAddressError('BmcAddressInvalid', `failed to parse BMC address information: ${why} (address ${JSON.stringify(address)})`);
}

interface Authority {
  host: string;
  port: number | undefined;
}

function parseAuthority(address: string, authority: string): Authority {
  if (authority.includes('@')) throw invalid(address, 'credentials must not be in the address; put them in the credentials Secret');
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw invalid(address, 'missing "]" after the IPv6 address');
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw invalid(address, `unexpected ${JSON.stringify(rest)} after the IPv6 address`);
    portText = rest === '' ? undefined : rest.slice(1);
    if (!isIpv6(host)) throw invalid(address, `BMC address hostname/IP : [${host}] is invalid`);
  } else {
    const colons = authority.split(':').length - 1;
    if (colons > 1) throw invalid(address, 'an IPv6 address must be written in brackets, e.g. [fd00::1]:623');
    const colon = authority.indexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
    if (host === '') throw invalid(address, 'the address has no host');
    if (!validHost(host)) throw invalid(address, `BMC address hostname/IP : [${host}] is invalid`);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw invalid(address, `invalid port ${JSON.stringify(portText)}`);
    }
    port = Number(portText);
  }
  return { host, port };
}

function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = decodeURIComponent(eq < 0 ? '' : pair.slice(eq + 1));
    if (!out.has(key)) out.set(key, value);
  }
  return out;
}

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Parses a Metal3 BMC address. Throws {@link BmcAddressError} with code `BmcAddressInvalid` (cannot be parsed)
 * or `BmcSchemeUnsupported` (unknown or removed scheme; removed ones name the replacement).
 */
export function parseBmcAddress(address: string): BmcAddress {
  if (address === '') throw new BmcAddressError('BmcAddressInvalid', 'missing BMC address');
  if (/\s/.test(address)) throw invalid(address, 'the address contains white space');

  let scheme: string;
  let rest: string;
  const withScheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(address);
  if (withScheme) {
    scheme = (withScheme[1] ?? '').toLowerCase();
    rest = withScheme[2] ?? '';
  } else if (isIpv6(address.split(/[/?#]/)[0] ?? '')) {
    throw invalid(address, `an IPv6 address must be written in brackets, e.g. [${address.split(/[/?#]/)[0]}]:623`);
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:(?!\d+([/?#]|$))/.test(address)) {
    // "foo:bar" without "//": a scheme with no authority, which no BMC driver accepts.
    const name = address.slice(0, address.indexOf(':')).toLowerCase();
    if (REMOVED[name.split('+')[0] ?? '']) throw new BmcAddressError('BmcSchemeUnsupported', `Unknown BMC type '${name}' for address ${address}: ${REMOVED[name.split('+')[0] ?? '']}`);
    throw invalid(address, `expected ${name}://<host>`);
  } else {
    // A bare host or host:port means IPMI (BMO's rule).
    scheme = 'ipmi';
    rest = address;
  }

  const [base = '', suffix, ...extra] = scheme.split('+');
  const removed = REMOVED[base];
  if (removed && extra.length === 0 && (suffix === undefined || suffix === 'http' || suffix === 'https')) {
    throw new BmcAddressError('BmcSchemeUnsupported', `Unknown BMC type '${scheme}' for address ${address}: ${removed}`);
  }
  const known = (BMC_TYPES as readonly string[]).includes(base) ? (base as BmcType) : undefined;
  const spec = known ? TYPES[known] : undefined;
  const suffixOk = suffix === undefined || (spec?.protocol === 'redfish' && (suffix === 'http' || suffix === 'https'));
  if (!known || !spec || extra.length > 0 || !suffixOk) {
    throw new BmcAddressError('BmcSchemeUnsupported', `Unknown BMC type '${scheme}' for address ${address}`);
  }

  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const afterAuthority = end < 0 ? '' : rest.slice(end);
  const hashAt = afterAuthority.indexOf('#');
  const beforeFragment = hashAt < 0 ? afterAuthority : afterAuthority.slice(0, hashAt);
  const queryAt = beforeFragment.indexOf('?');
  const path = queryAt < 0 ? beforeFragment : beforeFragment.slice(0, queryAt);
  const query = queryAt < 0 ? '' : beforeFragment.slice(queryAt + 1);
  if (authority === '') throw invalid(address, 'the address has no host');
  const { host, port } = parseAuthority(address, authority);

  if (spec.protocol === 'ipmi') {
    let params: Map<string, string>;
    try {
      params = parseQuery(query);
    } catch {
      throw invalid(address, 'the query string is not valid percent-encoding');
    }
    const level = (params.get('privilegelevel') ?? 'ADMINISTRATOR').toUpperCase();
    if (!(PRIVILEGE_LEVELS as readonly string[]).includes(level)) {
      throw invalid(address, `privilegelevel must be one of ${PRIVILEGE_LEVELS.join(', ')}, not ${JSON.stringify(params.get('privilegelevel'))}`);
    }
    return {
      raw: address,
      scheme,
      type: known,
      protocol: 'ipmi',
      driver: spec.driver,
      host,
      port: port ?? 623,
      explicitPort: port !== undefined,
      privilegeLevel: level as IpmiPrivilegeLevel,
      capabilities: { ...spec.capabilities },
    };
  }

  const transport = suffix === 'http' ? 'http' : 'https';
  const effectivePort = port ?? (transport === 'https' ? 443 : 80);
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  const systemPath = trimmed === '' || trimmed.toLowerCase() === 'redfish/v1' ? undefined : `/${trimmed}`;
  return {
    raw: address,
    scheme,
    type: known,
    protocol: 'redfish',
    driver: spec.driver,
    host,
    port: effectivePort,
    explicitPort: port !== undefined,
    transport,
    endpoint: `${transport}://${bracketed(host)}${port === undefined ? '' : `:${port}`}`,
    systemPath,
    capabilities: { ...spec.capabilities },
  };
}

/** Like {@link parseBmcAddress}, but returns the error as data (for workflows and the admission webhook). */
export function checkBmcAddress(address: string): BmcAddressCheck {
  try {
    return { ok: true, address: parseBmcAddress(address) };
  } catch (err) {
    if (err instanceof BmcAddressError) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
}
