/**
 * Every signal, query and update of Tempered's workflows, in one place (the bridge and the CLI import it).
 * The string names are recorded in history: never rename them.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RolloutControl, RolloutStatus } from '../domain/firmware-rollout.ts';
import type { HostDesired, HostState, RolloutReply, RolloutRequest } from '../domain/host-model.ts';

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

/** A firmware rollout asks a host to apply updates and settings (preparing or servicing), then to reply. */
export const requestFirmware = defineSignal<[RolloutRequest]>('requestFirmware');

/** A firmware rollout withdraws its request: dropped if not started, else stopped after the current flash. */
export const cancelFirmware = defineSignal<[{ rollout: { namespace: string; name: string }; attempt: number }]>('cancelFirmware');

/** The host asks its running prepare or servicing operation to stop after the current flash. */
export const stopFirmwareWork = defineSignal<[]>('stopFirmwareWork');

/** A host's answer to a rollout's request (sent to the request's `replyTo`). */
export const firmwareHostReply = defineSignal<[RolloutReply]>('firmwareHostReply');

/** The rollout stops one host's update (abort): its child cancels the request and waits for the host's answer. */
export const stopRolloutHost = defineSignal<[]>('stopRolloutHost');

/** The bridge's view of a FirmwareRollout changed: paused, aborted, or gone. */
export const syncRollout = defineSignal<[RolloutControl]>('syncRollout');

/** A rollout's progress, as its workflow knows it. */
export const rolloutState = defineQuery<RolloutStatus>('rolloutState');
