/**
 * Disk images as the deploy agent takes them, in pure functions: which checksum algorithm a Metal3 image uses
 * (`checksumType`, or `auto` by the digest's length, as Ironic decides), the checksum files (`SHA256SUMS` and the
 * like) a checksum URL points to, the disk format a file's first bytes show (the formats of Ironic's image format
 * inspector), whether that format is the one `spec.image.format` declares, and the `image_info` that Ironic sends
 * to IPA's `write_image` deploy step. The I/O around these lives in activities/images/ and lib/image-stream.ts;
 * workflows may import this file.
 */
import type { ImageIntent } from './host-model.ts';

export const CHECKSUM_ALGORITHMS = ['md5', 'sha256', 'sha512'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** Hexadecimal digits of each algorithm's digest: what `checksumType: auto` goes by. */
export const DIGEST_HEX_LENGTH: Readonly<Record<ChecksumAlgorithm, number>> = { md5: 32, sha256: 64, sha512: 128 };

/** A resolved checksum: the algorithm and the expected digest, lower-case hex. */
export interface Checksum {
  algorithm: ChecksumAlgorithm;
  value: string;
}

/** The formats the deploy agent writes (`qemu-img convert` for all but raw). */
export type DiskFormat = 'raw' | 'qcow2' | 'vmdk' | 'vdi';

/**
 * What a file's first bytes show. Names follow Ironic's format inspector (`gpt` is a raw disk with a GPT);
 * the compressed ones and `empty` are what users hand over by mistake, detected to say so precisely.
 */
export type DetectedFormat =
  | 'raw'
  | 'gpt'
  | 'qcow2'
  | 'vmdk'
  | 'vdi'
  | 'vhd'
  | 'vhdx'
  | 'iso'
  | 'luks'
  | 'gzip'
  | 'xz'
  | 'zstd'
  | 'bzip2'
  | 'empty';

/** How many leading bytes {@link detectDiskFormat} needs to see every signature (ISO 9660 sits at 32 KiB + 1). */
export const FORMAT_PROBE_BYTES = 64 * 1024;

/** Everything the deploy needs to know about an image, resolved before a ramdisk is booted. Plain JSON. */
export interface ResolvedImage {
  url: string;
  /** The last path segment of `url`: Ironic's image id and the name looked up in a checksum file. */
  fileName: string;
  checksum: Checksum;
  /** The checksum file the digest was read from, when `spec.image.checksum` is a URL. */
  checksumUrl?: string;
  /** The format the agent is told (`disk_format`): the declared one, else the detected one. */
  diskFormat: DiskFormat;
  detectedFormat: DetectedFormat;
  /** From Content-Range or Content-Length, when the server says. */
  sizeBytes?: number;
}

/** The `image_info` argument of IPA's `write_image` deploy step for a whole-disk image (reference §2.4). */
export interface IpaImageInfo {
  id: string;
  urls: string[];
  disk_format: DiskFormat;
  container_format: null;
  /** IPA streams a raw image straight to the disk instead of staging it in RAM. */
  stream_raw_images: boolean;
  os_hash_algo: ChecksumAlgorithm;
  os_hash_value: string;
  node_uuid: string;
  /** Duplicated here by Ironic for old agents; the step's `configdrive` argument is what IPA reads. */
  configdrive?: string;
}

const SUPPORTED_CHECKSUM_TYPES = ['auto', 'md5', 'sha256', 'sha512'];

/**
 * BMO's admission check of `spec.image` (`Image.GetChecksum` in the BMO API), with BMO's messages: a non-live-ISO
 * image needs a checksum, an OCI image must not have one, `checksumType` must be known. Undefined when fine.
 */
export function imageSpecProblem(
  image: Pick<ImageIntent, 'url' | 'checksum' | 'checksumType' | 'format'>,
): string | undefined {
  if (image.url.toLowerCase().startsWith('oci://')) {
    return image.checksum
      ? 'spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)'
      : undefined;
  }
  if (image.format === 'live-iso') return undefined;
  if (!image.checksum) return 'checksum is required for normal images';
  const type = image.checksumType as string | undefined;
  if (type && !SUPPORTED_CHECKSUM_TYPES.includes(type)) {
    return `unknown checksumType ${type}, supported are ${SUPPORTED_CHECKSUM_TYPES.join(', ')}`;
  }
  return undefined;
}

/** Whether `spec.image.checksum` names a checksum file rather than holding a digest (Ironic: http(s) prefix). */
export function isChecksumUrl(checksum: string): boolean {
  const lower = checksum.trim().toLowerCase();
  return lower.startsWith('http://') || lower.startsWith('https://');
}

export type ChecksumCheck = { ok: true; checksum: Checksum } | { ok: false; message: string };

const clip = (text: string, max = 140): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * The algorithm and digest of a checksum given as a digest: `checksumType` when set, else (`auto` or unset) by
 * the digest's length as Ironic and IPA decide (32 md5, 64 sha256, 128 sha512). A digest that is not hex or
 * whose length does not fit is refused here, before a ramdisk boots, naming what was expected and found.
 */
export function checksumOf(digest: string, checksumType?: string): ChecksumCheck {
  const value = digest.trim();
  if (!/^[0-9a-fA-F]+$/.test(value)) {
    return {
      ok: false,
      message: `the checksum '${clip(value)}' is neither a hexadecimal digest nor an http(s):// URL of a checksum file`,
    };
  }
  if (checksumType && checksumType !== 'auto') {
    if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(checksumType)) {
      return {
        ok: false,
        message: `unknown checksumType ${checksumType}, supported are ${SUPPORTED_CHECKSUM_TYPES.join(', ')}`,
      };
    }
    const algorithm = checksumType as ChecksumAlgorithm;
    const expected = DIGEST_HEX_LENGTH[algorithm];
    if (value.length !== expected) {
      return {
        ok: false,
        message:
          `checksumType ${algorithm} expects a digest of ${expected} hexadecimal digits, ` +
          `but the checksum has ${value.length}`,
      };
    }
    return { ok: true, checksum: { algorithm, value: value.toLowerCase() } };
  }
  const algorithm = CHECKSUM_ALGORITHMS.find((a) => DIGEST_HEX_LENGTH[a] === value.length);
  if (!algorithm) {
    return {
      ok: false,
      message:
        `checksumType auto cannot tell the algorithm of a digest of ${value.length} hexadecimal digits ` +
        '(md5 has 32, sha256 64, sha512 128); set checksumType',
    };
  }
  return { ok: true, checksum: { algorithm, value: value.toLowerCase() } };
}

