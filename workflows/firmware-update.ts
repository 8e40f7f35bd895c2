/**
 * firmwareUpdateWorkflow: one firmware update of one host (a child of a prepare or servicing operation, with its
 * own history), as Ironic's `update` step does it: start the update once, follow the BMC's task to its end,
 * reboot the host where the BMC holds the update for a reboot (a scheduled BIOS job) or flashes a staged image at
 * the next boot, and read the new version back. A BMC that flashes itself and reboots is waited out.
 *
 * Exactly once: `startFirmwareUpdate` finds the BMC's task for this image when it already runs or ran since the
 * operation started, and its result (the task URI) is made durable before the wait begins; the wait is a
 * heartbeating activity, so a worker killed mid-flash is replaced by one that polls the same task. Ends with the
 * version read back, or fails with a coded error (BmcTaskFailed, ...).
 */
import { ApplicationFailure, setCurrentDetails } from '@temporalio/workflow';
import type { BmcTarget } from '../activities/contract.ts';
import type { FirmwareUpdateIntent } from '../domain/host-model.ts';
import { bmcCall, checkpoint, waitFirmwareTask } from './activities.ts';
import { asHostFailure } from './failures.ts';

export interface FirmwareUpdateInput {
  target: BmcTarget;
  update: FirmwareUpdateIntent;
  /** The operation's start (ISO): a task for the same image started before it was another update. */
  since: string;
  /** Whether the host is on when the update starts (a reboot turns an off host on). */
  poweredOn: boolean;
}

export interface FirmwareUpdateResult {
  component: string;
  url: string;
  version: string;
  previousVersion: string | undefined;
  taskUri: string | undefined;
  /** The host was rebooted (or powered on) for the update. */
  rebooted: boolean;
  poweredOn: boolean;
}

/** Power off (hard) when on, then on: the BMC applies what it holds for the next boot. */
async function reboot(target: BmcTarget, poweredOn: boolean, why: string): Promise<void> {
  if (poweredOn) await bmcCall('power', 'setPower', `power off (hard): ${why}`, target, { on: false, mode: 'hard' });
  await bmcCall('power', 'setPower', `power on: ${why}`, target, { on: true, mode: 'hard' });
}

export async function firmwareUpdateWorkflow(input: FirmwareUpdateInput): Promise<FirmwareUpdateResult> {
  const { target, update } = input;
  const hostSide = update.component !== 'bmc';
  let poweredOn = input.poweredOn;
  let rebooted = false;
  const details = (state: string) => setCurrentDetails(`**${update.component}** ← ${update.url}\n\n${state}`);
  try {
    details('starting');
    const started = await bmcCall('firmware', 'startFirmwareUpdate', `start the ${update.component} update from ${update.url}`, target, {
      update,
      since: input.since,
    });
    // The task URI is in history before the long wait: a restart polls this task, never starts another.
    await checkpoint();
    const taskUri = started.taskUri;
    if (taskUri && started.state !== 'current') {
      for (;;) {
        details(`following ${taskUri} (${started.state})`);
        const outcome = await waitFirmwareTask(`follow the ${update.component} flash (${taskUri})`, target, { taskUri });
        if (outcome.state === 'done') break;
        if (rebooted) {
          throw ApplicationFailure.create({
            type: 'BmcTaskFailed',
            message: `the ${update.component} update task ${taskUri} still waits (${outcome.taskState}) after the host was rebooted for it`,
            nonRetryable: true,
          });
        }
        await reboot(target, poweredOn, `the BMC holds the ${update.component} update for a reboot`);
        poweredOn = true;
        rebooted = true;
      }
    }
    const read = () => bmcCall('firmware', 'readFirmwareVersion', `read the ${update.component} version back`, target, { component: update.component });
    let { version } = await read();
    if (hostSide && !rebooted && started.state !== 'current' && version === started.previousVersion) {
      // The version did not change: a staged image is flashed at the next boot (iLO), as Ironic reboots per update.
      details('rebooting: the image is staged for the next boot');
      await reboot(target, poweredOn, `flash the staged ${update.component} image`);
      poweredOn = true;
      rebooted = true;
      ({ version } = await read());
    }
    if (version === undefined) {
      throw ApplicationFailure.create({
        type: 'BmcTaskFailed',
        message: `after the ${update.component} update the BMC reports no version for it`,
        nonRetryable: true,
      });
    }
    details(`done: version ${version}${started.previousVersion ? ` (was ${started.previousVersion})` : ''}`);
    return { component: update.component, url: update.url, version, previousVersion: started.previousVersion, taskUri, rebooted, poweredOn };
  } catch (err) {
    throw asHostFailure(err);
  }
}
