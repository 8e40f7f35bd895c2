/**
 * Every signal, query and update of Tempered's workflows, in one place (the bridge and the CLI import it).
 * The string names are recorded in history: never rename them.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
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
