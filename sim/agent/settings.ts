/**
 * Per-host switches and counters of the simulated deploy agent, in the style of the BMC's `FaultSettings` and
 * `BmcCounters`: timing knobs (boot delay, disk speed, command duration), fault injection (a command fails with
 * an IPA error, heartbeats stop, lookups fail), and counters of every boot, command, image write and erase so
 * tests can prove an image was written exactly once. They belong to the host, not to one ramdisk run: a host
 * that reboots into the ramdisk again keeps counting.
 */
import { type InjectedError, injectedError } from './errors.ts';
import type { MdDevice } from './software-raid.ts';

/** A command or step that fails with an IPA error. */
export interface CommandFault {
  /** A command (`execute_deploy_step`, `get_clean_steps`, `standby.power_off`) or a step name (`write_image`). */
  match: string;
  error: InjectedError;
  /** How many more times it fails; absent: every time. */
  times?: number;
}

/** Switches of the simulated agent on one host; change them at run time with `agent(set)`. */
export interface AgentSettings {
  /** Time from booting the ISO to the ramdisk's first request (fake-ipa waits 180-240 s). Default 0. */
  bootDelayMs: number;
  /** Speed of the host's disks for image writes, in bytes/s; 0 is as fast as this machine. Default 0. */
  diskBytesPerSec: number;
  /** Shortest time an asynchronous command stays RUNNING. Default 0. */
  commandDurationMs: number;
  /** Longest wait between lookup retries (IPA: 60 s). Default 60000. */
  lookupRetryMaxMs: number;
  /** Shortest time between two heartbeats when a finished command forces one (IPA: 5 s). Default 5000. */
  forcedHeartbeatMinMs: number;
  /** Fixed heartbeat interval; null is IPA's `heartbeat_timeout × U(0.3, 0.6)`. Default null. */
  heartbeatIntervalMs: number | null;
  /** A command or step that fails with an IPA error. Default none. */
  failCommand: CommandFault | null;
  /** The agent looks up but never heartbeats. */
  noHeartbeat: boolean;
  /** Lookups send MAC addresses no node has, so the API answers 404 until the agent gives up. */
  lookupFails: boolean;
}

/** What the simulated agent did on one host. */
export interface AgentCounters {
  /** Boots of a deploy ramdisk (any runner) and of the host's disk. */
  ramdiskBoots: number;
  diskBoots: number;
  /** Requests to the engine's agent API. */
  inspections: number;
  lookups: number;
  heartbeats: number;
  /** Heartbeats the API did not accept (non-202 or no answer). */
  heartbeatFailures: number;
  /** Commands received, by `extension.command`. */
  commands: Record<string, number>;
  /** Deploy and clean steps started, by step name. */
  steps: Record<string, number>;
  /** Images written to a disk, and their bytes (after conversion). */
  imageWrites: number;
  imageBytesWritten: number;
  configDrives: number;
  /** Disks whose metadata was erased, and disks zeroed. */
  metadataErases: number;
  fullErases: number;
  /** Commands that ended FAILED, and of those the injected ones. */
  failedCommands: number;
  injectedFaults: number;
  /** Power-offs the agent asked for. */
  powerOffs: number;
}

/** The defaults of `AgentSettings`. */
export const DEFAULT_AGENT_SETTINGS: AgentSettings = {
  bootDelayMs: 0,
  diskBytesPerSec: 0,
  commandDurationMs: 0,
  lookupRetryMaxMs: 60_000,
  forcedHeartbeatMinMs: 5_000,
  heartbeatIntervalMs: null,
  failCommand: null,
  noHeartbeat: false,
  lookupFails: false,
};

/** Zeroed counters. */
export function zeroAgentCounters(): AgentCounters {
  return {
    ramdiskBoots: 0,
    diskBoots: 0,
    inspections: 0,
    lookups: 0,
    heartbeats: 0,
    heartbeatFailures: 0,
    commands: {},
    steps: {},
    imageWrites: 0,
    imageBytesWritten: 0,
    configDrives: 0,
    metadataErases: 0,
    fullErases: 0,
    failedCommands: 0,
    injectedFaults: 0,
    powerOffs: 0,
  };
}

/** What the last image write left on a disk, as the agent knows it. */
export interface WriteRecord {
  at: string;
  device: string;
  imageId: string;
  diskFormat: string;
  /** The checksum the downloaded image was verified against. */
  checksum: { algorithm: string; value: string };
  /** SHA-256 of the raw bytes written at offset 0 before the GPT fix-up; null for converted images. */
  sha256: string | null;
  bytes: number;
  /** The config drive partition, when one was written. */
  configDrive: { number: number; startBytes: number; sizeBytes: number } | null;
  rootUuid: string;
}

/** The agent-side state of one simulated host, shared by its successive ramdisk runs. */
export class HostAgentState {
  settings: AgentSettings;
  counters: AgentCounters = zeroAgentCounters();
  /** The last image written, per device name. */
  readonly writes = new Map<string, WriteRecord>();
  /** The software RAID (md) devices the agent built, as mdadm would assemble them at the next boot. */
  mdDevices: MdDevice[] = [];

  constructor(settings: Partial<AgentSettings> = {}) {
    this.settings = { ...DEFAULT_AGENT_SETTINGS };
    this.update(settings);
  }

  /** Changes settings (partial) and returns them all; an unknown injected error type throws. */
  update(change: Partial<AgentSettings>): AgentSettings {
    if (change.failCommand) injectedError(change.failCommand.error);
    this.settings = { ...this.settings, ...change };
    return { ...this.settings };
  }

  /** Counts one use of a command or step and returns the injected fault for it, if one is armed. */
  takeFault(names: readonly string[]): ReturnType<typeof injectedError> | undefined {
    const fault = this.settings.failCommand;
    if (!fault || !names.includes(fault.match)) return undefined;
    if (fault.times !== undefined) {
      if (fault.times <= 0) return undefined;
      this.settings = { ...this.settings, failCommand: { ...fault, times: fault.times - 1 } };
    }
    this.counters.injectedFaults += 1;
    return injectedError(fault.error);
  }

  /** Adds one to a keyed counter. */
  static bump(record: Record<string, number>, key: string): void {
    record[key] = (record[key] ?? 0) + 1;
  }
}
