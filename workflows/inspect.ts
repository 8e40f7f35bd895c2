/**
 * inspectWorkflow: hardware inspection. Out of band (Redfish inventory normalised to Metal3 HardwareDetails;
 * drivers without it, like IPMI, end with `skipped` and the reason), or in band (`inspectionMode: agent`):
 * the deploy ramdisk boots with Ironic's inspection parameters, its agent posts the inventory (forwarded by
 * the host workflow as `agentInventory`), which is mapped as BMO maps it and merged with the BMC's view where
 * the BMC has one; then the host is powered off and the ISO ejected, as Ironic ends an inspection.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import type { BmcTarget, InspectResult } from '../activities/contract.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import type { HardwareDetails } from '../domain/hardware-data.schema.ts';
import { hardwareDetailsFromInventory, mergeHardwareDetails } from '../domain/inventory.ts';
import { AGENT_TIMEOUTS, bmcCall } from './activities.ts';
import { bootRamdisk, listenToAgent, stepReporter, type AgentBootInput } from './agent-steps.ts';
import { workflowNow } from './clock.ts';
import { asHostFailure } from './failures.ts';

export interface InspectInput {
  target: BmcTarget;
  /** In-band inspection through the deploy agent, on the boot the host workflow allotted. */
  agent?: AgentBootInput;
}

export async function inspectWorkflow(input: InspectInput): Promise<InspectResult> {
  // Set before anything else: the agent may post its inventory as soon as the ramdisk is up.
  const channel = input.agent ? listenToAgent() : undefined;
  try {
    if (!input.agent || !channel) return await bmcCall('inventory', 'inspectHardware', 'inspect: read the inventory out of band', input.target);
    const agent = input.agent;
    const step = stepReporter('in-band inspection');
    step('booting the deploy ramdisk', false);
    await bootRamdisk(agent, 'inspect', workflowNow());
    step('waiting for the agent\'s inventory');
    const timeoutMs = agent.callbackTimeoutMs ?? AGENT_TIMEOUTS.inspectWaitTimeoutMs;
    const posted = await condition(() => channel.inventory() !== undefined, timeoutMs);
    const data = channel.inventory();
    if (!posted || !data) {
      throw ApplicationFailure.create({
        type: 'AgentCallbackTimeout',
        nonRetryable: true,
        message: `the deploy agent of boot ${agent.bootId} posted no inventory within ${Math.round(timeoutMs / 1000)} s: check that the host boots the deploy ISO and reaches the agent API`,
      });
    }
    const inBand = hardwareDetailsFromInventory(data.inventory, data.pluginData);
    const parsed = checkBmcAddress(input.target.address);
    let outOfBand: HardwareDetails | undefined;
    if (parsed.ok && parsed.address.capabilities.outOfBandInspection) {
      step('reading the BMC\'s inventory to merge', false);
      outOfBand = (await bmcCall('inventory', 'inspectHardware', 'inspect: read the inventory out of band, to merge', input.target)).hardware as HardwareDetails | undefined;
    }
    step('powering off', false);
    await bmcCall('power', 'setPower', 'power off (hard) after inspection', input.target, { on: false, mode: 'hard' });
    await bmcCall('media', 'ejectVirtualMedia', 'eject the deploy ISO', input.target);
    return { poweredOn: false, hardware: mergeHardwareDetails(inBand, outOfBand) as Record<string, unknown> };
  } catch (err) {
    throw asHostFailure(err);
  }
}
