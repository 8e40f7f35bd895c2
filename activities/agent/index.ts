/**
 * `createAgentActivities(deps)`: the activities that command a deploy agent. One command at a time, as the
 * agent allows: a long command is started only when the agent's last command is not already it (a crashed
 * worker's attempt may have started it: the new attempt adopts it from `GET /v1/commands/`, as Ironic does
 * after a timeout), then read back until it ends, heartbeating progress (bytes written when the agent tells,
 * elapsed time otherwise). A busy agent (409) is waited for. Failures are ApplicationFailures typed with
 * codes from domain/errors.ts.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AgentSession } from '../../domain/agent.ts';
import type { AgentKeys } from '../../agent-api/token.ts';
import { imageInfoFor } from '../../domain/image.ts';
import { configDriveWireForm } from '../../lib/config-drive.ts';
import { ImageError } from '../../lib/image-error.ts';
import type { ConfigDriveRequest } from '../images/config-drive.ts';
import { toImageFailure } from '../images/failure.ts';
import { planAgentBoot, type AgentBootDeps } from './boot.ts';
import { AgentClient, AgentError, commandFailure, type AgentCommand } from './client.ts';
import type { AgentActivities, AgentCommandOutcome, AgentCommandRequest, AgentProgress } from './contract.ts';

export interface AgentActivityDeps {
  /** The installation key; without it no agent can be commanded (the tokens derive from it). */
  keys: AgentKeys | undefined;
  /** Where deploy ISOs come from (agent API URL, configured IPA ISO, PreprovisioningImages). */
  boot?: Omit<AgentBootDeps, 'keys'>;
  /** Builds the host's config drive ISO from its Secrets (activities/images `buildConfigDrive`). */
  configDrive?: (request: ConfigDriveRequest) => Promise<{ iso: Buffer }>;
}

/** Turns an AgentError (or an image error) into an ApplicationFailure typed with its code. */
export function toAgentFailure(error: unknown): unknown {
  if (error instanceof ImageError) return toImageFailure(error);
  if (!(error instanceof AgentError)) return error;
  return ApplicationFailure.create({ type: error.code, message: error.message, nonRetryable: !error.retryable, details: [{ code: error.code, status: error.status }] });
}

function context(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // outside an activity (unit tests)
  }
}

const shortName = (name: string) => name.slice(name.indexOf('.') + 1);

/** The step a finished `execute_*_step` reports (`deploy_step`, `clean_step`, `service_step`). */
function reportedStep(command: AgentCommand): string | undefined {
  const result = command.command_result as Record<string, { step?: unknown } | undefined> | null;
  if (!result || typeof result !== 'object') return undefined;
  for (const key of ['deploy_step', 'clean_step', 'service_step']) {
    const step = result[key]?.step;
    if (typeof step === 'string') return step;
  }
  return undefined;
}

/** Bytes written so far, from a running command's result, when the agent reports them. */
function progressOf(command: AgentCommand): Pick<AgentProgress, 'bytesWritten' | 'totalBytes'> {
  const progress = (command.command_result as { progress?: { bytes_written?: unknown; total_bytes?: unknown } } | null)?.progress;
  const written = progress?.bytes_written;
  const total = progress?.total_bytes;
  return { ...(typeof written === 'number' ? { bytesWritten: written } : {}), ...(typeof total === 'number' ? { totalBytes: total } : {}) };
}

/** Is `command` the one `request` starts (the same command, and the same step once the agent reports it)? */
function isThisCommand(command: AgentCommand | undefined, request: AgentCommandRequest): command is AgentCommand {
  if (!command || command.command_name !== shortName(request.name)) return false;
  if (command.command_status === 'RUNNING' || !request.step) return true;
  const step = reportedStep(command);
  return step === undefined || step === request.step;
}

