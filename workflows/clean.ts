/**
 * cleanWorkflow: Metal3's automated cleaning through the deploy agent, as Ironic runs it with Metal3's
 * settings (`erase_devices_metadata` at priority 10, `erase_devices` off): boot the ramdisk, get the agent's
 * clean steps, run `erase_devices_metadata` (partition tables and filesystem signatures of every disk), or
 * `erase_devices` (every byte) when the host opted into a full erase, then power off through the agent and
 * eject the ISO. Runs on first provisioning (in `preparing`) and on every deprovision, unless
 * `automatedCleaningMode: disabled`. Ends with the host off.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { AGENT_TIMEOUTS, AGENT_TIMING, agentCall, bmcCall } from './activities.ts';
import { agentNode, bootRamdisk, findStep, listenToAgent, powerOffThroughAgent, runAgentStep, stepNames, stepReporter, waitForAgent, type AgentBootInput } from './agent-steps.ts';
import { workflowNow } from './clock.ts';
import { asHostFailure } from './failures.ts';

export interface CleanInput extends AgentBootInput {
  /** `metadata`: Metal3's `erase_devices_metadata`; `full`: `erase_devices` (the opt-in full erase). */
  mode: 'metadata' | 'full';
}

export const CLEAN_STEP: Record<CleanInput['mode'], string> = { metadata: 'erase_devices_metadata', full: 'erase_devices' };

export async function cleanWorkflow(input: CleanInput): Promise<{ poweredOn: boolean; erased: string }> {
  const channel = listenToAgent();
  const step = stepReporter(`cleaning (${CLEAN_STEP[input.mode]})`);
  try {
    step('booting the deploy ramdisk', false);
    await bootRamdisk(input, 'clean', workflowNow());
    step('waiting for the deploy agent');
    const session = await waitForAgent(channel, input.bootId, input.callbackTimeoutMs ?? AGENT_TIMEOUTS.cleanCallbackTimeoutMs);
    const node = agentNode(input);
    const steps = await agentCall('quick', 'agentCommand', 'get the clean steps', session, { name: 'clean.get_clean_steps', params: { node, ports: [] }, timing: AGENT_TIMING });
    const name = CLEAN_STEP[input.mode];
    const found = findStep(steps, 'clean', name);
    if (!found) {
      throw ApplicationFailure.create({ type: 'AgentCommandFailed', nonRetryable: true, message: `the deploy agent offers no clean step '${name}' (it offers: ${stepNames(steps, 'clean').join(', ') || 'none'})` });
    }
    step(input.mode === 'full' ? 'erasing every disk (erase_devices)' : 'erasing disk metadata (erase_devices_metadata)');
    const version = (steps as { hardware_manager_version?: unknown } | null)?.hardware_manager_version;
    await runAgentStep(session, 'clean', { ...found, interface: found['interface'] ?? 'deploy', step: name }, node, version, name);
    step('powering off', false);
    await powerOffThroughAgent(input.target, session, AGENT_TIMEOUTS.powerOffWaitMs);
    await bmcCall('media', 'ejectVirtualMedia', 'eject the deploy ISO', input.target);
    return { poweredOn: false, erased: name };
  } catch (err) {
    throw asHostFailure(err);
  }
}
