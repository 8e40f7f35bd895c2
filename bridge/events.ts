/**
 * Kubernetes Events about a BareMetalHost, shaped as BMO's `host.NewEvent` makes them (core/v1 Event,
 * `source.component: metal3-baremetal-controller`, `reportingComponent: metal3.io/baremetal-controller`,
 * `related` = `spec.consumerRef`), so `kubectl describe bmh` reads the same as with BMO.
 */
import type { HostEvent } from '../domain/host-model.ts';
import { METAL3_API_VERSION } from '../domain/names.ts';
import type { HostObject } from './objects.ts';

export const EVENT_SOURCE_COMPONENT = 'metal3-baremetal-controller';
export const EVENT_REPORTING_CONTROLLER = 'metal3.io/baremetal-controller';

/** Events are for humans; the apiserver keeps them short-lived and we keep them short. */
const MAX_EVENT_MESSAGE = 1024;

/** A core/v1 Event as JSON (timestamps as Date, as the typed client expects). */
export interface EventBody {
  metadata: { generateName: string; namespace: string };
  involvedObject: { apiVersion: string; kind: string; namespace: string; name: string; uid: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  source: { component: string };
  firstTimestamp: Date;
  lastTimestamp: Date;
  count: number;
  reportingComponent: string;
  reportingInstance: string;
  related?: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
}

function consumerRef(host: HostObject): EventBody['related'] {
  const spec = host.spec as { consumerRef?: Record<string, unknown> } | undefined;
  const ref = spec?.consumerRef;
  if (!ref || typeof ref !== 'object') return undefined;
  const pick = (k: string) => (typeof ref[k] === 'string' ? (ref[k] as string) : undefined);
  const related = { apiVersion: pick('apiVersion'), kind: pick('kind'), name: pick('name'), namespace: pick('namespace'), uid: pick('uid') };
  return Object.fromEntries(Object.entries(related).filter(([, v]) => v !== undefined));
}

/** The Event for one `HostEvent` of a publication. `instance` names this bridge (reportingInstance). */
export function hostEvent(host: HostObject, event: HostEvent, now: Date, instance: string): EventBody {
  const namespace = host.metadata.namespace ?? '';
  const related = consumerRef(host);
  return {
    metadata: { generateName: `${host.metadata.name}.`, namespace },
    involvedObject: { apiVersion: METAL3_API_VERSION, kind: 'BareMetalHost', namespace, name: host.metadata.name, uid: host.metadata.uid ?? '' },
    reason: event.reason,
    message: event.message.length > MAX_EVENT_MESSAGE ? `${event.message.slice(0, MAX_EVENT_MESSAGE - 1)}…` : event.message,
    type: event.type,
    source: { component: EVENT_SOURCE_COMPONENT },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
    reportingComponent: EVENT_REPORTING_CONTROLLER,
    reportingInstance: instance.slice(0, 128),
    ...(related && Object.keys(related).length > 0 ? { related } : {}),
  };
}
