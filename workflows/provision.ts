/**
 * provisionWorkflow: boots a live ISO through virtual media, as a rufio-style job of single actions, each
 * read back from the BMC: check the image URL, power off if on, insert the ISO, set a one-time boot from CD,
 * power on, verify the BMC reports the ISO inserted and the host on.
 *
 * Exactly-once under crashes, decided from the BMC's own state: the ISO is inserted only while the host is
 * off, so "our ISO inserted and power on" can only mean the host already booted it. One read tells where the
 * job stands, and a worker killed at any point and replaced (its local activities run again) goes on from
 * there: one insert, one power-on. The whole job is one local activity (`bootVirtualMedia`,
 * activities/boot-media.ts), whose result lists the calls it made. Histories from before that replay the job
 * as one local activity per call, and those from before the read-first rule the older, checkpointed path.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { BmcTarget } from '../activities/contract.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import type { ImageIntent } from '../domain/host-model.ts';
import { liveIsoBootMismatch } from '../domain/virtual-media.ts';
import { bmcCall, bmcMedia, bmcPower, bmcQuick, checkpoint } from './activities.ts';
import { asHostFailure } from './failures.ts';
import type { ChildPatch } from './host-patches.ts';
import { patchesHandedOn } from './patches.ts';

export interface ProvisionInput {
  target: BmcTarget;
  image: ImageIntent;
  bootMode?: 'UEFI' | 'UEFISecureBoot' | 'legacy';
  /** Patches taken without a marker (workflows/host-patches.ts), handed on by the host run. */
  patches?: readonly ChildPatch[];
}

export async function provisionWorkflow(input: ProvisionInput): Promise<{ poweredOn: boolean }> {
  const { target, image } = input;
  const patched = patchesHandedOn<ChildPatch>(input.patches);
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
  const bootDevice = { device: 'Cd' as const, once: true, mode: input.bootMode === 'legacy' ? ('Legacy' as const) : ('UEFI' as const) };
  try {
    if (patched('provision-boot-in-one-call')) {
      const booted = await bmcCall('boot', 'bootVirtualMedia', `check the image URL, then boot the live ISO ${image.url} from the virtual CD`, target, {
        url: image.url,
        mode: bootDevice.mode,
        check: image,
        verify: true,
      });
      return { poweredOn: booted.poweredOn };
    }
    await bmcCall('quick', 'checkImage', `check the image URL ${image.url}`, image);
    if (patched('provision-from-bmc-state')) {
      const now = await bmcCall('quick', 'readBootState', 'read power and virtual media', target);
      const ours = now.mediaInserted && now.mediaUrl === image.url;
      if (!ours) {
        if (now.poweredOn) await bmcCall('power', 'setPower', 'power off (hard) before inserting the ISO', target, { on: false, mode: 'hard' });
        await bmcCall('media', 'insertVirtualMedia', `insert virtual media ${image.url}`, target, { url: image.url });
      }
      if (!ours || !now.poweredOn) {
        await bmcCall('quick', 'setBootDevice', 'one-time boot from virtual CD', target, bootDevice);
        await bmcCall('power', 'setPower', 'power on', target, { on: true, mode: 'hard' });
      }
      return await verifyBooted(target, image.url);
    }
    const before = await bmcQuick.readPower(target);
    await checkpoint();
    if (before.poweredOn) {
      await bmcPower.setPower(target, { on: false, mode: 'hard' });
      await checkpoint();
    }
    await bmcMedia.insertVirtualMedia(target, { url: image.url });
    await bmcQuick.setBootDevice(target, bootDevice);
    await bmcPower.setPower(target, { on: true, mode: 'hard' });
    return await verifyBooted(target, image.url);
  } catch (err) {
    throw asHostFailure(err);
  }
}

/** The BMC must report the host on with the live ISO inserted. */
async function verifyBooted(target: BmcTarget, url: string): Promise<{ poweredOn: boolean }> {
  const booted = await bmcCall('quick', 'readBootState', 'verify: power on, live ISO inserted', target);
  const mismatch = liveIsoBootMismatch(booted, url);
  if (mismatch) throw ApplicationFailure.create({ message: mismatch, type: 'VirtualMediaFailed', nonRetryable: true });
  return { poweredOn: booted.poweredOn };
}
