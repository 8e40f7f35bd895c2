/**
 * Booting a host from a virtual CD as one local activity (`bootVirtualMedia`), made of the single BMC calls
 * every other path uses: check the image URL (a live ISO), read power and media, power off if our ISO must be
 * inserted while the host is on, insert it, a one-time boot from the virtual CD, power on, and (asked for by a
 * live ISO, whose boot is the end of provisioning) read it all back.
 *
 * Exactly-once comes from the BMC's own state, not from history: the ISO is inserted only while the host is
 * off, so "our ISO inserted and power on" can only mean the host already booted it. A worker killed at any
 * point runs the activity again from its first read, which tells where the boot stands: one insert, one
 * power-on. One activity instead of one per call saves five Temporal tasks per provisioned host; which calls
 * it made is in its result (`steps`), so the history still says what was done.
 *
 * The real activities (activities/index.ts) and the workflow tier's fake compose the same calls through this
 * function, so the sequence lives here only.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { BmcTarget, BootVirtualMediaRequest, BootVirtualMediaResult, HostActivities } from './contract.ts';
import { liveIsoBootMismatch } from '../domain/virtual-media.ts';

/** The single calls a virtual-media boot is made of. */
export type BootCalls = Pick<HostActivities, 'checkImage' | 'readBootState' | 'setPower' | 'insertVirtualMedia' | 'setBootDevice'>;

export async function bootVirtualMedia(calls: BootCalls, target: BmcTarget, request: BootVirtualMediaRequest): Promise<BootVirtualMediaResult> {
  const steps: string[] = [];
  if (request.check) await calls.checkImage(request.check);
  const now = await calls.readBootState(target);
  const ours = now.mediaInserted && now.mediaUrl === request.url;
  if (!ours) {
    if (now.poweredOn) {
      await calls.setPower(target, { on: false, mode: 'hard' });
      steps.push('power off (hard) before inserting the ISO');
    }
    await calls.insertVirtualMedia(target, { url: request.url });
    steps.push('insert the ISO');
  }
  if (!ours || !now.poweredOn) {
    await calls.setBootDevice(target, { device: 'Cd', once: true, mode: request.mode });
    steps.push(`one-time boot from the virtual CD (${request.mode})`);
    await calls.setPower(target, { on: true, mode: 'hard' });
    steps.push('power on');
  }
  if (!request.verify) return { poweredOn: true, steps };
  const booted = await calls.readBootState(target);
  const mismatch = liveIsoBootMismatch(booted, request.url);
  if (mismatch) throw ApplicationFailure.create({ type: 'VirtualMediaFailed', message: mismatch, nonRetryable: true });
  return { poweredOn: booted.poweredOn, steps };
}
