/**
 * firmwareRolloutWorkflow: one FirmwareRollout (ID `rollout/<namespace>/<name>`), started by the bridge with the
 * hosts its selector picked. It never talks to a BMC and never polls: each host is taken through its update by a
 * child, `rolloutHostWorkflow` (one per host and attempt, summarised in the UI as "update <host> (<wave>)"),
 * which signals the host workflow (`requestFirmware`) and waits for its answer (`firmwareHostReply`). What starts
 * when is decided by domain/firmware-rollout.ts: the canary, then one wave at a time, never more than
 * `maxUnavailable` hosts in flight, nothing new while paused or once aborted, paused when the failure budget is
 * used. The status goes to the bridge (`publishRolloutStatus`), the plan to the UI's current details.
 *
 * Messages: `syncRollout` (signal from the bridge: paused, abort, deleted), `rolloutState` (query). Ends when
 * every host is in a final state; continues as new between hosts when history grows.
 */
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { RolloutStrategy } from '../domain/firmware-rollout.schema.ts';
import {
  applyControl,
  hostsToStart,
  initialRolloutState,
  isFinished,
  isStopping,
  markStarted,
  recordReply,
  renderPlan,
  rolloutStatus,
  strategyOf,
  type RolloutControl,
  type RolloutHostKey,
  type RolloutState,
  type RolloutStatus,
  type RolloutWork,
} from '../domain/firmware-rollout.ts';
import type { HostRef, RolloutReply } from '../domain/host-model.ts';
import { hostWorkflowId, rolloutHostWorkflowId, rolloutWorkflowId } from '../domain/names.ts';
import { bridgeOn } from './activities.ts';
import { workflowNow } from './clock.ts';
import { hostFailureOf } from './failures.ts';
import { cancelFirmware, firmwareHostReply, requestFirmware, rolloutState, stopRolloutHost, syncRollout } from './messages.ts';

export interface RolloutInput {
  ref: HostRef;
  work: RolloutWork;
  strategy?: Partial<RolloutStrategy>;
  /** The hosts the selector picked, in rollout order (the canary first). */
  hosts: RolloutHostKey[];
  control: RolloutControl;
  config?: { bridgeTaskQueue?: string; maxHistoryEvents?: number };
  /** Carried across continue-as-new. */
  carried?: { state: RolloutState };
}

const DEFAULT_MAX_HISTORY_EVENTS = 5000;

const iso = () => new Date(workflowNow()).toISOString();
const keyOf = (h: RolloutHostKey) => `${h.namespace}/${h.name}`;

