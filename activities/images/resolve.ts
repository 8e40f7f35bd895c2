/**
 * `resolveImage`: everything the engine checks about `spec.image` before it boots a deploy ramdisk (minutes), so
 * that a wrong spec fails in seconds with a precise message instead of after the agent downloaded the image. The
 * checksum is resolved (a checksum URL fetched and the image's file name looked up in it), the image URL is
 * proved to answer with a small ranged GET, and the format its first bytes show must be the declared one. The
 * agent still downloads the image itself and verifies the digest over the bytes it writes.
 */
import {
  checksumOf,
  describeFormat,
  detectDiskFormat,
  formatMatches,
  imageFileName,
  imageSpecProblem,
  isChecksumUrl,
  parseChecksumFile,
  writableFormat,
  type Checksum,
  type ResolvedImage,
} from '../../domain/image.ts';
import type { ImageIntent } from '../../domain/host-model.ts';
import { ImageError } from '../../lib/image-error.ts';
import { fetchText, httpUrl, probeUrl, type ProbeOptions } from './probe.ts';

/** The checksum of `image`: its digest, or the digest its checksum file lists for the image's file name. */
async function resolveChecksum(
  image: ImageIntent,
  fileName: string,
  options: ProbeOptions,
): Promise<{ checksum: Checksum; checksumUrl?: string }> {
  const given = (image.checksum ?? '').trim();
  if (!isChecksumUrl(given)) {
    const check = checksumOf(given, image.checksumType);
    if (!check.ok)
      throw new ImageError('ImageChecksumInvalid', `spec.image.checksum: ${check.message}`, {
        found: given.slice(0, 140),
      });
    return { checksum: check.checksum };
  }
  httpUrl(given, 'the checksum URL');
  const text = await fetchText(given, 'the checksum file', { ...options, field: 'spec.image.checksum' });
  const entry = parseChecksumFile(text, fileName);
  if (!entry.ok) {
    const code = entry.reason === 'not-listed' ? 'ImageChecksumNotListed' : 'ImageChecksumFileInvalid';
    throw new ImageError(code, `${entry.message}; checksum file: ${given}`, {
      expected: fileName,
      found: entry.listed.length > 0 ? entry.listed.slice(0, 5).join(', ') : 'no entries',
    });
  }
  const check = checksumOf(entry.value, image.checksumType);
  if (!check.ok) {
    throw new ImageError(
      'ImageChecksumInvalid',
      `the digest ${given} lists for ${fileName} does not fit: ${check.message}`,
      { found: entry.value },
    );
  }
  return { checksum: check.checksum, checksumUrl: given };
}

/**
 * Resolves `spec.image` for a deploy by the agent (not a live ISO: that one is booted by virtual media). Throws
 * an {@link ImageError} whose code and message say what is wrong: ImageUrlInvalid, ImageChecksumInvalid,
 * ImageUrlRefused (a 4xx on the image or the checksum file), ImageChecksumNotListed, ImageChecksumFileInvalid,
 * ImageFormatMismatch, ImageFormatUnsupported; ImageFetchFailed (transient) when a server cannot be reached.
 */
export async function resolveImage(image: ImageIntent, options: ProbeOptions = {}): Promise<ResolvedImage> {
  if (image.format === 'live-iso') {
    throw new ImageError(
      'ImageFormatUnsupported',
      `a live-iso image (${image.url}) is booted by virtual media, not written to a disk by the deploy agent`,
      {
        expected: 'raw, qcow2, vmdk or vdi',
        found: 'live-iso',
      },
    );
  }
  if (image.url.toLowerCase().startsWith('oci://')) {
    throw new ImageError(
      'ImageFormatUnsupported',
      `oci:// images (${image.url}) are not supported yet; serve the image over http(s)`,
      { found: 'oci://' },
    );
  }
  httpUrl(image.url, 'spec.image.url');
  const problem = imageSpecProblem(image);
  if (problem) throw new ImageError('ImageChecksumInvalid', `spec.image: ${problem}`);
  const fileName = imageFileName(image.url);

  // Both requests at once; the checksum's verdict is reported first when both fail.
  const [checksum, probe] = await Promise.allSettled([
    resolveChecksum(image, fileName, options),
    probeUrl(image.url, 'the image', { ...options, field: 'spec.image.url' }),
  ]);
  if (checksum.status === 'rejected') throw checksum.reason;
  if (probe.status === 'rejected') throw probe.reason;

  const detected = detectDiskFormat(probe.value.head);
  const declared = image.format;
  if (detected === 'empty') {
    throw new ImageError('ImageFormatUnsupported', `the image ${image.url} is an empty file`, {
      expected: declared ?? 'a disk image',
      found: 'an empty file',
    });
  }
  if (declared !== undefined && !formatMatches(declared, detected)) {
    const hint = writableFormat(detected)
      ? `; set spec.image.format to ${writableFormat(detected)}`
      : '; the agent writes raw, qcow2, vmdk and vdi images';
    throw new ImageError(
      'ImageFormatMismatch',
      `spec.image.format is ${declared}, but the image ${image.url} is ${describeFormat(detected)}${hint}`,
      {
        expected: declared,
        found: detected,
      },
    );
  }
  const diskFormat = declared ?? writableFormat(detected);
  if (diskFormat === undefined) {
    throw new ImageError(
      'ImageFormatUnsupported',
      `the image ${image.url} is ${describeFormat(detected)}, ` +
        'which the deploy agent cannot write (raw, qcow2, vmdk and vdi can be)',
      {
        expected: 'raw, qcow2, vmdk or vdi',
        found: detected,
      },
    );
  }
  return {
    url: image.url,
    fileName,
    checksum: checksum.value.checksum,
    ...(checksum.value.checksumUrl ? { checksumUrl: checksum.value.checksumUrl } : {}),
    diskFormat,
    detectedFormat: detected,
    ...(probe.value.sizeBytes === undefined ? {} : { sizeBytes: probe.value.sizeBytes }),
  };
}
