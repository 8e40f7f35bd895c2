/**
 * `qemu-img convert` of a downloaded qcow2, vmdk or vdi image onto a disk, as IPA writes a non-raw whole-disk image
 * (`disk_utils.populate_image`: raw output, `directsync` cache, out-of-order writes, the target not re-created).
 * Debian's qemu-utils provides the tool (`imageTools` in stack/binaries.ts installs it).
 */
import { spawn } from 'node:child_process';
import type { DiskFormat } from '../domain/image.ts';
import { ImageError } from './image-error.ts';

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
  const command = req.qemuImg ?? 'qemu-img';
  // -n: the target exists (a disk); -t directsync: written through, as IPA; -W: out-of-order writes.
  const args = ['convert', '-f', req.sourceFormat, '-O', 'raw', '-n', '-t', 'directsync', '-W', req.source, req.target];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(req.signal ? { signal: req.signal } : {}) });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).catch((err: unknown) => {
    req.signal?.throwIfAborted();
    throw new ImageError('InternalError', `${command} cannot run (${(err as { code?: string }).code ?? (err as Error).message}); install Debian's qemu-utils`, { cause: err });
  });
  if (code !== 0) {
    throw new ImageError('ImageWriteFailed', `qemu-img could not convert the ${req.sourceFormat} image onto ${req.target}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }
}