export async function firmwareRolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const strategy = strategyOf(input.strategy);
  const bridge = bridgeOn(input.config?.bridgeTaskQueue);
  // IDs derive from the input, never from workflowInfo(): a replay runs the workflow under another ID.
  const me = rolloutWorkflowId(input.ref.namespace, input.ref.name);
  // A rollout created aborted, or with no host, is decided at once.
  let state = input.carried?.state ?? applyControl(initialRolloutState(input.hosts, strategy, input.control), input.control, iso());
  let changed = true;
  const children = new Map<string, ChildWorkflowHandle<typeof rolloutHostWorkflow>>();
  const replies: RolloutReply[] = [];

  const stopChildren = () => {
    for (const child of children.values()) void child.signal(stopRolloutHost).catch(() => undefined);
  };
  setHandler(syncRollout, (control) => {
    // A late signal of an older generation never undoes a newer one (a deletion always counts).
    if (control.generation < state.control.generation && !control.gone) return;
    const wasStopping = isStopping(state);
    state = applyControl(state, control, iso());
    if (!wasStopping && isStopping(state)) stopChildren();
    changed = true;
  });
  setHandler(rolloutState, () => rolloutStatus(state));

  // The latest status goes to the bridge, one publication at a time (a newer one replaces a waiting one).
  let toPublish: RolloutStatus | undefined;
  let publishing = false;
  let lastPublished = '';
  const publisher = async () => {
    for (;;) {
      await condition(() => toPublish !== undefined);
      const status = toPublish as RolloutStatus;
      toPublish = undefined;
      const key = JSON.stringify(status);
      if (key === lastPublished) continue;
      publishing = true;
      try {
        const { gone } = await bridge.publishRolloutStatus({ ref: input.ref, status });
        lastPublished = key;
        if (gone && !state.control.gone) {
          state = applyControl(state, { ...state.control, gone: true }, iso());
          stopChildren();
          changed = true;
        }
      } catch (err) {
        log.error('rollout status refused', { error: hostFailureOf(err).message });
      } finally {
        publishing = false;
      }
    }
  };
  void publisher();
  const published = () => condition(() => toPublish === undefined && !publishing);

  let details = '';
  for (;;) {
    const now = iso();
    for (let reply = replies.shift(); reply; reply = replies.shift()) state = recordReply(state, reply, strategy, now);
    const starts = hostsToStart(state, strategy);
    if (starts.length > 0) {
      state = markStarted(state, starts, now);
      // Started together: one workflow task for the lot, not one per host.
      await Promise.all(
        starts.map(async (host) => {
          const record = state.hosts.find((h) => keyOf(h) === keyOf(host));
          if (!record) return;
          const attempt = record.attempt;
          const wave = state.waves[record.wave] ?? '';
          const childId = rolloutHostWorkflowId(me, host, attempt);
          const child = await startChild(rolloutHostWorkflow, {
            workflowId: childId,
            args: [
              {
                replyTo: childId,
                host: { namespace: host.namespace, name: host.name },
                rollout: { namespace: input.ref.namespace, name: input.ref.name },
                work: input.work,
                attempt,
                timeoutMinutes: strategy.hostTimeoutMinutes,
              },
            ],
            staticSummary: `update ${host.namespace}/${host.name} (${wave}${attempt > 1 ? `, attempt ${attempt}` : ''})`,
          });
          children.set(keyOf(host), child);
          if (isStopping(state)) void child.signal(stopRolloutHost).catch(() => undefined);
          child
            .result()
            .then(
              (answer) => replies.push(answer),
              (err: unknown) =>
                replies.push({ host, attempt, outcome: 'failed', message: `the host's update ended unexpectedly: ${hostFailureOf(err).message}` }),
            )
            .finally(() => {
              children.delete(keyOf(host));
              changed = true;
            });
        }),
      );
      changed = true;
    }
    if (changed) {
      changed = false;
      toPublish = rolloutStatus(state);
      const plan = renderPlan(state, input.work);
      if (plan !== details) {
        setCurrentDetails(plan);
        details = plan;
      }
    }
    if (isFinished(state) && children.size === 0 && replies.length === 0) {
      await published();
      return rolloutStatus(state);
    }
    const info = workflowInfo();
    if (children.size === 0 && (info.continueAsNewSuggested || info.historyLength > (input.config?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS))) {
      await published();
      await continueAsNew<typeof firmwareRolloutWorkflow>({ ...input, carried: { state } });
    }
    await condition(() => changed || replies.length > 0);
  }
}

export interface RolloutHostInput {
  /** This child's own workflow ID: where the host sends its answer. */
  replyTo: string;
  host: RolloutHostKey;
  rollout: { namespace: string; name: string };
  work: RolloutWork;
  attempt: number;
  timeoutMinutes: number;
}

/**
 * rolloutHostWorkflow: one host's part of a rollout. Asks the host workflow to apply the work and waits for its
 * answer (no polling: a signal, with the rollout's per-host timeout as a timer). Stopped by the rollout (abort)
 * or out of time, it withdraws the request and waits for the host to finish its current flash and answer.
 */
export async function rolloutHostWorkflow(input: RolloutHostInput): Promise<RolloutReply> {
  const { host, attempt } = input;
  let answer: RolloutReply | undefined;
  let stop = false;
  setHandler(firmwareHostReply, (reply) => {
    if (reply.attempt === attempt) answer = reply;
  });
  setHandler(stopRolloutHost, () => {
    stop = true;
  });
  const hostWorkflow = getExternalWorkflowHandle(hostWorkflowId(host.namespace, host.name));
  try {
    await hostWorkflow.signal(requestFirmware, {
      rollout: input.rollout,
      replyTo: input.replyTo,
      attempt,
      updates: input.work.updates,
      settings: input.work.settings,
    });
  } catch (err) {
    return { host, attempt, outcome: 'skipped', message: `the host has no workflow to ask (${hostFailureOf(err).message})` };
  }
  const timeoutMs = input.timeoutMinutes * 60_000;
  if (await condition(() => answer !== undefined || stop, timeoutMs)) {
    if (answer) return answer;
  }
  // Stopped or out of time: the host drops the request if it has not started, else stops after its current flash.
  await hostWorkflow.signal(cancelFirmware, { rollout: input.rollout, attempt }).catch(() => undefined);
  await condition(() => answer !== undefined, timeoutMs);
  const late = answer as RolloutReply | undefined;
  if (stop) return late ?? { host, attempt, outcome: 'aborted', message: 'aborted: the host did not answer' };
  if (late?.outcome === 'updated') return late;
  return { host, attempt, outcome: 'failed', message: `no answer within ${input.timeoutMinutes} minutes${late ? ` (then: ${late.message})` : ''}` };
}
