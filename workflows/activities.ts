/**
 * Every activity proxy of the workflows, with its timeouts and retry policy: the one place where they live.
 * Values follow Ironic's where Ironic has one (power-state change timeout 60-120 s, soft power-off 180 s,
 * virtual-media and deploy timeouts), so behaviour on real hardware stays sane.
 *
 * BMC calls run as local activities: they are recorded in history as markers like any activity, but cost no
 * extra Temporal tasks (about 5 ms of server CPU each). Each call reads BMC state back before acting, so a
 * re-execution after a worker crash does nothing twice. Status publication runs on the bridge's own queue.
 */
import { proxyActivities, proxyLocalActivities, sleep, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import type { AgentActivities, AgentTiming } from '../activities/agent/contract.ts';
import type { BmcTarget, HostActivities } from '../activities/contract.ts';
import type { ClusterJoinActivities, VerifyJoinInput, VerifyJoinResult } from '../activities/cluster-join.ts';
import type { DrainActivities, DrainInput, DrainResult, ReleaseInput, ReleaseResult } from '../activities/drain.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import { NON_RETRYABLE_CODES } from '../domain/errors.ts';
import type { BridgeActivities } from '../domain/host-model.ts';
import { BRIDGE_TASK_QUEUE } from '../domain/names.ts';

/** Transient BMC faults (timeouts, 5xx, resets) are retried a few times inside one attempt of an operation. */
const bmcRetry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 4,
  nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
};

const bmc = (startToCloseTimeout: LocalActivityOptions['startToCloseTimeout']): LocalActivityOptions => ({
  startToCloseTimeout,
  retry: bmcRetry,
  // A retry waits on a server timer, not inside the workflow task: between attempts the workflow task ends, so
  // the host workflow (which runs the BMC-only operations itself) takes an update, a signal or a query, an
  // operator's abort among them, at once. The SDK's default (1 minute) would hold the task through every backoff.
  localRetryThreshold: '500 ms',
});

/** The time limit of each kind of BMC call. */
const BMC_OPTIONS = {
  /** Reads and quick calls: one Redfish/IPMI round trip or a few. */
  quick: bmc('60 seconds'),
  /** Power changes, waiting until the BMC reports the new state (Ironic: 120 s, plus the soft-off window). */
  power: bmc('5 minutes'),
  /** Virtual media: the BMC downloads the image while the call runs. */
  media: bmc('10 minutes'),
  /** A whole virtual-media boot (activities/boot-media.ts): an insert and two power changes, each waited for. */
  boot: bmc('20 minutes'),
  /** Inventory of a whole system (processors, memory, NICs, storage, firmware, BIOS). */
  inventory: bmc('5 minutes'),
  /** Firmware and RAID calls: a BIOS registry or a firmware inventory of dozens of members, a RAID volume created. */
  firmware: bmc('10 minutes'),
} as const;

export const bmcQuick = proxyLocalActivities<HostActivities>(BMC_OPTIONS.quick);
export const bmcPower = proxyLocalActivities<HostActivities>(BMC_OPTIONS.power);
export const bmcMedia = proxyLocalActivities<HostActivities>(BMC_OPTIONS.media);
export const bmcInventory = proxyLocalActivities<HostActivities>(BMC_OPTIONS.inventory);
const bmcFirmware = proxyLocalActivities<HostActivities>(BMC_OPTIONS.firmware);
const bmcBoot = proxyLocalActivities<HostActivities>(BMC_OPTIONS.boot);
const BMC_PROXIES = { quick: bmcQuick, power: bmcPower, media: bmcMedia, boot: bmcBoot, inventory: bmcInventory, firmware: bmcFirmware };

const PROTOCOL_NAME = { redfish: 'Redfish', ipmi: 'IPMI' } as const;

/**
 * Calls a BMC activity with a summary a person understands in the Temporal UI ("power on via Redfish"):
 * `what` plus the protocol the target's address selects.
 */
export function bmcCall<K extends keyof HostActivities>(
  kind: keyof typeof BMC_OPTIONS,
  activity: K,
  what: string,
  ...args: Parameters<HostActivities[K]>
): Promise<Awaited<ReturnType<HostActivities[K]>>> {
  const first = args[0] as Partial<BmcTarget> | undefined;
  const parsed = first?.address ? checkBmcAddress(first.address) : undefined;
  const summary = parsed?.ok ? `${what} via ${PROTOCOL_NAME[parsed.address.protocol]}` : what;
  const fn = BMC_PROXIES[kind][activity] as unknown as { executeWithOptions(options: LocalActivityOptions, args: unknown[]): Promise<Awaited<ReturnType<HostActivities[K]>>> };
  return fn.executeWithOptions({ ...BMC_OPTIONS[kind], summary }, args);
}

