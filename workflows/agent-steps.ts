/**
 * The deploy-agent part of an operation child (deploy, clean, in-band inspection), shared: booting the
 * ramdisk by virtual media, waiting for its agent (the host workflow forwards the first heartbeat of the
 * child's boot as `agentReady`), running the agent's steps, powering the host off through the agent, and
 * telling the host which step the child is in and since when (`operationStep`; the child's own current
 * details show it in the Temporal UI too).
 *
 * Exactly once under crashes, decided from the BMC's state as in provision.ts: the ISO of this boot is
 * inserted only while the host is off, so "our ISO inserted and power on" means the ramdisk already booted.
 * Agent commands that write are adopted, not repeated (activities/agent/index.ts).
 */
import { ApplicationFailure, condition, getExternalWorkflowHandle, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { AgentBootPlan, AgentCommandRequest } from '../activities/agent/contract.ts';
import type { BmcTarget } from '../activities/contract.ts';
import type { AgentBootPurpose, AgentInspection, AgentSession } from '../domain/agent.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import type { HostRef } from '../domain/host-model.ts';
import { AGENT_TIMING, agentCall, bmcCall } from './activities.ts';
import { workflowNow } from './clock.ts';
import type { ChildPatch } from './host-patches.ts';
import { agentInventory, agentReady, operationStep } from './messages.ts';
import { patchesHandedOn } from './patches.ts';

export type BootModeSpec = 'UEFI' | 'UEFISecureBoot' | 'legacy';

/** What every agent-driven child is given: the host, its BMC, and the boot the host workflow allotted. */
export interface AgentBootInput {
  target: BmcTarget;
  host: HostRef;
  /** Chosen by the host workflow; the agent's token derives from it. */
  bootId: string;
  bootMode: BootModeSpec;
  /** Ironic's `root_device` hints (already translated from `spec.rootDeviceHints`). */
  rootDevice?: Record<string, string>;
  /** Overrides the callback timeout of this boot's purpose (AGENT_TIMEOUTS); tests use short ones. */
  callbackTimeoutMs?: number;
  /** Patches taken without a marker (workflows/host-patches.ts), handed on by the host run. */
  patches?: readonly ChildPatch[];
}

/** Ironic's node as the agent sees it in step calls: UUID, boot mode, root device hints, erase settings. */
export function agentNode(input: AgentBootInput): Record<string, unknown> {
  const rootDevice = input.rootDevice && Object.keys(input.rootDevice).length > 0 ? input.rootDevice : undefined;
  return {
    uuid: input.host.uid,
    name: `${input.host.namespace}~${input.host.name}`,
    properties: { capabilities: `boot_mode:${input.bootMode === 'legacy' ? 'bios' : 'uefi'}`, ...(rootDevice ? { root_device: rootDevice } : {}) },
    instance_info: { ...(rootDevice ? { root_device: rootDevice } : {}) },
    // Ironic's `prepare_inband_cleaning` defaults: one overwrite pass, then zeros, no silent secure-erase fallback.
    driver_internal_info: {
      agent_erase_devices_iterations: 1,
      agent_erase_devices_zeroize: true,
      agent_continue_if_secure_erase_failed: false,
      agent_continue_if_ata_erase_failed: false,
      agent_enable_nvme_secure_erase: true,
      agent_enable_ata_secure_erase: true,
      disk_erasure_concurrency: 4,
    },
  };
}

/** Listens for what the host forwards from the agent API: the agent's session and inventory. */
export function listenToAgent(): { session(): AgentSession | undefined; inventory(): AgentInspection | undefined } {
  let session: AgentSession | undefined;
  let inventory: AgentInspection | undefined;
  setHandler(agentReady, (next) => {
    session = next;
  });
  setHandler(agentInventory, (next) => {
    inventory = next;
  });
  return { session: () => session, inventory: () => inventory };
}

/**
 * Reports the step the child is in: its own current details, and (for steps that may last, `notify`, the
 * default) a signal to its host workflow, which shows it in the host's status. Quick steps are not sent: each
 * message costs the host a workflow task and a status write.
 */
export function stepReporter(what: string): (step: string, notify?: boolean) => void {
  const parent = workflowInfo().parent;
  return (step, notify = true) => {
    const since = new Date(workflowNow()).toISOString();
    setCurrentDetails(`**${what}**: ${step}, since ${since}`);
    if (parent && notify) {
      getExternalWorkflowHandle(parent.workflowId)
        .signal(operationStep, { step, since })
        .catch(() => undefined); // a parent that moved on does not need to know
    }
  };
}

const failure = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

/**
 * Boots this boot's deploy ISO: secure boot off first when the host uses it (a stock ramdisk is not signed),
 * then, unless the BMC shows our ISO already inserted with the host on, power off, insert, one-time boot from
 * the virtual CD, power on: one local activity (activities/boot-media.ts; histories from before it replay one
 * per call). Returns the plan (which ISO, from where).
 */
export async function bootRamdisk(input: AgentBootInput, purpose: AgentBootPurpose, startedAt: number): Promise<AgentBootPlan> {
  const { target } = input;
  const parsed = checkBmcAddress(target.address);
  if (!parsed.ok) throw failure(parsed.code, parsed.message);
  if (!parsed.address.capabilities.virtualMedia) {
    throw failure('BmcUnsupported', `the deploy ramdisk boots through virtual media, which the '${parsed.address.type}' BMC driver does not have; use a virtual-media address such as redfish-virtualmedia:// or idrac-virtualmedia://`);
  }
  const plan = await agentCall('quick', 'prepareAgentBoot', `choose the deploy ramdisk of boot ${input.bootId}`, { host: input.host, bootId: input.bootId, purpose, startedAt });
  if (input.bootMode === 'UEFISecureBoot') {
    await bmcCall('quick', 'setSecureBoot', 'secure boot off for the deploy ramdisk', target, { enabled: false });
  }
  const mode = input.bootMode === 'legacy' ? ('Legacy' as const) : ('UEFI' as const);
  if (patchesHandedOn<ChildPatch>(input.patches)('ramdisk-boot-in-one-call')) {
    await bmcCall('boot', 'bootVirtualMedia', `boot the deploy ISO of boot ${input.bootId} (${plan.source}) from the virtual CD`, target, { url: plan.isoUrl, mode });
    return plan;
  }
  const now = await bmcCall('quick', 'readBootState', 'read power and virtual media', target);
  const ours = now.mediaInserted && now.mediaUrl === plan.isoUrl;
  if (!ours) {
    if (now.poweredOn) await bmcCall('power', 'setPower', 'power off (hard) before inserting the deploy ISO', target, { on: false, mode: 'hard' });
    await bmcCall('media', 'insertVirtualMedia', `insert the deploy ISO of boot ${input.bootId} (${plan.source})`, target, { url: plan.isoUrl });
  }
  if (!ours || !now.poweredOn) {
    await bmcCall('quick', 'setBootDevice', 'one-time boot from the virtual CD', target, { device: 'Cd', once: true, mode });
    await bmcCall('power', 'setPower', 'power on into the deploy ramdisk', target, { on: true, mode: 'hard' });
  }
  return plan;
}

/** Waits for the agent of `bootId`; after `timeoutMs` (Ironic's callback timeout) fails with AgentCallbackTimeout. */
export async function waitForAgent(channel: ReturnType<typeof listenToAgent>, bootId: string, timeoutMs: number): Promise<AgentSession> {
  const up = await condition(() => channel.session()?.bootId === bootId, timeoutMs);
  const session = channel.session();
  if (!up || !session) {
    throw failure('AgentCallbackTimeout', `the deploy agent of boot ${bootId} did not call back within ${Math.round(timeoutMs / 1000)} s: check that the host boots the deploy ISO and reaches the agent API`);
  }
  return session;
}

/** A step the agent lists (`get_deploy_steps` / `get_clean_steps` result), or undefined. */
export function findStep(result: unknown, kind: 'deploy' | 'clean', name: string): Record<string, unknown> | undefined {
  const byManager = (result as Record<string, Record<string, unknown[]> | undefined> | null)?.[`${kind}_steps`] ?? {};
  for (const steps of Object.values(byManager)) {
    for (const step of steps ?? []) {
      if ((step as { step?: unknown }).step === name) return step as Record<string, unknown>;
    }
  }
  return undefined;
}

/** Every step name the agent lists, for messages. */
export function stepNames(result: unknown, kind: 'deploy' | 'clean'): string[] {
  const byManager = (result as Record<string, Record<string, unknown[]> | undefined> | null)?.[`${kind}_steps`] ?? {};
  return [...new Set(Object.values(byManager).flatMap((steps) => (steps ?? []).map((s) => String((s as { step?: unknown }).step))))].sort();
}

/** Runs one in-band step (`execute_deploy_step` / `execute_clean_step`) of the agent to its end. */
export async function runAgentStep(session: AgentSession, kind: 'deploy' | 'clean', step: Record<string, unknown>, node: Record<string, unknown>, version: unknown, what: string): Promise<unknown> {
  const request: AgentCommandRequest = {
    name: `${kind}.execute_${kind}_step`,
    params: { step, node, ports: [], [`${kind}_version`]: version ?? null },
    step: String(step['step']),
    timing: AGENT_TIMING,
  };
  return (await agentCall('long', 'agentRun', what, session, request)).result;
}

/**
 * Ironic's `tear_down_agent` + power: the agent powers the host off (`standby.power_off`), the BMC is watched
 * for the post-deploy window, then a hard power off if the host is still on.
 */
export async function powerOffThroughAgent(target: BmcTarget, session: AgentSession, waitMs: number): Promise<void> {
  await agentCall('quick', 'agentPowerOff', 'ask the agent to power the host off', session, AGENT_TIMING);
  const waited = await bmcCall('power', 'waitForPower', 'wait for the agent to power the host off', target, { on: false, timeoutMs: waitMs });
  if (waited.poweredOn) await bmcCall('power', 'setPower', 'power off (hard): the agent did not in time', target, { on: false, mode: 'hard' });
}
