/**
 * The simulated agent's image path, IPA's `standby.prepare_image` for whole-disk images: resolve the checksum
 * (`os_hash_algo`/`os_hash_value`, or the legacy `checksum` by length, either possibly a URL of a checksums
 * file matched by the image's file name), download, hash the downloaded bytes, then either stream a raw image
 * onto the disk file or keep the download in a scratch file, check its real format against `disk_format` and
 * the permitted formats, and convert it onto the disk with `qemu-img convert`. Also the config drive: decoded
 * (URL, or gzip+base64), and written into a partition labelled `config-2` at the end of the disk. Every
 * failure is IPA's error with IPA's wording (`errors.ts`).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { fetch } from 'undici';
import { isoVolumeId } from '../../lib/iso9660.ts';
import { debianCommands } from '../../stack/binaries.ts';
import {
  CONFIG_DRIVE_BYTES,
  type Partition,
  PartitionError,
  addConfigDrivePartition,
  destroyDiskMetadata,
  fixGpt,
  readPartitionTable,
} from '../partitions.ts';
import { IpaError, ipaErrors } from './errors.ts';
import type { SimDisk } from './runner.ts';

const run = promisify(execFile);

/** IPA's default `permitted_image_formats`. */
export const DEFAULT_PERMITTED_FORMATS = ['raw', 'gpt', 'qcow2'];
/** Formats IPA writes without inspecting them. */
const RAW_LIKE = ['raw', 'gpt'];
const CHUNK = 1024 * 1024;

/** Ironic's `image_info` as the simulated agent reads it. */
export interface ImageInfo {
  id: string;
  urls: string[];
  disk_format?: string | null;
  stream_raw_images?: boolean;
  checksum?: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
  node_uuid?: string;
  configdrive?: string | null;
  [key: string]: unknown;
}

/** What was written. */
export interface WrittenImage {
  /** The checksum the downloaded image was verified against. */
  checksum: { algorithm: string; value: string };
  /**
   * SHA-256 of the bytes written at the start of the disk, for raw images (computed on the way, no extra
   * read); null for converted ones (hashing what qemu-img wrote would read the whole image back).
   */
  sha256: string | null;
  /** Bytes written: the raw image's size, or the converted image's virtual size. */
  bytes: number;
  diskFormat: string;
}

/** How far a write got, reported while the command runs. */
export interface WriteProgress {
  phase: 'download' | 'write';
  bytes_downloaded: number;
  bytes_written: number;
}

/** Knobs of one write. */
export interface WriteOptions {
  /** Called as bytes arrive and land on the disk. */
  progress?(progress: WriteProgress): void;
  signal: AbortSignal;
  /** Where a non-raw download waits for conversion. */
  scratchDir: string;
  /** Write speed limit in bytes/s; 0 for none. */
  bytesPerSec: number;
  permittedFormats: readonly string[];
  log(line: string): void;
}

/** IPA's `_validate_image_info`: the fields a write needs. */
export function validateImageInfo(info: unknown): ImageInfo {
  if (!info || typeof info !== 'object') throw ipaErrors.invalidParams("Image is missing 'id' field.");
  const image = info as ImageInfo;
  for (const field of ['id', 'urls']) {
    if (!(field in image)) throw ipaErrors.invalidParams(`Image is missing '${field}' field.`);
  }
  if (!Array.isArray(image.urls) || image.urls.length === 0)
    throw ipaErrors.invalidParams("Image 'urls' must be a list with at least one element.");
  const checksum = image.checksum;
  if (checksum !== undefined && checksum !== null && (typeof checksum !== 'string' || checksum === '')) {
    throw ipaErrors.invalidParams("Image 'checksum' must be a non-empty string.");
  }
  const algo = image.os_hash_algo;
  const value = image.os_hash_value;
  if (algo || value) {
    if (typeof algo !== 'string' || !algo)
      throw ipaErrors.invalidParams("Image 'os_hash_algo' must be a non-empty string.");
    if (typeof value !== 'string' || !value)
      throw ipaErrors.invalidParams("Image 'os_hash_value' must be a non-empty string.");
  } else if (!checksum) {
    throw ipaErrors.invalidParams(
      "Image checksum is not available, either the 'checksum' field or the 'os_hash_algo' and 'os_hash_value' " +
        "fields pair must be set for image verification.",
    );
  }
  return image;
}

function algorithmByLength(value: string): string {
  if (value.length === 128) return 'sha512';
  if (value.length === 64) return 'sha256';
  if (value.length === 32) return 'md5';
  throw new Error(
    'Unable to identify checksum algorithm used, and a value is not specified in the os_hash_algo setting.',
  );
}

