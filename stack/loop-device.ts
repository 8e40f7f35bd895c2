/**
 * Loop devices over files this project created: real block devices for the image benchmark and for tests of the
 * agents, so writes go through the kernel's block layer without touching any disk of the machine. Needs root (the
 * test machines and CI run as root); `losetup` comes from Debian's `mount` package (`imageTools`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoopDevice {
  /** `/dev/loopN`. */
  device: string;
  /** The backing file. */
  file: string;
  detach(): Promise<void>;
}

/** Attaches `file` (which must exist with the disk's size) to the first free loop device. */
export async function attachLoopDevice(file: string, options: { losetup?: string } = {}): Promise<LoopDevice> {
  const losetup = options.losetup ?? 'losetup';
  const { stdout } = await run(losetup, ['--find', '--show', file]);
  const device = stdout.trim();
  if (!device.startsWith('/dev/loop')) throw new Error(`losetup attached ${file} to '${device}', not a loop device`);
  let detached = false;
  return {
    device,
    file,
    async detach() {
      if (detached) return;
      detached = true;
      await run(losetup, ['--detach', device]);
    },
  };
}