export function createAgentActivities(deps: AgentActivityDeps): AgentActivities {
  const clientFor = (session: AgentSession, request: AgentCommandRequest): AgentClient => {
    if (!deps.keys) throw new AgentError('AgentRejected', 'this worker has no agent installation key (TEMPERED_AGENT_KEY_FILE), so it cannot command deploy agents', { retryable: false });
    return new AgentClient({
      url: session.url,
      token: deps.keys.tokenFor(session.hostUid, session.bootId),
      ...(session.verifyCa ? { verifyCa: session.verifyCa } : {}),
      timeoutMs: request.timing.commandTimeoutMs,
    });
  };

  return {
    async prepareAgentBoot(request) {
      try {
        return await planAgentBoot({ apiUrl: undefined, ipaIsoUrl: undefined, ...deps.boot, keys: deps.keys }, request);
      } catch (error) {
        throw toAgentFailure(error);
      }
    },

    async agentCommand(session, request) {
      let client: AgentClient | undefined;
      try {
        client = clientFor(session, request);
        const signal = context()?.cancellationSignal;
        const command = await client.execute(request.name, request.params, { wait: true, ...(signal ? { signal } : {}) });
        if (command.command_status !== 'SUCCEEDED') throw commandFailure(command, request.name);
        return command.command_result;
      } catch (error) {
        throw toAgentFailure(error);
      } finally {
        await client?.close();
      }
    },

    async agentPowerOff(session, timing) {
      let client: AgentClient | undefined;
      try {
        client = clientFor(session, { name: 'standby.power_off', params: {}, timing });
        await client.execute('standby.power_off', {}, { wait: false });
        return { requested: true };
      } catch (error) {
        // The agent going down mid-answer, or already gone: the BMC's power state tells the rest.
        if (error instanceof AgentError && error.code === 'AgentUnreachable') return { requested: false };
        throw toAgentFailure(error);
      } finally {
        await client?.close();
      }
    },

    async agentWriteImage(session, request) {
      let client: AgentClient | undefined;
      try {
        if (!deps.configDrive) throw new AgentError('AgentRejected', 'this worker cannot build config drives (no xorriso configured)', { retryable: false });
        const command: AgentCommandRequest = { name: 'deploy.execute_deploy_step', params: {}, step: 'write_image', timing: request.timing };
        client = clientFor(session, command);
        // Built on every attempt, never stored: the drive holds the user's data. A retry that finds the write
        // already started adopts it without sending anything.
        const { iso } = await deps.configDrive(request.configDrive);
        const configdrive = configDriveWireForm(iso);
        const imageInfo = imageInfoFor(request.image, { nodeUuid: session.hostUid });
        command.params = {
          step: { interface: 'deploy', step: 'write_image', priority: 80, args: { image_info: imageInfo, configdrive } },
          node: request.node,
          ports: [],
          deploy_version: request.deployVersion ?? null,
        };
        return await runCommand(client, command);
      } catch (error) {
        throw toAgentFailure(error);
      } finally {
        await client?.close();
      }
    },

    async agentRun(session, request) {
      let client: AgentClient | undefined;
      try {
        client = clientFor(session, request);
        return await runCommand(client, request);
      } catch (error) {
        throw toAgentFailure(error);
      } finally {
        await client?.close();
      }
    },
  };
}

/** Starts (or adopts) one long command and reads it back until it ends (see the file header). */
export async function runCommand(client: AgentClient, request: AgentCommandRequest): Promise<AgentCommandOutcome> {
  const ctx = context();
  const signal = ctx?.cancellationSignal;
  const opts = signal ? { signal } : {};
  const sleep = (ms: number) => (ctx ? ctx.sleep(ms) : new Promise((r) => setTimeout(r, ms)));
  const started = Date.now();
  const earlier = (ctx?.info.heartbeatDetails as AgentProgress | undefined)?.commandId;
  const beat = (command: AgentCommand) => {
    const progress: AgentProgress = { commandId: command.id, command: request.name, status: command.command_status, elapsedMs: Date.now() - started, ...progressOf(command) };
    ctx?.heartbeat(progress);
  };

  // An agent that answers nothing for the heartbeat timeout is gone (Ironic would see no heartbeat); until
  // then the command list is read again (a restarting network, a busy agent host).
  let lastContact = Date.now();
  const list = async (): Promise<AgentCommand[]> => {
    for (;;) {
      try {
        const listed = await client.listCommands(signal);
        lastContact = Date.now();
        return listed;
      } catch (error) {
        if (!(error instanceof AgentError) || error.code !== 'AgentUnreachable') throw error;
        if (Date.now() - lastContact >= request.timing.unreachableTimeoutMs) {
          throw new AgentError('AgentCallbackTimeout', `the deploy agent did not answer for ${Math.round(request.timing.unreachableTimeoutMs / 1000)} s while running ${request.name}: ${error.message}`, { retryable: false });
        }
        ctx?.heartbeat({ command: request.name, status: 'agent unreachable', elapsedMs: Date.now() - started });
        await sleep(request.timing.pollIntervalMs);
      }
    }
  };

  // Adopt the command a previous attempt started, if the agent's last command is it.
  let commands = await list();
  let current = (earlier ? commands.find((c) => c.id === earlier) : undefined) ?? commands.at(-1);
  let adopted = isThisCommand(current, request);
  while (!adopted) {
    try {
      current = await client.execute(request.name, request.params, { wait: false, ...opts });
      break;
    } catch (error) {
      if (!(error instanceof AgentError)) throw error;
      if (error.code === 'AgentBusy') {
        ctx?.heartbeat({ command: request.name, status: 'agent busy', elapsedMs: Date.now() - started });
        await sleep(request.timing.pollIntervalMs);
        continue;
      }
      if (error.code !== 'AgentUnreachable') throw error;
      // The request may have reached the agent before the connection failed: look before sending it again.
      commands = await list();
      current = commands.at(-1);
      adopted = isThisCommand(current, request);
      if (!adopted) throw error;
    }
  }
  let command = current as AgentCommand;
  while (command.command_status === 'RUNNING') {
    beat(command);
    await sleep(request.timing.pollIntervalMs);
    const id = command.id;
    const found = (await list()).find((c) => c.id === id);
    if (!found) throw new AgentError('AgentCommandFailed', `${request.name} is no longer known to the deploy agent: the agent restarted while running it`, { retryable: false });
    command = found;
  }
  beat(command);
  if (command.command_status !== 'SUCCEEDED') throw commandFailure(command, request.name);
  const step = reportedStep(command);
  if (request.step && step !== undefined && step !== request.step) {
    throw new AgentError('AgentCommandFailed', `the deploy agent reports step '${step}' done, not '${request.step}'`, { retryable: false });
  }
  return { commandId: command.id, result: command.command_result, elapsedMs: Date.now() - started, adopted };
}
