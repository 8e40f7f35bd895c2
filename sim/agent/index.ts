/**
 * The simulator's own ramdisk runner: each host that boots a deploy ISO gets a `SimRamdisk` serving IPA's
 * command API on the simulator's shared agent server, with that host's switches, counters and hardware facts.
 */
import { type AgentEnvironment, SimRamdisk } from './agent.ts';
import type { HostFacts } from './inventory.ts';
import type { RamdiskBoot, RamdiskRunner, RunningRamdisk } from './runner.ts';
import type { HostAgentState } from './settings.ts';

export { AGENT_VERSION, type AgentEnvironment } from './agent.ts';
export { INJECTABLE_ERRORS, type InjectableError, type InjectedError, IpaError, type IpaErrorBody } from './errors.ts';
export type { HostFacts } from './inventory.ts';
export type { RamdiskBoot, RamdiskRunner, RunningRamdisk, SimDisk } from './runner.ts';
export { AgentServer } from './server.ts';
export {
  type AgentCounters,
  type AgentSettings,
  type CommandFault,
  DEFAULT_AGENT_SETTINGS,
  HostAgentState,
  type WriteRecord,
} from './settings.ts';
export type { CustomDeployStep, CustomStepContext } from './steps.ts';

/** Options of the simulated agent runner. */
export interface SimAgentRunnerOptions extends AgentEnvironment {
  /** The agent state and hardware facts of the host with this BMC id. */
  host(id: string): { state: HostAgentState; facts: HostFacts };
}

/** A runner that starts simulated agents. */
export function simAgentRunner(options: SimAgentRunnerOptions): RamdiskRunner {
  return {
    async start(boot: RamdiskBoot): Promise<RunningRamdisk> {
      const { state, facts } = options.host(boot.host.id);
      const ramdisk = new SimRamdisk(boot, state, facts, options);
      ramdisk.start();
      return ramdisk;
    },
  };
}
