/**
 * registerWorkflow: one registration of a host with its BMC (Metal3 `registering`, or re-registration after
 * a credentials or address change): connect, authenticate, read the system and its power state.
 * Ends with the credentials version that worked, or fails with a coded error (BmcAuthFailed, ...).
 */
import type { BmcTarget, RegisterResult } from '../activities/contract.ts';
import { bmcCall } from './activities.ts';
import { asHostFailure } from './failures.ts';

export async function registerWorkflow(input: { target: BmcTarget }): Promise<RegisterResult> {
  try {
    return await bmcCall('quick', 'registerBmc', 'register: authenticate, read the system and its power', input.target);
  } catch (err) {
    throw asHostFailure(err);
  }
}
