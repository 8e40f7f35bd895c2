/**
 * A host's timeline from its Temporal histories: the host workflow's runs and every operation child, decoded
 * (codec, payload and failure converters) into what a person reads when something went wrong: each status the
 * host published (state, operational status, power, error), each operation started and how it ended, each BMC
 * call and activity with its time, attempts and result or error, the waits (timers), the signals that changed its
 * intent, aborts. Events that only move the machinery (workflow tasks, search attributes) are left out.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { LoadedDataConverter, Payload } from '@temporalio/common';
import {
  decodeArrayFromPayloads,
  decodeOptionalFailureToOptionalError,
  decodeUserMetadata,
} from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import type { HostDesired, StatusPublication } from '../domain/host-model.ts';
import { LOCAL_ACTIVITY_MARKER, localActivityData } from '../lib/history-markers.ts';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/** One execution of the host: its workflow ID and run, and its history. */
export interface Execution {
  workflowId: string;
  runId: string;
  history: History;
}

export type EntryKind =
  | 'workflow'
  | 'intent'
  | 'status'
  | 'operation'
  | 'bmc'
  | 'activity'
  | 'wait'
  | 'abort'
  | 'error';

/** One line of the timeline. */
export interface TimelineEntry {
  /** ISO time of the event (a BMC call: when it completed). */
  time: string;
  /** The execution: `host` for the host workflow, else the operation child (`provision/3`). */
  where: string;
  kind: EntryKind;
  text: string;
  /** BMC calls and activities: the attempt that finished (retries before it failed). */
  attempt?: number;
  /** Failures: the error code (failure type) and message. */
  error?: { code: string; message: string };
}

/** The child part of a workflow ID: `bmh/ns/name/provision/3` is `provision/3`; the host's own is `host`. */
export function whereOf(workflowId: string): string {
  const parts = workflowId.split('/');
  return parts.length > 3 ? parts.slice(3).join('/') : 'host';
}

const iso = (ms: number | undefined) => new Date(ms ?? 0).toISOString();

/** A protobuf Timestamp in ms (seconds may be a Long, a number or a string, as histories from JSON have them). */
function timestampMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!ts) return undefined;
  return Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

function short(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined) return '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

async function decodeFirst(converter: LoadedDataConverter, payloads: Payload[] | null | undefined): Promise<unknown> {
  return (await decodeArrayFromPayloads(converter, payloads ?? []))[0];
}

async function failureOf(converter: LoadedDataConverter, failure: unknown): Promise<{ code: string; message: string }> {
  const error = await decodeOptionalFailureToOptionalError(converter, failure as never);
  // A child's or activity's failure wraps the cause that says what went wrong.
  let inner: unknown = error;
  while ((inner as { cause?: unknown } | undefined)?.cause) inner = (inner as { cause: unknown }).cause;
  const e = (inner ?? error) as { type?: unknown; name?: string; message?: string } | undefined;
  return { code: typeof e?.type === 'string' ? e.type : (e?.name ?? 'Error'), message: e?.message ?? 'failed' };
}

/** How a published status reads: state, operational status, power, error. */
function statusText(p: StatusPublication): string {
  const s = p.state;
  const parts = [`${s.provisioningState || 'new'}`, s.operationalStatus || 'OK', `power ${s.poweredOn ? 'on' : 'off'}`];
  if (s.delayed) parts.push(`delayed: ${s.delayed.reason}`);
  if (s.errorType) parts.push(`error ${s.errorType} (${s.errorCount}×): ${s.errorMessage}`);
  const events = p.events.map((e) => e.reason).join(', ');
  return `status ${parts.join(', ')}${events ? ` [events: ${events}]` : ''}`;
}

function intentText(d: HostDesired): string {
  const spec = d.spec;
  const image = spec.image?.url ?? (spec.customDeploy ? `customDeploy ${spec.customDeploy.method}` : 'no image');
  const bits = [`generation ${d.generation}`, `online ${spec.online}`, image];
  if (d.deleting) bits.push('being deleted');
  if (d.annotations.paused) bits.push('paused');
  if (d.annotations.detached) bits.push('detached');
  if (d.statusMissing) bits.push('status missing');
  return `intent: ${bits.join(', ')}`;
}

/** " after N attempts" when a call was retried, else nothing. */
const attempts = (attempt: number | undefined) =>
  attempt !== undefined && attempt > 1 ? ` after ${attempt} attempts` : '';
