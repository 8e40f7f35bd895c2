/**
 * The deploy agent's hardware inventory (IPA's `list_hardware_info`, posted to `/v1/continue_inspection`) as
 * Metal3 HardwareDetails, the way BMO maps Ironic's inspection data (`pkg/provisioner/ironic/hardwaredetails`):
 * one NIC per IP address, `pxe` from the boot interface (Ironic's validate-interfaces hook), LLDP switch, port
 * and VLANs parsed from the raw TLVs (Ironic's parse-lldp hook), storage named by `by_path` when there is one,
 * disk type from `rotational` and the NVMe name, CPU clock rounded to whole MHz, flags sorted. Then merged with
 * what the BMC reported out of band: the agent's view wins where it has a value, the BMC's fills the gaps.
 * Pure functions; workflows may import this file.
 */
import type { HardwareDetails, Nic, Storage } from './hardware-data.schema.ts';
import { normalizeMac } from './agent.ts';

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Drops undefined fields, so the result is plain JSON that compares and serialises cleanly. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** LLDP facts of one interface, as Ironic's parse-lldp hook names them. */
export interface ParsedLldp {
  switch_chassis_id?: string;
  switch_port_id?: string;
  switch_system_name?: string;
  switch_port_untagged_vlan_id?: number;
  switch_port_vlans?: { id: number; name: string }[];
}

