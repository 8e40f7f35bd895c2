/**
 * A small ISO 9660 reader: the volume id, directory listings and file contents, with Rock Ridge (POSIX names)
 * or Joliet (Unicode names) when the image has them, else the plain 8.3 names without their `;1` version.
 * The simulator uses it to read a deploy ISO's boot configuration (`/boot/grub/grub.cfg`,
 * `/isolinux/isolinux.cfg`) and the config drive a deploy agent wrote to a disk. It reads through a callback,
 * so the bytes can come from a buffer, a file at an offset (a partition) or HTTP range requests, and only the
 * sectors it needs are read.
 */
import { open } from 'node:fs/promises';

/** Reads `length` bytes at `offset`; may return fewer at the end of the medium. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/** One entry of a directory. */
export interface IsoEntry {
  name: string;
  directory: boolean;
  size: number;
  /** Byte offset of the entry's data in the image. */
  offset: number;
}

const SECTOR = 2048;
const FIRST_DESCRIPTOR = 16;

/** An error reading an image that is not ISO 9660 or is damaged. */
export class IsoError extends Error {
  override readonly name = 'IsoError';
}

interface Naming {
  kind: 'rockridge' | 'joliet' | 'plain';
  /** Bytes to skip at the start of each System Use area (Rock Ridge `SP` entry). */
  suspSkip: number;
}

/** An opened ISO 9660 image. */
export class Iso9660 {
  /** The primary volume descriptor's volume identifier, e.g. `config-2` or `VMEDIA_BOOT_ISO`. */
  readonly volumeId: string;
  /** How names are read: Rock Ridge, Joliet or plain ISO 9660. */
  readonly naming: Naming['kind'];
  private readonly read: ReadAt;
  private readonly root: IsoEntry;
  private readonly suspSkip: number;
  private readonly cache = new Map<number, IsoEntry[]>();

  private constructor(read: ReadAt, volumeId: string, root: IsoEntry, naming: Naming) {
    this.read = read;
    this.volumeId = volumeId;
    this.root = root;
    this.naming = naming.kind;
    this.suspSkip = naming.suspSkip;
  }

  /** Opens an image; throws IsoError when it has no primary volume descriptor. */
  static async open(read: ReadAt): Promise<Iso9660> {
    let primary: Buffer | undefined;
    let joliet: Buffer | undefined;
    for (let sector = FIRST_DESCRIPTOR; sector < FIRST_DESCRIPTOR + 32; sector += 1) {
      const descriptor = await read(sector * SECTOR, SECTOR);
      if (descriptor.length < SECTOR || descriptor.toString('latin1', 1, 6) !== 'CD001') {
        throw new IsoError(`no ISO 9660 volume descriptor at sector ${sector}`);
      }
      const type = descriptor[0];
      if (type === 255) break;
      if (type === 1 && !primary) primary = descriptor;
      // A supplementary descriptor with a UCS-2 escape sequence (%/@, %/C, %/E) is Joliet.
      if (
        type === 2 &&
        !joliet &&
        descriptor[88] === 0x25 &&
        descriptor[89] === 0x2f &&
        [0x40, 0x43, 0x45].includes(descriptor[90] ?? 0)
      ) {
        joliet = descriptor;
      }
    }
    if (!primary) throw new IsoError('no primary volume descriptor');
    const volumeId = primary.toString('latin1', 40, 72).trimEnd();
    const primaryRoot = rootOf(primary);
    // Rock Ridge is announced by an SP entry in the System Use area of the root's "." record.
    const first = await read(primaryRoot.offset, SECTOR);
    const dotLength = first[0] ?? 0;
    const nameLength = first[32] ?? 0;
    let systemUse = 33 + nameLength + ((nameLength & 1) === 0 ? 1 : 0);
    const sp = first.subarray(systemUse, dotLength);
    if (sp.length >= 7 && sp.toString('latin1', 0, 2) === 'SP' && sp[4] === 0xbe && sp[5] === 0xef) {
      systemUse = sp[6] ?? 0;
      return new Iso9660(read, volumeId, primaryRoot, { kind: 'rockridge', suspSkip: systemUse });
    }
    if (joliet) return new Iso9660(read, volumeId, rootOf(joliet), { kind: 'joliet', suspSkip: 0 });
    return new Iso9660(read, volumeId, primaryRoot, { kind: 'plain', suspSkip: 0 });
  }

  /** The entries of the directory at `path` (`/` for the root); undefined when there is none. */
  async list(path: string): Promise<IsoEntry[] | undefined> {
    const entry = await this.find(path);
    if (!entry?.directory) return undefined;
    return this.entries(entry);
  }

  /** The contents of the file at `path`; undefined when there is no such file. */
  async readFile(path: string): Promise<Buffer | undefined> {
    const entry = await this.find(path);
    if (!entry || entry.directory) return undefined;
    const data = await this.read(entry.offset, entry.size);
    if (data.length < entry.size) throw new IsoError(`${path}: the image ends inside the file`);
    return data;
  }

