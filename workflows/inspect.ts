/**
 * inspectWorkflow: out-of-band hardware inspection (Redfish inventory normalised to Metal3 HardwareDetails).
 * Drivers without out-of-band inspection (IPMI) end with `skipped` and the reason.
 */
import type { BmcTarget, InspectResult } from '../activities/contract.ts';
import { bmcCall } from './activities.ts';
import { asHostFailure } from './failures.ts';

export async function inspectWorkflow(input: { target: BmcTarget }): Promise<InspectResult> {
  try {
    return await bmcCall('inventory', 'inspectHardware', 'inspect: read the inventory out of band', input.target);
  } catch (err) {
    throw asHostFailure(err);
  }
}
