/**
 * Whether a host became a Node of its workload cluster, decided from the Nodes that cluster's API shows: the
 * Node labelled `metal3.io/uuid=<host UID>` (what CAPM3 matches, from the KubeadmConfig's `node-labels`), or
 * the one CAPM3 has given the host's provider ID, and its Ready condition. When there is none, what was seen
 * instead says why: a Node with the host's name but another or no `metal3.io/uuid` label, nothing at all, or
 * a cluster that cannot be read. Pure; the activity (`activities/cluster-join.ts`) reads the Nodes and the
 * host workflow records the outcome.
 */

/** The label CAPM3 matches a host's Node by, set by the kubelet from the KubeadmConfig's node-labels. */
export const HOST_UUID_LABEL = 'metal3.io/uuid';

/** The condition type Tempered shows on a BareMetalHost for the join (domain-prefixed: not one of Metal3's). */
export const NODE_JOINED_CONDITION = 'tempered.dev/NodeJoined';

/** The reasons of that condition. */
export const NODE_JOINED_REASONS = {
  /** The Node is registered and Ready. */
  joined: 'NodeReady',
  /** Waiting, within the configured time. */
  waiting: 'WaitingForNode',
  /** The time passed without a Ready Node: what was seen is in the message. */
  noNode: 'NodeNotFound',
  notReady: 'NodeNotReady',
  wrongLabel: 'NodeLabelMismatch',
  /** The cluster could not be found or read (chain broken, kubeconfig missing, apiserver unreachable). */
  unreachable: 'ClusterUnreachable',
} as const;

/** A Node as the join check needs it. */
export interface NodeView {
  name: string;
  labels: Record<string, string>;
  providerID?: string;
  /** The Ready condition, if the Node has one. */
  ready?: { status: string; reason?: string; message?: string; lastTransitionTime?: string };
}

/** What identifies the host among the Nodes. */
export interface HostIdentity {
  uid: string;
  namespace: string;
  name: string;
  /** The Metal3Machine consuming the host (CAPM3's provider ID names it). */
  consumerName: string;
}

/** What the Nodes say about the host's join. */
export type JoinObservation =
  | { kind: 'ready'; node: string; matchedBy: 'label' | 'providerID'; readySince?: string }
  | { kind: 'notReady'; node: string; detail: string }
  | { kind: 'wrongLabel'; node: string; detail: string }
  | { kind: 'noNode' }
  /** The workload cluster could not be found or read: the chain from the host to it, or its apiserver. */
  | { kind: 'unreachable'; detail: string };

/** CAPM3's provider IDs for a host: the current form and the legacy one. */
export function providerIds(host: HostIdentity): string[] {
  return [`metal3://${host.namespace}/${host.name}/${host.consumerName}`, `metal3://${host.uid}`];
}

/**
 * Classifies the Nodes of the workload cluster for a host. The host's Node is the one labelled with its UID,
 * or the one carrying CAPM3's provider ID for it: CAPM3 writes that into the Node it matched, and after a
 * `clusterctl move` (the host object recreated, with a new UID) it is the identity that remains.
 */
export function observeJoin(host: HostIdentity, nodes: readonly NodeView[]): JoinObservation {
  const ids = providerIds(host);
  const byLabel = nodes.filter((n) => n.labels[HOST_UUID_LABEL] === host.uid);
  const byProviderId = nodes.filter(
    (n) => n.providerID !== undefined && ids.includes(n.providerID) && !byLabel.includes(n),
  );
  const candidates = [
    ...byLabel.map((node) => ({ node, matchedBy: 'label' as const })),
    ...byProviderId.map((node) => ({ node, matchedBy: 'providerID' as const })),
  ];
  const ready = candidates.find((c) => c.node.ready?.status === 'True');
  if (ready) {
    const since = ready.node.ready?.lastTransitionTime;
    return {
      kind: 'ready',
      node: ready.node.name,
      matchedBy: ready.matchedBy,
      ...(since ? { readySince: since } : {}),
    };
  }
  const first = candidates[0]?.node;
  if (first) {
    const r = first.ready;
    const detail = r
      ? `Ready is ${r.status}${r.reason ? ` (${r.reason}${r.message ? `: ${r.message}` : ''})` : ''}`
      : 'it has no Ready condition';
    return { kind: 'notReady', node: first.name, detail };
  }
  const lookalike = nodes.find((n) => n.name === host.name);
  if (lookalike) {
    const label = lookalike.labels[HOST_UUID_LABEL];
    const detail =
      label === undefined
        ? `has the host's name but no ${HOST_UUID_LABEL} label`
        : `has the host's name but ${HOST_UUID_LABEL}=${label}, not ${host.uid}`;
    return { kind: 'wrongLabel', node: lookalike.name, detail };
  }
  return { kind: 'noNode' };
}

