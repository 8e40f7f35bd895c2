/**
 * Conditions on a running workflow, read from the server (its pending work and its history), for tests that
 * must show a workflow is waiting, for what and since which signal: proof that it is not doing something,
 * without sleeping to see whether it does.
 */
import type { WorkflowHandle } from '@temporalio/client';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

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

/** The inputs of every signal `name` in the history, decoded (JSON payloads), in order. */
export function signalInputs<T>(history: History, name: string): T[] {
  return (history.events ?? [])
    .filter((e: HistoryEvent) => e.workflowExecutionSignaledEventAttributes?.signalName === name)
    .map((e) => {
      const data = e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0]?.data;
      return (data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined) as T;
    });
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
  const last = events.findLastIndex(
    (e) => e.workflowExecutionSignaledEventAttributes?.signalName === name && received(signalInputs<T>({ events: [e] }, name)[0] as T),
  );
  if (last < 0 || !events.slice(last).some((e) => e.workflowTaskCompletedEventAttributes)) return false;
  return isIdle(handle);
}