/** The last path segment of a URL, without query or fragment: Ironic's image id and checksum-file lookup name. */
export function imageFileName(url: string): string {
  const withoutQuery = url.split('#')[0]?.split('?')[0] ?? '';
  let path = withoutQuery;
  const schemeEnd = withoutQuery.indexOf('://');
  if (schemeEnd >= 0) {
    const slash = withoutQuery.indexOf('/', schemeEnd + 3); // the path starts after the authority
    path = slash >= 0 ? withoutQuery.slice(slash) : '';
  }
  const segments = path.split('/');
  return segments[segments.length - 1] ?? '';
}

export type ChecksumFileResult =
  | { ok: true; value: string }
  | { ok: false; reason: 'empty' | 'invalid' | 'not-listed'; message: string; listed: string[] };

const DIGEST = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$/;
const GNU_LINE = /^([0-9a-fA-F]+)\s+\*?(.+)$/; // `<digest>  <name>` (text mode) or `<digest> *<name>` (binary)
const BSD_LINE = /^[A-Za-z0-9-]+\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/; // `SHA256 (<name>) = <digest>`

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Finds the digest of `fileName` in a checksum file, as Ironic and IPA read one: blank lines and `#` comments
 * skipped; a file of one bare digest is that digest; otherwise GNU (`sha256sum`) and BSD (`shasum --tag`) lines,
 * the first whose name is exactly `fileName` (or its percent-decoded form) wins. Digests of 32, 64 and 128 digits.
 */
export function parseChecksumFile(text: string, fileName: string): ChecksumFileResult {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return { ok: false, reason: 'empty', message: 'the checksum file is empty', listed: [] };
  const only = lines[0] ?? '';
  if (lines.length === 1 && !/\s/.test(only)) {
    if (DIGEST.test(only)) return { ok: true, value: only.toLowerCase() };
    return {
      ok: false,
      reason: 'invalid',
      message:
        "the checksum file holds neither a digest nor '<digest>  <file name>' lines " +
        `(it holds '${clip(only, 80)}')`,
      listed: [],
    };
  }
  const names = new Set([fileName, safeDecode(fileName)]);
  const listed: string[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const bsd = BSD_LINE.exec(line);
    const gnu = bsd ? undefined : GNU_LINE.exec(line);
    const name = bsd ? bsd[1] : gnu?.[2];
    const digest = bsd ? bsd[2] : gnu?.[1];
    if (name === undefined || digest === undefined || !DIGEST.test(digest)) continue;
    if (names.has(name)) return { ok: true, value: digest.toLowerCase() };
    listed.push(name);
  }
  if (listed.length === 0) {
    return {
      ok: false,
      reason: 'invalid',
      message: `the checksum file has no '<digest>  <file name>' lines, so it does not list ${fileName}`,
      listed,
    };
  }
  const shown = listed.slice(0, 5).join(', ') + (listed.length > 5 ? `, and ${listed.length - 5} more` : '');
  return {
    ok: false,
    reason: 'not-listed',
    message: `the checksum file does not list ${fileName} (it lists ${shown})`,
    listed,
  };
}