function isUrl(value: string): boolean {
  return value.startsWith('http://') || value.startsWith('https://');
}

async function get(url: string, imageId: string, signal: AbortSignal) {
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    if (signal.aborted) throw error;
    throw ipaErrors.imageDownload(imageId, `Unable to connect to ${url}: ${(error as Error).message}`);
  }
  if (response.status !== 200) {
    const body = await response.text().catch(() => '');
    throw ipaErrors.imageDownload(
      imageId,
      `Received status code ${response.status} from ${url}, expected 200. Response body: ${body.slice(0, 200)}`,
    );
  }
  return response;
}

/** IPA's `_fetch_checksum`: the checksum itself, or the line of a checksums file naming the image. */
async function fetchChecksum(checksum: string, image: ImageInfo, signal: AbortSignal): Promise<string> {
  if (!isUrl(checksum)) return checksum;
  const text = await (await get(checksum, checksum, signal)).text();
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length === 0) throw ipaErrors.imageDownload(checksum, 'Empty checksum file');
  const only = /^([a-fA-F\d]{32}|[a-fA-F\d]{64}|[a-fA-F\d]{128})$/;
  if (lines.length === 1 && !lines[0]?.includes(' ')) {
    const match = only.exec(lines[0] ?? '');
    if (match?.[1]) return match[1];
    throw ipaErrors.imageDownload(checksum, `Invalid checksum file (No valid checksum found) ${JSON.stringify(lines)}`);
  }
  const expected = basename(new URL(image.urls[0] ?? '').pathname);
  const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const names = [new RegExp(`\\s[*]?${escaped}$`), new RegExp(`\\s\\(${escaped}\\)\\s`)];
  for (const line of lines) {
    if (line.startsWith('#') || !names.some((pattern) => pattern.test(line))) continue;
    const match =
      /^([a-fA-F\d]{128}|[a-fA-F\d]{64}|[a-fA-F\d]{32})\s/.exec(line) ??
      /\s([a-fA-F\d]{128}|[a-fA-F\d]{64}|[a-fA-F\d]{32})$/.exec(line);
    if (match?.[1]) return match[1];
  }
  throw ipaErrors.imageDownload(checksum, `Checksum file does not contain name ${expected}`);
}

/** The algorithm and expected value, as IPA's `ImageDownload` decides them. */
export async function resolveChecksum(
  image: ImageInfo,
  signal: AbortSignal,
): Promise<{ algorithm: string; expected: string }> {
  const algo = image.os_hash_algo ?? undefined;
  if (algo && image.os_hash_value) {
    if (!['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(algo)) {
      throw new IpaError(
        'RESTError',
        500,
        'An error occurred',
        `Unable to verify image ${image.id} with available checksums. Please make sure the specified ` +
          `'os_hash_algo' (currently ${algo}) is supported by this ramdisk, or provide a md5 checksum via the ` +
          `'checksum' field`,
      );
    }
    return { algorithm: algo, expected: (await fetchChecksum(image.os_hash_value, image, signal)).toLowerCase() };
  }
  const checksum = image.checksum ?? '';
  const expected = (await fetchChecksum(checksum, image, signal)).toLowerCase();
  try {
    return { algorithm: algorithmByLength(expected), expected };
  } catch (error) {
    throw new IpaError(
      'RESTError',
      500,
      'An error occurred',
      `Unable to proceed with image ${image.id} as the checksum indicator has been used but the algorithm could ` +
        `not be identified. Error: ${(error as Error).message}`,
    );
  }
}

/** Downloads from the first URL that answers 200 (IPA tries each in turn). */
async function openImage(image: ImageInfo, signal: AbortSignal) {
  const details: string[] = [];
  for (const url of image.urls) {
    try {
      return await get(url, image.id, signal);
    } catch (error) {
      if (!(error instanceof IpaError)) throw error;
      details.push(`URL: ${url}; Error: ${error.details}`);
    }
  }
  throw ipaErrors.imageDownload(image.id, details.join('\n '));
}

/** Writes chunks to a file at increasing offsets, no faster than `bytesPerSec`. */
class ThrottledWriter {
  private written = 0;
  private readonly started = performance.now();

  private readonly handle: FileHandle;
  private readonly bytesPerSec: number;
  private readonly signal: AbortSignal;

  constructor(handle: FileHandle, bytesPerSec: number, signal: AbortSignal) {
    this.handle = handle;
    this.bytesPerSec = bytesPerSec;
    this.signal = signal;
  }

  get bytes(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    let done = 0;
    while (done < chunk.byteLength) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.byteLength - done, this.written + done);
      done += bytesWritten;
    }
    this.written += chunk.byteLength;
    if (this.bytesPerSec > 0) {
      const due = (this.written / this.bytesPerSec) * 1000 - (performance.now() - this.started);
      if (due > 0) await sleep(due, undefined, { signal: this.signal });
    }
  }
}

