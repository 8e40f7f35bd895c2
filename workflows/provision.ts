/**
 * provisionWorkflow: boots a live ISO through virtual media, as a rufio-style job of single actions, each
 * read back from the BMC: check the image URL, read the power state, power off if on, insert the ISO, set a
 * one-time boot from CD, power on, verify the BMC reports the ISO inserted and the host on.
 *
 * Exactly-once under crashes: insert, boot override, power off and power on are each skipped when the BMC
 * already shows them done. A restart (off, then on) is not idempotent by reading back, so the decision
 * "was the host on when we started" is made durable (a checkpoint records it in history) before any side
 * effect: a worker killed at any point and replaced powers the host on once.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { BmcTarget } from '../activities/contract.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import type { ImageIntent } from '../domain/host-model.ts';
import { bmcMedia, bmcPower, bmcQuick, checkpoint } from './activities.ts';
import { asHostFailure } from './failures.ts';

export interface ProvisionInput {
  target: BmcTarget;
  image: ImageIntent;
  bootMode?: 'UEFI' | 'UEFISecureBoot' | 'legacy';
}

export async function provisionWorkflow(input: ProvisionInput): Promise<{ poweredOn: boolean }> {
  const { target, image } = input;
  const parsed = checkBmcAddress(target.address);
  if (!parsed.ok) throw ApplicationFailure.create({ message: parsed.message, type: parsed.code, nonRetryable: true });
  if (image.format !== 'live-iso') {
    throw ApplicationFailure.create({ message: `image format '${image.format ?? 'unset'}' needs the deploy agent; only live-iso is deployed so far`, type: 'ImageFormatUnsupported', nonRetryable: true });
  }
  if (!parsed.address.capabilities.virtualMedia) {
    throw ApplicationFailure.create({
      message: `a live-iso image boots through virtual media, which the '${parsed.address.type}' BMC driver does not have; use a virtual-media address such as redfish-virtualmedia:// or idrac-virtualmedia://`,
      type: 'BmcUnsupported',
      nonRetryable: true,
    });
  }
  try {
    await bmcQuick.checkImage(image);
    const before = await bmcQuick.readPower(target);
    await checkpoint();
    if (before.poweredOn) {
      await bmcPower.setPower(target, { on: false, mode: 'hard' });
      await checkpoint();
    }
    await bmcMedia.insertVirtualMedia(target, { url: image.url });
    await bmcQuick.setBootDevice(target, { device: 'Cd', once: true, mode: input.bootMode === 'legacy' ? 'Legacy' : 'UEFI' });
    await bmcPower.setPower(target, { on: true, mode: 'hard' });
    const booted = await bmcQuick.readBootState(target);
    if (!booted.poweredOn || !booted.mediaInserted || booted.mediaUrl !== image.url) {
      throw ApplicationFailure.create({
        message: `after booting, the BMC reports power ${booted.poweredOn ? 'on' : 'off'} and media ${booted.mediaInserted ? `'${booted.mediaUrl}'` : 'not inserted'}, not the live ISO ${image.url}`,
        type: 'VirtualMediaFailed',
        nonRetryable: true,
      });
    }
    return { poweredOn: booted.poweredOn };
  } catch (err) {
    throw asHostFailure(err);
  }
}
