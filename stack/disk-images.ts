/**
 * Whole-disk images made with real tools (sgdisk or sfdisk for the partition table, qemu-img for the other
 * formats): the OS images `npm start` gives its demo hosts and the images tests and benchmarks deploy. A GPT
 * (or MBR) with one Linux partition filled with random bytes, so any misplaced or missing byte shows on the
 * disk it is written to.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { debianCommands } from './binaries.ts';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** The Debian tools the images are made with (installed on first use). */
export async function diskImageTools() {
  return debianCommands({ sgdisk: 'gdisk', sfdisk: 'fdisk', 'qemu-img': 'qemu-utils', xorriso: 'xorriso' }, () => {});
}

/**
 * A raw whole-disk image of `sizeMiB` MiB: a GPT (or an MBR, `dos`) with one Linux partition from 1 MiB to 1 MiB
 * before the end, filled with random bytes. Returns the image's bytes.
 */
export async function makeRawImage(path: string, sizeMiB: number, label: 'gpt' | 'dos' = 'gpt'): Promise<Buffer> {
  const { sgdisk, sfdisk } = await diskImageTools();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.alloc(0));
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(1), 0, 1, sizeMiB * MiB - 1);
  } finally {
    closeSync(fd);
  }
  if (label === 'gpt') {
    await exec(sgdisk, ['-n', `1:2048:-1M`, '-t', '1:8300', '-c', '1:root', path]);
  } else {
    const child = execFile(sfdisk, ['--quiet', path]);
    child.stdin?.end(`label: dos\nstart=2048, size=${(sizeMiB - 2) * 2048}, type=83\n`);
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sfdisk exited with ${code}`))));
    });
  }
  const data = openSync(path, 'r+');
  try {
    writeSync(data, randomBytes((sizeMiB - 2) * MiB), 0, (sizeMiB - 2) * MiB, MiB);
  } finally {
    closeSync(data);
  }
  return readFileSync(path);
}

/** Converts a raw image to another format with qemu-img (`vpc` is a dynamic VHD). Returns the new file's bytes. */
export async function convertRawImage(
  raw: string, format: 'qcow2' | 'vmdk' | 'vdi' | 'vhdx' | 'vpc', out: string,
): Promise<Buffer> {
  const { 'qemu-img': qemuImg } = await diskImageTools();
  await exec(qemuImg, ['convert', '-f', 'raw', '-O', format, raw, out]);
  return readFileSync(out);
}

/** Converts a raw image to qcow2 with qemu-img. */
export async function toQcow2(raw: string, out: string): Promise<Buffer> {
  return convertRawImage(raw, 'qcow2', out);
}