/** Detects an image format from its first bytes, the way IPA's format inspector names them. */
export async function detectFormat(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(0x8006);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const at = (offset: number, text: string) =>
      bytesRead >= offset + text.length && head.toString('latin1', offset, offset + text.length) === text;
    if (at(0, 'QFI\xfb')) return 'qcow2';
    if (at(0, 'KDMV') || at(0, '# Disk DescriptorFile')) return 'vmdk';
    if (bytesRead >= 0x48 && head.readUInt32LE(0x40) === 0xbeda107f) return 'vdi';
    if (at(0, 'vhdxfile')) return 'vhdx';
    if (at(0, 'conectix')) return 'vpc';
    if (at(0x8001, 'CD001')) return 'iso';
    if (at(512, 'EFI PART')) return 'gpt';
    return 'raw';
  } finally {
    await handle.close();
  }
}

let qemuImgPath: Promise<string> | undefined;

/** `qemu-img`, installed from Debian's qemu-utils on first use. */
function qemuImg(): Promise<string> {
  qemuImgPath ??= debianCommands({ 'qemu-img': 'qemu-utils' }, () => undefined).then((found) => found['qemu-img']);
  return qemuImgPath;
}

/**
 * Downloads, verifies and writes a whole-disk image onto `disk`. Raw images with `stream_raw_images` go
 * straight to the disk (hashed on the way, verified at the end as IPA does); others land in a scratch file
 * first, are verified, format-checked and converted. Then the backup GPT moves to the end of the disk.
 */
export async function writeWholeDiskImage(
  image: ImageInfo,
  disk: SimDisk,
  options: WriteOptions,
): Promise<WrittenImage> {
  const { signal } = options;
  const checksum = await resolveChecksum(image, signal);
  const diskFormat = image.disk_format ?? 'raw';
  const verify = (hash: Hash, location: string): string => {
    const actual = hash.digest('hex');
    if (actual !== checksum.expected) throw ipaErrors.imageChecksum(location, image.id, checksum.expected, actual);
    return actual;
  };
  let written: WrittenImage;
  if (diskFormat === 'raw' && image.stream_raw_images) {
    options.log(`streaming raw image ${image.id} onto ${disk.name}`);
    const response = await openImage(image, signal);
    const hash = createHash(checksum.algorithm);
    // The record wants SHA-256 of the bytes written; with a SHA-256 checksum that is the same hash.
    const sha256 = checksum.algorithm === 'sha256' ? undefined : createHash('sha256');
    const handle = await open(disk.path, 'r+');
    const writer = new ThrottledWriter(handle, options.bytesPerSec, signal);
    try {
      for await (const chunk of response.body ?? []) {
        const bytes = chunk as Uint8Array;
        if (bytes.byteLength > disk.sizeBytes - writer.bytes)
          throw ipaErrors.imageDownload(
            image.id,
            `Unable to write image to device ${disk.name}. Error: No space left on device`,
          );
        hash.update(bytes);
        sha256?.update(bytes);
        await writer.write(bytes);
        options.progress?.({ phase: 'write', bytes_downloaded: writer.bytes, bytes_written: writer.bytes });
      }
    } catch (error) {
      if (error instanceof IpaError || signal.aborted) throw error;
      throw ipaErrors.imageDownload(
        image.id,
        `Unable to write image to device ${disk.name}. Error: ${(error as Error).message}`,
      );
    } finally {
      await handle.close();
    }
    const verified = verify(hash, disk.name);
    written = {
      checksum: { algorithm: checksum.algorithm, value: verified },
      sha256: sha256 ? sha256.digest('hex') : verified,
      bytes: writer.bytes,
      diskFormat,
    };
  } else {
    await mkdir(options.scratchDir, { recursive: true });
    const started = performance.now();
    const scratch = join(options.scratchDir, basename(image.id) || 'image');
    try {
      const response = await openImage(image, signal);
      const hash = createHash(checksum.algorithm);
      const handle = await open(scratch, 'w');
      let downloaded = 0;
      try {
        for await (const chunk of response.body ?? []) {
          const bytes = chunk as Uint8Array;
          hash.update(bytes);
          await handle.write(bytes, 0, bytes.byteLength, downloaded);
          downloaded += bytes.byteLength;
          options.progress?.({ phase: 'download', bytes_downloaded: downloaded, bytes_written: 0 });
        }
      } catch (error) {
        if (signal.aborted) throw error;
        throw ipaErrors.imageDownload(
          image.id,
          `Unable to write image to ${scratch}. Error: ${(error as Error).message}`,
        );
      } finally {
        await handle.close();
      }
      const verified = verify(hash, scratch);
      options.log(
        `downloaded and verified ${downloaded} bytes of ${image.id} in ${Math.round(performance.now() - started)} ms`,
      );
      const outcome = await writeDownloaded(
        scratch,
        downloaded,
        diskFormat,
        disk,
        options,
        checksum.algorithm === 'sha256' ? verified : undefined,
      );
      written = { checksum: { algorithm: checksum.algorithm, value: verified }, ...outcome };
      options.log(
        `wrote ${outcome.bytes} bytes of ${image.id} to ${disk.name} in ${Math.round(performance.now() - started)} ms`,
      );
    } finally {
      await rm(scratch, { force: true });
    }
  }
  await fixGpt(disk.path, disk.sizeBytes);
  return written;
}

