/**
 * The host workflow's part in draining a joined host's Node around a firmware rollout's servicing (behind
 * `patched('rollout-drain')`), as an SRE runs `kubectl drain` before maintenance and `kubectl uncordon` after:
 *
 * 1. before the rollout powers a provisioned host off for servicing, and only when the join check found its
 *    Node (`nodeJoin` joined), the `drainNode` activity cordons the Node and evicts its pods (disruption
 *    budgets respected, DaemonSet and mirror pods kept). A drain that does not finish in time fails the host in
 *    the rollout (`NodeDrainTimedOut`, counted against the failure budget) and nothing is serviced;
 * 2. the host's answer to the rollout is held; once the host is back on, `releaseNode` waits for its Node to be
 *    Ready from the new boot and uncordons it, if the rollout cordoned it; then the answer goes, with what was
 *    done. A failed update leaves the Node cordoned (the rollout's retry, or a person, takes it from there), and
 *    a Node that is not Ready again in time turns an update into a failure (`NodeNotReadyAfterServicing`).
 *
 * The state (`rolloutDrain`) is host state, so it survives continue-as-new; the workflow never polls: both
 * steps are activities that wait and heartbeat. Hosts without a joined Node are not touched.
 */
import { condition, patched } from '@temporalio/workflow';
import type { RolloutDrainState } from '../domain/drain.ts';
import type { Step } from '../domain/host-decisions.ts';
import type { HostDesired, HostEvent, HostState, RolloutReply } from '../domain/host-model.ts';
import { joinTarget } from '../domain/node-join.ts';
import { drainNode, releaseNode } from './activities.ts';

/** What the drain needs of the host workflow. */
export interface DrainHost {
  state(): HostState;
  desired(): HostDesired;
  /** Replaces the host state (the drain changes only `rolloutDrain` and `rollout`). */
  setState(next: HostState): void;
  /** Queues events and publishes the state. */
  record(events: HostEvent[]): void;
  /** Sends an answer to a rollout now (not held). */
  send(to: string, reply: RolloutReply): void;
}

export interface DrainTimeouts {
  drainSeconds: number;
  readyAgainSeconds: number;
}

/** The rollout drain of one host workflow run. */
export class RolloutDrain {
  private readonly host: DrainHost;
  private readonly timeouts: DrainTimeouts;

  constructor(host: DrainHost, timeouts: DrainTimeouts) {
    this.host = host;
    this.timeouts = timeouts;
  }

  private set(drain: RolloutDrainState | undefined): void {
    const { rolloutDrain: _old, ...rest } = this.host.state();
    this.host.setState(drain ? { ...rest, rolloutDrain: drain } : rest);
  }

  /**
   * Whether `step` has to wait for a drain first: a rollout's power-off for servicing of a provisioned host whose
   * Node joined, not drained yet for this request. Synchronous, so that a step that needs no drain runs exactly
   * as before (an `await` more would reorder the workflow's commands in recorded histories).
   */
  wants(step: Step): boolean {
    if (step.kind !== 'operation' || step.request.name !== 'power') return false;
    if (step.request.on || step.request.purpose !== 'servicing') return false;
    const state = this.host.state();
    const request = state.rollout;
    if (!request || request.started) return false;
    const previous = state.rolloutDrain;
    if (previous && previous.replyTo === request.replyTo && previous.attempt === request.attempt) return false;
    const target = joinTarget({ state, desired: this.host.desired() });
    const join = state.nodeJoin;
    return Boolean(target && join?.key === target.key && join.status === 'joined' && join.node);
  }

