/**
 * Software RAID on a simulated host, as IPA's GenericHardwareManager builds it with mdadm
 * (`create_configuration`, `delete_configuration`, `validate_configuration`, `raid_utils.py`): the node's
 * `target_raid_config` validated with IPA's messages, holder disks picked by the `physical_disks` hints (or every
 * disk), a fresh partition table on each holder (GPT; the RAID partition from 551 MiB in UEFI mode, 8 MiB
 * otherwise, to the size asked or the end), and one md device per logical disk (`/dev/md0`, ...; the `MAX` one
 * last) over partition N of its holders, with a version-1.2 superblock 4 KiB into each member partition.
 *
 * The md devices live in the host's `HostAgentState` (level, members, offsets, size) and appear as block devices
 * in the inventory and to root device selection. Each has a sparse file of its own that the agent writes
 * through (an image, a config drive); after every write the touched byte ranges are copied to every member of a
 * RAID-1 at its data offset, so the image is readable from each disk as from a real mirror. RAID-0 and 1+0
 * contents stay in the md's file (the simulator does not stripe). `delete_configuration` stops every md device,
 * zeroes the superblocks and wipes the holders' partition tables, as IPA does.
 */
import { rm } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type BlockDevice, findDevicesByHints } from '../../domain/root-device-hints.ts';
import { addGptPartitionAt, createGptPartitions, destroyDiskMetadata, readPartitionTable } from '../partitions.ts';
import { ipaErrors } from './errors.ts';
import { inventoryDisk } from './inventory.ts';
import type { SimDisk } from './runner.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** IPA's ESP_SIZE_MIB + 1: where the RAID partition starts in UEFI mode. */
const UEFI_RAID_START = 551 * MIB;
/** IPA's start in BIOS mode on GPT (room for a BIOS boot partition). */
const BIOS_RAID_START = 8 * MIB;
/** IPA's SUPPORTED_SOFTWARE_RAID_LEVELS. */
const SUPPORTED_LEVELS = new Set(['0', '1', '1+0', '5', '6']);
const MD_MAGIC = 0xa92b4efc;

/** One member of an md device: a partition of a holder disk. */
export interface MdMember {
  disk: string;
  partition: string;
  startBytes: number;
  sizeBytes: number;
}

/** An md device the simulated agent built. */
export interface MdDevice {
  name: string;
  volumeName: string;
  /** Metal3's level (`1`, `0`, `1+0`). */
  level: string;
  members: MdMember[];
  /** Where the array's data starts inside each member partition (mdadm 1.2's data offset). */
  dataOffsetBytes: number;
  sizeBytes: number;
  /** The md device's own sparse file (what the agent writes through). */
  path: string;
  rotational: boolean;
  isRootVolume: boolean | null;
  createdAt: string;
}

type Json = Record<string, unknown>;

/** The md device as a disk the agent can write to. */
export function mdDisk(md: MdDevice): SimDisk {
  return { name: md.name, path: md.path, sizeBytes: md.sizeBytes, model: '', vendor: '', serial: '', rotational: md.rotational };
}

/** The md device as IPA's inventory lists it (lsblk TYPE raid1: no model, serial or WWN). */
export function mdInventoryDisk(md: MdDevice): BlockDevice & { logical_sectors: number; physical_sectors: number } {
  return {
    name: md.name,
    model: '',
    size: md.sizeBytes,
    rotational: md.rotational,
    wwn: null,
    serial: null,
    vendor: null,
    wwn_with_extension: null,
    wwn_vendor_extension: null,
    hctl: null,
    by_path: null,
    logical_sectors: 512,
    physical_sectors: 512,
    tran: null,
  };
}

