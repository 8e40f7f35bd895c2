/**
 * What a host workflow's history sent the bridge: the states each `publishStatus` it scheduled carried, its
 * `earlier` snapshots (the states the host passed while the publication before it was in flight) and then its
 * own (where the host stood). The bridge writes the last of each as the status; the others are told by their
 * Events. A slot claim the bridge refused (it showed the state before the move instead) is left out: the host
 * did not make that move. The chaos run's verdict and the integration tests read histories here.
 */
import { defaultPayloadConverter, type LoadedDataConverter, type Payload } from '@temporalio/common';
import type protos from '@temporalio/proto';
import type { PublishResult, StatusPublication } from '../domain/host-model.ts';
import { snapshotsOf } from '../workflows/publication-queue.ts';

type HistoryEvent = protos.temporal.api.history.v1.IHistoryEvent;

/**
 * A payload's value, decoded with `converter` (a reading client's: its codec decrypts what the engine
 * encrypted); plain JSON without one. Undefined when there is none.
 */
export async function decoded<T>(payload: Payload | null | undefined, converter?: LoadedDataConverter): Promise<T | undefined> {
  if (!payload) return undefined;
  for (const codec of [...(converter?.payloadCodecs ?? [])].reverse()) {
    [payload] = (await codec.decode([payload])) as [Payload];
  }
  return (converter?.payloadConverter ?? defaultPayloadConverter).fromPayload<T>(payload);
}

/** Each publication's provisioning states in history order, the one the status showed last. */
export async function publicationsIn(events: readonly HistoryEvent[], converter?: LoadedDataConverter): Promise<string[][]> {
  const published: { id: number; states: string[] }[] = [];
  const refused = new Set<number>();
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'publishStatus') {
      const publication = await decoded<StatusPublication>(scheduled.input?.payloads?.[0] as Payload | undefined, converter);
      if (publication) published.push({ id: Number(e.eventId), states: snapshotsOf(publication).map((s) => s.state.provisioningState) });
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed?.result?.payloads?.[0]) {
      const result = await decoded<PublishResult | undefined>(completed.result.payloads[0] as Payload, converter);
      if (result?.delayed !== undefined) refused.add(Number(completed.scheduledEventId));
    }
  }
  return published.filter((p) => !refused.has(p.id)).map((p) => p.states);
}

/** Every state the host passed, in order, each change once (shown as its status or not). */
export function statesPassed(publications: readonly string[][]): string[] {
  return changes(publications.flat());
}

/** The states the status must have shown, in order, each change once: where the host stood at each publication. */
export function statesToShow(publications: readonly string[][]): string[] {
  return changes(publications.map((states) => states.at(-1) as string));
}

function changes(states: readonly string[]): string[] {
  return states.filter((state, i) => state !== states[i - 1]);
}
