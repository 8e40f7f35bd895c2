/**
 * The partition writer against the real Debian tools: tables made by `sgdisk`/`sfdisk`, changed by our code,
 * read back by `sgdisk -v`/`-i` and `sfdisk --json`; filesystems made by `mkfs.ext4` and looked for by `blkid`
 * and `wipefs` after the metadata is destroyed. Disks are sparse files in a temporary folder.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianCommands } from '../stack/binaries.ts';
import {
  CONFIG_DRIVE_BYTES,
  PartitionError,
  SECTOR,
  addConfigDrivePartition,
  destroyDiskMetadata,
  diskIdentifier,
  fixGpt,
  readPartitionTable,
  zeroDisk,
} from './partitions.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
let tools: { sgdisk: string; sfdisk: string; 'mkfs.ext4': string; blkid: string; wipefs: string };
let dir: string;
let counter = 0;

beforeAll(async () => {
  tools = await debianCommands(
    { sgdisk: 'gdisk', sfdisk: 'fdisk', 'mkfs.ext4': 'e2fsprogs', blkid: 'util-linux', wipefs: 'util-linux' },
    () => undefined,
  );
  dir = mkdtempSync(join(tmpdir(), 'partitions-test-'));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(tool: keyof typeof tools, args: string[]): string {
  return execFileSync(tools[tool], args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sparse(size: number): string {
  counter += 1;
  const path = join(dir, `disk-${counter}.img`);
  closeSync(openSync(path, 'w'));
  truncateSync(path, size);
  return path;
}

function readBack(path: string, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, length, position));
  } finally {
    closeSync(fd);
  }
}

/**
 * A GPT "image" of `imageBytes` with one partition, copied onto the start of a bigger disk file. The image is
 * all zeros apart from its first and last MiB (the tables), so only those are copied.
 */
function gptImageOnDisk(imageBytes: number, diskBytes: number): { image: string; disk: string } {
  const image = sparse(imageBytes);
  run('sgdisk', ['-n', '1:2048:+16M', '-t', '1:8300', '-c', '1:root', image]);
  const disk = sparse(diskBytes);
  const fd = openSync(disk, 'r+');
  for (const offset of [0, imageBytes - MIB]) {
    const bytes = readBack(image, offset, MIB);
    writeSync(fd, bytes, 0, bytes.length, offset);
  }
  closeSync(fd);
  return { image, disk };
}

describe('GPT', () => {
  it('moves the backup GPT to the end of a bigger disk, which sgdisk then verifies clean', async () => {
    const { disk } = gptImageOnDisk(64 * MIB, GIB);
    expect(run('sgdisk', ['-v', disk])).toContain("it doesn't reside");
    expect(await fixGpt(disk, GIB)).toBe(true);
    expect(run('sgdisk', ['-v', disk])).toContain('No problems found');
    expect(await fixGpt(disk, GIB)).toBe(false);
  });

  it('adds the config drive in the last 64 MiB, as sgdisk -n 0:-64MB:0 would', async () => {
    const { disk } = gptImageOnDisk(64 * MIB, 2 * GIB);
    await fixGpt(disk, 2 * GIB);
    const added = await addConfigDrivePartition(disk, 2 * GIB);
    expect(added.number).toBe(2);
    expect(added.startBytes % MIB).toBe(0);
    expect(added.sizeBytes).toBeGreaterThan(CONFIG_DRIVE_BYTES - 2 * MIB);
    expect(added.startBytes + added.sizeBytes).toBe(2 * GIB - 33 * SECTOR);
    expect(run('sgdisk', ['-v', disk])).toContain('No problems found');
    const info = run('sgdisk', ['-i', '2', disk]);
    expect(info).toContain(`First sector: ${added.startBytes / SECTOR} `);
    expect(info).toContain(`Last sector: ${(added.startBytes + added.sizeBytes) / SECTOR - 1} `);
    expect(info).toContain('Linux filesystem');
    expect(info.toLowerCase()).toContain(`unique guid: ${added.uuid}`);
    // The image's own partition is untouched.
    expect(run('sgdisk', ['-i', '1', disk])).toContain("Partition name: 'root'");
    const table = await readPartitionTable(disk, 2 * GIB);
    expect(table?.type).toBe('gpt');
    expect(table?.partitions.map((partition) => partition.number)).toEqual([1, 2]);
    expect(table?.partitions[0]?.name).toBe('root');
  });

  it('reads the backup GPT when the primary is damaged', async () => {
    const { disk } = gptImageOnDisk(64 * MIB, GIB);
    await fixGpt(disk, GIB);
    const fd = openSync(disk, 'r+');
    writeSync(fd, Buffer.alloc(SECTOR), 0, SECTOR, SECTOR);
    closeSync(fd);
    expect((await readPartitionTable(disk, GIB))?.partitions).toHaveLength(1);
  });

  it('refuses when the image leaves no room at the end', async () => {
    const { disk } = gptImageOnDisk(64 * MIB, 64 * MIB);
    await expect(addConfigDrivePartition(disk, 64 * MIB)).rejects.toBeInstanceOf(PartitionError);
  });
});

