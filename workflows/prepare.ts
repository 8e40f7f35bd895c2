/**
 * prepareWorkflow and servicingWorkflow: a host's firmware work as one operation with its own history. Prepare
 * is Metal3's manual cleaning of an available host (`preparing`): firmware updates, BIOS settings, then hardware
 * RAID. Servicing is the same on a provisioned host (operationalStatus `servicing`, BMO v0.13), without RAID.
 *
 * Each firmware update is a child workflow of its own (workflows/firmware-update.ts). BIOS settings are staged,
 * the host rebooted when the BMC applies them at the next boot, and every value read back. RAID is applied, the
 * host rebooted while the BMC holds changes for the next boot, until the controllers have what was asked. At the
 * end the firmware is read again (for HostFirmwareSettings and HostFirmwareComponents) and the host is powered
 * as it was. `stopFirmwareWork` (a rollout's abort) stops the work after the current flash.
 */
import { ApplicationFailure, executeChild, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { BmcTarget } from '../activities/contract.ts';
import type { HardwareRaidVolume } from '../domain/baremetalhost.schema.ts';
import { settingText, type FirmwareOutcome } from '../domain/host-firmware.ts';
import type { FirmwareFlash, FirmwareSettingIntent, FirmwareUpdateIntent } from '../domain/host-model.ts';
import { firmwareUpdateWorkflowId } from '../domain/names.ts';
import { bmcCall } from './activities.ts';
import { workflowNow } from './clock.ts';
import { asHostFailure } from './failures.ts';
import { firmwareUpdateWorkflow } from './firmware-update.ts';
import { stopFirmwareWork } from './messages.ts';

/** What one prepare or servicing operation does. */
export interface FirmwarePlan {
  settings: Record<string, FirmwareSettingIntent>;
  updates: FirmwareUpdateIntent[];
  /** Which of `updates` HostFirmwareComponents asked for (they become its `status.updates`). */
  componentUpdates: FirmwareUpdateIntent[];
  /** `spec.raid.hardwareRAIDVolumes`: absent leaves RAID as it is, [] deletes every volume. Prepare only. */
  raid?: HardwareRaidVolume[];
  /** The FirmwareSchema the bridge already has (its rules are not read again). */
  knownSchema?: string;
}

export interface FirmwareOperationInput {
  /** This operation's workflow ID (its updates' IDs derive from it; replay gives workflows another ID). */
  operationId: string;
  target: BmcTarget;
  plan: FirmwarePlan;
  /** The operation's start (ISO): older BMC tasks for the same image belong to other updates. */
  since: string;
}

export interface FirmwareOperationResult {
  poweredOn: boolean;
  firmware: FirmwareOutcome;
}

/** RAID applied, then rebooted for what the BMC holds, at most this many times. */
const MAX_RAID_ROUNDS = 4;

export async function prepareWorkflow(input: FirmwareOperationInput): Promise<FirmwareOperationResult> {
  return firmwareOperation('prepare', input);
}

export async function servicingWorkflow(input: FirmwareOperationInput): Promise<FirmwareOperationResult> {
  return firmwareOperation('servicing', { ...input, plan: { ...input.plan, raid: undefined } });
}

async function firmwareOperation(kind: 'prepare' | 'servicing', input: FirmwareOperationInput): Promise<FirmwareOperationResult> {
  const { target, plan } = input;
  let stop = false;
  setHandler(stopFirmwareWork, () => {
    stop = true;
  });
  const done: string[] = [];
  const show = (now: string) => setCurrentDetails([`**${kind}**: ${now}`, ...done.map((d) => `- ${d}`)].join('\n\n'));
  try {
    const initial = (await bmcCall('quick', 'readPower', 'read power before the firmware work', target)).poweredOn;
    let poweredOn = initial;
    const reboot = async (why: string) => {
      if (poweredOn) await bmcCall('power', 'setPower', `power off (hard): ${why}`, target, { on: false, mode: 'hard' });
      await bmcCall('power', 'setPower', `power on: ${why}`, target, { on: true, mode: 'hard' });
      poweredOn = true;
    };

    const flashed: FirmwareFlash[] = [];
    /** Work left undone because the rollout asked to stop. */
    let skipped = false;
    for (const [index, update] of plan.updates.entries()) {
      if (stop) {
        skipped = true;
        break;
      }
      show(`flashing ${update.component} (${index + 1} of ${plan.updates.length})`);
      const result = await executeChild(firmwareUpdateWorkflow, {
        workflowId: firmwareUpdateWorkflowId(input.operationId, index + 1),
        args: [{ target, update, since: input.since, poweredOn }],
        staticSummary: `flash ${update.component} from ${update.url}`,
      });
      poweredOn = result.poweredOn;
      flashed.push({ component: update.component, url: update.url, version: result.version, at: new Date(workflowNow()).toISOString() });
      done.push(`${update.component}: ${result.previousVersion ?? '?'} → ${result.version}`);
    }

    const names = Object.keys(plan.settings);
    if (stop && (names.length > 0 || plan.raid !== undefined)) skipped = true;
    if (!stop && names.length > 0) {
      show(`applying ${names.length} BIOS settings`);
      const applied = await bmcCall('firmware', 'applyBiosSettings', `stage BIOS settings ${names.join(', ')}`, target, { settings: plan.settings });
      if (applied.rebootRequired) await reboot('apply the staged BIOS settings');
      const read = await bmcCall('firmware', 'readBiosSettings', 'read the BIOS settings back', target, { names });
      const wrong = names.filter((n) => read.current[n] !== settingText(plan.settings[n]));
      if (wrong.length > 0) {
        const what = wrong.map((n) => `${n} is ${read.current[n] ?? 'absent'}${read.pending[n] !== undefined ? ` (pending ${read.pending[n]})` : ''}, not ${settingText(plan.settings[n])}`);
        throw ApplicationFailure.create({ type: 'BmcTaskFailed', message: `the BMC did not apply the BIOS settings: ${what.join('; ')}`, nonRetryable: true });
      }
      done.push(`BIOS settings: ${names.map((n) => `${n}=${settingText(plan.settings[n])}`).join(', ')}`);
    }

    if (!stop && plan.raid !== undefined) {
      for (let round = 1; ; round++) {
        show(`applying hardware RAID (round ${round})`);
        const raid = await bmcCall('firmware', 'applyRaid', `apply hardware RAID (${plan.raid.length} volumes)`, target, { volumes: plan.raid });
        if (raid.state === 'unchanged' || (raid.state === 'applied' && !raid.rebootRequired)) break;
        if (round >= MAX_RAID_ROUNDS) {
          throw ApplicationFailure.create({ type: 'BmcTaskFailed', message: `the RAID configuration is still not applied after ${round} reboots`, nonRetryable: true });
        }
        await reboot('apply the RAID changes the BMC holds');
      }
      done.push(`hardware RAID: ${plan.raid.map((v) => `RAID ${v.level}`).join(', ') || 'no volumes'}`);
    }

    show('reading the firmware back');
    const reading = await bmcCall('firmware', 'readFirmware', 'read BIOS settings and firmware versions', target, {
      ...(plan.knownSchema ? { knownSchema: plan.knownSchema } : {}),
    });
    if (poweredOn !== initial) {
      await bmcCall('power', 'setPower', `power ${initial ? 'on' : 'off (hard)'} as before`, target, { on: initial, mode: 'hard' });
      poweredOn = initial;
    }
    show(skipped ? 'stopped after the current flash' : 'done');
    return { poweredOn, firmware: { reading, flashed, componentUpdates: plan.componentUpdates, ...(skipped ? { stopped: true } : {}) } };
  } catch (err) {
    throw asHostFailure(err);
  }
}
