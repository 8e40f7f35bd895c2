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
  /** Write no faster than this (qemu-img's own rate limit; the simulator's slow disks). */
  maxBytesPerSecond?: number;
  /** Sees the fraction done (0..1) as qemu-img reports it (`-p`, unbuffered through coreutils' stdbuf). */
  onProgress?: (fraction: number) => void;
}

/** Converts `source` to raw bytes on `target`; fails with the tool's message. */
export async function convertToRaw(req: ConvertRequest): Promise<void> {
  // -n: the target exists (a disk); -t directsync: written through, as IPA; -W: out-of-order writes.
  const args = ['convert', '-f', req.sourceFormat, '-O', 'raw', '-n', '-t', 'directsync', '-W'];
  if (req.maxBytesPerSecond) args.push('-r', String(req.maxBytesPerSecond));
  if (req.onProgress) args.push('-p');
  args.push(req.source, req.target);
  const qemuImg = req.qemuImg ?? 'qemu-img';
  // Piped, qemu-img prints its progress only at exit unless its stdout is unbuffered.
  const [command, argv] = req.onProgress ? ['stdbuf', ['-o0', qemuImg, ...args]] : [qemuImg, args];
  const onProgress = req.onProgress;
  const run = await runTool(command, argv, {
    debianPackage: 'qemu-utils',
    ...(req.signal ? { signal: req.signal } : {}),
    ...(onProgress
      ? {
          onStdout: (text: string) => {
            const last = [...text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)].at(-1)?.[1];
            if (last !== undefined) onProgress(Number(last) / 100);
          },
        }
      : {}),
  });
  if (run.code !== 0) {
    throw new ImageError(
      'ImageWriteFailed',
      `qemu-img could not convert the ${req.sourceFormat} image onto ${req.target}: ` +
        run.stderr.trim().split('\n').slice(-2).join(' | '),
    );
  }
}
