/**
 * `qemu-img convert` of a downloaded qcow2, vmdk or vdi image onto a disk, as IPA writes a non-raw whole-disk image
 * (`disk_utils.populate_image`: raw output, `directsync` cache, out-of-order writes, the target not re-created).
 * Debian's qemu-utils provides the tool (`imageTools` in stack/binaries.ts installs it).
 */
import type { DiskFormat } from '../domain/image.ts';
import { ImageError } from './image-error.ts';
import { runTool } from './run-tool.ts';

export interface ConvertRequest {
  /** The downloaded image file. */
  source: string;
  sourceFormat: DiskFormat;
  /** An existing disk: a block device or a file of the disk's size (kept, not truncated). */
  target: string;
  /** The qemu-img binary; default `qemu-img` on PATH. */
  qemuImg?: string;
  signal?: AbortSignal;
}

/** Converts `source` to raw bytes on `target`; fails with the tool's message. */
export async function convertToRaw(req: ConvertRequest): Promise<void> {
  // -n: the target exists (a disk); -t directsync: written through, as IPA; -W: out-of-order writes.
  const args = ['convert', '-f', req.sourceFormat, '-O', 'raw', '-n', '-t', 'directsync', '-W', req.source, req.target];
  const run = await runTool(req.qemuImg ?? 'qemu-img', args, {
    debianPackage: 'qemu-utils',
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (run.code !== 0) {
    throw new ImageError(
      'ImageWriteFailed',
      `qemu-img could not convert the ${req.sourceFormat} image onto ${req.target}: ` +
        run.stderr.trim().split('\n').slice(-2).join(' | '),
    );
  }
}