/** IPA's `validate_configuration`: every problem, joined as IPA joins them. */
function validate(config: Json, node: Json): void {
  const disks = (config['logical_disks'] as Json[] | undefined) ?? [];
  if (disks.length === 0) throw ipaErrors.softwareRaid('RAID config contains no logical disks');
  const problems: string[] = [];
  if (disks.length !== 1 && disks.length !== 2) problems.push('Software RAID configuration requires one or two logical disks');
  let root = false;
  const names: string[] = [];
  for (const disk of disks) {
    if (disk['controller'] !== 'software') {
      problems.push("Software RAID configuration requires all logical disks to have 'controller'='software'");
    }
    const name = disk['volume_name'];
    if (typeof name === 'string') {
      if (names.includes(name)) problems.push(`Duplicate software RAID device name ${name} detected`);
      else names.push(name);
    }
    if (disk['is_root_volume'] === true) {
      if (root) problems.push('Software RAID configuration allows only one logical disk to be marked as is_root_volume');
      root = true;
    }
    const physical = disk['physical_disks'];
    if (physical !== undefined && physical !== null) {
      if (!Array.isArray(physical) || physical.length < 2) {
        problems.push(
          'The physical_disks parameter for software RAID must be a list with at least 2 items, each specifying a disk in the device hints format',
        );
      }
      if (Array.isArray(physical) && physical.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) {
        problems.push('The physical_disks parameter for software RAID must be a list of device hints (dictionaries)');
      }
    }
  }
  if (disks[0]?.['raid_level'] !== '1') problems.push('Software RAID Configuration requires RAID-1 for the first logical disk');
  if (disks.length === 2) {
    if (disks[0]?.['size_gb'] === 'MAX' && disks[1]?.['size_gb'] === 'MAX') {
      problems.push("Software RAID can have only one RAID device with size 'MAX'");
    }
    const level = String(disks[1]?.['raid_level']);
    if (!SUPPORTED_LEVELS.has(level)) problems.push(`Software RAID configuration does not support RAID level ${level}`);
  }
  if (problems.length > 0) {
    throw ipaErrors.softwareRaid(`Could not validate Software RAID config for ${String(node['uuid'])}: ${problems.join('; ')}`);
  }
}

/** IPA's `get_block_devices_for_raid`: the holders of each logical disk, with IPA's messages. */
function holdersOf(disks: readonly SimDisk[], logical: readonly Json[]): string[][] {
  const devices = disks.map(inventoryDisk);
  return logical.map((disk) => {
    const hints = disk['physical_disks'] as Record<string, unknown>[] | undefined;
    if (!hints || hints.length === 0) return devices.map((d) => d.name);
    const matching: string[] = [];
    for (const hint of hints) {
      let candidates: string[];
      try {
        candidates = findDevicesByHints(devices, hint).map((d) => d.name);
      } catch (error) {
        throw ipaErrors.softwareRaid(`Invalid device hints ${JSON.stringify(hint)}: ${(error as Error).message}`);
      }
      if (candidates.length === 0) {
        throw ipaErrors.softwareRaid(`No candidates for physical disk ${JSON.stringify(hint)} from the list ${JSON.stringify(devices)}`);
      }
      const free = candidates.find((name) => !matching.includes(name));
      if (!free) {
        throw ipaErrors.softwareRaid(
          `No candidates left for physical disk ${JSON.stringify(hint)} from the list ${JSON.stringify(candidates)} after picking ${JSON.stringify(matching)} for previous volumes`,
        );
      }
      matching.push(free);
    }
    return matching;
  });
}

/** mdadm's default data offset for a 1.2 superblock: 128 MiB of headroom, halved while over 1/1024 of the member. */
function dataOffset(memberBytes: number): number {
  let headroom = 128 * MIB;
  while (headroom * 1024 > memberBytes && headroom > MIB) headroom /= 2;
  return headroom;
}

/** The array size of `level` over members with `usable` data bytes each. */
function arrayBytes(level: string, count: number, usable: number): number {
  const chunk = 512 * 1024;
  if (level === '1') return Math.floor(usable / (64 * 1024)) * 64 * 1024;
  const perMember = Math.floor(usable / chunk) * chunk;
  return level === '0' ? perMember * count : (perMember * count) / 2;
}

async function writeSuperblock(disk: SimDisk, member: MdMember, md: Omit<MdDevice, 'members'>, role: number, count: number): Promise<void> {
  const block = Buffer.alloc(4096);
  block.writeUInt32LE(MD_MAGIC, 0);
  block.writeUInt32LE(1, 4); // major_version
  block.write(md.volumeName.slice(0, 32), 32, 'latin1'); // set_name
  block.writeInt32LE(md.level === '1+0' ? 10 : Number(md.level), 72); // level
  block.writeBigUInt64LE(BigInt((member.sizeBytes - md.dataOffsetBytes) / 512), 80); // size (sectors)
  block.writeUInt32LE(count, 92); // raid_disks
  block.writeBigUInt64LE(BigInt(md.dataOffsetBytes / 512), 128); // data_offset
  block.writeBigUInt64LE(BigInt((member.sizeBytes - md.dataOffsetBytes) / 512), 136); // data_size
  block.writeBigUInt64LE(8n, 144); // super_offset: 4 KiB
  block.writeUInt32LE(role, 160); // dev_number
  const handle = await open(disk.path, 'r+');
  try {
    await handle.write(block, 0, block.length, member.startBytes + 4096);
  } finally {
    await handle.close();
  }
}

