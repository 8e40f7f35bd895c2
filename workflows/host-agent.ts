/**
 * The host workflow's side of the deploy agent: which ramdisk boot the host expects now (a boot id the host
 * picks when an agent-driven operation child starts, from which the agent's token derives), and the
 * messages the agent API sends about it. A lookup or inspection data while no boot is expected is refused
 * by the update's validator (nothing written to history; the agent API answers 404 as Ironic does). The first
 * heartbeat of the boot (and one that moves the agent to another URL after it restarted) is forwarded to the
 * child as `agentReady`; inventory as `agentInventory`. Heartbeats of an older boot are ignored. A changed
 * certificate within a boot is refused, as Ironic refuses it (a Warning Event says so). Lives only while an
 * operation runs (never across continue-as-new, which waits for the operation to end).
 */
import { getExternalWorkflowHandle, log, setHandler } from '@temporalio/workflow';
import type { AgentBootPurpose, AgentSession } from '../domain/agent.ts';
import type { HostEvent } from '../domain/host-model.ts';
import { AGENT_TIMEOUTS } from './activities.ts';
import { workflowRandom } from './clock.ts';
import { agentHeartbeat, agentInspection, agentInventory, agentLookup, agentReady, operationStep } from './messages.ts';

/** The ramdisk boot the host expects now. */
export interface AgentBoot {
  bootId: string;
  purpose: AgentBootPurpose;
  /** The operation child that booted it, to which the agent's messages are forwarded. */
  childWorkflowId: string;
  /** The token was put on the ISO (virtual media): lookups answer `******`, as Ironic's pre-generated token. */
  tokenOnIso: boolean;
  tokenIssued: boolean;
  lookedUpAt?: string;
  session?: AgentSession;
  lastHeartbeatAt?: string;
  inventoryReceived: boolean;
}

export interface HostAgent {
  /** Expects an agent for a new boot of `purpose`, for the child `childWorkflowId`; returns the boot id. */
  begin(purpose: AgentBootPurpose, childWorkflowId: string, sequence: number): string;
  /** The operation ended: no agent is expected any more (its lookups and heartbeats are refused or ignored). */
  end(): void;
  current(): AgentBoot | undefined;
}

/** A short random suffix (workflow randomness: replayed identically). */
function suffix(): string {
  return Math.floor(workflowRandom() * 36 ** 6).toString(36).padStart(6, '0');
}

/**
 * Installs the agent message handlers on the host workflow. `onStep` receives the step an operation child
 * reports; `onEvent` the Events worth showing on the host.
 */
export function hostAgent(hooks: { uid: () => string; onStep: (step: { step: string; since: string }) => void; onEvent: (event: HostEvent) => void }): HostAgent {
  let boot: AgentBoot | undefined;

  const forward = (what: string, send: (handle: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>) => {
    const current = boot;
    if (!current) return;
    send(getExternalWorkflowHandle(current.childWorkflowId)).catch((err: unknown) => {
      // The child ended meanwhile (it failed or timed out): nothing waits for this any more.
      log.warn(`could not forward ${what} to the operation child`, { child: current.childWorkflowId, error: String((err as Error)?.message ?? err) });
    });
  };

  setHandler(
    agentLookup,
    (lookup) => {
      const current = boot as AgentBoot;
      current.lookedUpAt = lookup.receivedAt;
      const issueToken = !current.tokenOnIso && !current.tokenIssued;
      if (issueToken) current.tokenIssued = true;
      return { bootId: current.bootId, issueToken, heartbeatTimeoutSeconds: AGENT_TIMEOUTS.heartbeatTimeoutSeconds };
    },
    {
      validator: (lookup) => {
        if (!boot) throw new Error('this host boots no deploy agent now');
        if (lookup.nodeUuid && lookup.nodeUuid !== hooks.uid()) throw new Error('another node');
      },
    },
  );

  setHandler(agentHeartbeat, (heartbeat) => {
    const current = boot;
    if (!current || heartbeat.bootId !== current.bootId) {
      log.info('heartbeat of a boot this host does not expect: ignored', { bootId: heartbeat.bootId, expected: current?.bootId ?? null });
      return;
    }
    current.lastHeartbeatAt = heartbeat.receivedAt;
    const known = current.session;
    if (known?.verifyCa && heartbeat.verifyCa !== known.verifyCa) {
      hooks.onEvent({ type: 'Warning', reason: 'AgentHeartbeatRefused', message: `a heartbeat for boot ${current.bootId} came with another TLS certificate than the agent's first; refused, as Ironic refuses it` });
      return;
    }
    if (known && known.url === heartbeat.callbackUrl) return;
    // The first heartbeat of this boot, or the agent restarted on another port: the child talks to it there.
    current.session = {
      hostUid: hooks.uid(),
      bootId: current.bootId,
      url: heartbeat.callbackUrl,
      agentVersion: heartbeat.agentVersion,
      ...(heartbeat.verifyCa ? { verifyCa: heartbeat.verifyCa } : {}),
    };
    const session = current.session;
    forward('agentReady', (child) => child.signal(agentReady, session));
  });

  setHandler(
    agentInspection,
    (data) => {
      const current = boot as AgentBoot;
      current.inventoryReceived = true;
      forward('agentInventory', (child) => child.signal(agentInventory, data));
      return { accepted: true as const };
    },
    {
      validator: (_data) => {
        if (boot?.purpose !== 'inspect') throw new Error('this host is not inspecting through the deploy agent now');
        if (boot.inventoryReceived) throw new Error('inspection data for this boot was received already');
      },
    },
  );

  setHandler(operationStep, (step) => hooks.onStep(step));

  return {
    begin(purpose, childWorkflowId, sequence) {
      boot = { bootId: `${purpose}-${sequence}-${suffix()}`, purpose, childWorkflowId, tokenOnIso: true, tokenIssued: false, inventoryReceived: false };
      return boot.bootId;
    },
    end() {
      boot = undefined;
    },
    current: () => boot,
  };
}
