/**
 * The disks of simulated hosts, as the host's operating system (a deploy agent) sees them. On a system with
 * Storage controllers that is `logicalDisks` (sim/storage.ts): every RAID volume, and every drive not in one, so
 * a volume created over Redfish becomes one disk at the next boot; otherwise the present SimpleStorage devices;
 * a mockup with neither gets one default disk. Each disk is backed by a sparse file named after what it is (the
 * drive's or the volume's id), so it takes no space until a deploy agent writes to it, a thousand hosts with
 * terabyte disks cost a few thousand inodes, and a disk keeps its bytes when volumes come and go around it.
 * What the BMC serves about a drive (size, model, serial, rotational) and what the agent reports agree because
 * both come from here: the agent's inventory from `SimDisk`, the BMC's Redfish Drive from the mockup plus the
 * same overrides.
 */
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimDisk } from './agent/runner.ts';
import { asObject, type ServiceModel } from './service-model.ts';
import type { LogicalDisk } from './storage.ts';
import { type Json, type JsonObject, linkOf } from './tree.ts';

/** A drive as the mockup describes it (before per-host identity and overrides). */
export interface DriveSpec {
  /** The Redfish Drive's Id; absent for SimpleStorage devices and the default disk. */
  id?: string;
  sizeBytes: number;
  model: string;
  vendor: string;
  /** As the mockup has it (may carry padding, may be empty). */
  serial: string;
  wwn?: string;
  rotational: boolean;
  /** `NVMe` names the disk `/dev/nvmeXn1`; anything else `/dev/sdX` with an HCTL. */
  protocol: string;
  /** The Redfish Drive resource (tree URI) this disk is, when the mockup has one. */
  drivePath?: string;
}

/** Test overrides of one disk (by position), applied to both the BMC's Drive resource and the agent's disk. */
export interface DiskOverride {
  sizeBytes?: number;
  model?: string;
  vendor?: string;
  serial?: string;
  wwn?: string;
  rotational?: boolean;
}

/** The disk a mockup without drives gets: a 100 GiB virtual SSD. */
export const DEFAULT_DISK: DriveSpec = {
  sizeBytes: 100 * 1024 ** 3,
  model: 'Virtual Disk',
  vendor: 'Tempered',
  serial: '',
  rotational: false,
  protocol: 'SATA',
};

const cache = new WeakMap<ServiceModel, readonly DriveSpec[]>();

/** The drives of the model's system; cached per model (shared by every BMC serving the tree). */
export function mockupDrives(model: ServiceModel): readonly DriveSpec[] {
  const cached = cache.get(model);
  if (cached) return cached;
  const found = discover(model);
  cache.set(model, found);
  return found;
}

function discover(model: ServiceModel): DriveSpec[] {
  const tree = model.tree;
  const get = (path: string | undefined): Readonly<JsonObject> | undefined => {
    const canonical = path ? tree.resolve(path, model.caseInsensitive) : undefined;
    return canonical ? tree.resources.get(canonical) : undefined;
  };
  const canon = (path: string | undefined): string | undefined =>
    path ? tree.resolve(path, model.caseInsensitive) : undefined;
  const members = (collection: Readonly<JsonObject> | undefined): string[] => {
    const list = collection?.['Members'];
    return Array.isArray(list)
      ? list.map((member) => linkOf(member)).filter((id): id is string => id !== undefined)
      : [];
  };
  const system = tree.resources.get(model.systemPath) ?? {};
  const drives: DriveSpec[] = [];
  for (const storagePath of members(get(linkOf(system['Storage'])))) {
    const storage = get(storagePath);
    if (!storage) continue;
    const inline = storage['Drives'];
    const links = Array.isArray(inline) ? inline.map((item) => linkOf(item)) : members(get(linkOf(inline)));
    for (const link of links) {
      const path = canon(link);
      const drive = path ? tree.resources.get(path) : undefined;
      if (!path || !drive || !present(drive)) continue;
      drives.push(fromDrive(drive, path));
    }
  }
  if (drives.length > 0) return drives;
  for (const simplePath of members(get(linkOf(system['SimpleStorage'])))) {
    const devices = get(simplePath)?.['Devices'];
    for (const device of Array.isArray(devices) ? devices : []) {
      const object = asObject(device);
      if (!present(object) || typeof object['CapacityBytes'] !== 'number') continue;
      drives.push({
        sizeBytes: object['CapacityBytes'],
        model: text(object['Model']),
        vendor: text(object['Manufacturer']),
        serial: text(object['SerialNumber']),
        rotational: false,
        protocol: 'SATA',
      });
    }
  }
  return drives;
}

function fromDrive(drive: Readonly<JsonObject>, path: string): DriveSpec {
  const identifiers = Array.isArray(drive['Identifiers']) ? drive['Identifiers'].map(asObject) : [];
  const durable = identifiers.find((id) => ['NAA', 'EUI', 'NGUID'].includes(text(id['DurableNameFormat'])));
  const wwn = durable ? text(durable['DurableName']) : '';
  const rpm = drive['RotationSpeedRPM'];
  const id = text(drive['Id']) || path.slice(path.lastIndexOf('/') + 1);
  return {
    id,
    sizeBytes: typeof drive['CapacityBytes'] === 'number' ? drive['CapacityBytes'] : DEFAULT_DISK.sizeBytes,
    model: text(drive['Model']),
    vendor: text(drive['Manufacturer']),
    serial: text(drive['SerialNumber']),
    ...(wwn ? { wwn } : {}),
    rotational: drive['MediaType'] === 'HDD' || (typeof rpm === 'number' && rpm > 0),
    protocol: text(drive['Protocol']) || 'SATA',
    drivePath: path,
  };
}

