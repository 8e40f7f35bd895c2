/**
 * cleanWorkflow: Metal3's automated cleaning through the deploy agent, as Ironic runs it with Metal3's
 * settings (`erase_devices_metadata` at priority 10, `erase_devices` off): boot the ramdisk, get the agent's
 * clean steps, run `erase_devices_metadata` (partition tables and filesystem signatures of every disk), or
 * `erase_devices` (every byte) when the host opted into a full erase, then power off through the agent and
 * eject the ISO. Runs on first provisioning (in `preparing`) and on every deprovision, unless
 * `automatedCleaningMode: disabled`. Ends with the host off.
 *
 * With `softwareRaid` it is Metal3's manual cleaning for software RAID instead (BMO's `BuildRAIDCleanSteps`):
 * the node carries `target_raid_config`, and the agent runs `raid.delete_configuration`,
 * `deploy.erase_devices_metadata` (plus `erase_devices` when a full automated clean is due), then
 * `raid.create_configuration` when volumes are asked for (IPA builds the md devices; domain/software-raid.ts).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { agentDisks, checkHolders, type SoftwareRaidPlan } from '../domain/software-raid.ts';
import { AGENT_TIMEOUTS, AGENT_TIMING, agentCall, bmcCall } from './activities.ts';
import { agentNode, bootRamdisk, findStep, listenToAgent, powerOffThroughAgent, runAgentStep, stepNames, stepReporter, waitForAgent, type AgentBootInput } from './agent-steps.ts';
import { workflowNow } from './clock.ts';
import { asHostFailure } from './failures.ts';

export interface CleanInput extends AgentBootInput {
  /** `metadata`: Metal3's `erase_devices_metadata`; `full`: `erase_devices` (the opt-in full erase). */
  mode: 'metadata' | 'full';
  /** Software RAID in `preparing`: the target Ironic would hold, and whether automated cleaning is also due. */
  softwareRaid?: SoftwareRaidPlan & { automatedClean: boolean };
}

/** One agent step to run: its interface and name. */
interface CleanStep {
  iface: 'deploy' | 'raid';
  name: string;
}

/** The steps of `input`, in order (see the file header). */
export function cleanSteps(input: Pick<CleanInput, 'mode' | 'softwareRaid'>): CleanStep[] {
  const raid = input.softwareRaid;
  if (!raid) return [{ iface: 'deploy', name: CLEAN_STEP[input.mode] }];
  return [
    { iface: 'raid', name: 'delete_configuration' },
    { iface: 'deploy', name: 'erase_devices_metadata' },
    ...(raid.automatedClean && input.mode === 'full' ? [{ iface: 'deploy' as const, name: 'erase_devices' }] : []),
    ...(raid.targetRaidConfig.logical_disks.length > 0 ? [{ iface: 'raid' as const, name: 'create_configuration' }] : []),
  ];
}

const STEP_TEXT: Record<string, string> = {
  erase_devices: 'erasing every disk (erase_devices)',
  erase_devices_metadata: 'erasing disk metadata (erase_devices_metadata)',
  delete_configuration: 'deleting the software RAID (raid.delete_configuration)',
  create_configuration: 'building the software RAID (raid.create_configuration)',
};

export const CLEAN_STEP: Record<CleanInput['mode'], string> = { metadata: 'erase_devices_metadata', full: 'erase_devices' };

export async function cleanWorkflow(input: CleanInput): Promise<{ poweredOn: boolean; erased?: string; raid?: unknown }> {
  const channel = listenToAgent();
  const plan = cleanSteps(input);
  const what = input.softwareRaid ? 'software RAID (manual cleaning)' : `cleaning (${CLEAN_STEP[input.mode]})`;
  const step = stepReporter(what);
  try {
    step('booting the deploy ramdisk', false);
    await bootRamdisk(input, 'clean', workflowNow());
    step('waiting for the deploy agent');
    const session = await waitForAgent(channel, input.bootId, input.callbackTimeoutMs ?? AGENT_TIMEOUTS.cleanCallbackTimeoutMs);
    const node = { ...agentNode(input), ...(input.softwareRaid ? { target_raid_config: input.softwareRaid.targetRaidConfig } : {}) };
    const steps = await agentCall('quick', 'agentCommand', 'get the clean steps', session, { name: 'clean.get_clean_steps', params: { node, ports: [] }, timing: AGENT_TIMING });
    const version = (steps as { hardware_manager_version?: unknown } | null)?.hardware_manager_version;
    if (input.softwareRaid && input.softwareRaid.volumes.length > 0) {
      // The disks as the agent sees them decide (IPA would build a RAID-1 on one disk): refused before any change.
      const hardware = await agentCall('quick', 'agentCommand', 'list the disks the agent sees', session, { name: 'poll.get_hardware_info', params: {}, timing: AGENT_TIMING });
      const invalid = checkHolders(input.softwareRaid.volumes, agentDisks(hardware));
      // Left in the ramdisk like any failed cleaning: the next attempt boots it again. (Powering off here would
      // let a replay of this task re-run the local agent calls against an agent that is gone.)
      if (invalid) throw ApplicationFailure.create({ type: 'RaidConfigInvalid', nonRetryable: true, message: invalid });
    }
    let raid: unknown;
    for (const { iface, name } of plan) {
      const found = findStep(steps, 'clean', name);
      if (!found) {
        throw ApplicationFailure.create({ type: 'AgentCommandFailed', nonRetryable: true, message: `the deploy agent offers no clean step '${name}' (it offers: ${stepNames(steps, 'clean').join(', ') || 'none'})` });
      }
      step(STEP_TEXT[name] ?? name);
      const result = await runAgentStep(session, 'clean', { ...found, interface: found['interface'] ?? iface, step: name }, node, version, input.softwareRaid ? `${iface}.${name}` : name);
      if (name === 'create_configuration') raid = (result as { clean_result?: unknown } | null)?.clean_result ?? null;
    }
    step('powering off', false);
    await powerOffThroughAgent(input.target, session, AGENT_TIMEOUTS.powerOffWaitMs);
    await bmcCall('media', 'ejectVirtualMedia', 'eject the deploy ISO', input.target);
    const erased = !input.softwareRaid ? CLEAN_STEP[input.mode] : input.softwareRaid.automatedClean ? plan.filter((s) => s.iface === 'deploy').at(-1)?.name : undefined;
    return { poweredOn: false, ...(erased ? { erased } : {}), ...(raid !== undefined ? { raid } : {}) };
  } catch (err) {
    throw asHostFailure(err);
  }
}
