/**
 * Which child workflow runs an operation of the host workflow, with what input: the BMC-only children
 * (register, power, out-of-band inspection, live-ISO provisioning, plain deprovisioning) and the ones that
 * boot the deploy agent (in-band inspection, cleaning in `preparing` and on deprovision, disk images and
 * custom deploys). For the latter the host allots a boot (workflows/host-agent.ts) whose id travels in the
 * input; the agent's token derives from it, so history never holds one.
 *
 * What needs no child at all is decided here too: `prepare` without cleaning (it has no BMC call), cleaning
 * that cannot run because the BMC has no virtual media to boot the agent (an Event says so). RAID, BIOS and
 * firmware work (`prepare`, `servicing`) the host workflow adds around these (workflows/prepare.ts).
 */
import { executeChild } from '@temporalio/workflow';
import type { BmcTarget } from '../activities/contract.ts';
import type { BmcCapabilities } from '../domain/bmc-address.ts';
import type { RaidConfig, RootDeviceHints } from '../domain/baremetalhost.schema.ts';
import { cleaningMode } from '../domain/host-intent.ts';
import type { OperationRequest, OperationResults } from '../domain/host-lifecycle.ts';
import type { HostDesired, HostEvent, HostState } from '../domain/host-model.ts';
import { translateRootDeviceHints } from '../domain/root-device-hints.ts';
import type { SoftwareRaidPlan } from '../domain/software-raid.ts';
import type { AgentBootInput } from './agent-steps.ts';
import type { ChildPatch } from './host-patches.ts';
import { cleanWorkflow } from './clean.ts';
import { deployWorkflow } from './deploy.ts';
import { deprovisionWorkflow } from './deprovision.ts';
import { inspectWorkflow } from './inspect.ts';
import { powerWorkflow } from './power.ts';
import { provisionWorkflow } from './provision.ts';
import { registerWorkflow } from './register.ts';

type Result = OperationResults[OperationRequest['name']];

/** What every child of the host gets: its id, time limit and summary. */
export interface ChildOptions {
  workflowId: string;
  workflowExecutionTimeout: string;
  staticSummary: string;
}

/** How an operation runs: folded at once (no BMC call), or as a child workflow (some also in the host workflow). */
export type OperationPlan =
  | { kind: 'fold'; result: Result; events: HostEvent[] }
  | {
      kind: 'child';
      /** The agent boot the child needs, if any: the host allots one and passes its id. */
      agent?: 'inspect' | 'clean' | 'deploy';
      /** Events to show when the child starts (cleaning that cannot run, say). */
      events?: HostEvent[];
      run: (options: ChildOptions, bootId?: string) => Promise<Result>;
      /**
       * The same operation run in the host workflow itself (host patch `inline-bmc-operations`): set for the
       * BMC-only operations whose calls finish in seconds (see `bmcOnly`). Their calls are recorded in the host's
       * history instead of a child's; the child's start, its own workflow task and its completion are saved
       * (docs/decisions.md, "Quick BMC-only operations run in the host workflow").
       */
      inline?: () => Promise<Result>;
    };

export interface PlanContext {
  request: OperationRequest;
  desired: HostDesired;
  state: HostState;
  target: BmcTarget;
  capabilities: BmcCapabilities | undefined;
  driver: string;
  /** The host workflow run knows the deploy agent (patch `deploy-agent`); runs from before plan as they did. */
  agent: boolean;
  /** `register` also reads the BMC's firmware (for the firmware objects), knowing this FirmwareSchema. */
  registerFirmware?: { knownSchema?: string };
  /** The children's patches the host hands on (workflows/host-patches.ts `CHILD_PATCHES`; host patch `fewer-history-events`). */
  childPatches?: readonly ChildPatch[];
  /** `prepare` builds (or deletes) software RAID through the agent (patch `software-raid`; the host checked it). */
  softwareRaid?: SoftwareRaidPlan;
}

