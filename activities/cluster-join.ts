/**
 * The join check beyond Metal3: after a host that CAPM3 consumes is provisioned, Tempered follows the chain
 * consumerRef → Metal3Machine → Machine (its owner) → Cluster → `<cluster>-kubeconfig` in the management
 * cluster, then watches the workload cluster's real API until the Node labelled `metal3.io/uuid=<host UID>`
 * is Ready (domain/node-join.ts decides from the Nodes it sees).
 *
 * A regular activity: it can wait for many minutes, heartbeats what it sees (so the Temporal UI shows it and a
 * cancellation reaches it), and keeps its deadline across a worker restart through the heartbeat details. The
 * workload kubeconfig is read here and stays here: nothing of it is returned, logged or heartbeated. Without a
 * Ready Node by the deadline it returns what it saw instead of failing: the workflow shows a warning and asks
 * again, so a late join still ends as joined.
 */
import { Context } from '@temporalio/activity';
import * as k8s from '@kubernetes/client-node';
import {
  observeJoin,
  describeObservation,
  HOST_UUID_LABEL,
  type JoinObservation,
  type NodeView,
} from '../domain/node-join.ts';

/** What the workflow asks: the host, its consumer, and how long to wait before reporting. */
export interface VerifyJoinInput {
  host: { namespace: string; name: string; uid: string };
  /** The host's `spec.consumerRef` (CAPM3: a Metal3Machine of infrastructure.cluster.x-k8s.io/v1beta2). */
  consumer: { apiVersion: string; kind: string; name: string; namespace?: string };
  /** Report what was seen if no Node is Ready by then (seconds from the activity's first attempt). */
  deadlineSeconds: number;
}

/** The answer: a Ready Node, or what was seen when the time ran out, or a consumer that went away. */
export type VerifyJoinResult =
  | { outcome: 'joined'; node: string; readyAt: string; cluster: string }
  | { outcome: 'timeout'; seen: JoinObservation; message: string; cluster?: string }
  | { outcome: 'consumerGone'; message: string };

export interface ClusterJoinActivities {
  verifyNodeJoin(input: VerifyJoinInput): Promise<VerifyJoinResult>;
}

export interface ClusterJoinDeps {
  /** The management cluster (where the BareMetalHosts and the Cluster API objects are). */
  kubeconfig: k8s.KubeConfig;
  /** How often the Nodes are listed again when no watch event came (ms; default 30 s). */
  relistMs?: number;
  /** How often the activity heartbeats (ms). */
  heartbeatMs?: number;
}

const CAPM3_GROUP = 'infrastructure.cluster.x-k8s.io';
const CAPI_GROUP = 'cluster.x-k8s.io';

/** A step of the chain that is not there (yet): retried until the deadline, reported as unreachable. */
export class ChainError extends Error {
  override readonly name = 'ChainError';
}
/** The consumer itself is gone: the host was released. */
export class ConsumerGone extends Error {
  override readonly name = 'ConsumerGone';
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

function nodeView(node: k8s.V1Node): NodeView {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: node.metadata?.name ?? '',
    labels: node.metadata?.labels ?? {},
    ...(node.spec?.providerID ? { providerID: node.spec.providerID } : {}),
    ...(ready
      ? {
          ready: {
            status: ready.status,
            ...(ready.reason ? { reason: ready.reason } : {}),
            ...(ready.message ? { message: ready.message } : {}),
            ...(ready.lastTransitionTime
              ? { lastTransitionTime: new Date(ready.lastTransitionTime).toISOString() }
              : {}),
          },
        }
      : {}),
  };
}

/** The management cluster's clients the chain is read with. */
export interface ManagementClients {
  objects: k8s.CustomObjectsApi;
  core: k8s.CoreV1Api;
}

/**
 * consumerRef → Metal3Machine → Machine → Cluster → the `<cluster>-kubeconfig` Secret's value (never to be
 * returned to a workflow, logged or heartbeated). Throws ConsumerGone when the consumer no longer exists and
 * ChainError when a later step is missing or unreadable. Shared by the join check and the rollout's drain.
 */