/**
 * Following a firmware task: a regular activity (a flash takes minutes; Ironic allows hours) that heartbeats every
 * poll. A worker that dies mid-flash stops heartbeating; after `heartbeatTimeout` another worker polls the same
 * task again. Transient BMC failures are polled through inside the activity; what remains is permanent.
 */
const FIRMWARE_TASK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '4 hours',
  scheduleToCloseTimeout: '4 hours',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
};
const firmwareTasks = proxyActivities<HostActivities>(FIRMWARE_TASK_OPTIONS);

/** Waits for a firmware task (see FIRMWARE_TASK_OPTIONS), with a summary a person understands in the UI. */
export function waitFirmwareTask(
  what: string,
  ...args: Parameters<HostActivities['waitFirmwareTask']>
): ReturnType<HostActivities['waitFirmwareTask']> {
  return firmwareTasks.waitFirmwareTask.executeWithOptions({ ...FIRMWARE_TASK_OPTIONS, summary: what }, args);
}

/**
 * Ironic's timing of the deploy agent, by its option names (defaults of Ironic, Metal3's where it sets its
 * own): the one place the agent's timeouts live. Workflows and the agent activities read them from here.
 */
export const AGENT_TIMEOUTS = {
  /** `[agent]command_timeout`: one HTTP call to the agent. */
  commandTimeoutMs: 60_000,
  /**
   * `[agent]command_wait_interval` (Ironic: 6 s, and otherwise the agent's next heartbeat): how often a
   * running command is read back. Shorter here: a deploy round trip should add seconds, not minutes.
   */
  commandWaitIntervalMs: 2_000,
  /** `[agent]command_wait_attempts` × `command_wait_interval`: 100 × 6 s for `install_bootloader`. */
  commandWaitTimeoutMs: 600_000,
  /** `[api]ramdisk_heartbeat_timeout`: sent to the agent at lookup; it heartbeats every 30-60% of it. */
  heartbeatTimeoutSeconds: 300,
  /** `[conductor]deploy_callback_timeout` (Ironic 1800 s, Metal3 4800 s): a deploy waiting on the agent fails. */
  deployCallbackTimeoutMs: 4800_000,
  /** `[conductor]clean_callback_timeout`. */
  cleanCallbackTimeoutMs: 1800_000,
  /** `[conductor]inspect_wait_timeout`. */
  inspectWaitTimeoutMs: 1800_000,
  /** `[agent]post_deploy_get_power_state_retries` × `post_deploy_get_power_state_retry_interval`: 6 × 5 s. */
  powerOffWaitMs: 30_000,
  /** The longest one agent command may run (no Ironic option: a full erase of large disks takes hours). */
  longCommandLimitMs: 24 * 3600_000,
} as const;

/** What each agent command is given: its HTTP limit and how often it is read back. */
export const AGENT_TIMING: AgentTiming = {
  commandTimeoutMs: AGENT_TIMEOUTS.commandTimeoutMs,
  pollIntervalMs: AGENT_TIMEOUTS.commandWaitIntervalMs,
  unreachableTimeoutMs: AGENT_TIMEOUTS.heartbeatTimeoutSeconds * 1000,
};

/** Agent calls are retried while the agent is unreachable or busy; a refusal or a failed command is final. */
const agentRetry = { ...bmcRetry, maximumInterval: '20 seconds', maximumAttempts: 10 };

const AGENT_QUICK_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: AGENT_TIMEOUTS.commandTimeoutMs + 10_000,
  retry: agentRetry,
};

/** Quick agent commands (`wait=true`): local activities, one HTTP call each. */
export const agentQuick = proxyLocalActivities<AgentActivities>(AGENT_QUICK_OPTIONS);

/**
 * Long agent commands (image writes, erasure, bootloader): regular activities that heartbeat while the
 * command runs, so a worker's crash is noticed within the heartbeat timeout and another worker adopts the
 * command. An agent that stops answering fails the command after `[api]ramdisk_heartbeat_timeout` (inside
 * the activity); the command itself may run for hours (a full erase of large disks), so only a day bounds it.
 */
const AGENT_LONG_OPTIONS: ActivityOptions = {
  startToCloseTimeout: AGENT_TIMEOUTS.longCommandLimitMs,
  heartbeatTimeout: '30 seconds',
  retry: { ...agentRetry, maximumAttempts: 20 },
};

export const agentLong = proxyActivities<AgentActivities>(AGENT_LONG_OPTIONS);

const AGENT_PROXIES = { quick: agentQuick, long: agentLong };

