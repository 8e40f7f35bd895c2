/**
 * deployWorkflow: provisions a host through the deploy agent, as Ironic's `direct` deploy (or `custom-agent`
 * for `spec.customDeploy`) over virtual media: boot the ramdisk, get the agent's deploy steps, run the deploy
 * (`customDeploy.method`, a deploy step of a custom ramdisk, with no image), prepare the instance boot (boot
 * device `disk`, persistent, in the host's boot mode; the ISO ejected; secure boot turned on through the BMC
 * for `UEFISecureBoot`, never silently left off), power off through the agent, power on. Ends with the host
 * on and booting from its disk.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { AgentSession } from '../domain/agent.ts';
import { AGENT_TIMEOUTS, AGENT_TIMING, agentCall, bmcCall, checkpoint } from './activities.ts';
import { agentNode, bootRamdisk, findStep, listenToAgent, powerOffThroughAgent, runAgentStep, stepNames, stepReporter, waitForAgent, type AgentBootInput } from './agent-steps.ts';
import { workflowNow } from './clock.ts';
import { asHostFailure } from './failures.ts';

export interface DeployInput extends AgentBootInput {
  /** `spec.customDeploy.method`: a deploy step of the ramdisk, run instead of writing an image. */
  customDeploy: { method: string };
}

const failure = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

export async function deployWorkflow(input: DeployInput): Promise<{ poweredOn: boolean }> {
  const channel = listenToAgent();
  const step = stepReporter(`custom deploy (${input.customDeploy.method})`);
  try {
    step('booting the deploy ramdisk');
    await bootRamdisk(input, 'deploy', workflowNow());
    step('waiting for the deploy agent');
    const session = await waitForAgent(channel, input.bootId, input.callbackTimeoutMs ?? AGENT_TIMEOUTS.deployCallbackTimeoutMs);
    const node = agentNode(input);
    const steps = await agentCall('quick', 'agentCommand', 'get the deploy steps', session, { name: 'deploy.get_deploy_steps', params: { node, ports: [] }, timing: AGENT_TIMING });
    const version = (steps as { hardware_manager_version?: unknown } | null)?.hardware_manager_version;
    const method = input.customDeploy.method;
    const found = findStep(steps, 'deploy', method);
    if (!found) throw failure('AgentCommandFailed', `the deploy agent has no deploy step '${method}' (spec.customDeploy.method); it offers: ${stepNames(steps, 'deploy').join(', ') || 'none'}`);
    step(`running the deploy step ${method}`);
    await runAgentStep(session, 'deploy', { ...found, interface: found['interface'] ?? 'deploy', step: method, args: {} }, node, version, `run the deploy step ${method}`);
    await bootFromDisk(input, session, step);
    return { poweredOn: true };
  } catch (err) {
    throw asHostFailure(err);
  }
}

/**
 * Ironic's `prepare_instance_boot` (virtual media: eject, boot mode, secure boot, boot device disk persistent),
 * `tear_down_agent` (power off through the agent) and `boot_instance` (power on).
 */
export async function bootFromDisk(input: AgentBootInput, session: AgentSession, step: (s: string) => void): Promise<void> {
  const { target } = input;
  step('setting the host to boot from its disk');
  await bmcCall('media', 'ejectVirtualMedia', 'eject the deploy ISO', target);
  const mode = input.bootMode === 'legacy' ? ('Legacy' as const) : ('UEFI' as const);
  await bmcCall('quick', 'setBootDevice', `boot from disk (persistent, ${mode})`, target, { device: 'Hdd', once: false, mode });
  if (input.bootMode === 'UEFISecureBoot') {
    await bmcCall('quick', 'setSecureBoot', 'secure boot on for the instance', target, { enabled: true });
  }
  step('powering off through the agent');
  await powerOffThroughAgent(target, session, AGENT_TIMEOUTS.powerOffWaitMs);
  // Durable before powering on: redone after a crash, the power-off wait would find the instance running and
  // power it off again.
  await checkpoint();
  step('powering on into the instance');
  const on = await bmcCall('power', 'setPower', 'power on into the provisioned instance', target, { on: true, mode: 'hard' });
  if (!on.poweredOn) throw failure('PowerStateNotReached', 'the host did not power on into the provisioned instance');
}
