/**
 * Partition tables on simulated disks (files of 512-byte sectors): read GPT and MBR tables, move a GPT's backup
 * structures to the end of a disk bigger than the image written to it (`sgdisk -e`), add the config drive
 * partition in the last 64 MiB the way ironic-python-agent does (`sgdisk -n 0:-64MB:0` on GPT, `parted mkpart
 * primary fat32 -64MiB -0` on MBR, at the 2 TiB limit on bigger MBR disks), and destroy metadata (`wipefs` plus
 * zeroed ends, IPA's `erase_devices_metadata`). Plain byte arithmetic on the file, so a thousand simulated hosts
 * need no tool processes; the tests read the results back with `sgdisk` and `sfdisk`.
 */
import { randomUUID } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/** Bytes per sector of simulated disks. */
export const SECTOR = 512;
const MIB = 1024 * 1024;
/** IPA's MAX_CONFIG_DRIVE_SIZE_MB. */
export const CONFIG_DRIVE_BYTES = 64 * MIB;
/** IPA's MAX_DISK_SIZE_MB_SUPPORTED_BY_MBR (2 TiB, in MiB). */
const MBR_LIMIT_MIB = 2_097_152;
const ALIGN_SECTORS = 2048;
const LINUX_FS_GUID = '0fc63daf-8483-4772-8e79-3d69d8477de4';
/** The partition type `parted mkpart primary fat32` gives on MBR: W95 FAT32 (LBA). */
const MBR_FAT32_LBA = 0x0c;

/** One partition. */
export interface Partition {
  /** 1-based, as Linux numbers them (`/dev/sda1`). */
  number: number;
  startBytes: number;
  sizeBytes: number;
  /** GPT: the type GUID; MBR: the type byte as two hex digits. */
  type: string;
  /** GPT: the unique partition GUID. */
  uuid?: string;
  /** GPT: the partition name. */
  name?: string;
}

/** A disk's partition table. */
export interface PartitionTable {
  type: 'gpt' | 'dos';
  partitions: Partition[];
}

/** A partitioning error, with the text IPA would put in its DeploymentError. */
export class PartitionError extends Error {
  override readonly name = 'PartitionError';
}

interface GptHeader {
  raw: Buffer;
  myLba: bigint;
  alternateLba: bigint;
  firstUsable: bigint;
  lastUsable: bigint;
  entriesLba: bigint;
  entryCount: number;
  entrySize: number;
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
}

async function writeAt(handle: FileHandle, offset: number, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, offset + written);
    written += bytesWritten;
  }
}

function parseGptHeader(sector: Buffer): GptHeader | undefined {
  if (sector.length < 92 || sector.toString('latin1', 0, 8) !== 'EFI PART') return undefined;
  const size = sector.readUInt32LE(12);
  if (size < 92 || size > SECTOR) return undefined;
  const copy = Buffer.from(sector.subarray(0, size));
  const stored = copy.readUInt32LE(16);
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== stored) return undefined;
  return {
    raw: Buffer.from(sector.subarray(0, SECTOR)),
    myLba: sector.readBigUInt64LE(24),
    alternateLba: sector.readBigUInt64LE(32),
    firstUsable: sector.readBigUInt64LE(40),
    lastUsable: sector.readBigUInt64LE(48),
    entriesLba: sector.readBigUInt64LE(72),
    entryCount: sector.readUInt32LE(80),
    entrySize: sector.readUInt32LE(84),
  };
}