/**
 * IPA's `create_configuration` for the node's `target_raid_config` (its `controller: software` logical disks):
 * returns the raid config as IPA does, `{}` when there is nothing to do; throws SoftwareRAIDError as IPA.
 */
export async function createConfiguration(
  node: Json,
  disks: readonly SimDisk[],
  bootMode: 'UEFI' | 'Legacy',
  log: (line: string) => void,
): Promise<{ result: unknown; devices: MdDevice[] }> {
  const config = (node['target_raid_config'] as Json | undefined) ?? {};
  if (Object.keys(config).length === 0) return { result: {}, devices: [] };
  const logical = ((config['logical_disks'] as Json[] | undefined) ?? []).filter((d) => d['controller'] === 'software');
  if (logical.length === 0) return { result: {}, devices: [] };
  validate(config, node);
  // MAX last, as IPA orders them (md numbers follow this order).
  const ordered = [...logical.filter((d) => d['size_gb'] !== 'MAX'), ...logical.filter((d) => d['size_gb'] === 'MAX')];
  const holders = holdersOf(disks, ordered);
  const all = [...new Set(holders.flat())];
  const byName = new Map(disks.map((d) => [d.name, d]));
  const withParts: string[] = [];
  for (const name of all) {
    const disk = byName.get(name) as SimDisk;
    if (((await readPartitionTable(disk.path, disk.sizeBytes))?.partitions.length ?? 0) > 0) withParts.push(name);
  }
  if (withParts.length > 0) throw ipaErrors.softwareRaid(`Partitions detected on devices ${withParts.join(', ')} during RAID config`);
  const start = bootMode === 'UEFI' ? UEFI_RAID_START : BIOS_RAID_START;
  // Each holder gets one partition per logical disk it holds, one after the other (IPA's parted_start_dict).
  const ranges = new Map<string, { startBytes: number; endBytes?: number }[]>(all.map((n) => [n, []]));
  const next = new Map<string, number>(all.map((n) => [n, start]));
  for (const [index, disk] of ordered.entries()) {
    const size = disk['size_gb'];
    for (const name of holders[index] ?? []) {
      const from = next.get(name) ?? start;
      // IPA: a sized first partition ends at size GiB from the disk's start; later ones size GiB after the previous.
      const end = size === 'MAX' ? undefined : from === start ? Number(size) * GIB : from + Number(size) * GIB;
      ranges.get(name)?.push({ startBytes: from, ...(end !== undefined ? { endBytes: end } : {}) });
      if (end !== undefined) next.set(name, end);
    }
  }
  const written = new Map<string, Awaited<ReturnType<typeof createGptPartitions>>>();
  for (const name of all) {
    const disk = byName.get(name) as SimDisk;
    written.set(name, await createGptPartitions(disk.path, disk.sizeBytes, ranges.get(name) ?? []));
    log(`parted ${name}: gpt, ${(ranges.get(name) ?? []).length} RAID partition(s) from ${start / MIB} MiB`);
  }
  const used = new Map<string, number>();
  const devices: MdDevice[] = [];
  for (const [index, disk] of ordered.entries()) {
    const members: MdMember[] = (holders[index] ?? []).map((name) => {
      const at = used.get(name) ?? 0;
      used.set(name, at + 1);
      const partition = (written.get(name) ?? [])[at];
      if (!partition) throw ipaErrors.softwareRaid(`Failed to create partitions on ${name}: no partition ${at + 1}`);
      const delimiter = name.includes('nvme') ? 'p' : '';
      return { disk: name, partition: `${name}${delimiter}${partition.number}`, startBytes: partition.startBytes, sizeBytes: partition.sizeBytes };
    });
    const level = String(disk['raid_level']);
    const smallest = Math.min(...members.map((m) => m.sizeBytes));
    const offset = dataOffset(smallest);
    const name = `/dev/md${index}`;
    const volumeName = typeof disk['volume_name'] === 'string' ? disk['volume_name'] : `md${index}`;
    const md: MdDevice = {
      name,
      volumeName,
      level,
      members,
      dataOffsetBytes: offset,
      sizeBytes: arrayBytes(level, members.length, smallest - offset),
      path: join(dirname((byName.get(members[0]?.disk ?? '') as SimDisk).path), `md${index}.img`),
      rotational: members.every((m) => byName.get(m.disk)?.rotational === true),
      isRootVolume: typeof disk['is_root_volume'] === 'boolean' ? disk['is_root_volume'] : null,
      createdAt: new Date().toISOString(),
    };
    const handle = await open(md.path, 'w');
    await handle.truncate(md.sizeBytes);
    await handle.close();
    for (const [role, member] of members.entries()) {
      await writeSuperblock(byName.get(member.disk) as SimDisk, member, md, role, members.length);
    }
    log(`mdadm --create ${name} --force --run --metadata=1 --level ${level === '1+0' ? '10' : level} --name ${volumeName} --raid-devices ${members.length} ${members.map((m) => m.partition).join(' ')}`);
    devices.push(md);
  }
  return { result: config, devices };
}

