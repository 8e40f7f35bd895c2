/**
 * The simulated agent's image path, IPA's `standby.prepare_image` for whole-disk images, on the project's image
 * code (domain/image.ts, lib/image-stream.ts, lib/qemu-img.ts) with IPA's decisions and wording around it: the
 * checksum (`os_hash_algo`/`os_hash_value`, or the legacy `checksum` by length, either possibly the URL of a
 * checksums file matched by the image's file name), verified over the downloaded bytes; a raw image with
 * `stream_raw_images` streamed straight onto the disk file; any other downloaded to a scratch file, its real
 * format checked against `disk_format` and the permitted formats, and converted onto the disk by `qemu-img`.
 * Also the config drive: decoded (URL, or gzip+base64) and written into a partition labelled `config-2` at the
 * end of the disk. Every failure is IPA's error with IPA's wording (`errors.ts`).
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { fetch } from 'undici';
import {
  CHECKSUM_ALGORITHMS,
  type Checksum,
  type ChecksumAlgorithm,
  FORMAT_PROBE_BYTES,
  checksumOf,
  detectDiskFormat,
  imageFileName,
  isChecksumUrl,
  parseChecksumFile,
} from '../../domain/image.ts';
import { ImageError } from '../../lib/image-error.ts';
import { streamImageToTarget } from '../../lib/image-stream.ts';
import { isoVolumeId } from '../../lib/iso9660.ts';
import { convertToRaw } from '../../lib/qemu-img.ts';
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
const CHUNK = 8 * 1024 * 1024;

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
   * SHA-256 of the bytes written at the start of the disk, for raw images verified with SHA-256 (the digest of
   * the download is that of the bytes written); null otherwise (hashing what qemu-img wrote would read the
   * whole image back).
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
  if (!Array.isArray(image.urls) || image.urls.length === 0) {
    throw ipaErrors.invalidParams("Image 'urls' must be a list with at least one element.");
  }
  const checksum = image.checksum;
  if (checksum !== undefined && checksum !== null && (typeof checksum !== 'string' || checksum === '')) {
    throw ipaErrors.invalidParams("Image 'checksum' must be a non-empty string.");
  }
  const algo = image.os_hash_algo;
  const value = image.os_hash_value;
  if (algo || value) {
    if (typeof algo !== 'string' || !algo) {
      throw ipaErrors.invalidParams("Image 'os_hash_algo' must be a non-empty string.");
    }
    if (typeof value !== 'string' || !value) {
      throw ipaErrors.invalidParams("Image 'os_hash_value' must be a non-empty string.");
    }
  } else if (!checksum) {
    throw ipaErrors.invalidParams(
      "Image checksum is not available, either the 'checksum' field or the 'os_hash_algo' and 'os_hash_value' " +
        'fields pair must be set for image verification.',
    );
  }
  return image;
}

/** IPA's `_fetch_checksum`: the checksum itself, or the digest a checksums file lists for the image. */
async function fetchChecksum(checksum: string, image: ImageInfo, signal: AbortSignal): Promise<string> {
  if (!isChecksumUrl(checksum)) return checksum;
  let response;
  try {
    response = await fetch(checksum, { signal });
  } catch (error) {
    if (signal.aborted) throw error;
    throw ipaErrors.imageDownload(checksum, `Unable to connect to ${checksum}: ${(error as Error).message}`);
  }
  const text = await response.text();
  if (response.status !== 200) {
    throw ipaErrors.imageDownload(checksum, `Received status code ${response.status} from ${checksum}, expected 200.`);
  }
  const name = imageFileName(image.urls[0] ?? '');
  const found = parseChecksumFile(text, name);
  if (found.ok) return found.value;
  if (found.reason === 'empty') throw ipaErrors.imageDownload(checksum, 'Empty checksum file');
  if (found.reason === 'not-listed')
    throw ipaErrors.imageDownload(checksum, `Checksum file does not contain name ${name}`);
  throw ipaErrors.imageDownload(checksum, `Invalid checksum file (No valid checksum found): ${found.message}`);
}

