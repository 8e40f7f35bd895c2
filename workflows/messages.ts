/**
 * Every signal, query and update of Tempered's workflows, in one place (the bridge, the agent API and the CLI
 * import it). The string names are recorded in history: never rename them.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AgentHeartbeat, AgentInspection, AgentLookup, AgentLookupReply, AgentSession } from '../domain/agent.ts';
import type { HostDesired, HostState } from '../domain/host-model.ts';

/** The bridge's view of the BareMetalHost changed (spec, annotations, Secret version, deletion, lost status). */
export const syncHost = defineSignal<[HostDesired]>('syncHost');

/** The host's current state, as the workflow knows it. */
export const hostState = defineQuery<HostState>('hostState');

/** Aborts the running operation, if any; the host records an error and waits for a change. */
export const abortOperation = defineUpdate<{ aborted: string | null }, [{ reason: string }]>('abortOperation');

/**
 * The bridge offers a delayed host a slot under the provisioning limit (one is reserved for it): the host
 * claims it by moving on, or lets it go by no longer wanting that state.
 */
export const offerSlot = defineSignal<[]>('offerSlot');

/**
 * A deploy agent looked the host up (agent API, `GET /v1/lookup`). The validator rejects it when the host
 * boots no agent now (the agent API then answers 404, as Ironic does for a node in the wrong state).
 */
export const agentLookup = defineUpdate<AgentLookupReply, [AgentLookup]>('agentLookup');

/** A deploy agent heartbeat whose token the agent API checked (`POST /v1/heartbeat/{node}`). */
export const agentHeartbeat = defineSignal<[AgentHeartbeat]>('agentHeartbeat');

/**
 * A deploy agent posted its inventory (`POST /v1/continue_inspection`). The validator rejects it when the host
 * is not inspecting through an agent now.
 */
export const agentInspection = defineUpdate<{ accepted: true }, [AgentInspection]>('agentInspection');

/**
 * Host workflow → its operation child: the deploy agent of the child's boot is up (its first heartbeat, or a
 * heartbeat with a new callback URL after the agent restarted).
 */
export const agentReady = defineSignal<[AgentSession]>('agentReady');

/** Host workflow → its operation child: the inventory the agent of the child's boot posted. */
export const agentInventory = defineSignal<[AgentInspection]>('agentInventory');

/** Operation child → host workflow: the step it is in now, and since when (Progressing condition, UI). */
export const operationStep = defineSignal<[{ step: string; since: string }]>('operationStep');
