/**
 * The wire form of a config drive, both ways: Ironic sends the `config-2` ISO gzipped and base64-encoded as the
 * `configdrive` argument of IPA's `write_image` (openstacksdk `configdrive.pack`), and IPA decodes it the same way
 * back (`partition_utils.get_configdrive`) before writing it into a partition at the end of the disk, refusing one
 * over 64 MiB. The simulated agent uses the decoder, so both agents read exactly what the engine sent.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { ImageError } from './image-error.ts';

/** IPA's limit on a config drive once decoded (its partition is the last 64 MiB of the disk). */
export const CONFIG_DRIVE_MAX_BYTES = 64 * 1024 * 1024;

const tooLargeMessage =
  `the config drive is larger than ${CONFIG_DRIVE_MAX_BYTES} bytes once decompressed ` + "(IPA's limit)";

/** The ISO gzipped then base64-encoded, as Ironic sends it. */
export function configDriveWireForm(iso: Buffer): string {
  return gzipSync(iso).toString('base64');
}

/** The ISO from its wire form: base64-decoded then gunzipped; a drive over 64 MiB is refused, as IPA does. */
export function configDriveFromWireForm(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new ImageError('HostConfigDataInvalid', 'the config drive is not base64-encoded', {
      expected: 'base64 of a gzipped ISO',
      found: 'other text',
    });
  }
  let iso: Buffer;
  try {
    iso = gunzipSync(Buffer.from(compact, 'base64'), { maxOutputLength: CONFIG_DRIVE_MAX_BYTES + 1 });
  } catch (err) {
    const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new ImageError(
      'HostConfigDataInvalid',
      tooLarge ? tooLargeMessage : 'the config drive is not gzip-compressed',
      { cause: err },
    );
  }
  if (iso.length > CONFIG_DRIVE_MAX_BYTES) {
    throw new ImageError('HostConfigDataInvalid', tooLargeMessage, {
      expected: `at most ${CONFIG_DRIVE_MAX_BYTES} bytes`,
      found: `${iso.length} bytes`,
    });
  }
  return iso;
}