function startsWith(bytes: Uint8Array, offset: number, signature: readonly number[]): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((b, i) => bytes[offset + i] === b);
}

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

/** Signatures at fixed offsets, checked in this order (Ironic's inspector; compressed formats by their magic). */
const SIGNATURES: readonly { format: DetectedFormat; offset: number; bytes: readonly number[] }[] = [
  { format: 'qcow2', offset: 0, bytes: [0x51, 0x46, 0x49, 0xfb] }, // "QFI\xfb"
  { format: 'vmdk', offset: 0, bytes: ascii('KDMV') }, // sparse extent header
  { format: 'vhdx', offset: 0, bytes: ascii('vhdxfile') },
  { format: 'vhd', offset: 0, bytes: ascii('conectix') }, // dynamic VHD: the footer copy leads
  { format: 'vdi', offset: 0x40, bytes: [0x7f, 0x10, 0xda, 0xbe] },
  { format: 'luks', offset: 0, bytes: [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe] },
  { format: 'gzip', offset: 0, bytes: [0x1f, 0x8b, 0x08] },
  { format: 'xz', offset: 0, bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { format: 'zstd', offset: 0, bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  // ISO 9660 before GPT: a hybrid ISO has both, and Ironic calls it an ISO.
  { format: 'iso', offset: 0x8001, bytes: ascii('CD001') },
  { format: 'gpt', offset: 512, bytes: ascii('EFI PART') },
  { format: 'gpt', offset: 4096, bytes: ascii('EFI PART') }, // 4 KiB-sector disk images
];

/**
 * The format a file's first bytes show (give at least {@link FORMAT_PROBE_BYTES} of them, or the whole file if
 * shorter). A fixed-size VHD carries its signature at the end only and reads as raw, as in Ironic's inspector.
 */
export function detectDiskFormat(head: Uint8Array): DetectedFormat {
  if (head.length === 0) return 'empty';
  for (const s of SIGNATURES) if (startsWith(head, s.offset, s.bytes)) return s.format;
  const bzip = startsWith(head, 0, ascii('BZh')) && (head[3] ?? 0) >= 0x31 && (head[3] ?? 0) <= 0x39;
  return bzip ? 'bzip2' : 'raw';
}

const FORMAT_NAMES: Record<DetectedFormat, string> = {
  raw: 'raw',
  gpt: 'raw (a GPT-partitioned disk)',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vdi: 'vdi',
  vhd: 'vhd',
  vhdx: 'vhdx',
  iso: 'an ISO 9660 image',
  luks: 'a LUKS-encrypted volume',
  gzip: 'gzip-compressed data',
  xz: 'xz-compressed data',
  zstd: 'zstd-compressed data',
  bzip2: 'bzip2-compressed data',
  empty: 'an empty file',
};

/** A detected format in words, for messages ("gzip-compressed data", "raw (a GPT-partitioned disk)"). */
export function describeFormat(format: DetectedFormat): string {
  return FORMAT_NAMES[format];
}

const WRITABLE: Readonly<Partial<Record<DetectedFormat, DiskFormat>>> = {
  raw: 'raw',
  gpt: 'raw',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vdi: 'vdi',
};

/** The disk format the agent converts from, for a detected format it can write; undefined when it cannot. */
export function writableFormat(detected: DetectedFormat): DiskFormat | undefined {
  return WRITABLE[detected];
}

/**
 * Whether the bytes are what `spec.image.format` declares, as Ironic's `image_format_matches`: `raw` accepts a
 * raw or GPT disk, `live-iso` an ISO, the others only themselves. With no declared format, anything the agent
 * can write matches.
 */
export function formatMatches(declared: ImageIntent['format'], detected: DetectedFormat): boolean {
  if (declared === undefined) return writableFormat(detected) !== undefined;
  if (declared === 'raw') return detected === 'raw' || detected === 'gpt';
  if (declared === 'live-iso') return detected === 'iso';
  return declared === detected;
}

/**
 * IPA's `image_info` for a resolved whole-disk image, as Ironic's `AgentDeploy.write_image` builds it with
 * `image_download_source = http`: the user's URL, the resolved digest as `os_hash_algo`/`os_hash_value` (so
 * the agent neither re-fetches a checksum file nor guesses an algorithm), and `stream_raw_images` on.
 */
export function imageInfoFor(
  image: ResolvedImage,
  options: { nodeUuid: string; configDrive?: string; streamRawImages?: boolean },
): IpaImageInfo {
  return {
    id: image.fileName,
    urls: [image.url],
    disk_format: image.diskFormat,
    container_format: null,
    stream_raw_images: options.streamRawImages ?? true,
    os_hash_algo: image.checksum.algorithm,
    os_hash_value: image.checksum.value.toLowerCase(),
    node_uuid: options.nodeUuid,
    ...(options.configDrive === undefined ? {} : { configdrive: options.configDrive }),
  };
}
