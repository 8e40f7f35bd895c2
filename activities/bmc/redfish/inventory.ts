/**
 * Out-of-band inventory: reads the system, processors, memory, NICs, storage (Storage/Drives, else SimpleStorage),
 * the firmware and software inventories, BIOS attributes and the manager, then normalises them to Metal3's
 * HardwareDetails plus firmware components and manager facts. The numbers follow Ironic's Redfish inspection,
 * which Metal3 users compare with: `cpu.count` is logical CPUs (the processors' TotalThreads, as sushy sums them)
 * and `ramMebibytes` is MemorySummary.TotalSystemMemoryGiB when the BMC gives it. Resources a BMC does not
 * implement (501, 404, 500) leave a warning and a smaller inventory, never a failure: only the system itself is
 * required.
 */
import type { HardwareDetails, Inventory, InventoryOptions, ManagerFacts } from '../driver.ts';
import type { RedfishContext } from './context.ts';
import { BmcError } from '../errors.ts';
import { firmwareComponents, inventoryLinks, inventoryMembers, type InventoryLinks } from './firmware.ts';
import { readPowerState } from './power.ts';
import { isObject, link, num, obj, state, str, type Json } from './resources.ts';

/** Redfish InstructionSet → the architecture names Metal3 and IPA use (Ironic's PROCESSOR_INSTRUCTION_SET_MAP). */
const ARCH: Record<string, string> = {
  'x86-64': 'x86_64',
  x86: 'i686',
  'IA-64': 'ia64',
  'ARM-A32': 'arm',
  'ARM-A64': 'aarch64',
  MIPS32: 'mips',
  MIPS64: 'mips64',
  PowerISA: 'ppc64le',
};

/** What the fetch step collected; undefined means "not available from this BMC". */
export interface RawInventory {
  root: Json;
  systemPath: string;
  system: Json;
  managerPath: string | undefined;
  manager: Json | undefined;
  processors: Json[] | undefined;
  memory: Json[] | undefined;
  nics: Json[] | undefined;
  drives: Json[] | undefined;
  simpleStorage: Json[] | undefined;
  firmwareInventory: Json[] | undefined;
  /** SoftwareInventory members, when the update service links that collection. */
  softwareInventory?: Json[] | undefined;
  bios: Json | undefined;
  warnings: string[];
}

/** Present hardware: anything but an empty bay or socket (a NIC with its link down is `UnavailableOffline`, and there). */
function present(r: Json): boolean {
  return state(r) !== 'Absent';
}

function cpuOf(raw: RawInventory): HardwareDetails['cpu'] {
  const summary = obj(raw.system.ProcessorSummary);
  const cpus = (raw.processors ?? []).filter((p) => present(p) && (p.ProcessorType === undefined || p.ProcessorType === 'CPU'));
  const first = cpus[0] ?? {};
  const threads = cpus.reduce((n, p) => n + (num(p.TotalThreads) ?? 0), 0);
  const count = threads || num(summary.LogicalProcessorCount) || num(summary.Count) || 0;
  const instructionSet = str(first.InstructionSet);
  const arch = (instructionSet && ARCH[instructionSet]) ?? (str(first.ProcessorArchitecture) === 'x86' ? 'x86_64' : str(first.ProcessorArchitecture) === 'ARM' ? 'aarch64' : '');
  return {
    arch,
    model: str(first.Model) ?? str(summary.Model) ?? '',
    clockMegahertz: num(first.MaxSpeedMHz) ?? num(first.OperatingSpeedMHz) ?? 0,
    flags: [],
    count,
  };
}

/** Memory as Ironic's Redfish inspection reports it: MemorySummary first, the DIMMs only when it is missing. */
function ramOf(raw: RawInventory): number {
  const gib = num(obj(raw.system.MemorySummary).TotalSystemMemoryGiB);
  if (gib !== undefined && gib > 0) return Math.round(gib * 1024);
  const dimms = (raw.memory ?? []).filter(present);
  return dimms.reduce((n, m) => n + (num(m.CapacityMiB) ?? 0), 0);
}

function firstAddress(v: unknown, skip: (a: string) => boolean = () => false): string | undefined {
  if (!Array.isArray(v)) return undefined;
  for (const a of v) {
    const address = str(obj(a).Address);
    if (address && address !== '0.0.0.0' && !skip(address)) return address;
  }
  return undefined;
}

function nicsOf(raw: RawInventory): HardwareDetails['nics'] {
  const out: HardwareDetails['nics'] = [];
  for (const n of raw.nics ?? []) {
    const mac = str(n.MACAddress) ?? str(n.PermanentMACAddress);
    if (!mac || !present(n)) continue;
    const speed = num(n.SpeedMbps);
    const vlan = obj(n.VLAN);
    out.push({
      name: str(n.Id) ?? str(n.Name) ?? mac,
      model: str(n.Description) && str(n.Description) !== str(n.Name) ? (str(n.Description) ?? '') : '',
      mac: mac.toLowerCase(),
      ip: firstAddress(n.IPv4Addresses) ?? firstAddress(n.IPv6Addresses, (a) => a.toLowerCase().startsWith('fe80')) ?? '',
      speedGbps: speed === undefined ? 0 : Math.floor(speed / 1000),
      vlanId: vlan.VLANEnable === true ? (num(vlan.VLANId) ?? 0) : 0,
      pxe: false,
    });
  }
  return out;
}

