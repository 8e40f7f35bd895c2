/**
 * Cordon, drain and uncordon of a joined host's Node in its workload cluster, around a firmware rollout's
 * servicing (domain/drain.ts decides which pods go and whose cordon it is). The workload kubeconfig is resolved
 * here from the host's consumer, as the join check does (consumerRef → Metal3Machine → Machine → Cluster →
 * `<cluster>-kubeconfig`), and never leaves this file: not returned, logged or heartbeated.
 *
 * Both are regular activities that can wait for minutes: `drainNode` evicts through the Eviction API and retries
 * a PodDisruptionBudget's refusal (HTTP 429) every few seconds until the drain timeout, as `kubectl drain`;
 * `releaseNode` waits for the Node to be Ready again after servicing and uncordons it if the rollout cordoned
 * it. They heartbeat what they see, and keep their deadline across a worker restart through the heartbeat
 * details. Neither fails for a slow cluster: they answer what happened at their deadline.
 */
import { Context } from '@temporalio/activity';
import * as k8s from '@kubernetes/client-node';
import {
  CORDONED_BY_ROLLOUT_ANNOTATION,
  cordonDecision,
  cordonedByRollout,
  describeDrain,
  planDrain,
  podKey,
  readyAgain,
  type DrainNodeView,
  type NodeBefore,
  type PodView,
} from '../domain/drain.ts';
import { ConsumerGone, workloadKubeconfig, type VerifyJoinInput } from './cluster-join.ts';

/** The Node of a host and the rollout acting on it. */
export interface NodeTarget {
  host: { namespace: string; name: string; uid: string };
  consumer: VerifyJoinInput['consumer'];
  node: string;
  /** The rollout, `<namespace>/<name>` (written in the cordon annotation). */
  owner: string;
}

export interface DrainInput extends NodeTarget {
  /** Give up after this long (seconds from the first attempt) if pods are still on the Node. */
  timeoutSeconds: number;
}

export type DrainResult =
  | {
      outcome: 'drained';
      node: string;
      cluster: string;
      /** The rollout cordoned the Node (false: it was cordoned by someone else before). */
      cordonedByUs: boolean;
      evicted: string[];
      /** Pods left on the Node (DaemonSet-managed, mirror pods). */
      kept: string[];
      /** The Node's boot ID at the drain (the host is back once another boot is Ready). */
      bootId?: string;
      drainedAt: string;
      message: string;
    }
  /** The drain did not finish in time (a disruption budget never allowed, pods stuck terminating). */
  | { outcome: 'timedOut'; node: string; message: string; uncordoned: boolean }
  /** No such Node, or the host's consumer is gone: nothing to drain. */
  | { outcome: 'noNode'; message: string };

export interface ReleaseInput extends NodeTarget {
  /** Wait for the Node to be Ready again after this (omitted: the host stays off, uncordon at once). */
  waitReady?: NodeBefore;
  timeoutSeconds: number;
}

export type ReleaseResult =
  | { outcome: 'uncordoned'; node: string; message: string }
  /** Ready again, but cordoned by someone else before the rollout: it stays cordoned. */
  | { outcome: 'keptCordoned'; node: string; message: string }
  | { outcome: 'notReady'; node: string; message: string }
  | { outcome: 'noNode'; message: string };

export interface DrainActivities {
  drainNode(input: DrainInput): Promise<DrainResult>;
  releaseNode(input: ReleaseInput): Promise<ReleaseResult>;
}

export interface DrainDeps {
  /** The management cluster (BareMetalHosts, Cluster API objects, the kubeconfig Secrets). */
  kubeconfig: k8s.KubeConfig;
  /** How long between two rounds of evictions, and between two reads of a Node waited for (ms). */
  retryMs?: number;
  heartbeatMs?: number;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** The reason an eviction was refused, from the apiserver's Status (a disruption budget's own words). */
function refusal(err: unknown): string {
  const raw = (err as { body?: unknown }).body;
  let body: { message?: string; details?: { causes?: { message?: string }[] } } | undefined;
  try {
    body = typeof raw === 'string' ? (JSON.parse(raw) as typeof body) : (raw as typeof body);
  } catch {
    body = undefined;
  }
  const cause = body?.details?.causes?.find((c) => c.message)?.message;
  return [body?.message ?? (err as Error).message, cause].filter(Boolean).join(' ');
}

