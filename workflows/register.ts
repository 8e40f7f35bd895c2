/**
 * registerWorkflow: one registration of a host with its BMC (Metal3 `registering`, or re-registration after
 * a credentials or address change): connect, authenticate, read the system and its power state, and (when asked,
 * for Redfish BMCs) read its firmware: BIOS settings, the attribute registry, firmware versions, which BMO turns
 * into the host's FirmwareSchema, HostFirmwareSettings and HostFirmwareComponents at registration. Both in one
 * local activity (`registerBmc`); histories from before that replay the firmware reading as a second one.
 * Ends with the credentials version that worked, or fails with a coded error (BmcAuthFailed, ...). A firmware
 * read that fails does not fail the registration: the next operation that touches the firmware reads it again.
 */
import { log } from '@temporalio/workflow';
import type { BmcTarget, RegisterResult } from '../activities/contract.ts';
import type { FirmwareReading } from '../domain/host-model.ts';
import { bmcCall } from './activities.ts';
import { asHostFailure, hostFailureOf } from './failures.ts';
import type { ChildPatch } from './host-patches.ts';
import { patchesHandedOn } from './patches.ts';

export interface RegisterInput {
  target: BmcTarget;
  /** Read the firmware too; `knownSchema`: the FirmwareSchema the bridge already has (its rules are not sent). */
  firmware?: { knownSchema?: string };
  /** Patches taken without a marker (workflows/host-patches.ts), handed on by the host run. */
  patches?: readonly ChildPatch[];
}

export async function registerWorkflow(input: RegisterInput): Promise<RegisterResult & { firmware?: FirmwareReading }> {
  const patched = patchesHandedOn<ChildPatch>(input.patches);
  if (input.firmware && patched('register-firmware-in-one-call')) {
    try {
      const what = 'register: authenticate, read the system, its power and its firmware (BIOS settings, attribute registry, versions)';
      // The firmware's time limit: a BIOS registry or an inventory of dozens of members.
      const { firmwareError, ...registered } = await bmcCall('firmware', 'registerBmc', what, input.target, { firmware: input.firmware });
      if (firmwareError) log.warn('could not read the firmware after registering', { error: firmwareError });
      return registered;
    } catch (err) {
      throw asHostFailure(err);
    }
  }
  let registered: RegisterResult;
  try {
    registered = await bmcCall('quick', 'registerBmc', 'register: authenticate, read the system and its power', input.target);
  } catch (err) {
    throw asHostFailure(err);
  }
  if (!input.firmware) return registered;
  try {
    const firmware = await bmcCall('firmware', 'readFirmware', 'read BIOS settings, attribute registry and firmware versions', input.target, input.firmware);
    return { ...registered, firmware };
  } catch (err) {
    log.warn('could not read the firmware after registering', { error: hostFailureOf(err).message });
    return registered;
  }
}
