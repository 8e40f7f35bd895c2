/**
 * deployWorkflow: provisions a host through the deploy agent, as Ironic's `direct` deploy (or `custom-agent`
 * for `spec.customDeploy`) over virtual media: check the image (checksum resolved, URL answering, format as
 * declared: seconds, before minutes of ramdisk boot), boot the ramdisk, get the agent's deploy steps, run the
 * deploy (`write_image` with the config drive and root device hints, then the partition UUIDs and, for UEFI,
 * `install_bootloader`; or `customDeploy.method`, a deploy step of a custom ramdisk, with no image), prepare
 * the instance boot (boot device `disk`, persistent, in the host's boot mode; the ISO ejected; secure boot
 * turned on through the BMC for `UEFISecureBoot`, never silently left off), power off through the agent,
 * power on. Ends with the host on and booting from its disk.
 *
 * `install_bootloader` is skipped where Ironic skips it for a whole-disk image: in legacy (BIOS) boot mode
 * (Ironic's `configure_local_boot`: whole disk + UEFI, partition images or software RAID only), unless the host
 * has software RAID.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ConfigDriveRequest } from '../activities/images/config-drive.ts';
import type { AgentSession } from '../domain/agent.ts';
import type { ImageIntent } from '../domain/host-model.ts';
import { AGENT_TIMEOUTS, AGENT_TIMING, agentCall, bmcCall, checkpoint } from './activities.ts';
import { agentNode, bootRamdisk, findStep, listenToAgent, powerOffThroughAgent, runAgentStep, stepNames, stepReporter, waitForAgent, type AgentBootInput } from './agent-steps.ts';
import { workflowNow } from './clock.ts';
import { asHostFailure } from './failures.ts';

export interface DeployInput extends AgentBootInput {
  /** A disk image (`raw`, `qcow2`, `vdi`, `vmdk`) written by the agent's `write_image`. */
  image?: ImageIntent;
  /** Which Secrets make the config drive (`userData`, `networkData`, `metaData`): references only. */
  configDrive?: ConfigDriveRequest;
  /** `spec.customDeploy.method`: a deploy step of the ramdisk, run instead of writing an image. */
  customDeploy?: { method: string };
  /** The host has software RAID (status.raid): Ironic installs the bootloader in legacy (BIOS) mode too. */
  softwareRaid?: boolean;
}

const failure = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

export async function deployWorkflow(input: DeployInput): Promise<{ poweredOn: boolean }> {
  const channel = listenToAgent();
  const { image, customDeploy } = input;
  const step = stepReporter(customDeploy ? `custom deploy (${customDeploy.method})` : `deploy of ${image?.url ?? 'no image'}`);
  try {
    if (!image && !customDeploy) throw failure('SpecInvalid', 'nothing to deploy: neither spec.image nor spec.customDeploy is set');
    if (!customDeploy) step('checking the image', false);
    // BMO: a customDeploy method selects Ironic's custom-agent deploy, which runs that step and no write_image.
    const resolved = image && !customDeploy ? await bmcCall('quick', 'resolveImage', `check the image ${image.url}: checksum, URL, format`, image) : undefined;
    step('booting the deploy ramdisk', false);
    await bootRamdisk(input, 'deploy', workflowNow());
    step('waiting for the deploy agent');
    const session = await waitForAgent(channel, input.bootId, input.callbackTimeoutMs ?? AGENT_TIMEOUTS.deployCallbackTimeoutMs);
    const node = agentNode(input);
    const steps = await agentCall('quick', 'agentCommand', 'get the deploy steps', session, { name: 'deploy.get_deploy_steps', params: { node, ports: [] }, timing: AGENT_TIMING });
    const version = (steps as { hardware_manager_version?: unknown } | null)?.hardware_manager_version;
    if (customDeploy) {
      const method = customDeploy.method;
      const found = findStep(steps, 'deploy', method);
      if (!found) throw failure('AgentCommandFailed', `the deploy agent has no deploy step '${method}' (spec.customDeploy.method); it offers: ${stepNames(steps, 'deploy').join(', ') || 'none'}`);
      step(`running the deploy step ${method}`);
      await runAgentStep(session, 'deploy', { ...found, interface: found['interface'] ?? 'deploy', step: method, args: {} }, node, version, `run the deploy step ${method}`);
    } else if (resolved) {
      step(`writing the image (${resolved.diskFormat})`);
      const configDrive = input.configDrive ?? { host: input.host };
      await agentCall('long', 'agentWriteImage', `write ${resolved.fileName} to the disk the root device hints pick`, session, { image: resolved, configDrive, node, deployVersion: version, timing: AGENT_TIMING });
      const uuids = (await agentCall('quick', 'agentCommand', 'read the partition UUIDs', session, { name: 'standby.get_partition_uuids', params: {}, timing: AGENT_TIMING })) as Record<string, string | undefined> | null;
      if (input.bootMode !== 'legacy' || input.softwareRaid) {
        const uefi = input.bootMode !== 'legacy';
        step(uefi ? 'installing the bootloader (UEFI)' : 'installing the bootloader (BIOS, software RAID)', false);
        const params = {
          root_uuid: uuids?.['root uuid'] ?? null,
          efi_system_part_uuid: uuids?.['efi system partition uuid'] ?? null,
          prep_boot_part_uuid: uuids?.['PReP Boot partition uuid'] ?? null,
          target_boot_mode: uefi ? 'uefi' : 'bios',
        };
        const what = uefi ? 'install the bootloader (UEFI boot entries)' : 'install the bootloader on the software RAID holders (BIOS)';
        await agentCall('long', 'agentRun', what, session, { name: 'image.install_bootloader', params, timing: AGENT_TIMING });
      }
    }
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
export async function bootFromDisk(input: AgentBootInput, session: AgentSession, step: (s: string, notify?: boolean) => void): Promise<void> {
  const { target } = input;
  step('setting the host to boot from its disk', false);
  await bmcCall('media', 'ejectVirtualMedia', 'eject the deploy ISO', target);
  const mode = input.bootMode === 'legacy' ? ('Legacy' as const) : ('UEFI' as const);
  await bmcCall('quick', 'setBootDevice', `boot from disk (persistent, ${mode})`, target, { device: 'Hdd', once: false, mode });
  if (input.bootMode === 'UEFISecureBoot') {
    await bmcCall('quick', 'setSecureBoot', 'secure boot on for the instance', target, { enabled: true });
  }
  step('powering off through the agent', false);
  await powerOffThroughAgent(target, session, AGENT_TIMEOUTS.powerOffWaitMs);
  // Durable before powering on: redone after a crash, the power-off wait would find the instance running and
  // power it off again.
  await checkpoint();
  step('powering on into the instance', false);
  const on = await bmcCall('power', 'setPower', 'power on into the provisioned instance', target, { on: true, mode: 'hard' });
  if (!on.poweredOn) throw failure('PowerStateNotReached', 'the host did not power on into the provisioned instance');
}