/** The algorithm and expected digest, as IPA's `ImageDownload` decides them. */
export async function resolveChecksum(image: ImageInfo, signal: AbortSignal): Promise<Checksum> {
  const algo = image.os_hash_algo ?? undefined;
  if (algo && image.os_hash_value) {
    if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(algo)) {
      throw new IpaError(
        'RESTError',
        500,
        'An error occurred',
        `Unable to verify image ${image.id} with available checksums. Please make sure the specified ` +
          `'os_hash_algo' (currently ${algo}) is supported by this ramdisk, or provide a md5 checksum via the ` +
          "'checksum' field",
      );
    }
    const value = (await fetchChecksum(image.os_hash_value, image, signal)).toLowerCase();
    return { algorithm: algo as ChecksumAlgorithm, value };
  }
  const digest = await fetchChecksum(image.checksum ?? '', image, signal);
  const check = checksumOf(digest);
  if (!check.ok) {
    throw new IpaError(
      'RESTError',
      500,
      'An error occurred',
      `Unable to proceed with image ${image.id} as the checksum indicator has been used but the algorithm could ` +
        `not be identified. Error: ${check.message}`,
    );
  }
  return check.checksum;
}

/** IPA's error for a failed download or stream: the wording of `ImageDownloadError`/`ImageChecksumError`. */
function downloadError(error: unknown, image: ImageInfo, url: string, location: string): unknown {
  if (!(error instanceof ImageError)) return error;
  if (error.code === 'ImageChecksumMismatch') {
    return ipaErrors.imageChecksum(location, image.id, error.expected ?? '', error.found ?? '');
  }
  if (error.status !== undefined) {
    return ipaErrors.imageDownload(
      image.id,
      `Received status code ${error.status} from ${url}, expected 200. ${error.message}`,
    );
  }
  if (error.code === 'ImageWriteFailed') {
    return ipaErrors.imageDownload(image.id, `Unable to write image to ${location}. Error: ${error.message}`);
  }
  return ipaErrors.imageDownload(image.id, error.message);
}

/**
 * Downloads the image onto `target` at offset 0 from the first URL that answers (IPA tries each in turn),
 * verifying the checksum over exactly the bytes written. `disk`: the target is the host's disk (its size is
 * the limit, its speed the simulated one); otherwise a scratch file.
 */
async function download(
  image: ImageInfo,
  checksum: Checksum,
  target: string,
  disk: SimDisk | undefined,
  options: WriteOptions,
  onBytes: (bytes: number) => void,
): Promise<number> {
  const failures: string[] = [];
  for (const [index, url] of image.urls.entries()) {
    try {
      const result = await streamImageToTarget({
        url,
        target,
        checksum,
        ...(disk ? { capacityBytes: disk.sizeBytes } : {}),
        signal: options.signal,
        ...(disk && options.bytesPerSec > 0 ? { maxBytesPerSecond: options.bytesPerSec } : {}),
        progressIntervalMs: 250,
        onProgress: (progress) => onBytes(progress.bytesWritten),
      });
      return result.bytes;
    } catch (error) {
      if (options.signal.aborted) throw error;
      const ipa = downloadError(error, image, url, target);
      // Only failing to reach an image moves on to the next URL; a bad checksum or a write error is final.
      const retryable =
        error instanceof ImageError && error.code !== 'ImageChecksumMismatch' && error.code !== 'ImageWriteFailed';
      if (!retryable || index === image.urls.length - 1) {
        if (failures.length === 0 || !(ipa instanceof IpaError)) throw ipa;
        throw ipaErrors.imageDownload(image.id, [...failures, ipa.details].join('\n '));
      }
      failures.push(`URL: ${url}; Error: ${ipa instanceof IpaError ? ipa.details : String(ipa)}`);
    }
  }
  throw ipaErrors.imageDownload(image.id, 'no URL to download from');
}

let qemuImgPath: Promise<string> | undefined;

/** `qemu-img`, installed from Debian's qemu-utils on first use. */
function qemuImg(): Promise<string> {
  qemuImgPath ??= debianCommands({ 'qemu-img': 'qemu-utils' }, () => undefined).then((found) => found['qemu-img']);
  return qemuImgPath;
}

/**
 * Downloads, verifies and writes a whole-disk image onto `disk`. Raw images with `stream_raw_images` go
 * straight to the disk (verified at the end, as IPA does); others land in a scratch file first, are verified,
 * format-checked and converted. Then the backup GPT moves to the end of the disk.
 */