/** One line a person reads: what the workload cluster shows for the host. */
export function describeObservation(host: HostIdentity, seen: JoinObservation): string {
  switch (seen.kind) {
    case 'ready':
      return `Node ${seen.node} is Ready`;
    case 'notReady':
      return `Node ${seen.node} (${HOST_UUID_LABEL}=${host.uid}) is not Ready: ${seen.detail}`;
    case 'wrongLabel':
      return `no Node has ${HOST_UUID_LABEL}=${host.uid}; Node ${seen.node} ${seen.detail}`;
    case 'noNode':
      return `no Node has ${HOST_UUID_LABEL}=${host.uid} or the host's provider ID, and none has its name`;
    case 'unreachable':
      return `the workload cluster cannot be read: ${seen.detail}`;
  }
}

/** The condition reason for an observation that was not a Ready Node in time. */
export function warningReason(seen: JoinObservation): (typeof NODE_JOINED_REASONS)[keyof typeof NODE_JOINED_REASONS] {
  switch (seen.kind) {
    case 'ready':
      return NODE_JOINED_REASONS.joined;
    case 'notReady':
      return NODE_JOINED_REASONS.notReady;
    case 'wrongLabel':
      return NODE_JOINED_REASONS.wrongLabel;
    case 'noNode':
      return NODE_JOINED_REASONS.noNode;
    case 'unreachable':
      return NODE_JOINED_REASONS.unreachable;
  }
}

/** How long the host workflow waits for a Ready Node before it shows a warning (configurable per bridge). */
export const DEFAULT_NODE_JOIN_TIMEOUT_SECONDS = 20 * 60;

/** What the host workflow knows of a provisioned host's join, shown as the `tempered.dev/NodeJoined` condition. */
export interface NodeJoinState {
  /** Which provisioning of which consumer this is about (see `joinTarget`). */
  key: string;
  status: 'waiting' | 'joined' | 'warning';
  /** A condition reason of NODE_JOINED_REASONS. */
  reason: string;
  message: string;
  /** When the check started (ISO). */
  since: string;
  node?: string;
  /** When the Node became Ready (its Ready condition's lastTransitionTime). */
  readyAt?: string;
  cluster?: string;
  /** The check ended for this key without a Node (the consumer went away): it is not started again. */
  final?: boolean;
}

/** A host whose Node Tempered should look for, and the key of that provisioning. */
export interface JoinTarget {
  key: string;
  consumer: { apiVersion: string; kind: string; name: string; namespace: string };
}

/** The shape of the state and spec the join decision reads (HostState and HostDesired satisfy it). */
export interface JoinInputs {
  state: {
    provisioningState: string;
    detached: boolean;
    operationHistory: { provision: { end?: string } };
    nodeJoin?: NodeJoinState;
  };
  desired: {
    ref: { namespace: string };
    deleting: boolean;
    spec: { consumerRef?: { apiVersion?: string; kind?: string; name?: string; namespace?: string } };
  };
}

/**
 * The join to verify now, if any: a provisioned host (not detached, not being deleted) consumed by a CAPM3
 * Metal3Machine. The key names the consumer and the provisioning (its end time), so a new provisioning or a
 * new consumer is verified again and a joined one is not.
 */
export function joinTarget({ state, desired }: JoinInputs): JoinTarget | undefined {
  if (state.provisioningState !== 'provisioned' || state.detached || desired.deleting) return undefined;
  const ref = desired.spec.consumerRef;
  if (!ref?.name || ref.kind !== 'Metal3Machine' || !ref.apiVersion?.startsWith('infrastructure.cluster.x-k8s.io/'))
    return undefined;
  const namespace = ref.namespace ?? desired.ref.namespace;
  const key = `${ref.kind}/${namespace}/${ref.name}@${state.operationHistory.provision.end ?? ''}`;
  return { key, consumer: { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, namespace } };
}

/** Whether the join for `target` still needs checking (not joined, not given up). */
export function joinPending(nodeJoin: NodeJoinState | undefined, target: JoinTarget): boolean {
  return nodeJoin?.key !== target.key || (nodeJoin.status !== 'joined' && !nodeJoin.final);
}