/** Metal3's disk type (an enum without an "unknown" value: absent when the BMC does not say). */
function driveType(d: Json): HardwareDetails['storage'][number]['type'] {
  if (str(d.Protocol) === 'NVMe') return 'NVME';
  if (str(d.MediaType) === 'SSD') return 'SSD';
  if (str(d.MediaType) === 'HDD') return 'HDD';
  return undefined;
}

function storageOf(raw: RawInventory): HardwareDetails['storage'] {
  const out: HardwareDetails['storage'] = [];
  for (const d of raw.drives ?? []) {
    if (!present(d)) continue;
    const type = driveType(d);
    const wwn = (Array.isArray(d.Identifiers) ? d.Identifiers : []).map(obj).find((i) => ['NAA', 'EUI', 'NGUID'].includes(str(i.DurableNameFormat) ?? ''));
    out.push({
      name: str(d.Id) ?? str(d.Name) ?? '',
      rotational: type === 'HDD' || (num(d.RotationSpeedRPM) ?? 0) > 0,
      ...(type ? { type } : {}),
      sizeBytes: num(d.CapacityBytes) ?? 0,
      vendor: str(d.Manufacturer) ?? '',
      model: str(d.Model) ?? '',
      serialNumber: str(d.SerialNumber) ?? '',
      ...(wwn && str(wwn.DurableName) ? { wwn: str(wwn.DurableName) } : {}),
    });
  }
  if (out.length > 0) return out;
  // Legacy SimpleStorage: devices with a capacity that are not absent bays.
  for (const s of raw.simpleStorage ?? []) {
    for (const dev of Array.isArray(s.Devices) ? s.Devices.map(obj) : []) {
      if (!present(dev) || num(dev.CapacityBytes) === undefined) continue;
      out.push({
        name: str(dev.Name) ?? '',
        rotational: false,
        sizeBytes: num(dev.CapacityBytes) ?? 0,
        vendor: str(dev.Manufacturer) ?? '',
        model: str(dev.Model) ?? '',
        serialNumber: str(dev.SerialNumber) ?? '',
      });
    }
  }
  return out;
}

function isBiosComponent(f: Json): boolean {
  return /bios|uefi|system rom/i.test(`${str(f.Id) ?? ''} ${str(f.Name) ?? ''}`);
}

function biosFacts(raw: RawInventory): HardwareDetails['firmware']['bios'] {
  const fw = (raw.firmwareInventory ?? []).find(isBiosComponent);
  return {
    date: str(fw?.ReleaseDate) ?? '',
    vendor: str(fw?.Manufacturer) ?? '',
    version: str(raw.system.BiosVersion) ?? str(fw?.Version) ?? '',
  };
}

function managerOf(raw: RawInventory): ManagerFacts | undefined {
  if (!raw.manager || !raw.managerPath) return undefined;
  const m = raw.manager;
  return {
    id: str(m.Id) ?? raw.managerPath.split('/').pop() ?? '',
    path: raw.managerPath,
    model: str(m.Model),
    manufacturer: str(m.Manufacturer),
    firmwareVersion: str(m.FirmwareVersion),
    vendor: str(raw.root.Vendor),
    redfishVersion: str(raw.root.RedfishVersion),
    uuid: str(m.UUID) ?? str(raw.root.UUID),
  };
}

/** Normalises collected resources to the inventory shape (pure; table-tested against vendor mockups). */
export function normaliseInventory(raw: RawInventory): Inventory {
  const vendor = (str(raw.root.Vendor) ?? str(raw.system.Manufacturer) ?? '').toLowerCase();
  const isDell = vendor.includes('dell');
  const hardware: HardwareDetails = {
    systemVendor: {
      manufacturer: str(raw.system.Manufacturer) ?? '',
      productName: str(raw.system.Model) ?? '',
      // iDRAC keeps the service tag in SKU and the board serial in SerialNumber (Ironic bug 2146585).
      serialNumber: (isDell ? str(raw.system.SKU) : undefined) ?? str(raw.system.SerialNumber) ?? '',
    },
    firmware: { bios: biosFacts(raw) },
    ramMebibytes: ramOf(raw),
    nics: nicsOf(raw),
    storage: storageOf(raw),
    cpu: cpuOf(raw),
    hostname: str(raw.system.HostName) ?? '',
  };
  return {
    hardware,
    firmware: firmwareComponents(raw),
    manager: managerOf(raw),
    system: {
      path: raw.systemPath,
      id: str(raw.system.Id) ?? raw.systemPath.split('/').pop() ?? '',
      uuid: str(raw.system.UUID),
      powerState: readPowerState(raw.system) ?? 'off',
      sku: str(raw.system.SKU),
      bootProgress: str(obj(raw.system.BootProgress).LastState),
    },
    biosAttributes: raw.bios && isObject(raw.bios.Attributes) ? raw.bios.Attributes : undefined,
    warnings: raw.warnings,
  };
}

