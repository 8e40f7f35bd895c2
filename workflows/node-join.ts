/**
 * The join check of the host workflow, beyond Metal3: once a host that a CAPM3 Metal3Machine consumes is
 * provisioned, the `verifyNodeJoin` activity watches its workload cluster until the host's Node is Ready. It
 * runs beside the host's decisions (it never holds them up: a deprovision goes on and cancels it), and its
 * outcome is host state (`nodeJoin`, shown as the `tempered.dev/NodeJoined` condition) with an Event: the Node's
 * name and when it became Ready once joined; what was seen instead (no Node, NotReady, another UID) as a
 * warning when the configured time passes, after which it keeps watching, so a late join still shows.
 *
 * The history records each activity's answer (node, readyAt, cluster); the workload kubeconfig never enters
 * it (the activity reads it). Which provisioning is checked is domain/node-join.ts `joinTarget`.
 */
import { CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import type { HostDesired, HostEvent, HostState } from '../domain/host-model.ts';
import {
  HOST_UUID_LABEL,
  NODE_JOINED_REASONS,
  joinPending,
  joinTarget,
  warningReason,
  type JoinTarget,
  type NodeJoinState,
} from '../domain/node-join.ts';
import { workflowNow } from './clock.ts';
import { verifyNodeJoin } from './activities.ts';

/** What the check needs of the host workflow. */
export interface JoinHost {
  state(): HostState;
  desired(): HostDesired;
  /** Sets the host's join state and publishes it with `events`. */
  record(nodeJoin: NodeJoinState, events: HostEvent[]): void;
}

/** A provisioned host's state without a join record that no longer applies (it left `provisioned`). */
export function withoutStaleJoin(state: HostState): HostState {
  if (!state.nodeJoin || state.provisioningState === 'provisioned') return state;
  const { nodeJoin: _gone, ...rest } = state;
  return rest;
}

/** The join check of one host workflow run. */
export class NodeJoinCheck {
  private running: { key: string; scope: CancellationScope } | undefined;
  private readonly host: JoinHost;
  private readonly timeoutSeconds: number;

  constructor(host: JoinHost, timeoutSeconds: number) {
    this.host = host;
    this.timeoutSeconds = timeoutSeconds;
  }

  private target(): JoinTarget | undefined {
    return joinTarget({ state: this.host.state(), desired: this.host.desired() });
  }

  /** Whether a check is under way (its activity watching the workload cluster). */
  get checking(): boolean {
    return this.running !== undefined;
  }

  /** Cancels a check whose host is no longer what it checks (left provisioned, detached, new consumer). */
  reconcile(): void {
    if (this.running && this.target()?.key !== this.running.key) this.running.scope.cancel();
  }

  /** The check's loop, for the life of the workflow run: waits for a host to check, checks it. */
  async run(): Promise<never> {
    for (;;) {
      let target: JoinTarget | undefined;
      await condition(() => {
        target = this.target();
        return target !== undefined && joinPending(this.host.state().nodeJoin, target);
      });
      if (!target) continue;
      const scope = new CancellationScope();
      this.running = { key: target.key, scope };
      try {
        await scope.run(() => this.check(target as JoinTarget));
      } catch (err) {
        if (!isCancellation(err)) log.warn('node join check failed', { error: String(err) });
      } finally {
        this.running = undefined;
      }
    }
  }

  private async check(target: JoinTarget): Promise<void> {
    const { ref } = this.host.desired();
    const previous = this.host.state().nodeJoin;
    const since = previous?.key === target.key ? previous.since : new Date(workflowNow()).toISOString();
    if (previous?.key !== target.key) {
      const label = `${HOST_UUID_LABEL}=${ref.uid}`;
      const message = `waiting up to ${this.timeoutSeconds} s for the Node labelled ${label} to be Ready`;
      this.host.record({ key: target.key, status: 'waiting', reason: NODE_JOINED_REASONS.waiting, message, since }, []);
    }
    for (;;) {
      const answer = await verifyNodeJoin({
        host: ref,
        consumer: target.consumer,
        deadlineSeconds: this.timeoutSeconds,
      });
      const current = this.host.state().nodeJoin;
      if (answer.outcome === 'joined') {
        const message = `Node ${answer.node} is Ready since ${answer.readyAt} in cluster ${answer.cluster}`;
        log.info('node joined', { node: answer.node, readyAt: answer.readyAt, cluster: answer.cluster });
        this.host.record(
          {
            key: target.key,
            status: 'joined',
            reason: NODE_JOINED_REASONS.joined,
            message,
            since,
            node: answer.node,
            readyAt: answer.readyAt,
            cluster: answer.cluster,
          },
          [{ type: 'Normal', reason: 'NodeJoined', message: `${message} (${HOST_UUID_LABEL}=${ref.uid})` }],
        );
        return;
      }
      if (answer.outcome === 'consumerGone') {
        const message = `stopped looking for the host's Node: ${answer.message}`;
        this.host.record(
          { key: target.key, status: 'warning', reason: NODE_JOINED_REASONS.unreachable, message, since, final: true },
          [{ type: 'Warning', reason: 'NodeJoinAbandoned', message }],
        );
        return;
      }
      // The time ran out: show what was seen, once per change of it, and keep watching.
      if (current?.status !== 'warning' || current.message !== answer.message) {
        const reason = warningReason(answer.seen);
        this.host.record(
          {
            key: target.key,
            status: 'warning',
            reason,
            message: answer.message,
            since,
            ...(answer.cluster ? { cluster: answer.cluster } : {}),
          },
          [
            {
              type: 'Warning',
              reason: 'NodeNotJoined',
              message: `no Ready Node after ${this.timeoutSeconds} s: ${answer.message}`,
            },
          ],
        );
      }
    }
  }
}
