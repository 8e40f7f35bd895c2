/**
 * How the agent API tells a host workflow what its agent did: each call becomes one Temporal message to the
 * host's entity workflow (`bmh/<namespace>/<name>`), and the workflow decides. Lookups and inspection data
 * are updates (the agent needs an answer: is this host expecting an agent now?); heartbeats are signals (the
 * agent gets 202 as soon as the signal is durable). Every call has a deadline, so a Temporal outage becomes
 * an HTTP 503 that the agent retries, never a hung request.
 */
import type { Client } from '@temporalio/client';
import type { AgentHeartbeat, AgentInspection, AgentLookup, AgentLookupReply } from '../domain/agent.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { agentHeartbeat, agentInspection, agentLookup } from '../workflows/messages.ts';

/** Where a message goes: the host's namespace and name. */
export interface HostAddress {
  namespace: string;
  name: string;
}

/** The host workflow refused the message (not expecting an agent) or does not exist. */
export type Refusal = { refused: 'rejected' | 'not-found'; reason: string };

export interface HostMessenger {
  lookup(host: HostAddress, lookup: AgentLookup): Promise<AgentLookupReply | Refusal>;
  heartbeat(host: HostAddress, heartbeat: AgentHeartbeat): Promise<undefined | Refusal>;
  inspection(host: HostAddress, data: AgentInspection): Promise<undefined | Refusal>;
}

function refusal(error: unknown): Refusal | undefined {
  const e = error as { name?: string; message?: string; cause?: { message?: string } };
  if (e?.name === 'WorkflowNotFoundError') return { refused: 'not-found', reason: 'no host workflow' };
  if (e?.name === 'WorkflowUpdateFailedError') return { refused: 'rejected', reason: e.cause?.message ?? e.message ?? 'rejected' };
  return undefined;
}

/** The messenger over a Temporal client (see the file header). */
export function temporalMessenger(client: Client, options: { deadlineMs: number }): HostMessenger {
  const handle = (host: HostAddress) => client.workflow.getHandle(hostWorkflowId(host.namespace, host.name));
  const withDeadline = <T>(fn: () => Promise<T>) => client.connection.withDeadline(Date.now() + options.deadlineMs, fn);
  return {
    async lookup(host, lookup) {
      try {
        return await withDeadline(() => handle(host).executeUpdate(agentLookup, { args: [lookup] }));
      } catch (error) {
        const refused = refusal(error);
        if (refused) return refused;
        throw error;
      }
    },
    async heartbeat(host, heartbeat) {
      try {
        await withDeadline(() => handle(host).signal(agentHeartbeat, heartbeat));
        return undefined;
      } catch (error) {
        const refused = refusal(error);
        if (refused) return refused;
        throw error;
      }
    },
    async inspection(host, data) {
      try {
        await withDeadline(() => handle(host).executeUpdate(agentInspection, { args: [data] }));
        return undefined;
      } catch (error) {
        const refused = refusal(error);
        if (refused) return refused;
        throw error;
      }
    },
  };
}