  /** The entry at `path`. Plain ISO 9660 names match case-insensitively, the others exactly. */
  async find(path: string): Promise<IsoEntry | undefined> {
    let current: IsoEntry = this.root;
    for (const part of path.split('/').filter((segment) => segment !== '')) {
      if (!current.directory) return undefined;
      const children = await this.entries(current);
      const match =
        this.naming === 'plain'
          ? children.find((child) => child.name.toLowerCase() === part.toLowerCase())
          : children.find((child) => child.name === part);
      if (!match) return undefined;
      current = match;
    }
    return current;
  }

  private async entries(directory: IsoEntry): Promise<IsoEntry[]> {
    const cached = this.cache.get(directory.offset);
    if (cached) return cached;
    const data = await this.read(directory.offset, directory.size);
    const out: IsoEntry[] = [];
    let position = 0;
    while (position < data.length) {
      const length = data[position] ?? 0;
      if (length === 0) {
        // Records never cross a sector boundary: the rest of this sector is padding.
        position = (Math.floor(position / SECTOR) + 1) * SECTOR;
        continue;
      }
      const record = data.subarray(position, position + length);
      position += length;
      const nameLength = record[32] ?? 0;
      const rawName = record.subarray(33, 33 + nameLength);
      // "." and ".." are recorded as the single bytes 0 and 1.
      if (nameLength === 1 && (rawName[0] === 0 || rawName[0] === 1)) continue;
      const flags = record[25] ?? 0;
      if (flags & 0x80) throw new IsoError('multi-extent files are not supported');
      const entry: IsoEntry = {
        name: await this.nameOf(record, rawName),
        directory: (flags & 0x02) !== 0,
        size: record.readUInt32LE(10),
        offset: record.readUInt32LE(2) * SECTOR,
      };
      out.push(entry);
    }
    this.cache.set(directory.offset, out);
    return out;
  }

  private async nameOf(record: Buffer, rawName: Buffer): Promise<string> {
    if (this.naming === 'joliet') return decodeUcs2(rawName).replace(/;\d+$/, '');
    if (this.naming === 'rockridge') {
      const nameLength = rawName.length;
      const start = 33 + nameLength + ((nameLength & 1) === 0 ? 1 : 0) + this.suspSkip;
      const alternate = await this.rockRidgeName(record.subarray(start));
      if (alternate !== undefined) return alternate;
    }
    return rawName.toString('latin1').replace(/;\d+$/, '').replace(/\.$/, '');
  }

  /** The name from Rock Ridge NM entries, following CE continuation areas. */
  private async rockRidgeName(area: Buffer): Promise<string | undefined> {
    let name: string | undefined;
    let current: Buffer | undefined = area;
    for (let hops = 0; current && hops < 8; hops += 1) {
      let next: Buffer | undefined;
      let position = 0;
      while (position + 4 <= current.length) {
        const signature = current.toString('latin1', position, position + 2);
        const length = current[position + 2] ?? 0;
        if (length < 4) break;
        if (signature === 'NM') {
          const flags = current[position + 4] ?? 0;
          // Flags 2 and 4 mean "." and ".."; otherwise the bytes are (part of) the name.
          if ((flags & 0x06) === 0) name = (name ?? '') + current.toString('utf8', position + 5, position + length);
        } else if (signature === 'CE' && length >= 28) {
          const block = current.readUInt32LE(position + 4);
          const offset = current.readUInt32LE(position + 12);
          const size = current.readUInt32LE(position + 20);
          next = await this.read(block * SECTOR + offset, size);
        } else if (signature === 'ST') {
          break;
        }
        position += length;
      }
      current = next;
    }
    return name;
  }
}

function rootOf(descriptor: Buffer): IsoEntry {
  const record = descriptor.subarray(156, 156 + 34);
  return { name: '', directory: true, size: record.readUInt32LE(10), offset: record.readUInt32LE(2) * SECTOR };
}

function decodeUcs2(bytes: Buffer): string {
  let text = '';
  for (let index = 0; index + 1 < bytes.length; index += 2) text += String.fromCharCode(bytes.readUInt16BE(index));
  return text;
}

/** A reader over bytes in memory. */
export function bufferReader(bytes: Buffer): ReadAt {
  return async (offset, length) => bytes.subarray(offset, offset + length);
}

/**
 * Opens the ISO 9660 image in file `path` starting at byte `base` (a partition of a disk file), runs `use`, and
 * closes the file.
 */
export async function withFileIso<T>(path: string, base: number, use: (iso: Iso9660) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r');
  try {
    const read: ReadAt = async (offset, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, base + offset);
      return buffer.subarray(0, bytesRead);
    };
    return await use(await Iso9660.open(read));
  } finally {
    await handle.close();
  }
}

/** The volume id of an ISO 9660 image at `base` in the file, or undefined when there is none there. */
export async function isoVolumeId(path: string, base: number): Promise<string | undefined> {
  try {
    return await withFileIso(path, base, async (iso) => iso.volumeId);
  } catch (error) {
    if (error instanceof IsoError) return undefined;
    throw error;
  }
}
