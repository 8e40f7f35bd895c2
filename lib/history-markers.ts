/**
 * The markers the Temporal SDK core records in a workflow's history, read in one place: a local activity's
 * (`core_local_activity`: its type, attempt and times in the `data` detail) and a patch's (`core_patch`: its id
 * in `patch-data`). Core writes these details as plain JSON; a codec that encrypts the workflow's own payloads
 * (results, summaries) leaves them plain. The timeline, the fleet bench and the tests all read them here.
 */
import type { Payload } from '@temporalio/common';
import type protos from '@temporalio/proto';

type MarkerAttributes = protos.temporal.api.history.v1.IMarkerRecordedEventAttributes;

export const LOCAL_ACTIVITY_MARKER = 'core_local_activity';
export const PATCH_MARKER = 'core_patch';

/** What a local-activity marker says of its call. */
export interface LocalActivityMarker {
  /** The activity type ('' when the marker does not say). */
  type: string;
  /** Which attempt the marker records: a retry after a backoff on a server timer records one marker each. */
  attempt: number;
  /** When the call ended, and when its first attempt was scheduled (ms since the epoch), when recorded. */
  completedMs?: number;
  scheduledMs?: number;
}

/** A payload's value when it is plain JSON; undefined when it is encrypted (a codec) or absent. */
export function plainJson(payload: Payload | null | undefined): unknown {
  const encoding = payload?.metadata?.['encoding'];
  if (!payload?.data || !encoding || Buffer.from(encoding).toString('utf8') !== 'json/plain') return undefined;
  return JSON.parse(Buffer.from(payload.data).toString('utf8'));
}

type Timestamp = { seconds?: number | string; nanos?: number } | undefined;

function ms(ts: Timestamp): number | undefined {
  return ts ? Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6) : undefined;
}

/** Reads a local-activity marker's `data` detail, already decoded (the timeline decodes it through its codec). */
export function localActivityData(data: unknown): LocalActivityMarker {
  const d = (data ?? {}) as { activity_type?: string; activityType?: string; attempt?: number; complete_time?: Timestamp; original_schedule_time?: Timestamp };
  const completedMs = ms(d.complete_time);
  const scheduledMs = ms(d.original_schedule_time);
  return {
    type: d.activity_type ?? d.activityType ?? '',
    attempt: d.attempt ?? 1,
    ...(completedMs !== undefined ? { completedMs } : {}),
    ...(scheduledMs !== undefined ? { scheduledMs } : {}),
  };
}

/** The local activity a marker records; undefined when the marker is not a local activity's. */
export function localActivityOf(marker: MarkerAttributes | null | undefined): LocalActivityMarker | undefined {
  if (marker?.markerName !== LOCAL_ACTIVITY_MARKER) return undefined;
  return localActivityData(plainJson(marker.details?.['data']?.payloads?.[0]));
}

/** The patch id a marker records; undefined when the marker is not a patch's. */
export function patchOf(marker: MarkerAttributes | null | undefined): string | undefined {
  if (marker?.markerName !== PATCH_MARKER) return undefined;
  const data = plainJson(marker.details?.['patch-data']?.payloads?.[0]) as { id?: string } | undefined;
  return data?.id ?? '';
}
