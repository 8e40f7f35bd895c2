/**
 * The deploy-agent activities as workflows see them (workflows import this file's types only). Each takes the
 * agent session of one boot (where the agent listens, the certificate it sent); the agent token is derived
 * inside the activity from the installation key, so it never enters history. Timing comes in from the
 * workflow (workflows/activities.ts holds Ironic's values), so it lives in one place.
 */
import type { AgentSession } from '../../domain/agent.ts';
import type { ResolvedImage } from '../../domain/image.ts';
import type { ConfigDriveRequest } from '../images/config-drive.ts';
import type { AgentBootPlan, AgentBootRequest } from './boot.ts';

export type { AgentBootPlan, AgentBootRequest };

/** How one agent command is timed (Ironic's `[agent]command_timeout`, `command_wait_interval`). */
export interface AgentTiming {
  /** Limit of one HTTP call to the agent. */
  commandTimeoutMs: number;
  /** How often a running command is read back (and the activity heartbeats). */
  pollIntervalMs: number;
  /** An agent that answers nothing this long while a command runs is gone (`[api]ramdisk_heartbeat_timeout`). */
  unreachableTimeoutMs: number;
}

/** A command for the agent: `extension.command` and its parameters. */
export interface AgentCommandRequest {
  name: string;
  params: Record<string, unknown>;
  /** For `execute_*_step`: the step, matched against the one the agent reports as done. */
  step?: string;
  timing: AgentTiming;
}

/** Progress of a long command, as heartbeat details (the Temporal UI shows them). */
export interface AgentProgress {
  commandId: string;
  command: string;
  status: string;
  elapsedMs: number;
  /** Bytes written so far, when the agent reports it (the simulator's agent does; IPA does not). */
  bytesWritten?: number;
  totalBytes?: number;
}

/** What a finished command returned. */
export interface AgentCommandOutcome {
  commandId: string;
  result: unknown;
  elapsedMs: number;
  /** True when this attempt found the command already started (a crashed worker's attempt) and adopted it. */
  adopted: boolean;
}

/** `write_image` of a whole-disk image, with the host's config drive (built from its Secrets in the activity). */
export interface WriteImageRequest {
  image: ResolvedImage;
  /** Which Secrets make the config drive (references only). */
  configDrive: ConfigDriveRequest;
  /** Ironic's node as the agent sees it (root device hints). */
  node: Record<string, unknown>;
  /** `hardware_manager_version` from `get_deploy_steps`. */
  deployVersion: unknown;
  timing: AgentTiming;
}

export interface AgentActivities {
  /** Which ramdisk the host boots and the signed URL of this boot's deploy ISO (one Kubernetes read). */
  prepareAgentBoot(request: AgentBootRequest): Promise<AgentBootPlan>;
  /** A quick command the agent answers at once (`wait=true`): get_*_steps, get_partition_uuids. */
  agentCommand(session: AgentSession, request: AgentCommandRequest): Promise<unknown>;
  /**
   * Asks the agent to power the host off (`standby.power_off`, not waited for: the agent goes down with the
   * host). An agent already gone counts as done; the caller then watches the BMC, as Ironic does.
   */
  agentPowerOff(session: AgentSession, timing: AgentTiming): Promise<{ requested: boolean }>;
  /**
   * A command that runs for minutes (`wait=false`: execute_*_step, install_bootloader, power_off): started
   * once, adopted by a later attempt if already started, read back until it ends; heartbeats its progress.
   */
  agentRun(session: AgentSession, request: AgentCommandRequest): Promise<AgentCommandOutcome>;
  /**
   * Writes the image with IPA's `write_image` deploy step, like `agentRun`: the config drive is built here from
   * the host's Secrets and sent inline (gzip + base64), so user data never enters history.
   */
  agentWriteImage(session: AgentSession, request: WriteImageRequest): Promise<AgentCommandOutcome>;
}