/** IPA's `delete_configuration`: every md device stopped, superblocks zeroed, holders' partition tables wiped. */
export async function deleteConfiguration(devices: readonly MdDevice[], disks: readonly SimDisk[], log: (line: string) => void): Promise<void> {
  const byName = new Map(disks.map((d) => [d.name, d]));
  const holders = new Set<string>();
  for (const md of devices) {
    for (const member of md.members) {
      const disk = byName.get(member.disk);
      if (!disk) continue;
      const handle = await open(disk.path, 'r+');
      try {
        await handle.write(Buffer.alloc(4096), 0, 4096, member.startBytes + 4096);
      } finally {
        await handle.close();
      }
      holders.add(member.disk);
    }
    await rm(md.path, { force: true });
    log(`mdadm --stop ${md.name}; mdadm --zero-superblock ${md.members.map((m) => m.partition).join(' ')}`);
  }
  for (const name of holders) {
    const disk = byName.get(name) as SimDisk;
    await destroyDiskMetadata(disk.path, disk.sizeBytes);
  }
}

/** The holder disks of the md devices (IPA leaves RAID members out of the metadata erase). */
export function holderDisks(devices: readonly MdDevice[]): Set<string> {
  return new Set(devices.flatMap((md) => md.members.map((m) => m.disk)));
}

/**
 * Copies `ranges` (byte offsets in the md device) from the md's file to every member of a RAID-1 at its data
 * offset: the mirror's write to each disk.
 */
export async function mirror(md: MdDevice, disks: readonly SimDisk[], ranges: readonly [number, number][]): Promise<void> {
  if (md.level !== '1') return;
  const byName = new Map(disks.map((d) => [d.name, d]));
  const source = await open(md.path, 'r');
  const targets = await Promise.all(md.members.map((m) => open((byName.get(m.disk) as SimDisk).path, 'r+')));
  try {
    const chunk = Buffer.alloc(4 * MIB);
    for (const [from, to] of ranges) {
      const end = Math.min(to, md.sizeBytes);
      for (let at = Math.max(0, from); at < end; at += chunk.length) {
        const length = Math.min(chunk.length, end - at);
        const { bytesRead } = await source.read(chunk, 0, length, at);
        const data = chunk.subarray(0, length);
        if (bytesRead < length) data.fill(0, bytesRead);
        for (const [index, target] of targets.entries()) {
          const member = md.members[index] as MdMember;
          await target.write(data, 0, length, member.startBytes + md.dataOffsetBytes + at);
        }
      }
    }
  } finally {
    await source.close();
    await Promise.all(targets.map((t) => t.close()));
  }
}

/**
 * Zeroes bytes [from, to) of a disk file. A range that runs to within 64 MiB of the end is cut off and the file
 * grown back (sparse, like `zeroDisk`), keeping the tail (a backup GPT); another is written with zeros.
 */