export async function workloadKubeconfig(
  { objects, core }: ManagementClients,
  input: { host: { namespace: string }; consumer: VerifyJoinInput['consumer'] },
): Promise<{ cluster: string; kubeconfig: string }> {
  const namespace = input.consumer.namespace ?? input.host.namespace;
  const [group, version = 'v1beta2'] = input.consumer.apiVersion.split('/');
  const ref = `${input.consumer.kind} ${namespace}/${input.consumer.name}`;
  let m3m: { metadata?: { ownerReferences?: { apiVersion: string; kind: string; name: string }[] } };
  try {
    m3m = (await objects.getNamespacedCustomObject({
      group: group ?? CAPM3_GROUP,
      version,
      namespace,
      plural: 'metal3machines',
      name: input.consumer.name,
    })) as typeof m3m;
  } catch (err) {
    if (statusCode(err) === 404) throw new ConsumerGone(`${ref} no longer exists`);
    throw new ChainError(`reading ${ref}: ${(err as Error).message}`);
  }
  const owner = m3m.metadata?.ownerReferences?.find(
    (o) => o.kind === 'Machine' && o.apiVersion.startsWith(`${CAPI_GROUP}/`),
  );
  if (!owner) throw new ChainError(`${ref} has no Machine owner yet`);
  let machine: { spec?: { clusterName?: string } };
  try {
    machine = (await objects.getNamespacedCustomObject({
      group: CAPI_GROUP,
      version: 'v1beta2',
      namespace,
      plural: 'machines',
      name: owner.name,
    })) as typeof machine;
  } catch (err) {
    throw new ChainError(`reading Machine ${namespace}/${owner.name}: ${(err as Error).message}`);
  }
  const cluster = machine.spec?.clusterName;
  if (!cluster) throw new ChainError(`Machine ${namespace}/${owner.name} names no cluster`);
  try {
    await objects.getNamespacedCustomObject({
      group: CAPI_GROUP,
      version: 'v1beta2',
      namespace,
      plural: 'clusters',
      name: cluster,
    });
  } catch (err) {
    throw new ChainError(`reading Cluster ${namespace}/${cluster}: ${(err as Error).message}`);
  }
  const secretName = `${cluster}-kubeconfig`;
  let secret: k8s.V1Secret;
  try {
    secret = await core.readNamespacedSecret({ namespace, name: secretName });
  } catch (err) {
    throw new ChainError(
      statusCode(err) === 404
        ? `Secret ${namespace}/${secretName} does not exist`
        : `reading Secret ${namespace}/${secretName}: ${(err as Error).message}`,
    );
  }
  const value = secret.data?.value;
  if (!value) throw new ChainError(`Secret ${namespace}/${secretName} has no 'value' key`);
  return { cluster: `${namespace}/${cluster}`, kubeconfig: Buffer.from(value, 'base64').toString('utf8') };
}

export function createClusterJoinActivities(deps: ClusterJoinDeps): ClusterJoinActivities {
  const objects = deps.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
  const core = deps.kubeconfig.makeApiClient(k8s.CoreV1Api);

  return {
    async verifyNodeJoin(input) {
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as { startedAt?: number } | undefined;
      const startedAt = previous?.startedAt ?? Date.now();
      const deadline = startedAt + input.deadlineSeconds * 1000;
      const identity = {
        uid: input.host.uid,
        namespace: input.host.namespace,
        name: input.host.name,
        consumerName: input.consumer.name,
      };
      const relistMs = deps.relistMs ?? 30_000;
      const heartbeatMs = deps.heartbeatMs ?? 5_000;

      let seen: JoinObservation = { kind: 'unreachable', detail: 'not looked yet' };
      let cluster: string | undefined;
      /** The workload cluster, resolved once; a failure to read it resolves the chain again. */
      let workload: { api: k8s.CoreV1Api; watch: { abort(): void } | undefined } | undefined;
      let wake: (() => void) | undefined;
      const onAbort = () => wake?.();
      ctx.cancellationSignal.addEventListener('abort', onAbort);
      const heartbeat = () => ctx.heartbeat({ startedAt, seen: describeObservation(identity, seen) });
      const timer = setInterval(heartbeat, heartbeatMs);
      heartbeat();
      const labelSelector = `${HOST_UUID_LABEL}=${input.host.uid}`;
      try {
        for (;;) {
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
          try {
            if (!workload) {
              const found = await workloadKubeconfig({ objects, core }, input);
              cluster = found.cluster;
              const config = new k8s.KubeConfig();
              config.loadFromString(found.kubeconfig);
              // Wake the loop on any change of the host's Node; the relist below is the safety net.
              const watch = await new k8s.Watch(config)
                .watch(
                  '/api/v1/nodes',
                  { labelSelector },
                  () => wake?.(),
                  () => {},
                )
                .catch(() => undefined);
              workload = { api: config.makeApiClient(k8s.CoreV1Api), watch };
            }
            const labelled = await workload.api.listNode({ labelSelector });
            let views = labelled.items.map(nodeView);
            // None labelled: what else is there (the host's provider ID after a move, or its name).
            if (!views.some((v) => v.ready?.status === 'True')) {
              const all = (await workload.api.listNode({ limit: 500 })).items.map(nodeView);
              views = [...views, ...all.filter((n) => !views.some((v) => v.name === n.name))];
            }
            seen = observeJoin(identity, views);
          } catch (err) {
            if (err instanceof ConsumerGone) return { outcome: 'consumerGone', message: err.message };
            const chain = err instanceof ChainError;
            seen = {
              kind: 'unreachable',
              detail: chain ? err.message : `workload apiserver: ${(err as Error).message}`,
            };
            workload?.watch?.abort();
            workload = undefined;
          }
          heartbeat();
          if (seen.kind === 'ready') {
            const readyAt = seen.readySince ?? new Date().toISOString();
            return { outcome: 'joined', node: seen.node, readyAt, cluster: cluster ?? '' };
          }
          const left = deadline - Date.now();
          if (left <= 0) {
            return {
              outcome: 'timeout',
              seen,
              message: describeObservation(identity, seen),
              ...(cluster ? { cluster } : {}),
            };
          }
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, Math.min(relistMs, left));
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = undefined;
        }
      } finally {
        clearInterval(timer);
        ctx.cancellationSignal.removeEventListener('abort', onAbort);
        workload?.watch?.abort();
      }
    },
  };
}