/** The agent-driven input every such child shares. */
function agentInput(c: PlanContext, bootId: string): AgentBootInput {
  const hints = translateRootDeviceHints(c.desired.spec.rootDeviceHints as RootDeviceHints | undefined);
  return {
    target: c.target,
    host: c.desired.ref,
    bootId,
    bootMode: c.desired.spec.bootMode ?? 'UEFI',
    ...(Object.keys(hints).length > 0 ? { rootDevice: hints } : {}),
    ...(c.childPatches ? { patches: c.childPatches } : {}),
  };
}

/**
 * A BMC-only operation: the workflow function `fn` with `input`, as a child; one whose calls finish in seconds
 * (`quick`) can also run in the host workflow (`inline`). A live-ISO boot (the BMC fetches the ISO) and a soft
 * power-off (the OS takes its time) can take minutes: they stay children, so the host answers its messages and
 * shows the operation meanwhile.
 */
function bmcOnly<I>(fn: (input: I) => Promise<Result>, input: I, quick: boolean): OperationPlan {
  const run = (o: ChildOptions) => executeChild(fn, { ...o, args: [input] });
  return quick ? { kind: 'child', run, inline: () => fn(input) } : { kind: 'child', run };
}

/** Plans `c.request` (see the file header). */
export function planOperation(c: PlanContext): OperationPlan {
  const { request, desired, state, target, capabilities } = c;
  const virtualMedia = Boolean(capabilities?.virtualMedia);
  const mode = cleaningMode(desired);
  const cannotClean = (when: string): HostEvent => ({
    type: 'Warning',
    reason: 'CleaningSkipped',
    message: `automated cleaning (${mode}) ${when} boots the deploy agent by virtual media, which the ${c.driver} driver does not have: disks were not cleaned`,
  });
  if (!c.agent) return planBeforeAgent(c);
  switch (request.name) {
    case 'register':
      return bmcOnly(registerWorkflow, {
        target,
        ...(c.registerFirmware ? { firmware: c.registerFirmware } : {}),
        ...(c.childPatches ? { patches: c.childPatches } : {}),
      }, true);
    case 'power':
      return bmcOnly(powerWorkflow, { target, on: request.on, mode: request.mode }, request.on || request.mode === 'hard');
    case 'inspect':
      if (desired.spec.inspectionMode === 'agent' && virtualMedia) {
        return { kind: 'child', agent: 'inspect', run: (o, bootId) => executeChild(inspectWorkflow, { ...o, args: [{ target, agent: agentInput(c, bootId as string) }] }) };
      }
      if (capabilities && !capabilities.outOfBandInspection) {
        const skipped = `the ${c.driver} driver has neither out-of-band inspection nor virtual media to boot the inspection agent`;
        return { kind: 'fold', result: { poweredOn: state.poweredOn, skipped }, events: [] };
      }
      return bmcOnly(inspectWorkflow, { target }, true);
    case 'prepare': {
      if (c.softwareRaid) {
        // Software RAID is manual cleaning in the agent: it runs whenever asked, with the automated cleaning if due.
        const softwareRaid = { ...c.softwareRaid, automatedClean: mode !== 'disabled' && !state.cleanedAt };
        return {
          kind: 'child',
          agent: 'clean',
          run: async (o, bootId) => {
            const done = await executeChild(cleanWorkflow, { ...o, args: [{ ...agentInput(c, bootId as string), mode: mode === 'full' ? 'full' : 'metadata', softwareRaid }] });
            return { poweredOn: done.poweredOn, ...(done.erased ? { cleaned: done.erased } : {}) };
          },
        };
      }
      // First provisioning: cleaned once, unless cleaning is disabled; a later `preparing` (settings changed) is not.
      if (mode === 'disabled' || state.cleanedAt) return { kind: 'fold', result: { poweredOn: state.poweredOn }, events: [] };
      if (!virtualMedia) return { kind: 'fold', result: { poweredOn: state.poweredOn }, events: [cannotClean('before first provisioning')] };
      return {
        kind: 'child',
        agent: 'clean',
        run: async (o, bootId) => {
          const done = await executeChild(cleanWorkflow, { ...o, args: [{ ...agentInput(c, bootId as string), mode }] });
          return { poweredOn: done.poweredOn, cleaned: done.erased };
        },
      };
    }
    case 'provision': {
      const { image, customDeploy } = request;
      if (!customDeploy && image?.format === 'live-iso') {
        const bootMode = desired.spec.bootMode ? { bootMode: desired.spec.bootMode } : {};
        const patches = c.childPatches ? { patches: c.childPatches } : {};
        return bmcOnly(provisionWorkflow, { target, image, ...bootMode, ...patches }, false);
      }
      const configDrive = {
        host: desired.ref,
        ...(desired.spec.userData ? { userData: desired.spec.userData } : {}),
        ...(desired.spec.networkData ? { networkData: desired.spec.networkData } : {}),
        ...(desired.spec.metaData ? { metaData: desired.spec.metaData } : {}),
      };
      // Software RAID Tempered built (only with patch software-raid): Ironic installs the bootloader in any mode.
      const softwareRaid = ((state.raid as RaidConfig | undefined)?.softwareRAIDVolumes ?? []).length > 0;
      return {
        kind: 'child',
        agent: 'deploy',
        run: (o, bootId) =>
          executeChild(deployWorkflow, {
            ...o,
            args: [{ ...agentInput(c, bootId as string), ...(image ? { image } : {}), ...(customDeploy ? { customDeploy } : {}), configDrive, ...(softwareRaid ? { softwareRaid } : {}) }],
          }),
      };
    }
    case 'servicing':
      // Servicing's work is firmware, which the host workflow plans itself (workflows/prepare.ts).
      return { kind: 'fold', result: { poweredOn: state.poweredOn }, events: [] };
    case 'deprovision': {
      if (mode === 'disabled' || !virtualMedia) {
        return { ...bmcOnly(deprovisionWorkflow, { target, virtualMedia }, true), events: mode === 'disabled' ? [] : [cannotClean('on deprovisioning')] };
      }
      return {
        kind: 'child',
        agent: 'clean',
        run: async (o, bootId) => {
          const done = await executeChild(cleanWorkflow, { ...o, args: [{ ...agentInput(c, bootId as string), mode }] });
          return { poweredOn: done.poweredOn, cleaned: done.erased };
        },
      };
    }
  }
}