const hexBytes = (hex: string): number[] => (hex.match(/../g) ?? []).map((b) => parseInt(b, 16));
const asText = (bytes: number[]): string => String.fromCharCode(...bytes).replace(/\0+$/, '');
const asMac = (bytes: number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');

/**
 * Parses an interface's raw LLDP TLVs (`[[type, "hex"], ...]`): chassis ID (1), port ID (2), system name (5),
 * and IEEE 802.1 port VLAN ID and VLAN names (127, OUI 00-80-C2, subtypes 1 and 3).
 */
export function parseLldp(tlvs: unknown): ParsedLldp | undefined {
  if (!Array.isArray(tlvs) || tlvs.length === 0) return undefined;
  const out: ParsedLldp = {};
  for (const tlv of tlvs) {
    if (!Array.isArray(tlv) || typeof tlv[0] !== 'number' || typeof tlv[1] !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(tlv[1])) continue;
    const [type, hex] = tlv as [number, string];
    const bytes = hexBytes(hex);
    if (type === 1 && bytes.length > 1) out.switch_chassis_id = bytes[0] === 4 && bytes.length === 7 ? asMac(bytes.slice(1)) : asText(bytes.slice(1));
    else if (type === 2 && bytes.length > 1) out.switch_port_id = bytes[0] === 3 && bytes.length === 7 ? asMac(bytes.slice(1)) : asText(bytes.slice(1));
    else if (type === 5 && bytes.length > 0) out.switch_system_name = asText(bytes);
    else if (type === 127 && bytes.length >= 4 && bytes[0] === 0x00 && bytes[1] === 0x80 && bytes[2] === 0xc2) {
      const subtype = bytes[3];
      if (subtype === 1 && bytes.length >= 6) out.switch_port_untagged_vlan_id = ((bytes[4] ?? 0) << 8) | (bytes[5] ?? 0);
      if (subtype === 3 && bytes.length >= 7) {
        const id = ((bytes[4] ?? 0) << 8) | (bytes[5] ?? 0);
        const length = bytes[6] ?? 0;
        (out.switch_port_vlans ??= []).push({ id, name: asText(bytes.slice(7, 7 + length)) });
      }
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The MAC the host booted from: `boot.pxe_interface` (a MAC, or pxelinux's `01-aa-bb-...`). */
function pxeMacOf(inventory: Json, pluginData: Json): string | undefined {
  let raw = str(obj(inventory['boot'])['pxe_interface']) ?? str(pluginData['boot_interface']);
  if (raw && /^01-/.test(raw)) raw = raw.slice(3);
  return raw ? normalizeMac(raw) : undefined;
}

function lldpOf(iface: Json, name: string, pluginData: Json): ParsedLldp | undefined {
  const parsed = obj(pluginData['parsed_lldp'])[name];
  if (parsed && typeof parsed === 'object') return parsed as ParsedLldp;
  const raw = obj(pluginData['lldp_raw'])[name];
  return parseLldp(raw ?? iface['lldp']);
}

function nicsOf(inventory: Json, pluginData: Json): Nic[] {
  const pxeMac = pxeMacOf(inventory, pluginData);
  const nics: Nic[] = [];
  for (const entry of list(inventory['interfaces'])) {
    const iface = obj(entry);
    const name = str(iface['name']) ?? '';
    const mac = str(iface['mac_address']);
    const lldp = lldpOf(iface, name, pluginData);
    const model = `${str(iface['vendor']) ?? ''} ${str(iface['product']) ?? ''}`.trim();
    const speed = num(iface['speed_mbps']);
    const base = compact<Nic>({
      name,
      model,
      mac: mac?.toLowerCase(),
      speedGbps: speed === undefined ? 0 : Math.trunc(speed / 1000),
      pxe: Boolean(mac && pxeMac && normalizeMac(mac) === pxeMac),
      pciAddress: str(iface['pci_address']),
      vlanId: lldp?.switch_port_untagged_vlan_id,
      vlans: lldp?.switch_port_vlans?.map((v) => ({ id: v.id, name: v.name })),
      lldp: lldp && (lldp.switch_chassis_id || lldp.switch_port_id || lldp.switch_system_name)
        ? compact({ switchID: lldp.switch_chassis_id, portID: lldp.switch_port_id, switchSystemName: lldp.switch_system_name })
        : undefined,
    });
    const v4 = str(iface['ipv4_address']);
    const v6 = str(iface['ipv6_address'])?.split('%')[0];
    // BMO: one NIC even without an address; two when the interface has both an IPv4 and an IPv6 address.
    if (v4 || !v6) nics.push(compact({ ...base, ip: v4 }));
    if (v6) nics.push({ ...base, ip: v6 });
  }
  return nics;
}

function storageOf(inventory: Json): Storage[] {
  return list(inventory['disks']).map((entry) => {
    const disk = obj(entry);
    const name = str(disk['name']);
    const byPath = str(disk['by_path']);
    const rotational = disk['rotational'] === true;
    const size = num(disk['size']);
    return compact<Storage>({
      name: byPath ?? name,
      alternateNames: [name, byPath].filter((n): n is string => n !== undefined),
      rotational,
      type: rotational ? 'HDD' : name?.startsWith('/dev/nvme') ? 'NVME' : 'SSD',
      sizeBytes: size === undefined ? undefined : Math.trunc(size),
      vendor: str(disk['vendor']),
      model: str(disk['model']),
      serialNumber: str(disk['serial']),
      wwn: str(disk['wwn']),
      wwnVendorExtension: str(disk['wwn_vendor_extension']),
      wwnWithExtension: str(disk['wwn_with_extension']),
      hctl: str(disk['hctl']),
    });
  });
}

/** HardwareDetails from the agent's inventory and the plugin data that came with it (see the file header). */
export function hardwareDetailsFromInventory(inventory: Json, pluginData: Json = {}): HardwareDetails {
  const cpu = obj(inventory['cpu']);
  const vendor = obj(inventory['system_vendor']);
  const firmware = obj(vendor['firmware']);
  const frequency = Number.parseFloat(String(cpu['frequency'] ?? ''));
  const flags = list(cpu['flags']).filter((f): f is string => typeof f === 'string').sort();
  const physicalMb = num(obj(inventory['memory'])['physical_mb']);
  return compact<HardwareDetails>({
    systemVendor: compact({ manufacturer: str(vendor['manufacturer']), productName: str(vendor['product_name']), serialNumber: str(vendor['serial_number']) }),
    firmware: { bios: compact({ vendor: str(firmware['vendor']), version: str(firmware['version']), date: str(firmware['build_date']) }) },
    ramMebibytes: physicalMb === undefined ? undefined : Math.trunc(physicalMb),
    nics: nicsOf(inventory, pluginData),
    storage: storageOf(inventory),
    cpu: compact({
      arch: str(cpu['architecture']),
      model: str(cpu['model_name']),
      clockMegahertz: Number.isFinite(frequency) ? Math.round(frequency) : undefined,
      count: num(cpu['count']),
      flags: flags.length > 0 ? flags : undefined,
    }),
    hostname: str(inventory['hostname']),
  });
}

const empty = (v: unknown): boolean => v === undefined || v === '' || v === 0 || (Array.isArray(v) && v.length === 0);

/** Fields of `a`, with the empty ones filled from `b`. */
function fill<T extends object>(a: T | undefined, b: T | undefined): T | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: Record<string, unknown> = { ...(b as Record<string, unknown>) };
  for (const [k, v] of Object.entries(a)) if (!empty(v)) out[k] = v;
  return compact(out) as T;
}

/**
 * The agent's HardwareDetails merged with the BMC's: the agent's view wins where it has a value (its disks and
 * NICs are what the OS will see), the BMC's fills what the agent left empty, disk by serial number and NIC by
 * MAC; disks and NICs only the BMC reports are not added (the agent saw the whole machine).
 */
export function mergeHardwareDetails(agent: HardwareDetails, bmc: HardwareDetails | undefined): HardwareDetails {
  if (!bmc) return agent;
  const bmcDisks = new Map((bmc.storage ?? []).filter((d) => d.serialNumber).map((d) => [d.serialNumber, d]));
  const bmcNics = new Map((bmc.nics ?? []).filter((n) => n.mac).map((n) => [normalizeMac(n.mac ?? ''), n]));
  return compact<HardwareDetails>({
    systemVendor: fill(agent.systemVendor, bmc.systemVendor),
    firmware: { bios: fill(agent.firmware?.bios, bmc.firmware?.bios) ?? {} },
    ramMebibytes: empty(agent.ramMebibytes) ? bmc.ramMebibytes : agent.ramMebibytes,
    cpu: fill(agent.cpu, bmc.cpu),
    hostname: agent.hostname ?? bmc.hostname,
    storage: (agent.storage ?? []).map((d) => fill(d, d.serialNumber ? bmcDisks.get(d.serialNumber) : undefined) ?? d),
    nics: (agent.nics ?? []).map((n) => {
      const match = n.mac ? bmcNics.get(normalizeMac(n.mac)) : undefined;
      // Only what the BMC knows of the port itself: the agent's IP and PXE flag stay.
      return match ? (fill(n, { model: match.model, speedGbps: match.speedGbps, pciAddress: match.pciAddress }) ?? n) : n;
    }),
  });
}
