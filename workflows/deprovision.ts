/**
 * deprovisionWorkflow: takes a live-ISO host out of service: ejects the virtual media and powers the host
 * off, each read back. (Disk-image hosts are never provisioned until the deploy agent exists, so there is
 * no disk to clean here yet.)
 */
import type { BmcTarget } from '../activities/contract.ts';
import { bmcCall } from './activities.ts';
import { asHostFailure } from './failures.ts';

export async function deprovisionWorkflow(input: { target: BmcTarget; virtualMedia: boolean }): Promise<{ poweredOn: boolean }> {
  try {
    if (input.virtualMedia) await bmcCall('media', 'ejectVirtualMedia', 'eject virtual media', input.target);
    const { poweredOn } = await bmcCall('power', 'setPower', 'power off (hard)', input.target, { on: false, mode: 'hard' });
    return { poweredOn };
  } catch (err) {
    throw asHostFailure(err);
  }
}