export async function writeWholeDiskImage(
  image: ImageInfo,
  disk: SimDisk,
  options: WriteOptions,
): Promise<WrittenImage> {
  const checksum = await resolveChecksum(image, options.signal);
  const diskFormat = image.disk_format ?? 'raw';
  const started = performance.now();
  // The digest of a raw download is that of the bytes written; a conversion writes other bytes.
  const sha256Of = (raw: boolean) => (raw && checksum.algorithm === 'sha256' ? checksum.value : null);
  let written: WrittenImage;
  if (diskFormat === 'raw' && image.stream_raw_images) {
    options.log(`streaming raw image ${image.id} onto ${disk.name}`);
    const bytes = await download(image, checksum, disk.path, disk, options, (done) =>
      options.progress?.({ phase: 'write', bytes_downloaded: done, bytes_written: done }),
    );
    written = { checksum, sha256: sha256Of(true), bytes, diskFormat };
  } else {
    await mkdir(options.scratchDir, { recursive: true });
    const scratch = join(options.scratchDir, basename(image.id) || 'image');
    await rm(scratch, { force: true });
    try {
      const size = await download(image, checksum, scratch, undefined, options, (done) =>
        options.progress?.({ phase: 'download', bytes_downloaded: done, bytes_written: 0 }),
      );
      options.log(
        `downloaded and verified ${size} bytes of ${image.id} in ${Math.round(performance.now() - started)} ms`,
      );
      const outcome = await writeDownloaded(scratch, size, diskFormat, disk, options);
      written = { checksum, sha256: sha256Of(outcome.raw), bytes: outcome.bytes, diskFormat };
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

/** The format of a downloaded image, as IPA's format inspector names it. */
async function detectFormat(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(FORMAT_PROBE_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const detected = detectDiskFormat(head.subarray(0, bytesRead));
    return detected === 'vhd' ? 'vpc' : detected;
  } finally {
    await handle.close();
  }
}

async function writeDownloaded(
  scratch: string,
  size: number,
  diskFormat: string,
  disk: SimDisk,
  options: WriteOptions,
): Promise<{ bytes: number; raw: boolean }> {
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
    await copyThrottled(scratch, disk.path, options, size);
    return { bytes: size, raw: true };
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
  try {
    await convertToRaw({
      source: scratch,
      sourceFormat: format as 'qcow2',
      target: disk.path,
      qemuImg: qemu,
      signal: options.signal,
      ...(options.bytesPerSec > 0 ? { maxBytesPerSecond: options.bytesPerSec } : {}),
      onProgress: (fraction) =>
        options.progress?.({
          phase: 'write',
          bytes_downloaded: size,
          bytes_written: Math.round(fraction * virtualSize),
        }),
    });
  } catch (error) {
    if (options.signal.aborted || !(error instanceof ImageError)) throw error;
    throw ipaErrors.imageWrite(disk.name, 1, '', error.message);
  }
  return { bytes: virtualSize, raw: false };
}

/** IPA's `dd` of a downloaded raw image onto the disk, at the simulated disk's speed. */
async function copyThrottled(source: string, target: string, options: WriteOptions, size: number): Promise<void> {
  const handle = await open(target, 'r+');
  const started = performance.now();
  let written = 0;
  try {
    for await (const chunk of createReadStream(source, { highWaterMark: CHUNK })) {
      const bytes = chunk as Buffer;
      for (let done = 0; done < bytes.length; )
        done += (await handle.write(bytes, done, bytes.length - done, written + done)).bytesWritten;
      written += bytes.length;
      options.progress?.({ phase: 'write', bytes_downloaded: size, bytes_written: written });
      if (options.bytesPerSec > 0) {
        const due = (written / options.bytesPerSec) * 1000 - (performance.now() - started);
        if (due > 0) await sleep(due, undefined, { signal: options.signal });
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** IPA's `get_configdrive`: the ISO bytes of a config drive given as a URL or gzip+base64. */
export async function configDriveBytes(configdrive: string, nodeUuid: string, signal: AbortSignal): Promise<Buffer> {
  let data: Buffer;
  if (/^https?:\/\//i.test(configdrive)) {
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