async function zeroRange(path: string, diskBytes: number, from: number, to: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    if (diskBytes - to <= 64 * MIB) {
      const tail = Buffer.alloc(diskBytes - to);
      await handle.read(tail, 0, tail.length, to);
      await handle.truncate(from);
      await handle.truncate(diskBytes);
      if (tail.length > 0) await handle.write(tail, 0, tail.length, to);
      return;
    }
    const zeros = Buffer.alloc(4 * MIB);
    for (let at = from; at < to; at += zeros.length) await handle.write(zeros, 0, Math.min(zeros.length, to - at), at);
  } finally {
    await handle.close();
  }
}

/** `erase_devices` of an md device: every byte of the array zeroed, on its file and in each member's data area. */
export async function zeroMd(md: MdDevice, disks: readonly SimDisk[]): Promise<void> {
  const handle = await open(md.path, 'r+');
  try {
    await handle.truncate(0);
    await handle.truncate(md.sizeBytes);
  } finally {
    await handle.close();
  }
  for (const member of md.members) {
    const disk = disks.find((d) => d.name === member.disk);
    if (disk) await zeroRange(disk.path, disk.sizeBytes, member.startBytes + md.dataOffsetBytes, member.startBytes + member.sizeBytes);
  }
}

/** The byte ranges `erase_devices_metadata` touches on a disk: each partition's and the disk's first and last MiB. */
export async function metadataRanges(disk: SimDisk): Promise<[number, number][]> {
  const table = await readPartitionTable(disk.path, disk.sizeBytes);
  const ends = (start: number, size: number): [number, number][] => [
    [start, start + Math.min(MIB, size)],
    [start + size - Math.min(MIB, size), start + size],
  ];
  return [...(table?.partitions ?? []).flatMap((p) => ends(p.startBytes, p.sizeBytes)), ...ends(0, disk.sizeBytes)];
}

/** The EFI System Partition type. */
const ESP_TYPE = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';

/**
 * What IPA's `install_bootloader` does first in UEFI mode when the root device is an md device
 * (`raid_utils.prepare_boot_partitions_for_softraid`): an EFI System Partition of 550 MiB in the gap before the
 * RAID partition of each holder (`sgdisk -n 0:0:+550MiB -t 0:ef00 -c 0:uefi-holder-N`), mirrored by an md
 * device named `esp` with the superblock at the end (metadata 1.0, so firmware reads each member as a plain
 * ESP). Returns the md device, or undefined when it exists already (a second install_bootloader).
 */
export async function prepareEspForSoftRaid(
  root: MdDevice,
  devices: readonly MdDevice[],
  disks: readonly SimDisk[],
  log: (line: string) => void,
): Promise<MdDevice | undefined> {
  if (devices.some((md) => md.volumeName === 'esp')) return undefined;
  const members: MdMember[] = [];
  for (const [index, holder] of [...new Set(root.members.map((m) => m.disk))].entries()) {
    const disk = disks.find((d) => d.name === holder);
    if (!disk) continue;
    const part = await addGptPartitionAt(disk.path, disk.sizeBytes, {
      startBytes: MIB,
      endBytes: MIB + (UEFI_RAID_START - 2 * MIB) + MIB,
      type: ESP_TYPE,
      name: `uefi-holder-${index}`,
    });
    const delimiter = holder.includes('nvme') ? 'p' : '';
    members.push({ disk: holder, partition: `${holder}${delimiter}${part.number}`, startBytes: part.startBytes, sizeBytes: part.sizeBytes });
  }
  const used = new Set(devices.map((md) => md.name));
  let index = 0;
  while (used.has(`/dev/md${index}`)) index += 1;
  const smallest = Math.min(...members.map((m) => m.sizeBytes));
  const md: MdDevice = {
    name: `/dev/md${index}`,
    volumeName: 'esp',
    level: '1',
    members,
    dataOffsetBytes: 0,
    // Metadata 1.0: the superblock sits 8-12 KiB before the end of each member.
    sizeBytes: Math.floor((smallest - 12 * 1024) / (64 * 1024)) * 64 * 1024,
    path: join(dirname(disks.find((d) => d.name === members[0]?.disk)?.path ?? root.path), `md${index}.img`),
    rotational: root.rotational,
    isRootVolume: false,
    createdAt: new Date().toISOString(),
  };
  const handle = await open(md.path, 'w');
  await handle.truncate(md.sizeBytes);
  await handle.close();
  log(`mdadm --create ${md.name} --force --run --metadata=1.0 --level 1 --name esp --raid-devices ${members.length} ${members.map((m) => m.partition).join(' ')}`);
  return md;
}