function present(resource: Readonly<JsonObject>): boolean {
  return asObject(resource['Status'])['State'] !== 'Absent';
}

function text(value: Json | undefined): string {
  return typeof value === 'string' ? value : '';
}

/** What a host needs to name its disks. */
export interface HostDiskOptions {
  /** The BMC id: names the folder and synthesized serials. */
  bmcId: string;
  /** The folder holding this host's disk files. */
  dir: string;
  drives: readonly DriveSpec[];
  overrides?: readonly (DiskOverride | undefined)[];
  /** The host's view of a mockup string (a unique serial per host in fleets). */
  identity?: (value: string) => string;
  /** What the OS sees on a system with Storage controllers (RAID volumes, and drives not in one). */
  logical?: readonly LogicalDisk[];
}

/** One disk before it gets its device name. */
interface Entry {
  /** The backing file's name, from what the disk is. */
  file: string;
  sizeBytes: number;
  model: string;
  vendor: string;
  serial: string;
  wwn?: string;
  rotational: boolean;
  nvme: boolean;
}

/** A file name from a Redfish Id (`Disk.Bay.0:Enclosure...` has characters better kept out of paths). */
function fileName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/**
 * The disks of one host: the drives (or the default disk) with overrides applied, device names in the order a
 * Linux ramdisk gives them (`/dev/sda`, `/dev/sdb`, ... and `/dev/nvme0n1`, ...) and a file each.
 */
export function hostDisks(options: HostDiskOptions): SimDisk[] {
  const identity = options.identity ?? ((value: string) => value);
  const drives = options.drives.length > 0 ? options.drives : [DEFAULT_DISK];
  const fromDrive = (drive: DriveSpec, position: number): Entry => {
    const override = options.overrides?.[position] ?? {};
    const serial = override.serial ?? (identity(drive.serial).trim() || `${options.bmcId}-disk${position}`.toUpperCase());
    const wwn = override.wwn ?? drive.wwn;
    return {
      file: drive.id ? fileName(drive.id) : `disk${position}`,
      sizeBytes: override.sizeBytes ?? drive.sizeBytes,
      model: (override.model ?? drive.model).trim(),
      vendor: (override.vendor ?? drive.vendor).trim(),
      serial,
      ...(wwn ? { wwn } : {}),
      rotational: override.rotational ?? drive.rotational,
      nvme: drive.protocol === 'NVMe',
    };
  };
  let entries: Entry[];
  if (options.logical && options.logical.length > 0) {
    entries = options.logical.map((disk) => {
      const position = drives.findIndex((drive) => drive.id === disk.id);
      const drive = drives[position];
      if (disk.kind === 'drive' && drive) return fromDrive(drive, position);
      // A RAID volume: the controller presents it as one SCSI disk; its serial is the host's own.
      return {
        file: `volume-${fileName(disk.controller ?? 'storage')}-${fileName(disk.id)}`,
        sizeBytes: disk.sizeBytes,
        model: disk.model,
        vendor: '',
        serial: `${options.bmcId}-volume-${disk.id}`.toUpperCase(),
        rotational: disk.rotational,
        nvme: false,
      };
    });
  } else {
    entries = drives.map(fromDrive);
  }
  let scsi = 0;
  let nvme = 0;
  return entries.map(({ file, nvme: isNvme, ...disk }) => {
    const name = isNvme ? `/dev/nvme${nvme++}n1` : `/dev/sd${letters(scsi)}`;
    const hctl = isNvme ? undefined : `${scsi++}:0:0:0`;
    return { name, path: join(options.dir, `${file}.img`), ...disk, ...(hctl ? { hctl } : {}) };
  });
}

/** `a`, `b`, ..., `z`, `aa`, `ab`, ... as the kernel names SCSI disks. */
function letters(index: number): string {
  let name = '';
  let rest = index;
  do {
    name = String.fromCharCode(97 + (rest % 26)) + name;
    rest = Math.floor(rest / 26) - 1;
  } while (rest >= 0);
  return name;
}

/** The fields a Redfish Drive shows for an overridden disk (laid over the mockup's resource). */
export function driveOverlay(override: DiskOverride): JsonObject {
  const out: JsonObject = {};
  if (override.sizeBytes !== undefined) out['CapacityBytes'] = override.sizeBytes;
  if (override.model !== undefined) out['Model'] = override.model;
  if (override.vendor !== undefined) out['Manufacturer'] = override.vendor;
  if (override.serial !== undefined) out['SerialNumber'] = override.serial;
  if (override.rotational !== undefined) {
    out['MediaType'] = override.rotational ? 'HDD' : 'SSD';
    out['RotationSpeedRPM'] = override.rotational ? 7200 : 0;
  }
  if (override.wwn !== undefined) out['Identifiers'] = [{ DurableNameFormat: 'NAA', DurableName: override.wwn }];
  return out;
}

/**
 * Creates the disks' sparse files (and their folder). A file that exists with the right size keeps its bytes
 * (a restarted simulator finds what was written); one of another size is resized, keeping what fits.
 */
export async function createDiskFiles(disks: readonly SimDisk[]): Promise<void> {
  const folders = new Set(disks.map((disk) => disk.path.slice(0, disk.path.lastIndexOf('/'))));
  for (const folder of folders) await mkdir(folder, { recursive: true });
  for (const disk of disks) {
    const size = await stat(disk.path).then(
      (info) => info.size,
      () => -1,
    );
    if (size === disk.sizeBytes) continue;
    const handle = await open(disk.path, size < 0 ? 'w' : 'r+');
    try {
      await handle.truncate(disk.sizeBytes);
    } finally {
      await handle.close();
    }
  }
}