/** How operations ran before the deploy agent (replayed histories): no cleaning, no in-band inspection. */
function planBeforeAgent(c: PlanContext): OperationPlan {
  const { request, desired, state, target, capabilities } = c;
  switch (request.name) {
    case 'prepare': {
      const events: HostEvent[] = [];
      if ((desired.spec.automatedCleaningMode ?? 'metadata') !== 'disabled') {
        events.push({ type: 'Normal', reason: 'CleaningSkipped', message: 'Automated cleaning (metadata) runs in the deploy agent, which this engine does not have yet: disks were not cleaned' });
      }
      return { kind: 'fold', result: { poweredOn: state.poweredOn }, events };
    }
    case 'inspect':
      if (capabilities && !capabilities.outOfBandInspection) {
        return { kind: 'fold', result: { poweredOn: state.poweredOn, skipped: `the ${c.driver} driver has no out-of-band inspection; agent inspection arrives with the deploy agent` }, events: [] };
      }
      return { kind: 'child', run: (o) => executeChild(inspectWorkflow, { ...o, args: [{ target }] }) };
    case 'provision': {
      const bootMode = desired.spec.bootMode ? { bootMode: desired.spec.bootMode } : {};
      return { kind: 'child', run: (o) => executeChild(provisionWorkflow, { ...o, args: [{ target, image: request.image ?? { url: '' }, ...bootMode }] }) };
    }
    case 'deprovision':
      return { kind: 'child', run: (o) => executeChild(deprovisionWorkflow, { ...o, args: [{ target, virtualMedia: Boolean(capabilities?.virtualMedia) }] }) };
    default:
      return planOperation({ ...c, agent: true });
  }
}