const attemptOf = (attempt: number | undefined): Partial<TimelineEntry> => (attempt === undefined ? {} : { attempt });

/** The entries of one execution (see the file header). */
export async function executionTimeline(
  execution: Execution,
  converter: LoadedDataConverter,
): Promise<TimelineEntry[]> {
  const where = whereOf(execution.workflowId);
  const out: TimelineEntry[] = [];
  const scheduled = new Map<string, { type: string; time: number; attempt?: number }>();
  const children = new Map<string, { id: string; time: number }>();
  const add = (event: HistoryEvent, kind: EntryKind, text: string, extra: Partial<TimelineEntry> = {}) =>
    out.push({ time: iso(timestampMs(event.eventTime)), where, kind, text, ...extra });

  for (const event of execution.history.events ?? []) {
    const time = timestampMs(event.eventTime) ?? 0;
    const id = String(event.eventId);
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) {
      const { staticSummary: summary } = await decodeUserMetadata(converter, event.userMetadata);
      const how = started.continuedExecutionRunId ? 'continued from the previous run' : 'started';
      add(event, 'workflow', `${started.workflowType?.name ?? 'workflow'} ${how}${summary ? `: ${summary}` : ''}`);
      continue;
    }
    const signal = event.workflowExecutionSignaledEventAttributes;
    if (signal) {
      if (signal.signalName === 'syncHost') {
        add(event, 'intent', intentText((await decodeFirst(converter, signal.input?.payloads)) as HostDesired));
      } else if (signal.signalName === 'offerSlot') add(event, 'intent', 'offered a provisioning slot');
      else add(event, 'intent', `signal ${signal.signalName}`);
      continue;
    }
    const accepted = event.workflowExecutionUpdateAcceptedEventAttributes;
    if (accepted) {
      const name = accepted.acceptedRequest?.input?.name ?? 'update';
      const input = (await decodeFirst(converter, accepted.acceptedRequest?.input?.args?.payloads)) as {
        reason?: string;
      };
      add(event, 'abort', `${name} requested${input?.reason ? `: ${input.reason}` : ''}`);
      continue;
    }
    const completedUpdate = event.workflowExecutionUpdateCompletedEventAttributes;
    if (completedUpdate) {
      const value = (await decodeFirst(converter, completedUpdate.outcome?.success?.payloads)) as {
        aborted?: string | null;
      };
      const text = value?.aborted
        ? `aborted the running ${value.aborted} operation`
        : 'nothing was running: nothing aborted';
      add(event, 'abort', text);
      continue;
    }
    const activity = event.activityTaskScheduledEventAttributes;
    if (activity) {
      const type = activity.activityType?.name ?? 'activity';
      scheduled.set(id, { type, time });
      if (type === 'publishStatus') {
        add(event, 'status', statusText((await decodeFirst(converter, activity.input?.payloads)) as StatusPublication));
      } else if (type === 'releaseHost') add(event, 'status', 'releasing the host: finalizer and HardwareData go');
      continue;
    }
    // Recorded when the activity closes, with the attempt that closed it (the retries before it are not events).
    const activityStarted = event.activityTaskStartedEventAttributes;
    if (activityStarted) {
      const s = scheduled.get(String(activityStarted.scheduledEventId));
      if (s) s.attempt = activityStarted.attempt ?? 1;
      continue;
    }
    const activityDone = event.activityTaskCompletedEventAttributes;
    if (activityDone) {
      const s = scheduled.get(String(activityDone.scheduledEventId));
      if (s && s.type !== 'publishStatus' && s.type !== 'releaseHost') {
        const result = await decodeFirst(converter, activityDone.result?.payloads);
        const took = ` in ${((time - s.time) / 1000).toFixed(1)} s`;
        add(event, 'activity', `${s.type} ok${attempts(s.attempt)}${took} → ${short(result)}`, attemptOf(s.attempt));
      }
      continue;
    }
    const activityFailed = event.activityTaskFailedEventAttributes;
    if (activityFailed) {
      const s = scheduled.get(String(activityFailed.scheduledEventId));
      const error = await failureOf(converter, activityFailed.failure);
      const text = `${s?.type ?? 'activity'} failed${attempts(s?.attempt)}: ${error.code}: ${error.message}`;
      add(event, 'error', text, { error, ...attemptOf(s?.attempt) });
      continue;
    }
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName === LOCAL_ACTIVITY_MARKER) {
      const data = localActivityData(await decodeFirst(converter, marker.details?.['data']?.payloads));
      const done = data.completedMs ?? time;
      const begun = data.scheduledMs;
      const took = begun !== undefined ? ` in ${Math.max(0, (done - begun) / 1000).toFixed(1)} s` : '';
      const attempt = data.attempt;
      const tries = attempts(attempt);
      const call = data.type || 'BMC call';
      if (marker.failure) {
        const error = await failureOf(converter, marker.failure);
        out.push({
          time: iso(done),
          where,
          kind: 'bmc',
          text: `${call} failed${tries}${took}: ${error.code}: ${error.message}`,
          attempt,
          error,
        });
      } else {
        const result = await decodeFirst(converter, marker.details?.['result']?.payloads);
        out.push({
          time: iso(done),
          where,
          kind: 'bmc',
          text: `${call} ok${tries}${took} → ${short(result)}`,
          attempt,
        });
      }
      continue;
    }
    const child = event.startChildWorkflowExecutionInitiatedEventAttributes;
    if (child) {
      children.set(id, { id: child.workflowId ?? '', time });
      const { staticSummary: summary } = await decodeUserMetadata(converter, event.userMetadata);
      add(event, 'operation', `operation ${whereOf(child.workflowId ?? '')} started${summary ? `: ${summary}` : ''}`);
      continue;
    }
    const childDone = event.childWorkflowExecutionCompletedEventAttributes;
    if (childDone) {
      const c = children.get(String(childDone.initiatedEventId));
      const result = await decodeFirst(converter, childDone.result?.payloads);
      const took = c ? ` in ${((time - c.time) / 1000).toFixed(1)} s` : '';
      add(event, 'operation', `operation ${whereOf(c?.id ?? '')} completed${took} → ${short(result)}`);
      continue;
    }
    const childFailed = event.childWorkflowExecutionFailedEventAttributes;
    if (childFailed) {
      const c = children.get(String(childFailed.initiatedEventId));
      const error = await failureOf(converter, childFailed.failure);
      add(event, 'error', `operation ${whereOf(c?.id ?? '')} failed: ${error.code}: ${error.message}`, { error });
      continue;
    }
    const childEnded =
      event.childWorkflowExecutionCanceledEventAttributes ??
      event.childWorkflowExecutionTimedOutEventAttributes ??
      event.childWorkflowExecutionTerminatedEventAttributes;
    if (childEnded) {
      const c = children.get(String(childEnded.initiatedEventId));
      const how = event.childWorkflowExecutionCanceledEventAttributes
        ? 'cancelled'
        : event.childWorkflowExecutionTimedOutEventAttributes
          ? 'timed out'
          : 'terminated';
      add(event, 'error', `operation ${whereOf(c?.id ?? '')} ${how}`);
      continue;
    }
    const timer = event.timerStartedEventAttributes;
    if (timer) {
      const seconds = Number(timer.startToFireTimeout?.seconds ?? 0) + (timer.startToFireTimeout?.nanos ?? 0) / 1e9;
      if (seconds >= 1)
        add(
          event,
          'wait',
          `waiting up to ${seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds)} s`}`,
        );
      continue;
    }
    if (event.workflowExecutionContinuedAsNewEventAttributes)
      add(event, 'workflow', 'continued as new (history compacted)');
    else if (event.workflowExecutionCompletedEventAttributes) add(event, 'workflow', 'ended');
    else if (event.workflowExecutionTerminatedEventAttributes) {
      add(event, 'error', `terminated: ${event.workflowExecutionTerminatedEventAttributes.reason ?? ''}`);
    } else if (event.workflowExecutionFailedEventAttributes) {
      const error = await failureOf(converter, event.workflowExecutionFailedEventAttributes.failure);
      add(event, 'error', `failed: ${error.code}: ${error.message}`, { error });
    } else if (event.workflowTaskFailedEventAttributes) {
      const error = await failureOf(converter, event.workflowTaskFailedEventAttributes.failure);
      add(event, 'error', `workflow task failed (it is retried): ${error.message}`, { error });
    }
  }
  return out;
}

/** Every execution's entries, in time order (events of one execution keep their order). */
export async function hostTimeline(executions: Execution[], converter: LoadedDataConverter): Promise<TimelineEntry[]> {
  const all = (await Promise.all(executions.map((e) => executionTimeline(e, converter)))).flat();
  return all
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => a.entry.time.localeCompare(b.entry.time) || a.index - b.index)
    .map(({ entry }) => entry);
}