async function writeDownloaded(
  scratch: string,
  size: number,
  diskFormat: string,
  disk: SimDisk,
  options: WriteOptions,
  knownSha256: string | undefined,
): Promise<Omit<WrittenImage, 'checksum'>> {
  let format = diskFormat;
  if (!RAW_LIKE.includes(diskFormat)) {
    const detected = await detectFormat(scratch);
    if (!options.permittedFormats.includes(detected)) {
      throw ipaErrors.invalidImage(
        `Security: Detected image format was ${detected}, but only ${options.permittedFormats.join(', ')} are allowed`,
      );
    }
    if (diskFormat && diskFormat !== 'unknown' && diskFormat !== detected) {
      throw ipaErrors.invalidImage(`Security: Expected format was ${diskFormat}, but image was actually ${detected}`);
    }
    format = detected;
  }
  await destroyDiskMetadata(disk.path, disk.sizeBytes);
  if (RAW_LIKE.includes(format)) {
    if (size > disk.sizeBytes) throw ipaErrors.imageWrite(disk.name, 1, '', 'No space left on device');
    const handle = await open(disk.path, 'r+');
    const sha256 = knownSha256 === undefined ? createHash('sha256') : undefined;
    try {
      const writer = new ThrottledWriter(handle, options.bytesPerSec, options.signal);
      for await (const chunk of createReadStream(scratch, { highWaterMark: CHUNK })) {
        sha256?.update(chunk as Buffer);
        await writer.write(chunk as Buffer);
        options.progress?.({ phase: 'write', bytes_downloaded: size, bytes_written: writer.bytes });
      }
    } finally {
      await handle.close();
    }
    return { sha256: sha256 ? sha256.digest('hex') : (knownSha256 ?? null), bytes: size, diskFormat };
  }
  const qemu = await qemuImg();
  let virtualSize: number;
  try {
    const { stdout } = await run(qemu, ['info', '--output=json', '-f', format, scratch], { signal: options.signal });
    virtualSize = (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
  } catch (error) {
    if (options.signal.aborted) throw error;
    throw ipaErrors.invalidImage(`Security: Image failed safety check: ${(error as Error).message}`);
  }
  if (virtualSize > disk.sizeBytes) {
    throw ipaErrors.imageWrite(
      disk.name,
      1,
      '',
      `the image's virtual size ${virtualSize} is bigger than the device (${disk.sizeBytes} bytes)`,
    );
  }
  const args = ['convert', '-p', '-f', format, '-O', 'raw', '-n', '-W'];
  if (options.bytesPerSec > 0) args.push('-r', String(options.bytesPerSec));
  await convert(qemu, [...args, scratch, disk.path], options.signal, (fraction) => {
    options.progress?.({ phase: 'write', bytes_downloaded: size, bytes_written: Math.round(fraction * virtualSize) });
  }).catch((error: unknown) => {
    if (options.signal.aborted || !(error instanceof ConvertError)) throw error;
    throw ipaErrors.imageWrite(disk.name, error.exitCode, '', error.stderr);
  });
  return { sha256: null, bytes: virtualSize, diskFormat };
}

class ConvertError extends Error {
  readonly exitCode: number;
  readonly stderr: string;

  constructor(exitCode: number, stderr: string) {
    super(`qemu-img exited with ${exitCode}: ${stderr}`);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * Runs `qemu-img convert -p`, reporting the fraction done from its `(12.34/100%)` progress lines (unbuffered
 * through coreutils' `stdbuf`: piped, qemu-img would only print them at exit). The fraction is qemu-img's own
 * count; under a rate limit it runs ahead of the bytes that reached the disk.
 */
function convert(
  qemu: string,
  args: string[],
  signal: AbortSignal,
  onFraction: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('stdbuf', ['-o0', qemu, ...args], { signal, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      const matches = [...text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      const last = matches.at(-1)?.[1];
      if (last !== undefined) onFraction(Number(last) / 100);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new ConvertError(code ?? 1, stderr.trim()))));
  });
}

/** IPA's `get_configdrive`: the ISO bytes of a config drive given as a URL or gzip+base64. */
export async function configDriveBytes(configdrive: string, nodeUuid: string, signal: AbortSignal): Promise<Buffer> {
  let data: Buffer;
  if (isUrl(configdrive)) {
    let response;
    try {
      response = await fetch(configdrive, { signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw ipaErrors.deployment(
        `Can't download the configdrive content for node ${nodeUuid} from '${configdrive}'. Reason: ` +
          `${(error as Error).message}`,
      );
    }
    if (response.status >= 400) {
      throw ipaErrors.deployment(
        `Can't download the configdrive content for node ${nodeUuid} from '${configdrive}'. Got status code ` +
          `${response.status}, response body ${await response.text()}`,
      );
    }
    data = Buffer.from(await response.arrayBuffer());
    // A URL may serve the gzip+base64 text as well as the bytes.
    const text = data.toString('latin1');
    if (/^[A-Za-z0-9+/=\s]+$/.test(text)) data = Buffer.from(text, 'base64');
  } else {
    if (!/^[A-Za-z0-9+/=\s]*$/.test(configdrive)) {
      throw ipaErrors.deployment(
        `Config drive for node ${nodeUuid} is not base64 encoded or the content is malformed.`,
      );
    }
    data = Buffer.from(configdrive, 'base64');
  }
  if (data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = gunzipSync(data);
    } catch (error) {
      throw ipaErrors.deployment(
        `Encountered error while decompressing and writing config drive for node ${nodeUuid}. Error: ` +
          `${(error as Error).message}`,
      );
    }
  }
  if (data.length > CONFIG_DRIVE_BYTES) {
    throw ipaErrors.deployment(
      `Config drive size exceeds maximum limit of 64MiB. Size of the given config drive is ` +
        `${Math.ceil(data.length / 1024 / 1024)} MiB for node ${nodeUuid}.`,
    );
  }
  return data;
}

/**
 * IPA's `create_config_drive_partition`: reuse a partition labelled `config-2`, else add one in the last
 * 64 MiB, then write the ISO into it. Returns the partition.
 */
export async function writeConfigDrive(disk: SimDisk, iso: Buffer, nodeUuid: string): Promise<Partition> {
  const table = await readPartitionTable(disk.path, disk.sizeBytes);
  let partition: Partition | undefined;
  for (const candidate of table?.partitions ?? []) {
    if ((await isoVolumeId(disk.path, candidate.startBytes))?.toLowerCase() === 'config-2') partition = candidate;
  }
  if (!partition) {
    try {
      await fixGpt(disk.path, disk.sizeBytes);
      partition = await addConfigDrivePartition(disk.path, disk.sizeBytes);
    } catch (error) {
      if (error instanceof PartitionError)
        throw ipaErrors.deployment(
          `Failed to create config drive on disk ${disk.name} for node ${nodeUuid}. Error: ${error.message}`,
        );
      throw error;
    }
  }
  if (iso.length > partition.sizeBytes) {
    throw ipaErrors.deployment(
      `Config drive of ${iso.length} bytes does not fit partition ${partition.number} of ${disk.name} ` +
        `(${partition.sizeBytes} bytes) for node ${nodeUuid}`,
    );
  }
  const handle = await open(disk.path, 'r+');
  try {
    let done = 0;
    while (done < iso.length)
      done += (await handle.write(iso, done, iso.length - done, partition.startBytes + done)).bytesWritten;
  } finally {
    await handle.close();
  }
  return partition;
}

/** IPA's `_validate_partitioning`: the written disk must have a partition table with a partition. */
export async function validatePartitioning(disk: SimDisk): Promise<void> {
  const table = await readPartitionTable(disk.path, disk.sizeBytes);
  if (!table) {
    throw ipaErrors.deployment(
      'Unable to find a valid partition table on the disk after writing the image. The image may be corrupted or ' +
        'it uses a different sector size than the device.',
    );
  }
  if (table.partitions.length === 0)
    throw ipaErrors.deployment(`No partitions found on the device ${disk.name} after writing the image.`);
}
