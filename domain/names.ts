/**
 * Names that cross process boundaries: task queues, workflow IDs, search attributes, Kubernetes API names.
 * Workflow, activity, signal, query and update names are recorded in history: never rename them.
 */

/** The Kubernetes API group and version Tempered serves, unchanged from Metal3. */
export const METAL3_GROUP = 'metal3.io';
export const METAL3_VERSION = 'v1alpha1';
export const METAL3_API_VERSION = `${METAL3_GROUP}/${METAL3_VERSION}`;

/** Task queue served by the workers (host workflows, operation children, BMC and image activities). */
export const HOST_TASK_QUEUE = 'tempered-hosts';
/** Task queue served by the bridge process itself (status publication activities). */
export const BRIDGE_TASK_QUEUE = 'tempered-bridge';

/** The Temporal namespace the local stack uses. */
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';

/** Workflow ID of the long-lived host workflow of one BareMetalHost. */
export function hostWorkflowId(namespace: string, name: string): string {
  return `bmh/${namespace}/${name}`;
}

/** Workflow ID of an operation child (register, inspect, ...) of a host workflow. */
export function operationWorkflowId(namespace: string, name: string, operation: string, sequence: number): string {
  return `${hostWorkflowId(namespace, name)}/${operation}/${sequence}`;
}

/** Workflow ID of one firmware update (a child of a prepare or servicing operation `operationId`). */
export function firmwareUpdateWorkflowId(operationId: string, index: number): string {
  return `${operationId}/update/${index}`;
}

/** The API group and version of Tempered's own kinds (FirmwareRollout). */
export const TEMPERED_GROUP = 'tempered.dev';
export const TEMPERED_VERSION = 'v1alpha1';
export const TEMPERED_API_VERSION = `${TEMPERED_GROUP}/${TEMPERED_VERSION}`;

/** Workflow ID of the rollout workflow of one FirmwareRollout. */
export function rolloutWorkflowId(namespace: string, name: string): string {
  return `rollout/${namespace}/${name}`;
}

/** Workflow ID of a rollout's child that takes one host through its update (one per attempt). */
export function rolloutHostWorkflowId(rolloutId: string, host: { namespace: string; name: string }, attempt: number): string {
  return `${rolloutId}/host/${host.namespace}/${host.name}/${attempt}`;
}

/**
 * Custom search attributes, registered with the Temporal server at start (the dev server's
 * `--search-attribute`, or `temporal operator search-attribute create` on a real cluster).
 * SQLite visibility allows 10 Keyword attributes per namespace: keep the list short.
 */
export const SEARCH_ATTRIBUTES = {
  BmhNamespace: 'Keyword',
  BmhName: 'Keyword',
  ProvisioningState: 'Keyword',
  OperationalStatus: 'Keyword',
  Operation: 'Keyword',
  ErrorType: 'Keyword',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

/**
 * The histogram host workflows record each operation child's duration in (seconds; labels `operation` and
 * `result`, `ok` or the error code), through the SDK's workflow metric meter; the worker's runtime sets its
 * buckets (workers/process.ts) and serves it on `/metrics`.
 */
export const OPERATION_DURATION_METRIC = 'tempered_operation_duration_seconds';
/** Its buckets: a power change takes seconds, an inspection or a deploy minutes (Ironic allows an hour). */
export const OPERATION_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];