function guidToString(bytes: Buffer): string {
  const hex = (buffer: Buffer) => buffer.toString('hex');
  const le = (start: number, end: number) => hex(Buffer.from(bytes.subarray(start, end)).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`;
}

function guidToBytes(guid: string): Buffer {
  const parts = guid.split('-');
  const le = (part: string | undefined) => Buffer.from(part ?? '', 'hex').reverse();
  return Buffer.concat([
    le(parts[0]),
    le(parts[1]),
    le(parts[2]),
    Buffer.from(parts[3] ?? '', 'hex'),
    Buffer.from(parts[4] ?? '', 'hex'),
  ]);
}

async function readGpt(
  handle: FileHandle,
  diskBytes: number,
): Promise<{ header: GptHeader; entries: Buffer } | undefined> {
  const lastLba = BigInt(diskBytes / SECTOR - 1);
  for (const lba of [1n, lastLba]) {
    const header = parseGptHeader(await readAt(handle, Number(lba) * SECTOR, SECTOR));
    if (!header) continue;
    const entries = await readAt(handle, Number(header.entriesLba) * SECTOR, header.entryCount * header.entrySize);
    if (entries.length === header.entryCount * header.entrySize && crc32(entries) === header.raw.readUInt32LE(88)) {
      return { header, entries };
    }
  }
  return undefined;
}

function gptPartitions(header: GptHeader, entries: Buffer): Partition[] {
  const out: Partition[] = [];
  for (let index = 0; index < header.entryCount; index += 1) {
    const entry = entries.subarray(index * header.entrySize, (index + 1) * header.entrySize);
    if (entry.subarray(0, 16).every((byte) => byte === 0)) continue;
    const first = Number(entry.readBigUInt64LE(32));
    const last = Number(entry.readBigUInt64LE(40));
    out.push({
      number: index + 1,
      startBytes: first * SECTOR,
      sizeBytes: (last - first + 1) * SECTOR,
      type: guidToString(entry.subarray(0, 16)),
      uuid: guidToString(entry.subarray(16, 32)),
      name: entry.toString('utf16le', 56, 128).replace(/\0.*$/s, ''),
    });
  }
  return out;
}

function mbrPartitions(sector: Buffer): Partition[] | undefined {
  if (sector.length < SECTOR || sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const out: Partition[] = [];
  for (let index = 0; index < 4; index += 1) {
    const entry = sector.subarray(446 + index * 16, 446 + (index + 1) * 16);
    const type = entry[4] ?? 0;
    const sectors = entry.readUInt32LE(12);
    if (type === 0 || sectors === 0) continue;
    out.push({
      number: index + 1,
      startBytes: entry.readUInt32LE(8) * SECTOR,
      sizeBytes: sectors * SECTOR,
      type: type.toString(16).padStart(2, '0'),
    });
  }
  return out;
}

/** The disk's partition table: GPT (primary, else backup), else MBR; undefined when it has neither. */
export async function readPartitionTable(path: string, diskBytes: number): Promise<PartitionTable | undefined> {
  const handle = await open(path, 'r');
  try {
    return await tableOf(handle, diskBytes);
  } finally {
    await handle.close();
  }
}

async function tableOf(handle: FileHandle, diskBytes: number): Promise<PartitionTable | undefined> {
  const gpt = await readGpt(handle, diskBytes);
  if (gpt) return { type: 'gpt', partitions: gptPartitions(gpt.header, gpt.entries) };
  const mbr = mbrPartitions(await readAt(handle, 0, SECTOR));
  // A protective MBR without a readable GPT is no usable table.
  if (!mbr || mbr.some((partition) => partition.type === 'ee')) return undefined;
  return { type: 'dos', partitions: mbr };
}

/** Writes a GPT (header and entries) as primary at LBA 1 and backup at the disk's last LBA. */
async function writeGpt(handle: FileHandle, diskBytes: number, header: GptHeader, entries: Buffer): Promise<void> {
  const lastLba = BigInt(diskBytes / SECTOR - 1);
  const entrySectors = BigInt(Math.ceil(entries.length / SECTOR));
  const entriesCrc = crc32(entries);
  const build = (myLba: bigint, alternateLba: bigint, entriesLba: bigint): Buffer => {
    const raw = Buffer.from(header.raw);
    const size = raw.readUInt32LE(12);
    raw.writeBigUInt64LE(myLba, 24);
    raw.writeBigUInt64LE(alternateLba, 32);
    raw.writeBigUInt64LE(lastLba - entrySectors - 1n, 48);
    raw.writeBigUInt64LE(entriesLba, 72);
    raw.writeUInt32LE(entriesCrc, 88);
    raw.writeUInt32LE(0, 16);
    raw.writeUInt32LE(crc32(raw.subarray(0, size)), 16);
    return raw;
  };
  // A header read from the backup copy names the backup's entries; the primary's follow LBA 1.
  const primaryEntries = header.myLba === 1n ? header.entriesLba : 2n;
  await writeAt(handle, Number(primaryEntries) * SECTOR, entries);
  await writeAt(handle, SECTOR, build(1n, lastLba, primaryEntries));
  await writeAt(handle, Number(lastLba - entrySectors) * SECTOR, entries);
  await writeAt(handle, Number(lastLba) * SECTOR, build(lastLba, 1n, lastLba - entrySectors));
}

/**
 * Moves a GPT's backup header and entries to the end of the disk (the image was smaller than the disk), as
 * `sgdisk -e` does. Returns true when something moved; false for MBR disks, disks without a table and GPTs
 * already in place.
 */
export async function fixGpt(path: string, diskBytes: number): Promise<boolean> {
  const handle = await open(path, 'r+');
  try {
    const gpt = await readGpt(handle, diskBytes);
    const lastLba = BigInt(diskBytes / SECTOR - 1);
    if (!gpt || (gpt.header.myLba === 1n && gpt.header.alternateLba === lastLba)) return false;
    await writeGpt(handle, diskBytes, gpt.header, gpt.entries);
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * Adds the config drive partition in the last 64 MiB of the disk (below 2 TiB on MBR) and returns it. Fails
 * like IPA: no partition table, four primary MBR partitions, or no free space at the end.
 */
export async function addConfigDrivePartition(path: string, diskBytes: number): Promise<Partition> {
  const handle = await open(path, 'r+');
  try {
    const gpt = await readGpt(handle, diskBytes);
    if (gpt) return await addGptPartition(handle, diskBytes, gpt.header, gpt.entries);
    const first = await readAt(handle, 0, SECTOR);
    const mbr = mbrPartitions(first);
    if (!mbr) throw new PartitionError(`Unable to find a valid partition table on ${path}`);
    return await addMbrPartition(handle, diskBytes, first, mbr);
  } finally {
    await handle.close();
  }
}

async function addGptPartition(
  handle: FileHandle,
  diskBytes: number,
  header: GptHeader,
  entries: Buffer,
): Promise<Partition> {
  const lastLba = BigInt(diskBytes / SECTOR - 1);
  const entrySectors = BigInt(Math.ceil(entries.length / SECTOR));
  const lastUsable = lastLba - entrySectors - 1n;
  const existing = gptPartitions(header, entries);
  const slot = Array.from({ length: header.entryCount }, (_, index) => index).find((index) =>
    entries.subarray(index * header.entrySize, index * header.entrySize + 16).every((byte) => byte === 0),
  );
  if (slot === undefined) throw new PartitionError('Disk partitioning failed: the GPT has no free entry');
  // sgdisk: start 64 MiB before the last usable sector, moved up to the next 2048-sector boundary.
  const wanted = lastUsable - BigInt(CONFIG_DRIVE_BYTES / SECTOR);
  const start = ((wanted + BigInt(ALIGN_SECTORS) - 1n) / BigInt(ALIGN_SECTORS)) * BigInt(ALIGN_SECTORS);
  const busy = existing.some(
    (partition) => BigInt(partition.startBytes + partition.sizeBytes) / BigInt(SECTOR) > start,
  );
  if (busy || start <= header.firstUsable)
    throw new PartitionError('Disk partitioning failed: no free space for the config drive at the end of the disk');
  const entry = Buffer.alloc(header.entrySize);
  guidToBytes(LINUX_FS_GUID).copy(entry, 0);
  const uuid = randomUUID();
  guidToBytes(uuid).copy(entry, 16);
  entry.writeBigUInt64LE(start, 32);
  entry.writeBigUInt64LE(lastUsable, 40);
  const updated = Buffer.from(entries);
  entry.copy(updated, slot * header.entrySize);
  await writeGpt(handle, diskBytes, header, updated);
  return {
    number: slot + 1,
    startBytes: Number(start) * SECTOR,
    sizeBytes: Number(lastUsable - start + 1n) * SECTOR,
    type: LINUX_FS_GUID,
    uuid,
    name: '',
  };
}

async function addMbrPartition(
  handle: FileHandle,
  diskBytes: number,
  first: Buffer,
  existing: Partition[],
): Promise<Partition> {
  if (existing.length > 3) {
    throw new PartitionError(
      `Config drive cannot be created: the disk uses MBR partitioning and already has ${existing.length} primary ` +
        `partitions`,
    );
  }
  const diskMiB = Math.floor(diskBytes / MIB);
  const overLimit = diskMiB > MBR_LIMIT_MIB;
  const startMiB = overLimit ? MBR_LIMIT_MIB - 64 - 1 : diskMiB - 64;
  const startSector = startMiB * (MIB / SECTOR);
  const endSector = overLimit ? (MBR_LIMIT_MIB - 1) * (MIB / SECTOR) - 1 : diskBytes / SECTOR - 1;
  if (existing.some((partition) => (partition.startBytes + partition.sizeBytes) / SECTOR > startSector)) {
    throw new PartitionError('Disk partitioning failed: no free space for the config drive at the end of the disk');
  }
  const index = [0, 1, 2, 3].find((slot) => !existing.some((partition) => partition.number === slot + 1)) ?? 0;
  const entry = Buffer.alloc(16);
  // CHS fields cannot address these sectors: the conventional "beyond CHS" values, as parted writes them.
  entry.set([0x00, 0xfe, 0xff, 0xff, MBR_FAT32_LBA, 0xfe, 0xff, 0xff]);
  entry.writeUInt32LE(startSector, 8);
  entry.writeUInt32LE(endSector - startSector + 1, 12);
  const updated = Buffer.from(first);
  entry.copy(updated, 446 + index * 16);
  await writeAt(handle, 0, updated);
  return {
    number: index + 1,
    startBytes: startSector * SECTOR,
    sizeBytes: (endSector - startSector + 1) * SECTOR,
    type: '0c',
  };
}

/**
 * Writes a new, empty-but-for `partitions` GPT on the disk (`parted mklabel gpt` then `mkpart primary` for each
 * range, aligned to 1 MiB as `parted -a optimal` does): a protective MBR, 128 entries, primary and backup.
 * `endBytes` is exclusive; undefined runs to the last usable sector. Returns the partitions as written.
 */
export async function createGptPartitions(
  path: string,
  diskBytes: number,
  partitions: readonly { startBytes: number; endBytes?: number }[],
): Promise<Partition[]> {
  const entryCount = 128;
  const entrySize = 128;
  const entrySectors = (entryCount * entrySize) / SECTOR;
  const lastLba = BigInt(diskBytes / SECTOR - 1);
  const lastUsable = lastLba - BigInt(entrySectors) - 1n;
  const entries = Buffer.alloc(entryCount * entrySize);
  const out: Partition[] = [];
  for (const [index, wanted] of partitions.entries()) {
    const align = BigInt(ALIGN_SECTORS);
    const first = ((BigInt(Math.ceil(wanted.startBytes / SECTOR)) + align - 1n) / align) * align;
    const end = wanted.endBytes === undefined ? lastUsable : BigInt(Math.floor(wanted.endBytes / SECTOR)) - 1n;
    const last = end > lastUsable ? lastUsable : end;
    if (last <= first) throw new PartitionError(`Error: the partition ${index + 1} does not fit on ${path}`);
    const entry = entries.subarray(index * entrySize, (index + 1) * entrySize);
    guidToBytes(LINUX_FS_GUID).copy(entry, 0);
    const uuid = randomUUID();
    guidToBytes(uuid).copy(entry, 16);
    entry.writeBigUInt64LE(first, 32);
    entry.writeBigUInt64LE(last, 40);
    entry.write('primary', 56, 'utf16le');
    out.push({ number: index + 1, startBytes: Number(first) * SECTOR, sizeBytes: Number(last - first + 1n) * SECTOR, type: LINUX_FS_GUID, uuid, name: 'primary' });
  }
  const raw = Buffer.alloc(SECTOR);
  raw.write('EFI PART', 0, 'latin1');
  raw.writeUInt32LE(0x00010000, 8);
  raw.writeUInt32LE(92, 12);
  raw.writeBigUInt64LE(34n, 40);
  guidToBytes(randomUUID()).copy(raw, 56);
  raw.writeUInt32LE(entryCount, 80);
  raw.writeUInt32LE(entrySize, 84);
  const header: GptHeader = { raw, myLba: 1n, alternateLba: lastLba, firstUsable: 34n, lastUsable, entriesLba: 2n, entryCount, entrySize };
  const mbr = Buffer.alloc(SECTOR);
  const sectors = Math.min(diskBytes / SECTOR - 1, 0xffffffff);
  mbr.set([0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff], 446);
  mbr.writeUInt32LE(1, 454);
  mbr.writeUInt32LE(sectors, 458);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const handle = await open(path, 'r+');
  try {
    await writeAt(handle, 0, mbr);
    await writeGpt(handle, diskBytes, header, entries);
  } finally {
    await handle.close();
  }
  return out;
}

/**
 * Adds a partition at [startBytes, endBytes) to a disk's GPT, in its first free entry (`sgdisk -n 0:start:end
 * -t 0:<type> -c 0:<name>`). Fails when the range overlaps a partition or leaves the usable area.
 */
export async function addGptPartitionAt(
  path: string,
  diskBytes: number,
  range: { startBytes: number; endBytes: number; type: string; name: string },
): Promise<Partition> {
  const handle = await open(path, 'r+');
  try {
    const gpt = await readGpt(handle, diskBytes);
    if (!gpt) throw new PartitionError(`Unable to find a valid GPT on ${path}`);
    const { header, entries } = gpt;
    const first = BigInt(range.startBytes / SECTOR);
    const last = BigInt(range.endBytes / SECTOR) - 1n;
    const overlaps = gptPartitions(header, entries).some(
      (p) => BigInt(p.startBytes / SECTOR) <= last && BigInt((p.startBytes + p.sizeBytes) / SECTOR) - 1n >= first,
    );
    if (overlaps || first < header.firstUsable || last > header.lastUsable) {
      throw new PartitionError(`Could not create partition on ${path}: ${range.startBytes}-${range.endBytes} is not free`);
    }
    const slot = Array.from({ length: header.entryCount }, (_, index) => index).find((index) =>
      entries.subarray(index * header.entrySize, index * header.entrySize + 16).every((byte) => byte === 0),
    );
    if (slot === undefined) throw new PartitionError('Disk partitioning failed: the GPT has no free entry');
    const entry = Buffer.alloc(header.entrySize);
    guidToBytes(range.type).copy(entry, 0);
    const uuid = randomUUID();
    guidToBytes(uuid).copy(entry, 16);
    entry.writeBigUInt64LE(first, 32);
    entry.writeBigUInt64LE(last, 40);
    entry.write(range.name.slice(0, 36), 56, 'utf16le');
    const updated = Buffer.from(entries);
    entry.copy(updated, slot * header.entrySize);
    await writeGpt(handle, diskBytes, header, updated);
    return { number: slot + 1, startBytes: range.startBytes, sizeBytes: range.endBytes - range.startBytes, type: range.type, uuid, name: range.name };
  } finally {
    await handle.close();
  }
}

/** The MBR disk identifier (4 bytes at offset 440) as IPA's `hexdump -e '"0x%08x"'` prints it: `0x1a2b3c4d`. */
export async function diskIdentifier(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const bytes = await readAt(handle, 440, 4);
    return `0x${(bytes.length === 4 ? bytes.readUInt32LE(0) : 0).toString(16).padStart(8, '0')}`;
  } finally {
    await handle.close();
  }
}

/**
 * Destroys the metadata of a disk and its partitions, as IPA's `erase_devices_metadata`: every partition's
 * first and last MiB (where filesystem, swap, LVM and RAID signatures live, which `wipefs` erases), then the
 * disk's first and last MiB (MBR, primary and backup GPT). The data in between stays.
 */
export async function destroyDiskMetadata(path: string, diskBytes: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const table = await tableOf(handle, diskBytes);
    const ranges: [number, number][] = [];
    const ends = (start: number, size: number) => {
      const span = Math.min(MIB, size);
      ranges.push([start, span], [start + size - span, span]);
    };
    for (const partition of table?.partitions ?? []) {
      if (partition.startBytes + partition.sizeBytes <= diskBytes) ends(partition.startBytes, partition.sizeBytes);
    }
    ends(0, diskBytes);
    const zeros = Buffer.alloc(MIB);
    for (const [start, length] of ranges) await writeAt(handle, start, zeros.subarray(0, length));
  } finally {
    await handle.close();
  }
}

/**
 * Zeroes a whole disk. The file is cut to nothing and grown back, which leaves every byte zero and the file
 * sparse again: the content `shred --zero` leaves, without writing terabytes.
 */
export async function zeroDisk(path: string, diskBytes: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(0);
    await handle.truncate(diskBytes);
  } finally {
    await handle.close();
  }
}
