/**
 * A fake host workflow for the agent API's integration test: it answers the agent messages the real host
 * workflow answers (`agentLookup`, `agentHeartbeat`, `agentInspection`) from a programmable expectation, and
 * records what it received, so the test reads back what reached Temporal (not what the API thinks it sent).
 */
import { condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import type { AgentBootPurpose, AgentHeartbeat, AgentInspection, AgentLookup } from '../../domain/agent.ts';
import { agentHeartbeat, agentInspection, agentLookup } from '../../workflows/messages.ts';

export interface AgentExpectation {
  bootId: string;
  purpose: AgentBootPurpose;
  /** The token was not on the ISO: hand it out at the first lookup. */
  tokenAtLookup?: boolean;
}

export interface AgentRecord {
  lookups: AgentLookup[];
  heartbeats: AgentHeartbeat[];
  inspections: AgentInspection[];
  tokenIssued: boolean;
}

/** Sets (or clears, with null) the boot this host expects an agent for. */
export const expectAgent = defineSignal<[AgentExpectation | null]>('expectAgent');
export const agentRecord = defineQuery<AgentRecord>('agentRecord');
export const finish = defineSignal('finish');

export async function agentHostWorkflow(initial: AgentExpectation | null): Promise<void> {
  let expecting = initial;
  let done = false;
  const record: AgentRecord = { lookups: [], heartbeats: [], inspections: [], tokenIssued: false };
  setHandler(expectAgent, (next) => {
    expecting = next;
    record.tokenIssued = false;
  });
  setHandler(finish, () => {
    done = true;
  });
  setHandler(agentRecord, () => record);
  setHandler(
    agentLookup,
    (lookup) => {
      record.lookups.push(lookup);
      const issueToken = Boolean(expecting?.tokenAtLookup) && !record.tokenIssued;
      if (issueToken) record.tokenIssued = true;
      return { bootId: expecting?.bootId ?? '', issueToken, heartbeatTimeoutSeconds: 300 };
    },
    {
      validator: (_lookup) => {
        if (!expecting) throw new Error('this host boots no agent now');
      },
    },
  );
  setHandler(agentHeartbeat, (heartbeat) => {
    record.heartbeats.push(heartbeat);
  });
  setHandler(
    agentInspection,
    (data) => {
      record.inspections.push(data);
      return { accepted: true as const };
    },
    {
      validator: (_data) => {
        if (expecting?.purpose !== 'inspect') throw new Error('this host is not inspecting');
      },
    },
  );
  await condition(() => done);
}