const OPTIONAL = [400, 404, 405, 500, 501];

/**
 * Collects the inventory resources, one at a time (per-BMC concurrency of one), tolerating what is missing; with
 * `hardwareOnly`, not the manager, the BIOS attributes and the software inventory.
 */
export async function collectInventory(ctx: RedfishContext, opts: InventoryOptions = {}): Promise<RawInventory> {
  const signal = opts.signal;
  const warnings: string[] = [];
  const root = await ctx.root(signal);
  const systemPath = await ctx.systemPath(signal);
  const system = (await ctx.system(signal)).body;

  const optional = async (what: string, path: string | undefined): Promise<Json | undefined> => {
    if (!path) return undefined;
    const res = await ctx.client.get(path, { signal, accept: OPTIONAL });
    if (res.status >= 300) {
      warnings.push(`${what}: HTTP ${res.status} on ${path}`);
      return undefined;
    }
    return res.body;
  };
  const collection = async (what: string, path: string | undefined): Promise<Json[] | undefined> => {
    if (!path) return undefined;
    const res = await ctx.members(path, signal, OPTIONAL);
    if (res.status >= 300) {
      warnings.push(`${what}: HTTP ${res.status} on ${path}`);
      return undefined;
    }
    return res.members;
  };

  const managerPath = await ctx.managerPath(signal);
  const manager = opts.hardwareOnly ? undefined : await optional('manager', managerPath);
  const processors = await collection('processors', link(system.Processors));
  // The DIMMs only count when the system does not give its total memory (ramOf): not read otherwise.
  const memory = (num(obj(system.MemorySummary).TotalSystemMemoryGiB) ?? 0) > 0 ? undefined : await collection('memory', link(system.Memory));
  const nics = await collection('ethernet interfaces', link(system.EthernetInterfaces));

  let drives: Json[] | undefined;
  const storages = await collection('storage', link(system.Storage));
  if (storages) {
    drives = [];
    for (const s of storages) {
      const inline = Array.isArray(s.Drives) ? s.Drives : [];
      for (const d of inline) {
        if (isObject(d) && Object.keys(d).some((k) => !k.startsWith('@odata'))) {
          drives.push(d);
          continue;
        }
        const body = await optional('drive', link(d));
        if (body) drives.push(body);
      }
      // Some services list drives only under Storage/<id>/Drives (a collection link).
      if (inline.length === 0 && link(s.Drives)) drives.push(...((await collection('drives', link(s.Drives))) ?? []));
    }
  }
  const simpleStorage = !drives || drives.length === 0 ? await collection('simple storage', link(system.SimpleStorage)) : undefined;

  let firmwareInventory: Json[] | undefined;
  let softwareInventory: Json[] | undefined;
  let inventories: InventoryLinks | undefined;
  try {
    inventories = await inventoryLinks(ctx, signal);
  } catch (err) {
    if (!(err instanceof BmcError) || err.status === undefined || !OPTIONAL.includes(err.status)) throw err;
    warnings.push(`update service: HTTP ${err.status} on ${link(root.UpdateService) ?? 'UpdateService'}`);
  }
  if (inventories) {
    // The hardware details take the BIOS's release date and vendor from the firmware inventory; the software
    // inventory only feeds the firmware components.
    const wanted: [string, string | undefined][] = [['firmware inventory', inventories.firmware]];
    if (!opts.hardwareOnly) wanted.push(['software inventory', inventories.software]);
    for (const [what, path] of wanted) {
      if (!path) continue;
      // Hardware details only want the BIOS's release date and vendor from here: a collection the BMC just said
      // it does not have (a firmware reading on this connection) is not asked for again.
      if (opts.hardwareOnly && ctx.knownAbsent(path)) {
        warnings.push(`${what}: not there at ${path} (the BMC answered 404 or 501 on this connection)`);
        continue;
      }
      const read = await inventoryMembers(ctx, path, signal);
      if (!read) warnings.push(`${what}: not readable at ${path}`);
      for (const gone of read?.missing ?? []) warnings.push(`${what}: HTTP ${gone.status} on ${gone.path}`);
      if (what === 'firmware inventory') firmwareInventory = read?.members;
      else softwareInventory = read?.members;
    }
  }
  const bios = opts.hardwareOnly ? undefined : await optional('bios', link(system.Bios));

  return { root, systemPath, system, managerPath, manager, processors, memory, nics, drives, simpleStorage, firmwareInventory, softwareInventory, bios, warnings };
}