  /**
   * Drains before the step `wants` named. False: the step must not run now (the drain failed and the rollout has
   * its answer, or the drain took a while and the workflow decides again with what changed meanwhile).
   */
  async before(): Promise<boolean> {
    if (!patched('rollout-drain')) return true;
    const state = this.host.state();
    const desired = this.host.desired();
    const request = state.rollout;
    const target = joinTarget({ state, desired });
    const join = state.nodeJoin;
    if (!request || !target || !join?.node) return true;
    if (state.rolloutDrain) {
      // An earlier rollout's Node release is still under way: this one drains after it, then decides again.
      await condition(() => this.host.state().rolloutDrain === undefined);
      return false;
    }

    const owner = `${request.rollout.namespace}/${request.rollout.name}`;
    const base: RolloutDrainState = {
      replyTo: request.replyTo,
      attempt: request.attempt,
      owner,
      node: join.node,
      cluster: join.cluster ?? '',
      consumer: target.consumer,
      cordonedByUs: false,
      before: { drainedAt: '' },
      summary: '',
      draining: true,
    };
    this.set(base);
    const result = await drainNode({
      host: desired.ref,
      consumer: target.consumer,
      node: join.node,
      owner,
      timeoutSeconds: this.timeouts.drainSeconds,
    });
    const held = this.host.state().rolloutDrain?.reply;
    const current = this.host.state().rollout;
    const stillAsked = current?.replyTo === request.replyTo && current.attempt === request.attempt;
    switch (result.outcome) {
      case 'drained': {
        this.set({
          ...base,
          cluster: result.cluster,
          cordonedByUs: result.cordonedByUs,
          before: { drainedAt: result.drainedAt, ...(result.bootId ? { bootId: result.bootId } : {}) },
          summary: result.message,
          draining: false,
          ...(held ? { reply: held } : {}),
        });
        this.host.record([{ type: 'Normal', reason: 'NodeDrained', message: `${result.message} (rollout ${owner})` }]);
        // The drain took a while: the workflow decides again with what changed meanwhile (the same power-off,
        // now without a drain, if the request still stands).
        return false;
      }
      case 'noNode':
        this.set(undefined);
        if (held) this.host.send(request.replyTo, held);
        this.host.record([{ type: 'Normal', reason: 'NodeNotDrained', message: result.message }]);
        return stillAsked;
      case 'timedOut': {
        this.set(undefined);
        const message = `NodeDrainTimedOut: ${result.message}`;
        if (stillAsked) {
          const { rollout: _dropped, ...rest } = this.host.state();
          this.host.setState(rest);
        }
        const answer: RolloutReply = held ?? {
          host: { namespace: desired.ref.namespace, name: desired.ref.name },
          attempt: request.attempt,
          outcome: 'failed',
          message,
        };
        this.host.send(request.replyTo, answer);
        this.host.record([{ type: 'Warning', reason: 'NodeDrainFailed', message: `${result.message} (rollout ${owner})` }]);
        return false;
      }
    }
  }

  /** Holds the answer to the rollout whose drain is under way or done (true), to send it after the release. */
  hold(to: string, reply: RolloutReply): boolean {
    const state = this.host.state();
    const drain = state.rolloutDrain;
    // A host being deleted answers at once: its workflow ends.
    if (this.host.desired().deleting) return false;
    if (!drain || drain.replyTo !== to || drain.attempt !== reply.attempt || drain.reply) return false;
    // Off when the answer comes: the host was serviced (powered off), and its Node comes back with a new boot.
    this.set({ ...drain, reply, rebooted: !state.poweredOn });
    return true;
  }

  /** Whether the release must wait for the Node to be Ready again (the host was serviced and comes back on). */
  private waitsForReady(drain: RolloutDrainState): boolean {
    const state = this.host.state();
    const desired = this.host.desired();
    return Boolean(drain.rebooted) && desired.spec.online && state.provisioningState === 'provisioned' && !desired.deleting;
  }

  /** The release loop, for the life of the workflow run: a held answer is sent once the Node is released. */
  async run(): Promise<never> {
    for (;;) {
      let drain: RolloutDrainState | undefined;
      await condition(() => {
        drain = this.host.state().rolloutDrain;
        if (!drain?.reply || drain.draining) return false;
        // Waiting for Ready starts once the host is powered back on (the workflow's steady state does it).
        return !this.waitsForReady(drain) || (this.host.state().poweredOn && !this.host.state().operation);
      });
      if (!drain?.reply) continue;
      await this.release(drain, drain.reply);
    }
  }

  private async release(drain: RolloutDrainState, reply: RolloutReply): Promise<void> {
    const desired = this.host.desired();
    let answer: RolloutReply;
    let event: HostEvent;
    if (reply.outcome === 'failed') {
      // Like a failed `kubectl drain`-then-maintenance: the Node stays cordoned for a person (or the retry) to see.
      const kept = drain.cordonedByUs ? `; Node ${drain.node} stays cordoned (${drain.owner})` : '';
      answer = { ...reply, message: `${reply.message} (${drain.summary}${kept})` };
      event = { type: 'Warning', reason: 'NodeLeftCordoned', message: `${drain.summary}; the update failed${kept}` };
    } else {
      const wait = this.waitsForReady(drain);
      const result = await releaseNode({
        host: desired.ref,
        consumer: drain.consumer,
        node: drain.node,
        owner: drain.owner,
        ...(wait ? { waitReady: drain.before } : {}),
        timeoutSeconds: this.timeouts.readyAgainSeconds,
      });
      const steps = `${drain.summary}; ${result.message}`;
      if (result.outcome === 'notReady' && reply.outcome === 'updated') {
        answer = { ...reply, outcome: 'failed', message: `NodeNotReadyAfterServicing: ${reply.message} (${steps})` };
        event = { type: 'Warning', reason: 'NodeNotReady', message: result.message };
      } else {
        answer = { ...reply, message: `${reply.message} (${steps})` };
        event = { type: 'Normal', reason: result.outcome === 'uncordoned' ? 'NodeUncordoned' : 'NodeReleased', message: result.message };
      }
    }
    if (this.host.state().rolloutDrain?.replyTo === drain.replyTo) this.set(undefined);
    this.host.record([event]);
    this.host.send(drain.replyTo, answer);
  }
}