/** Calls an agent activity with a summary a person understands in the Temporal UI ("write the image"). */
export function agentCall<K extends keyof AgentActivities>(
  kind: keyof typeof AGENT_PROXIES,
  activity: K,
  what: string,
  ...args: Parameters<AgentActivities[K]>
): Promise<Awaited<ReturnType<AgentActivities[K]>>> {
  const fn = AGENT_PROXIES[kind][activity] as unknown as { executeWithOptions(options: ActivityOptions | LocalActivityOptions, args: unknown[]): Promise<Awaited<ReturnType<AgentActivities[K]>>> };
  const options = kind === 'quick' ? AGENT_QUICK_OPTIONS : AGENT_LONG_OPTIONS;
  return fn.executeWithOptions({ ...options, summary: what }, args);
}

const bridgeOptions: ActivityOptions = {
  taskQueue: BRIDGE_TASK_QUEUE,
  startToCloseTimeout: '30 seconds',
  // The bridge may be down or not yet leader: keep trying, the host's state is safe in history meanwhile.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};

/** The bridge's activities, for workflows whose bridge queue is the default one. */
export const bridge = proxyActivities<BridgeActivities>(bridgeOptions);

/** The bridge's activities on a given task queue (tests and multi-tenant set-ups run their own bridge). */
export function bridgeOn(taskQueue: string | undefined): BridgeActivities {
  return taskQueue && taskQueue !== BRIDGE_TASK_QUEUE ? proxyActivities<BridgeActivities>({ ...bridgeOptions, taskQueue }) : bridge;
}

/**
 * Makes the local activities run so far durable before going on: their results are recorded in history when
 * the current workflow task completes, which a 1 ms timer forces. Used where a later side effect's decision
 * depends on an earlier read that must not be re-taken after a crash.
 */
export async function checkpoint(): Promise<void> {
  await sleep(1);
}

/**
 * The join check (activities/cluster-join.ts): a regular activity on the host queue that watches a workload
 * cluster for as long as its deadline (it returns what it saw then), heartbeating; a lost worker is noticed
 * within the heartbeat timeout and the check resumes elsewhere with the same deadline.
 */
const workloadClusterOptions: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  // A cancellation reaches the activity with a heartbeat, and heartbeats are throttled to 80% of this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes' },
};

const clusterJoin = proxyActivities<ClusterJoinActivities>(workloadClusterOptions);

/** Verifies a host's join, with a summary the Temporal UI shows. */
export function verifyNodeJoin(input: VerifyJoinInput): Promise<VerifyJoinResult> {
  const { host, consumer } = input;
  const summary = `verify that ${host.namespace}/${host.name} joined as a Ready Node (${consumer.kind} ${consumer.name})`;
  type Executable = { executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<VerifyJoinResult> };
  const fn = clusterJoin.verifyNodeJoin as unknown as Executable;
  return fn.executeWithOptions({ ...workloadClusterOptions, summary }, [input]);
}

/**
 * A firmware rollout's drain of a joined host's Node (activities/drain.ts): the default time a drain may take
 * before the host fails in the rollout (Cluster API's `nodeDrainTimeout` has no default; kubectl waits
 * forever: an unattended rollout must not), and how long the host's Node may take to be Ready again after
 * servicing (a server's POST and boot; Ironic's deploy callback allows far more).
 */
export const DRAIN_TIMEOUTS = {
  drainSeconds: 15 * 60,
  readyAgainSeconds: 30 * 60,
};

/** Drain and release wait on the workload cluster like the join check: the same heartbeating options. */
const drainOptions = workloadClusterOptions;

const drain = proxyActivities<DrainActivities>(drainOptions);

/** Cordons and drains a host's Node, with a summary the Temporal UI shows. */
export function drainNode(input: DrainInput): Promise<DrainResult> {
  const summary = `cordon and drain Node ${input.node} of ${input.host.namespace}/${input.host.name} (rollout ${input.owner})`;
  type Executable = { executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<DrainResult> };
  return (drain.drainNode as unknown as Executable).executeWithOptions({ ...drainOptions, summary }, [input]);
}

/** Waits for a host's Node to be Ready again and uncordons it, with a summary the Temporal UI shows. */
export function releaseNode(input: ReleaseInput): Promise<ReleaseResult> {
  const wait = input.waitReady ? 'wait for Node Ready again, then ' : '';
  const summary = `${wait}uncordon Node ${input.node} of ${input.host.namespace}/${input.host.name} (rollout ${input.owner})`;
  type Executable = { executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<ReleaseResult> };
  return (drain.releaseNode as unknown as Executable).executeWithOptions({ ...drainOptions, summary }, [input]);
}
