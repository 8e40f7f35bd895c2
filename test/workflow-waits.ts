/**
 * Conditions on a running workflow, read from the server (its pending work and its history), for tests that
 * must show a workflow is waiting, for what and since which signal: proof that it is not doing something,
 * without sleeping to see whether it does. And what a history recorded of its calls: the local activities (the BMC
 * calls) and the patch markers.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { LoadedDataConverter, Payload } from '@temporalio/common';
import { decoded, publicationsIn, statesPassed } from '../lib/history-publications.ts';
import { localActivityOf, patchOf, plainJson } from '../lib/history-markers.ts';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** The workflow runs nothing and has nothing scheduled: it is blocked on a condition or a timer. */
export async function isIdle(handle: WorkflowHandle): Promise<boolean> {
  const { raw } = await handle.describe();
  return (raw.pendingActivities?.length ?? 0) === 0 && (raw.pendingChildren?.length ?? 0) === 0 && !raw.pendingWorkflowTask;
}

function durationMs(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(d?.seconds ?? 0) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);
}

/** The timers started and neither fired nor cancelled, with their durations (ms). */
export function pendingTimers(history: History): number[] {
  const open = new Map<string, number>();
  for (const e of history.events ?? []) {
    const started = e.timerStartedEventAttributes;
    if (started?.timerId) open.set(started.timerId, durationMs(started.startToFireTimeout));
    const ended = e.timerFiredEventAttributes?.timerId ?? e.timerCanceledEventAttributes?.timerId;
    if (ended) open.delete(ended);
  }
  return [...open.values()];
}

/**
 * The inputs of every signal `name` in the history, in order, decoded with `converter` (the reading client's:
 * its codec decrypts encrypted payloads); plain JSON payloads without one.
 */
export async function signalInputs<T>(history: History, name: string, converter?: LoadedDataConverter): Promise<T[]> {
  const inputs: T[] = [];
  for (const e of history.events ?? []) {
    if (e.workflowExecutionSignaledEventAttributes?.signalName !== name) continue;
    inputs.push((await decoded<T>(e.workflowExecutionSignaledEventAttributes.input?.payloads?.[0] as Payload | undefined, converter)) as T);
  }
  return inputs;
}

/**
 * Every state a host workflow's history says the host passed, in order, each change once, from its
 * publications (lib/history-publications.ts): the status shows where the host stands, so a watch sees some
 * of these, not each. `converter` as for `signalInputs`.
 */
export async function passedStates(history: History, converter?: LoadedDataConverter): Promise<string[]> {
  return statesPassed(await publicationsIn(history.events ?? [], converter));
}

/**
 * The workflow is idle, waiting on a timer of at least `minMs` (and nothing else runs): what a backoff looks
 * like. Returns the timer's duration, for `waitFor`.
 */
export async function waitingOnTimer(handle: WorkflowHandle, minMs: number): Promise<number | undefined> {
  if (!(await isIdle(handle))) return undefined;
  const longest = Math.max(0, ...pendingTimers(await handle.fetchHistory()));
  return longest >= minMs ? longest : undefined;
}

/**
 * The workflow has taken in a signal `name` whose input satisfies `received`, finished the workflow task
 * after it, and is idle: whatever it decided on that input is done, and it now waits.
 */
export async function settledAfter<T>(handle: WorkflowHandle, name: string, received: (input: T) => boolean): Promise<boolean> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const converter = handle.client.options.loadedDataConverter;
  let last = -1;
  for (const [i, e] of events.entries()) {
    if (e.workflowExecutionSignaledEventAttributes?.signalName !== name) continue;
    if (received((await signalInputs<T>({ events: [e] }, name, converter))[0] as T)) last = i;
  }
  if (last < 0 || !events.slice(last).some((e) => e.workflowTaskCompletedEventAttributes)) return false;
  return isIdle(handle);
}

/** One local activity a history recorded (the SDK core's marker): its type, the summary the UI shows, its outcome. */
export interface LocalActivityCall {
  /** The marker's index in the history's events. */
  index: number;
  type: string;
  /** Which attempt this marker records: a retry after a backoff on a server timer records one marker each. */
  attempt: number;
  /** The summary the UI shows ('' when a codec encrypted it). */
  summary: string;
  failed: boolean;
  /** The result, when it did not fail and is plain JSON (undefined when a codec encrypted it). */
  result: unknown;
}

/** Every local activity `history` recorded, in order. */
export function localActivityCalls(history: History): LocalActivityCall[] {
  const calls: LocalActivityCall[] = [];
  (history.events ?? []).forEach((e, index) => {
    const marker = e.markerRecordedEventAttributes;
    const call = localActivityOf(marker);
    if (!marker || !call) return;
    calls.push({
      index,
      type: call.type,
      attempt: call.attempt,
      summary: String(plainJson(e.userMetadata?.summary) ?? ''),
      failed: Boolean(marker.failure),
      result: marker.failure ? undefined : plainJson(marker.details?.['result']?.payloads?.[0]),
    });
  });
  return calls;
}

/** The patch ids `history` recorded a marker for (each `patched()` asked for the first time in a run). */
export function patchesMarked(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const id = patchOf(e.markerRecordedEventAttributes);
    return id === undefined ? [] : [id];
  });
}
