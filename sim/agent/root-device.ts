/**
 * Which disk the simulated agent writes an image to: IPA's `get_os_install_device`, through the project's one
 * matcher (`matchRootDevice`, IPA's hint grammar and `guess_root_disk`) over the disks as the agent reports
 * them. A miss is IPA's `DeviceNotFound`, with the matcher's message naming the hint and what each disk has.
 */
import { type BlockDevice, matchRootDevice } from '../../domain/root-device-hints.ts';
import { ipaErrors } from './errors.ts';
import { inventoryDisk } from './inventory.ts';
import type { SimDisk } from './runner.ts';
import { type MdDevice, mdDisk, mdInventoryDisk } from './software-raid.ts';

/** The disk to install on; throws DeviceNotFound when none fits the hints (or, without hints, none is 4 GiB). */
export function chooseRootDevice(
  disks: readonly SimDisk[],
  hints: Record<string, unknown> | null | undefined,
  mdDevices: readonly MdDevice[] = [],
): SimDisk {
  // IPA lists md devices among the disks (lsblk TYPE raid1 counts as a disk): without hints the smallest one of
  // at least 4 GiB wins, which is the RAID volume rather than its bigger holders.
  const all = [...disks, ...mdDevices.map(mdDisk)];
  const devices: BlockDevice[] = [...disks.map(inventoryDisk), ...mdDevices.map(mdInventoryDisk)];
  const choice = matchRootDevice(devices, hints ?? undefined);
  if (!choice.ok) throw ipaErrors.deviceNotFound(choice.message);
  const chosen = all[devices.indexOf(choice.device)];
  if (!chosen)
    throw ipaErrors.deviceNotFound(`the matcher chose ${choice.device.name}, which is not a disk of this host`);
  return chosen;
}
