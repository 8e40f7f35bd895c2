/**
 * Loop devices over disk files, for the real ironic-python-agent (which only works on block devices) and the
 * tests that check what it wrote. Each attached device is registered with the stack's reaper, so a device is
 * detached even when its owner dies without detaching it; the reaper only detaches a device that still holds
 * the file it was registered with, so a number reused by someone else is left alone.
 */
import { execFile } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { forgetLoopDevice, reapLoopDevice } from './processes.ts';

const exec = promisify(execFile);

/** A loop device attached by this process. */
export interface LoopDevice {
  /** `/dev/loopN` */
  device: string;
  /** The file it shows as a disk. */
  file: string;
  /** Detaches it (idempotent). */
  detach(): Promise<void>;
}

/** The file a loop device shows, as the kernel reports it, or undefined when it is not attached. */
export function loopBackingFile(device: string): string | undefined {
  try {
    return readFileSync(`/sys/block/${basename(device)}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Attaches `file` to a free loop device with partition scanning (`losetup --find --show --partscan`). */
export async function attachLoopDevice(file: string, losetup = 'losetup'): Promise<LoopDevice> {
  const { stdout } = await exec(losetup, ['--find', '--show', '--partscan', file]);
  const device = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(device)) throw new Error(`losetup attached ${file} to an unexpected device: ${device}`);
  const backing = loopBackingFile(device) ?? realpathSync(file);
  reapLoopDevice(device, backing);
  let detached = false;
  return {
    device,
    file,
    async detach() {
      if (detached) return;
      detached = true;
      if (loopBackingFile(device) === backing) {
        await exec(losetup, ['-d', device]).catch((e: unknown) => {
          if (loopBackingFile(device) === backing) throw e;
        });
      }
      forgetLoopDevice(device);
    },
  };
}