function nodeView(node: k8s.V1Node): DrainNodeView {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const iso = (d: Date | string | undefined) => (d ? new Date(d).toISOString() : undefined);
  const heartbeat = iso(ready?.lastHeartbeatTime);
  const transition = iso(ready?.lastTransitionTime);
  return {
    name: node.metadata?.name ?? '',
    unschedulable: node.spec?.unschedulable === true,
    annotations: node.metadata?.annotations ?? {},
    ...(node.status?.nodeInfo?.bootID ? { bootId: node.status.nodeInfo.bootID } : {}),
    ...(ready
      ? {
          ready: {
            status: ready.status,
            ...(heartbeat ? { lastHeartbeatTime: heartbeat } : {}),
            ...(transition ? { lastTransitionTime: transition } : {}),
          },
        }
      : {}),
  };
}

function podView(pod: k8s.V1Pod): PodView {
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    annotations: pod.metadata?.annotations ?? {},
    ...(controller ? { controllerKind: controller.kind } : {}),
    ...(pod.status?.phase ? { phase: pod.status.phase } : {}),
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    emptyDir: (pod.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined),
  };
}

export function createDrainActivities(deps: DrainDeps): DrainActivities {
  const management = {
    objects: deps.kubeconfig.makeApiClient(k8s.CustomObjectsApi),
    core: deps.kubeconfig.makeApiClient(k8s.CoreV1Api),
  };
  const retryMs = deps.retryMs ?? 5_000;
  const heartbeatMs = deps.heartbeatMs ?? 5_000;

  /** The workload cluster's API for the target (resolved again on each call: the Secret may rotate). */
  async function workload(target: NodeTarget): Promise<{ api: k8s.CoreV1Api; cluster: string }> {
    const found = await workloadKubeconfig(management, target);
    const config = new k8s.KubeConfig();
    config.loadFromString(found.kubeconfig);
    return { api: config.makeApiClient(k8s.CoreV1Api), cluster: found.cluster };
  }

  async function readNode(api: k8s.CoreV1Api, name: string): Promise<DrainNodeView | undefined> {
    try {
      return nodeView(await api.readNode({ name }));
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Removes the rollout's cordon: schedulable again, the annotation gone (only on a Node that carries it). */
  async function uncordon(api: k8s.CoreV1Api, name: string): Promise<void> {
    const body = { metadata: { annotations: { [CORDONED_BY_ROLLOUT_ANNOTATION]: null } }, spec: { unschedulable: null } };
    await api.patchNode({ name, body }, mergePatch);
  }

  /** The activity's clock: its start survives retries (heartbeat details), its heartbeat says what it sees. */
  function session<D extends object>(initial: D) {
    const ctx = Context.current();
    const previous = ctx.info.heartbeatDetails as ({ startedAt?: number } & Partial<D>) | undefined;
    const startedAt = previous?.startedAt ?? Date.now();
    const details: D = { ...initial, ...previous };
    let seen = 'starting';
    const beat = () => ctx.heartbeat({ ...details, startedAt, seen });
    const timer = setInterval(beat, heartbeatMs);
    beat();
    return {
      startedAt,
      details,
      see(what: string) {
        seen = what;
        beat();
      },
      /** Waits `ms`, or rejects when the activity is cancelled. */
      pause: (ms: number) => ctx.sleep(ms),
      end: () => clearInterval(timer),
    };
  }

  return {
    async drainNode(input) {
      const s = session<{ evicted: string[]; cordonedAt?: string }>({ evicted: [] });
      const deadline = s.startedAt + input.timeoutSeconds * 1000;
      try {
        for (;;) {
          let blocked: string;
          try {
            const { api, cluster } = await workload(input);
            const node = await readNode(api, input.node);
            if (!node) return { outcome: 'noNode', message: `Node ${input.node} does not exist in cluster ${cluster}` };
            const decision = cordonDecision(node);
            if (decision === 'cordon' || (decision === 'alreadyOurs' && !node.unschedulable)) {
              const body = { metadata: { annotations: { [CORDONED_BY_ROLLOUT_ANNOTATION]: input.owner } }, spec: { unschedulable: true } };
              await api.patchNode({ name: input.node, body }, mergePatch);
              s.details.cordonedAt ??= new Date().toISOString();
            }
            const cordonedByUs = decision !== 'cordonedByOthers';
            const pods = await api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${input.node}` });
            const plan = planDrain(pods.items.map(podView));
            const refusals: string[] = [];
            for (const pod of plan.evict) {
              try {
                await api.createNamespacedPodEviction({
                  name: pod.name,
                  namespace: pod.namespace,
                  body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.name, namespace: pod.namespace } },
                });
                if (!s.details.evicted.includes(podKey(pod))) s.details.evicted.push(podKey(pod));
              } catch (err) {
                // 404: gone meanwhile. 429: a disruption budget refuses now; kubectl retries every 5 s.
                if (statusCode(err) === 404) continue;
                if (statusCode(err) !== 429) throw err;
                refusals.push(`${podKey(pod)}: ${refusal(err)}`);
              }
            }
            const left = [...plan.evict, ...plan.terminating].map(podKey);
            const kept = plan.kept.map((k) => `${podKey(k.pod)} (${k.reason})`);
            if (plan.evict.length === 0 && plan.terminating.length === 0) {
              const evicted = s.details.evicted;
              const message = `Node ${input.node} ${cordonedByUs ? 'cordoned' : 'already cordoned by someone else'} and drained: ${describeDrain({ evicted, kept })}`;
              return {
                outcome: 'drained',
                node: input.node,
                cluster,
                cordonedByUs,
                evicted,
                kept,
                ...(node.bootId ? { bootId: node.bootId } : {}),
                drainedAt: new Date().toISOString(),
                message,
              };
            }
            blocked = refusals.length > 0 ? refusals.join('; ') : `waiting for ${left.join(', ')} to go`;
            s.see(`draining Node ${input.node}: ${left.length} pod(s) left; ${blocked}`);
          } catch (err) {
            if (err instanceof ConsumerGone) return { outcome: 'noNode', message: `nothing to drain: ${err.message}` };
            blocked = `the workload cluster cannot be read or written: ${(err as Error).message}`;
            s.see(blocked);
          }
          if (Date.now() >= deadline) {
            // Nothing was serviced: the Node goes back to what it was (as kured does after a failed drain).
            let uncordoned = false;
            try {
              const { api } = await workload(input);
              const node = await readNode(api, input.node);
              if (node && cordonedByRollout(node)) {
                await uncordon(api, input.node);
                uncordoned = true;
              }
            } catch {
              // The Node stays cordoned with our annotation: the next attempt or release takes it from there.
            }
            const message = `Node ${input.node} not drained within ${input.timeoutSeconds} s: ${blocked}${uncordoned ? '; uncordoned again' : ''}`;
            return { outcome: 'timedOut', node: input.node, message, uncordoned };
          }
          await s.pause(Math.min(retryMs, Math.max(deadline - Date.now(), 1)));
        }
      } finally {
        s.end();
      }
    },

    async releaseNode(input) {
      const s = session<Record<string, never>>({});
      const deadline = s.startedAt + input.timeoutSeconds * 1000;
      try {
        for (;;) {
          let last: string;
          try {
            const { api, cluster } = await workload(input);
            const node = await readNode(api, input.node);
            if (!node) return { outcome: 'noNode', message: `Node ${input.node} no longer exists in cluster ${cluster}` };
            if (!input.waitReady || readyAgain(node, input.waitReady)) {
              const back = input.waitReady ? 'Ready again' : 'left as the host is';
              if (!cordonedByRollout(node)) {
                const message = `Node ${input.node} ${back}; it stays cordoned (cordoned by someone else before the rollout)`;
                return node.unschedulable
                  ? { outcome: 'keptCordoned', node: input.node, message }
                  : { outcome: 'uncordoned', node: input.node, message: `Node ${input.node} ${back} and schedulable` };
              }
              await uncordon(api, input.node);
              return { outcome: 'uncordoned', node: input.node, message: `Node ${input.node} ${back} and uncordoned` };
            }
            last = `Node ${input.node} is not back yet: Ready ${node.ready?.status ?? 'missing'}${node.bootId === input.waitReady.bootId ? ', same boot' : ''}`;
          } catch (err) {
            if (err instanceof ConsumerGone) return { outcome: 'noNode', message: `cannot uncordon: ${err.message}` };
            last = `the workload cluster cannot be read or written: ${(err as Error).message}`;
          }
          s.see(last);
          if (Date.now() >= deadline) {
            return { outcome: 'notReady', node: input.node, message: `${last} after ${input.timeoutSeconds} s; it stays cordoned` };
          }
          await s.pause(Math.min(retryMs, Math.max(deadline - Date.now(), 1)));
        }
      } finally {
        s.end();
      }
    },
  };
}
