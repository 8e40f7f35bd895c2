/**
 * Cordon and drain of a joined host's Node around a firmware rollout's servicing, as `kubectl drain
 * --ignore-daemonsets --delete-emptydir-data --force` does it (the options Cluster API drains Machines with):
 * which pods are evicted and which stay, whether the Node was cordoned by us (and so is ours to uncordon), and
 * whether it is back after servicing. Pure; `activities/drain.ts` talks to the workload cluster and
 * `workflows/rollout-drain.ts` decides when.
 */
import type { RolloutReply } from './host-model.ts';

/**
 * The annotation Tempered puts on a Node it cordons (value: the rollout, `<namespace>/<name>`). A Node that is
 * unschedulable without it was cordoned by someone else and stays cordoned after the rollout.
 */
export const CORDONED_BY_ROLLOUT_ANNOTATION = 'tempered.dev/cordoned-by-rollout';

/** The annotation the kubelet puts on a static pod's mirror in the API (kubectl drain skips those). */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/** A pod as the drain needs it. */
export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  annotations: Record<string, string>;
  /** The controller's kind, if a controller owns the pod (ownerReferences with `controller: true`). */
  controllerKind?: string;
  phase?: string;
  /** The pod is already being deleted. */
  deleting: boolean;
  /** The pod has an emptyDir volume (its data goes with it: evicted anyway, as `--delete-emptydir-data`). */
  emptyDir: boolean;
}

/** What the drain does with the pods on the Node. */
export interface DrainPlan {
  /** Pods to evict through the Eviction API (PodDisruptionBudgets apply). */
  evict: PodView[];
  /** Pods already being deleted: waited for, not evicted again. */
  terminating: PodView[];
  /** Pods left on the Node, with why (DaemonSet-managed, mirror pods). */
  kept: { pod: PodView; reason: string }[];
}

export const podKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/**
 * The drain's plan for the pods bound to a Node. DaemonSet pods would be recreated on the Node at once and
 * mirror pods cannot be deleted through the API: both stay (`--ignore-daemonsets`). Everything else goes,
 * including pods with emptyDir volumes and pods without a controller (Cluster API drains with `Force`); pods
 * that already finished are evicted too, which deletes them without a disruption budget's say.
 */
export function planDrain(pods: readonly PodView[]): DrainPlan {
  const plan: DrainPlan = { evict: [], terminating: [], kept: [] };
  for (const pod of pods) {
    if (MIRROR_POD_ANNOTATION in pod.annotations) plan.kept.push({ pod, reason: 'mirror pod' });
    else if (pod.controllerKind === 'DaemonSet') plan.kept.push({ pod, reason: 'DaemonSet-managed' });
    else if (pod.deleting) plan.terminating.push(pod);
    else plan.evict.push(pod);
  }
  return plan;
}

/** A Node as the drain needs it. */
export interface DrainNodeView {
  name: string;
  unschedulable: boolean;
  annotations: Record<string, string>;
  bootId?: string;
  ready?: { status: string; lastHeartbeatTime?: string; lastTransitionTime?: string };
}

/** Whether the Node was cordoned by a rollout (ours to uncordon). */
export function cordonedByRollout(node: DrainNodeView): boolean {
  return CORDONED_BY_ROLLOUT_ANNOTATION in node.annotations;
}

/**
 * What to do to cordon the Node: nothing when someone else cordoned it (it stays theirs), or mark it ours. A
 * Node we cordoned before (a retried activity, an earlier attempt whose flash failed) is still ours.
 */
export function cordonDecision(node: DrainNodeView): 'cordon' | 'alreadyOurs' | 'cordonedByOthers' {
  if (cordonedByRollout(node)) return 'alreadyOurs';
  return node.unschedulable ? 'cordonedByOthers' : 'cordon';
}

/** What the Node was like when it was drained: what "back again" is measured against. */
export interface NodeBefore {
  bootId?: string;
  /** When the drain ended (ISO): a status posted after it is the kubelet of the new boot. */
  drainedAt: string;
}

/**
 * Whether the Node is Ready again after servicing: Ready, and posted by the kubelet of a new boot (another
 * `nodeInfo.bootID`, as a real kubelet reports from the kernel); without boot IDs, a Ready heartbeat posted
 * after the drain ended. A Ready condition left over from before the power-off (the node lifecycle controller
 * marks it NotReady only after its grace period) is not the host coming back.
 */
export function readyAgain(node: DrainNodeView, before: NodeBefore): boolean {
  if (node.ready?.status !== 'True') return false;
  if (before.bootId && node.bootId) return node.bootId !== before.bootId;
  const beat = node.ready.lastHeartbeatTime ?? node.ready.lastTransitionTime;
  return beat !== undefined && Date.parse(beat) > Date.parse(before.drainedAt);
}

/** One line a person reads about the pods of a drain. */
export function describeDrain(d: { evicted: readonly string[]; kept: readonly string[] }): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
  const kept = d.kept.length > 0 ? `, ${n(d.kept.length, 'DaemonSet or mirror pod')} kept` : '';
  return `${n(d.evicted.length, 'pod')} evicted${kept}`;
}

/** The drain of a host's Node for one rollout request, held in the host workflow's state. */
export interface RolloutDrainState {
  /** The rollout request it is for (its reply goes to `replyTo`). */
  replyTo: string;
  attempt: number;
  /** The rollout, `<namespace>/<name>` (the cordon annotation's value). */
  owner: string;
  node: string;
  cluster: string;
  consumer: { apiVersion: string; kind: string; name: string; namespace: string };
  /** We cordoned the Node (it was schedulable, or carried our annotation already). */
  cordonedByUs: boolean;
  before: NodeBefore;
  /** What the drain did, for the reply ("Node w1 cordoned and drained: 2 pods evicted ..."). */
  summary: string;
  /** The drain activity is running (an answer to the rollout that comes meanwhile waits for it). */
  draining?: boolean;
  /** The host was off when its answer came: it was serviced, and its Node must come back before release. */
  rebooted?: boolean;
  /** The host's answer to the rollout, held until the Node is back and uncordoned. */
  reply?: RolloutReply;
}
