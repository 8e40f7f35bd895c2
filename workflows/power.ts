/**
 * powerWorkflow: one power change (online enforcement, a reboot's power-off, the power-off before delete),
 * read back from the BMC. Soft requests fall back to hard when the host does not go off in time.
 */
import type { BmcTarget } from '../activities/contract.ts';
import { bmcCall } from './activities.ts';
import { asHostFailure } from './failures.ts';

export async function powerWorkflow(input: { target: BmcTarget; on: boolean; mode: 'soft' | 'hard' }): Promise<{ poweredOn: boolean }> {
  try {
    const { poweredOn } = await bmcCall('power', 'setPower', `power ${input.on ? 'on' : `off (${input.mode})`}`, input.target, { on: input.on, mode: input.mode });
    return { poweredOn };
  } catch (err) {
    throw asHostFailure(err);
  }
}