describe('MBR', () => {
  function mbrDisk(size: number, partitions: string): string {
    const disk = sparse(size);
    execFileSync(tools.sfdisk, ['--quiet', disk], {
      input: `label: dos\nlabel-id: 0x1a2b3c4d\n${partitions}`,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return disk;
  }

  it('adds a FAT32 (LBA) primary partition in the last 64 MiB, and reads the disk identifier', async () => {
    const disk = mbrDisk(GIB, 'start=2048, size=32768, type=83\n');
    const added = await addConfigDrivePartition(disk, GIB);
    expect(added).toMatchObject({ number: 2, startBytes: GIB - 64 * MIB, sizeBytes: 64 * MIB, type: '0c' });
    const dump = JSON.parse(run('sfdisk', ['--json', disk])) as {
      partitiontable: { label: string; partitions: { start: number; size: number; type: string }[] };
    };
    expect(dump.partitiontable.label).toBe('dos');
    expect(dump.partitiontable.partitions).toEqual([
      expect.objectContaining({ start: 2048, size: 32768, type: '83' }),
      expect.objectContaining({ start: (GIB - 64 * MIB) / SECTOR, size: (64 * MIB) / SECTOR, type: 'c' }),
    ]);
    expect(await diskIdentifier(disk)).toBe('0x1a2b3c4d');
  });

  it('puts it just below 2 TiB on a bigger disk', async () => {
    const size = 3 * 1024 * GIB;
    const disk = mbrDisk(size, 'start=2048, size=32768, type=83\n');
    const added = await addConfigDrivePartition(disk, size);
    expect(added.startBytes).toBe((2_097_152 - 65) * MIB);
    expect(added.startBytes + added.sizeBytes).toBeLessThanOrEqual(2 * 1024 * GIB);
    const dump = JSON.parse(run('sfdisk', ['--json', disk])) as { partitiontable: { partitions: { start: number }[] } };
    expect(dump.partitiontable.partitions[1]?.start).toBe(added.startBytes / SECTOR);
  });

  it('refuses a fifth primary partition', async () => {
    const disk = mbrDisk(
      GIB,
      ['start=2048, size=2048', 'start=4096, size=2048', 'start=6144, size=2048', 'start=8192, size=2048'].join('\n') +
        '\n',
    );
    await expect(addConfigDrivePartition(disk, GIB)).rejects.toThrow(/already has 4 primary partitions/);
  });

  it('refuses a disk with no partition table', async () => {
    await expect(addConfigDrivePartition(sparse(GIB), GIB)).rejects.toThrow(/Unable to find a valid partition table/);
  });
});

describe('erasing', () => {
  it('destroys partition tables and filesystem signatures, keeping the data between them', async () => {
    const { disk } = gptImageOnDisk(64 * MIB, GIB);
    await fixGpt(disk, GIB);
    const start = 2048 * SECTOR;
    run('mkfs.ext4', ['-q', '-F', '-E', `offset=${start}`, disk, '16M']);
    expect(run('blkid', ['-p', '-O', String(start), '-o', 'value', '-s', 'TYPE', disk]).trim()).toBe('ext4');
    const marker = Buffer.from('data that metadata erasure keeps');
    const fd = openSync(disk, 'r+');
    writeSync(fd, marker, 0, marker.length, 512 * MIB);
    closeSync(fd);

    await destroyDiskMetadata(disk, GIB);

    expect(await readPartitionTable(disk, GIB)).toBeUndefined();
    expect(run('sgdisk', ['-p', disk])).toContain('Creating new GPT entries');
    expect(run('wipefs', ['--no-act', disk]).trim()).toBe('');
    expect(() => run('blkid', ['-p', '-O', String(start), disk])).toThrow();
    expect(readBack(disk, 512 * MIB, marker.length)).toEqual(marker);
  });

  it('zeroes a whole disk and leaves the file sparse', async () => {
    const disk = sparse(GIB);
    const fd = openSync(disk, 'r+');
    writeSync(fd, Buffer.alloc(4 * MIB, 0x5a), 0, 4 * MIB, 100 * MIB);
    closeSync(fd);
    expect(statSync(disk).blocks * 512).toBeGreaterThanOrEqual(4 * MIB);
    await zeroDisk(disk, GIB);
    expect(statSync(disk).size).toBe(GIB);
    expect(statSync(disk).blocks).toBe(0);
    expect(readBack(disk, 100 * MIB, 4 * MIB).every((byte) => byte === 0)).toBe(true);
  });
});
