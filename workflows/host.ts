/**
 * hostWorkflow: the entity workflow of one BareMetalHost (ID `bmh/<namespace>/<name>`), alive as long as the
 * object is. It holds the user's intent (the latest `syncHost` from the bridge) and the host's state, executes
 * what domain/host-decisions.ts decides (every move through the one transition step of
 * domain/host-lifecycle.ts), runs each operation as a child workflow with its own history, and publishes
 * user-visible changes through the bridge's `publishStatus` activity (workflows/publication-queue.ts). Moving
 * into a provisioning-heavy state claims a slot on that same publication: the bridge grants it or shows the
 * host `delayed` until it offers one (`offerSlot`).
 *
 * Messages: `syncHost` (signal: new intent), `offerSlot` (signal: a slot is free), `hostState` (query),
 * `abortOperation` (update), `requestFirmware` / `cancelFirmware` (signals of a firmware rollout, answered with
 * `firmwareHostReply` to the rollout). Ends when the host is deleted (after `releaseHost`); continues as new when
 * history grows.
 */
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  metricMeter,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { BmcTarget } from '../activities/contract.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import type { RaidConfig } from '../domain/baremetalhost.schema.ts';
import type { HardwareDetails } from '../domain/hardware-data.schema.ts';
import type { ErrorCode } from '../domain/errors.ts';
import { checkSoftwareRaid, targetRaidConfig, type SoftwareRaidPlan } from '../domain/software-raid.ts';
import { replacementMismatch } from '../domain/host-intent.ts';
import { claimsSlot, decide, type Step } from '../domain/host-decisions.ts';
import { firmwareWork, hasFirmwareWork, rolloutRefusal, withRolloutRequest, type FirmwareWork } from '../domain/host-firmware.ts';
import {
  ANNOTATION,
  DEFAULT_LIFECYCLE_CONFIG,
  applyFailure,
  beginFirmwareOperation,
  applySuccess,
  attach,
  delay,
  detach,
  initialHostState,
  onDesiredChanged,
  operationOf,
  operationOfState,
  stateFromStatus,
  transition,
  undelay,
  type LifecycleConfig,
  type Moved,
  type OperationRequest,
  type OperationResults,
} from '../domain/host-lifecycle.ts';
import type {
  FirmwarePublication,
  FirmwareReading,
  HostDesired,
  HostEvent,
  HostState,
  PublishResult,
  RolloutReply,
  RolloutRequest,
} from '../domain/host-model.ts';
import { OPERATION_DURATION_METRIC, operationWorkflowId } from '../domain/names.ts';
import { DEFAULT_NODE_JOIN_TIMEOUT_SECONDS } from '../domain/node-join.ts';
import { DRAIN_TIMEOUTS, bmcCall, bridgeOn } from './activities.ts';
import { workflowNow, workflowRandom } from './clock.ts';
import { hostFailureOf, type HostFailure } from './failures.ts';
import { hostAgent } from './host-agent.ts';
import {
  abortOperation,
  cancelFirmware,
  firmwareHostReply,
  hostState,
  offerSlot,
  requestFirmware,
  stopFirmwareWork,
  syncHost,
} from './messages.ts';
import { planOperation, type OperationPlan } from './operation-children.ts';
import { prepareWorkflow, servicingWorkflow, type FirmwarePlan, type FirmwareOperationResult } from './prepare.ts';
import { PublicationQueue, takeBatch, unchanged, visibleKey, type QueuedPublication } from './publication-queue.ts';
import { NodeJoinCheck, withoutStaleJoin } from './node-join.ts';
import { CHILD_PATCHES, HOST_PATCHES, type HostPatch } from './host-patches.ts';
import { patchesHandedOn } from './patches.ts';
import { RolloutDrain } from './rollout-drain.ts';
import { SearchAttributeBook, type SearchAttributeField, type SearchAttributeUpdate } from './search-attributes.ts';

export interface HostWorkflowConfig extends LifecycleConfig {
  /** The bridge's task queue (tests run bridges on queues of their own). */
  bridgeTaskQueue?: string;
  /** Continue as new beyond this many events, even if the server has not suggested it yet. */
  maxHistoryEvents: number;
  /**
   * A host in its steady state continues as new after a power check once its history is longer than this: a
   * replay after the worker evicted it from its cache (every check, in a fleet larger than the cache) then reads
   * a few dozen events, not the whole life of the host so far.
   */
  steadyHistoryEvents: number;
  /** How long the join check waits for a CAPM3 host's Node to be Ready before it shows a warning. */
  nodeJoinTimeoutSeconds: number;
  /** How long a firmware rollout may take to drain a joined host's Node before the host fails in it. */
  drainTimeoutSeconds: number;
}

export interface HostWorkflowInput {
  desired: HostDesired;
  config?: Partial<HostWorkflowConfig>;
  /** Carried across continue-as-new. */
  carried?: { state: HostState; sequence: number; lastPublished: string };
  /**
   * Patches this run takes without recording a marker (workflows/host-patches.ts): a new run takes every patch
   * its code has, and whoever starts it (the bridge, or the run that continues as new) says which it knew. In the
   * input, so a replay decides the same. A patch not listed is asked for as usual.
   */
  patches?: readonly string[];
}

const DEFAULT_CONFIG: HostWorkflowConfig = {
  ...DEFAULT_LIFECYCLE_CONFIG,
  maxHistoryEvents: 2000,
  steadyHistoryEvents: 60,
  nodeJoinTimeoutSeconds: DEFAULT_NODE_JOIN_TIMEOUT_SECONDS,
  drainTimeoutSeconds: DRAIN_TIMEOUTS.drainSeconds,
};

/** Time limits of the operation children (Ironic: deploy callback up to 30-80 min, power 60-120 s). */
const CHILD_TIMEOUT: Record<OperationRequest['name'], string> = {
  register: '15 minutes',
  inspect: '30 minutes',
  // Firmware flashes take minutes each (a BMC flash and its reboot over ten); RAID 5-20 minutes (Metal3's docs).
  prepare: '6 hours',
  provision: '60 minutes',
  deprovision: '30 minutes',
  servicing: '6 hours',
  power: '15 minutes',
};

/**
 * A child that boots the deploy agent is bounded by the agent's own timeouts (callback, heartbeats: in
 * AGENT_TIMEOUTS); this only stops one that is stuck for good. A full erase of large disks takes hours.
 */
const AGENT_CHILD_TIMEOUT = '24 hours';

const SA = {
  provisioningState: defineSearchAttributeKey('ProvisioningState', 'KEYWORD'),
  operationalStatus: defineSearchAttributeKey('OperationalStatus', 'KEYWORD'),
  operation: defineSearchAttributeKey('Operation', 'KEYWORD'),
  errorType: defineSearchAttributeKey('ErrorType', 'KEYWORD'),
};

/** More decisions than this in a row without a wait is a decision bug: the workflow waits for a change. */
const MAX_DECISIONS_WITHOUT_WAIT = 50;

function describe(state: HostState, desired: HostDesired): string {
  const { namespace, name } = desired.ref;
  const power = state.poweredOn ? 'on' : 'off';
  const lines = [`**${namespace}/${name}**: \`${state.provisioningState || 'new'}\`, ${state.operationalStatus || 'OK'}, power ${power}`];
  if (state.operation) lines.push(`running: ${state.operation.summary}${state.operationStep ? `: ${state.operationStep.step}, since ${state.operationStep.since}` : ''}`);
  if (state.errorType) lines.push(`error (${state.errorType}, ${state.errorCount}×): ${state.errorMessage}`);
  if (state.delayed) lines.push(`delayed: ${state.delayed.reason}`);
  if (state.waitingReason) lines.push(`waiting: ${state.waitingReason}`);
  return lines.join('\n\n');
}

/** Whether `err` is a typed engine failure (an illegal transition): recorded on the host, not a task failure. */
function isInternalError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { type?: unknown }).type === 'InternalError';
}

export async function hostWorkflow(input: HostWorkflowInput): Promise<void> {
  const config: HostWorkflowConfig = { ...DEFAULT_CONFIG, ...input.config };
  const patch = patchesHandedOn<HostPatch>(input.patches);
  // v2: one search-attribute upsert per decision (not one per attribute change), and a snapshot superseded by
  // a later state in the queue is not published on its own. Each costs server work; histories from before
  // replay the old way.
  const v2 = patch('coalesce-publications-and-search-attributes');
  // v3: a host the provisioning limit counts claims a slot on the publication of the provisioning-heavy state
  // it enters, and waits for the bridge's answer before going on.
  const v3 = patch('provisioning-limit');
  // v4: the deploy agent: disk images and customDeploy are deployed, cleaning runs in preparing and on
  // deprovision, `inspectionMode: agent` inspects in band. Histories from before wait or skip as they did.
  const v4 = patch('deploy-agent');
  // The states a host passes through while a publication is in flight go out together in the next one
  // (the bridge writes each in order), instead of one activity and one workflow task each.
  const batched = patch('batch-publications');
  // v5, beyond Metal3: a host being deleted whose BMC does not answer gives up a step after one attempt (BMO
  // #1666); a BMC replacement (tempered.dev/replace-bmc) registers in place, checked to manage the same machine
  // (BMO #1458). Histories from before decide as they did.
  const v5 = patch('bmc-escape-hatches');
  const lifecycle: LifecycleConfig = { ...config, bmcEscapeHatches: v5 && config.bmcEscapeHatches };
  // v6: a provisioned host that a CAPM3 Metal3Machine consumes is checked for a Ready Node in its workload
  // cluster (workflows/node-join.ts); a host leaving provisioned drops that record.
  const v6 = patch('verify-node-join');
  // v7: fewer history events, each of which the server writes and indexes: the search-attribute updates of one
  // workflow task go out as one upsert, when the workflow waits; the operation children take the patches this
  // run hands on (CHILD_PATCHES) without a marker and an upsert of their own.
  const v7 = patch('fewer-history-events');
  const bridge = bridgeOn(config.bridgeTaskQueue);
  let desired = input.desired;
  let state: HostState = input.carried?.state ?? initialHostState(desired.ref.uid);
  let sequence = input.carried?.sequence ?? 0;
  let lastPublished = input.carried?.lastPublished ?? '';
  let lastPublishedState: string | undefined;
  let changed = false;
  let forcePublish = !input.carried || desired.statusMissing;

  const queue = new PublicationQueue(v2);
  const events: HostEvent[] = [];
  const removals = new Set<string>();
  let hardwareData: Record<string, unknown> | undefined;
  let firmwareData: FirmwarePublication | undefined;
  let publishing = false;
  /** Answers to firmware rollouts, sent in order by `replier`. */
  const replies: { to: string; reply: RolloutReply }[] = [];
  let replying = false;
  /** The firmware operation running now (to ask it to stop after the current flash). */
  let firmwareChild: { workflowId: string; started: boolean } | undefined;
  /** The bridge's answer to the slot claim in flight. */
  let claimAnswer: PublishResult | undefined;
  /** A slot claim is in flight, and whether a slot was offered meanwhile (before its refusal was seen). */
  let claiming: { offered: boolean } | undefined;
  let running: { scope: CancellationScope; abortReason?: string; inline?: boolean } | undefined;
  // A rollout's cordon and drain of a joined host's Node (patch 'rollout-drain', taken when first needed).
  const drain = new RolloutDrain(
    {
      state: () => state,
      desired: () => desired,
      setState: (next) => {
        state = next;
      },
      record: (drainEvents) => {
        events.push(...drainEvents);
        publish();
      },
      send: (to, answer) => replies.push({ to, reply: answer }),
    },
    { drainSeconds: config.drainTimeoutSeconds, readyAgainSeconds: DRAIN_TIMEOUTS.readyAgainSeconds },
  );

  const pending = () => {
    const p = {
      events: events.splice(0),
      removeAnnotations: [...removals],
      ...(hardwareData ? { hardwareData } : {}),
      ...(firmwareData ? { firmware: firmwareData } : {}),
    };
    removals.clear();
    hardwareData = undefined;
    firmwareData = undefined;
    return p;
  };
  /** Queues the firmware read from the BMC for the bridge (FirmwareSchema, HostFirmwareSettings, HostFirmwareComponents). */
  const publishFirmware = (reading: FirmwareReading | undefined, flashed: FirmwarePublication['flashed'] = []) => {
    if (!reading || (reading.settings === undefined && reading.components.length === 0)) return;
    const appliedUpdates = state.firmware?.appliedUpdates;
    firmwareData = { reading, flashed, ...(appliedUpdates ? { appliedUpdates } : {}) };
  };
  // An answer to a rollout whose drain is under way waits for the Node's release (workflows/rollout-drain.ts).
  const reply = (to: string, answer: RolloutReply) => {
    if (!drain.hold(to, answer)) replies.push({ to, reply: answer });
  };
  const answerOf = (request: RolloutRequest, outcome: RolloutReply['outcome'], message: string, versions?: RolloutReply['versions']): RolloutReply => ({
    host: { namespace: desired.ref.namespace, name: desired.ref.name },
    attempt: request.attempt,
    outcome,
    message,
    ...(versions && versions.length > 0 ? { versions } : {}),
  });
  const publish = () => queue.add(state, pending());
  const consume = (keys: string[]) => {
    for (const k of keys) removals.add(k);
    state = { ...state, consumedAnnotations: [...new Set([...state.consumedAnnotations, ...keys])] };
  };
  const fold = (result: Moved) => {
    if (result.consume.length > 0) consume(result.consume);
    state = { ...result.state, consumedAnnotations: state.consumedAnnotations };
    if (v6) state = withoutStaleJoin(state);
    events.push(...result.events);
    publish();
  };

  // The deploy agent's messages (agent API) and the steps operation children report.
  const agent = hostAgent({
    uid: () => desired.ref.uid,
    onStep: (step) => {
      if (!state.operation) return;
      state = { ...state, operationStep: step };
      publish();
    },
    onEvent: (event) => {
      events.push(event);
      publish();
    },
  });

  setHandler(hostState, () => state);
  setHandler(abortOperation, ({ reason }) => {
    if (!running || !state.operation) return { aborted: null };
    running.abortReason = reason;
    running.scope.cancel();
    return { aborted: state.operation.name };
  });
  setHandler(syncHost, (next) => {
    desired = next;
    state = onDesiredChanged(state, next);
    if (next.statusMissing && state.provisioningState !== '') {
      // The object lost its status (deleted by hand, restored from a backup): this history is the truth.
      // A status annotation on it is consumed, as BMO does, but this workflow's state wins over it. (A new
      // host has nothing to republish: its first state is published when it is reached.)
      if (next.restoredStatus) consume([ANNOTATION.status]);
      forcePublish = true;
      publish();
    }
    changed = true;
  });
  setHandler(requestFirmware, (request) => {
    const current = state.rollout;
    const refusal =
      rolloutRefusal(state, desired) ??
      (current?.started && current.replyTo !== request.replyTo
        ? `another firmware rollout (${current.rollout.namespace}/${current.rollout.name}) is updating the host`
        : undefined);
    if (refusal) {
      reply(request.replyTo, answerOf(request, 'skipped', refusal));
      return;
    }
    if (current?.started) return; // the same request again: it is under way, its answer follows
    if (current && current.replyTo !== request.replyTo) {
      reply(current.replyTo, answerOf(current, 'skipped', `replaced by firmware rollout ${request.rollout.namespace}/${request.rollout.name}`));
    }
    state = withRolloutRequest(state, request);
    changed = true;
  });
  setHandler(cancelFirmware, ({ rollout, attempt }) => {
    const current = state.rollout;
    if (!current || current.rollout.namespace !== rollout.namespace || current.rollout.name !== rollout.name || current.attempt !== attempt) return;
    if (!current.started) {
      state = { ...state, rollout: undefined };
      reply(current.replyTo, answerOf(current, 'aborted', 'not started: the rollout was aborted'));
      changed = true;
      return;
    }
    state = { ...state, rollout: { ...current, stop: true } };
    // The firmware operation finishes its current flash and stops; its outcome answers the rollout.
    if (firmwareChild?.started) void getExternalWorkflowHandle(firmwareChild.workflowId).signal(stopFirmwareWork).catch(() => undefined);
  });
  setHandler(offerSlot, () => {
    // The slot is reserved for this host: it claims it on its next move (decide lets it through).
    if (!state.delayed) {
      // The bridge can refuse a claim and offer a slot before the workflow sees the refusal (a signal comes
      // before an activity's result in the same task): kept for when the refusal is seen (`move`).
      if (claiming) claiming.offered = true;
      return;
    }
    state = { ...state, delayed: { ...state.delayed, offered: true } };
    changed = true;
  });

  // One publication in flight at a time, in order; unchanged snapshots are not sent. While an operation runs in
  // this workflow (patch inline-bmc-operations) its workflow task stays open, so a publication scheduled then
  // would go out only when the task ends anyway: it waits for the operation's end, and carries the states passed
  // meanwhile with it, written one after the other by the bridge in one activity instead of two or more.
  const publisher = async () => {
    for (;;) {
      await condition(() => queue.length > 0 && !running?.inline);
      if (running?.inline) continue;
      let next: QueuedPublication | undefined;
      let earlier: QueuedPublication[] = [];
      if (batched) {
        const batch = takeBatch(queue, lastPublishedState, lastPublished, forcePublish);
        next = batch.pop();
        earlier = batch;
      } else {
        next = queue.next(lastPublishedState, forcePublish);
        if (next && unchanged(next, lastPublished, forcePublish)) continue;
      }
      if (!next) continue;
      forcePublish = false;
      publishing = true;
      const key = visibleKey(next.state);
      try {
        const result = await bridge.publishStatus({ ref: desired.ref, ...next, ...(earlier.length > 0 ? { earlier } : {}) });
        if (next.claim) claimAnswer = result;
        // The bridge lost the FirmwareSchema: its rules go with the next reading.
        if (result.firmwareSchemaMissing && state.firmware) state = { ...state, firmware: { ...state.firmware, schemaName: undefined } };
        // A refused claim showed the state before the move; the workflow records what it shows.
        if (!result.delayed) {
          lastPublished = key;
          lastPublishedState = next.state.provisioningState;
        }
      } catch (err) {
        // The bridge refused this snapshot for good (transient failures are retried by the policy): the
        // host goes on (a claim counts as granted), and the next change publishes again. The refusal is in
        // history and the log.
        log.error('status publication refused', { error: hostFailureOf(err).message });
        if (next.claim) claimAnswer = { written: false };
      } finally {
        publishing = false;
      }
    }
  };
  void publisher();

  // Answers to firmware rollouts, one at a time, in order. A rollout that is gone no longer needs its answer.
  const replier = async () => {
    for (;;) {
      await condition(() => replies.length > 0);
      const next = replies[0];
      if (!next) continue;
      replying = true;
      try {
        await getExternalWorkflowHandle(next.to).signal(firmwareHostReply, next.reply);
      } catch (err) {
        log.warn('could not answer a firmware rollout', { to: next.to, error: hostFailureOf(err).message });
      } finally {
        replies.shift();
        replying = false;
      }
    }
  };
  void replier();
  const publicationsDone = () => condition(() => queue.length === 0 && !publishing && replies.length === 0 && !replying);

  const joinCheck = new NodeJoinCheck(
    {
      state: () => state,
      desired: () => desired,
      record(nodeJoin, joinEvents) {
        state = { ...state, nodeJoin };
        events.push(...joinEvents);
        publish();
      },
    },
    config.nodeJoinTimeoutSeconds,
  );
  if (v6) void joinCheck.run();
  void drain.run();

  // A new workflow for a host that already has a history elsewhere: the status annotation (pivot, BMO's
  // way) or the object's own status (this engine's history was lost) seeds the state.
  if (!input.carried) {
    if (desired.restoredStatus) {
      state = stateFromStatus(desired.restoredStatus, desired.ref.uid);
      consume([ANNOTATION.status]);
      const message = `Status restored from the ${ANNOTATION.status} annotation (state ${state.provisioningState || 'new'})`;
      events.push({ type: 'Normal', reason: 'StatusRestored', message });
    } else if ((desired.adoptStatus as { provisioning?: { state?: string } } | undefined)?.provisioning?.state) {
      state = stateFromStatus(desired.adoptStatus ?? {}, desired.ref.uid);
      const message = `Adopted the host in state ${state.provisioningState}: registering with the BMC again`;
      events.push({ type: 'Normal', reason: 'StatusAdopted', message });
    }
    if (events.length > 0) publish();
  }

  const target = (): BmcTarget => ({
    host: desired.ref,
    address: desired.spec.bmc?.address ?? '',
    credentialsName: desired.spec.bmc?.credentialsName ?? '',
    ...(desired.spec.bmc?.disableCertificateVerification ? { disableCertificateVerification: true } : {}),
    ...(state.goodCredentials?.version ? { credentialsVersion: state.goodCredentials.version } : {}),
  });

  const searchAttributes = new SearchAttributeBook(v2);
  const send = (updates: SearchAttributeUpdate[]) => upsertSearchAttributes(updates.map((u) => ({ key: SA[u.field], value: u.value })));
  /** v7: the updates not sent yet, the latest value of each attribute. */
  const unsent = new Map<SearchAttributeField, string>();
  const upsert = (updates: SearchAttributeUpdate[]) => {
    if (updates.length === 0) return;
    if (!v7) return send(updates);
    for (const u of updates) unsent.set(u.field, u.value);
  };
  /** Sends what `upsert` kept, as one upsert. */
  const flushSearchAttributes = () => {
    if (unsent.size === 0) return;
    send([...unsent].map(([field, value]) => ({ field, value })));
    unsent.clear();
  };
  // A condition is checked once the workflow's code has run as far as it can in this activation: the updates
  // it made on the way (a state, the next, the operation it starts) go out together. An operation this workflow
  // runs itself (patch inline-bmc-operations) keeps the workflow task open across activations, one per BMC call
  // it makes: its updates wait until it is over, so one upsert still covers the task.
  if (v7) {
    void (async () => {
      for (;;) {
        await condition(() => unsent.size > 0 && !running?.inline);
        // The condition may have been met before such an operation began in this activation: its end sends them.
        if (running?.inline) continue;
        flushSearchAttributes();
      }
    })();
  }

  /**
   * Runs an operation (a child workflow; a BMC-only one in this workflow, patch `inline-bmc-operations`; or folded
   * at once when no BMC call is needed) and folds its outcome.
   */
  async function runOperation(request: OperationRequest): Promise<void> {
    const now = workflowNow();
    const address = checkBmcAddress(desired.spec.bmc?.address ?? '');
    const capabilities = address.ok ? address.address.capabilities : undefined;
    const driver = address.ok ? address.address.type : 'BMC';

    // v5: RAID, BIOS settings and firmware updates (preparing), and servicing, run in a firmware child.
    let work: FirmwareWork | undefined;
    let firmwarePlan: FirmwarePlan | undefined;
    let softwareRaid: SoftwareRaidPlan | undefined;
    if (request.name === 'prepare' || request.name === 'servicing') {
      const decided = decideFirmware(request, now);
      if (decided === 'folded') return;
      if (decided) ({ work, plan: firmwarePlan, softwareRaid } = decided);
    }
    // BMO creates the firmware objects once a host registers: its firmware is read then (Redfish only).
    const readFirmware =
      request.name === 'register' && address.ok && address.address.protocol === 'redfish' && patch('register-reads-firmware');
    const known = state.firmware?.schemaName ? { knownSchema: state.firmware.schemaName } : {};
    const base = planOperation({
      request,
      desired,
      state,
      target: target(),
      capabilities,
      driver,
      agent: v4,
      ...(v7 ? { childPatches: CHILD_PATCHES } : {}),
      ...(readFirmware ? { registerFirmware: known } : {}),
      ...(softwareRaid ? { softwareRaid } : {}),
    });
    const plan = firmwarePlan ? withFirmwareChild(request.name as 'prepare' | 'servicing', firmwarePlan, base, now) : base;
    if (plan.kind === 'fold') {
      events.push(...plan.events);
      fold(applySuccess(state, request as never, plan.result as never, desired, now));
      return;
    }
    events.push(...(plan.events ?? []));
    // A BMC-only operation runs here, its calls in this history: no child to start and wait for.
    const inline = plan.inline && patch('inline-bmc-operations') ? plan.inline : undefined;

    sequence += 1;
    const { namespace, name } = desired.ref;
    const workflowId = inline ? workflowInfo().workflowId : operationWorkflowId(namespace, name, request.name, sequence);
    const summary = request.name === 'power' ? `power ${request.on ? 'on' : 'off'} (${request.purpose})` : plan.agent === 'clean' ? `${request.name}: cleaning` : request.name;
    state = { ...state, operation: { name: request.name, workflowId, startedAt: new Date(now).toISOString(), summary } };
    upsert(searchAttributes.operation(request.name, state));
    setCurrentDetails(describe(state, desired));
    const options = {
      workflowId,
      workflowExecutionTimeout: plan.agent ? AGENT_CHILD_TIMEOUT : CHILD_TIMEOUT[request.name],
      staticSummary: `${summary}: ${namespace}/${name} via ${driver}`,
    };
    const rolloutRequest = work?.rollout ? state.rollout : undefined;
    if (firmwarePlan && (request.name === 'prepare' || request.name === 'servicing')) {
      state = beginFirmwareOperation(state, request.name, work?.rollout ?? false, now);
      publish();
    }
    const bootId = plan.agent ? agent.begin(plan.agent, workflowId, sequence) : undefined;
    const scope = new CancellationScope();
    running = inline ? { scope, inline: true } : { scope };
    // Metrics are not recorded in history (nor during replay): no command, no patch needed.
    const recordDuration = (result: string) =>
      metricMeter
        .createHistogram(OPERATION_DURATION_METRIC, 'float', 's', 'Operations of host workflows (children, or BMC-only ones run in the host workflow), by result')
        .record(Math.max(0, (workflowNow() - now) / 1000), { operation: request.name, result });
    try {
      const result = await scope.run(() => (inline ? inline() : plan.run(options, bootId)));
      recordDuration('ok');
      const registered = request.name === 'register' ? (result as OperationResults['register']) : undefined;
      const mismatch = v5 && registered ? replacementMismatch(state, registered) : undefined;
      if (mismatch) {
        const failure = { code: 'BmcIdentityMismatch' as const, message: mismatch };
        fold(applyFailure(state, 'register', failure, desired, workflowNow(), workflowRandom(), config));
        return;
      }
      const done = applySuccess(state, request as never, result as never, desired, workflowNow());
      if (request.name === 'inspect' && done.state.hardware && (result as OperationResults['inspect']).hardware) {
        hardwareData = done.state.hardware;
      }
      fold(done);
      if (request.name === 'register') publishFirmware((result as OperationResults['register']).firmware);
      if (firmwarePlan) {
        const outcome = (result as FirmwareOperationResult).firmware;
        publishFirmware(outcome.reading, outcome.flashed);
        publish();
        if (rolloutRequest) {
          const versions = outcome.flashed.map((f) => ({ component: f.component, version: f.version }));
          const what = [...versions.map((v) => `${v.component} ${v.version}`), ...Object.keys(rolloutRequest.settings)].join(', ');
          reply(
            rolloutRequest.replyTo,
            outcome.stopped
              ? answerOf(rolloutRequest, 'aborted', `stopped after the current flash${what ? ` (done: ${what})` : ''}`, versions)
              : answerOf(rolloutRequest, 'updated', `updated${what ? `: ${what}` : ''} (${request.name})`, versions),
          );
        }
      }
    } catch (err) {
      let failure: HostFailure = hostFailureOf(err);
      if (running.abortReason !== undefined) {
        failure = { code: 'OperationAborted', message: `${request.name} aborted by an operator: ${running.abortReason}` };
      }
      log.warn('operation failed', { operation: request.name, code: failure.code, message: failure.message });
      recordDuration(failure.code);
      fold(applyFailure(state, operationOf(request), failure, desired, workflowNow(), workflowRandom(), config));
      if (rolloutRequest) reply(rolloutRequest.replyTo, answerOf(rolloutRequest, 'failed', `${failure.code}: ${failure.message}`));
    } finally {
      agent.end();
      running = undefined;
      firmwareChild = undefined;
      state = { ...state, operation: undefined, operationStep: undefined };
      upsert(searchAttributes.operation('', state));
    }
  }

  /**
   * The firmware work of a `prepare` or `servicing` operation: RAID, BIOS settings and updates for a firmware
   * child, or `folded` when the operation was decided at once (nothing to do, or a preparation error), or
   * nothing when only the deploy agent's cleaning (operation-children.ts) remains.
   */
  function decideFirmware(
    request: Extract<OperationRequest, { name: 'prepare' | 'servicing' }>,
    now: number,
  ): { work?: FirmwareWork; plan?: FirmwarePlan; softwareRaid?: SoftwareRaidPlan } | 'folded' | undefined {
    if (request.name === 'servicing') {
      const work = firmwareWork(state, desired, 'servicing');
      // Nothing (left) to service: servicing ends, and with it a servicing error (BMO aborts servicing then).
      if (!hasFirmwareWork(work)) {
        fold(applySuccess(state, request, { poweredOn: state.poweredOn }, desired, now));
        return 'folded';
      }
      return { work, plan: planOf(work, undefined) };
    }
    const fail = (message: string, code: ErrorCode = 'BmcUnsupported') => {
      fold(applyFailure(state, 'prepare', { code, message }, desired, now, workflowRandom(), config));
      return 'folded' as const;
    };
    const raid = desired.spec.raid as RaidConfig | undefined;
    const raidSet = raid !== undefined && Object.keys(raid).length > 0;
    const work = firmwareWork(state, desired, 'preparing');
    // v5 (before: spec.raid failed preparing, and settings and updates were not applied).
    if (!((raidSet || hasFirmwareWork(work)) && patch('prepare-firmware-raid'))) {
      return raidSet ? fail('RAID configuration (spec.raid) is not applied by Tempered yet; remove spec.raid to continue') : undefined;
    }
    // BMO applies RAID when the spec differs from what was applied, or again after a failed preparation.
    const raidChanged = JSON.stringify(desired.spec.raid) !== JSON.stringify(state.raid);
    const again = raidChanged || state.errorType === 'preparation error';
    const software = raid?.softwareRAIDVolumes ?? undefined;
    const hadSoftware = ((state.raid as RaidConfig | undefined)?.softwareRAIDVolumes ?? []).length > 0;
    let softwareRaid: SoftwareRaidPlan | undefined;
    if (software && (software.length > 0 || hadSoftware)) {
      // Before: software RAID failed preparing.
      if (!patch('software-raid')) {
        return fail(
          'software RAID (spec.raid.softwareRAIDVolumes) is not built by Tempered yet; ' +
            'remove softwareRAIDVolumes (or use hardwareRAIDVolumes on a controller) to continue',
        );
      }
      const invalid = checkSoftwareRaid(raid, (state.hardware as HardwareDetails | undefined)?.storage);
      if (invalid) return fail(invalid, 'RaidConfigInvalid');
      const address = checkBmcAddress(desired.spec.bmc?.address ?? '');
      if (address.ok && !address.address.capabilities.virtualMedia) {
        return fail(`software RAID is built by the deploy agent, booted by virtual media, which the '${address.address.type}' BMC driver does not have; use a virtual-media address such as redfish-virtualmedia://`);
      }
      const hints = Object.keys(desired.spec.rootDeviceHints ?? {}).length > 0;
      if (again) softwareRaid = { targetRaidConfig: targetRaidConfig(software, hints), volumes: software };
    }
    const hardware = software && software.length > 0 ? undefined : (raid?.hardwareRAIDVolumes ?? undefined);
    const raidDue = hardware !== undefined && again;
    if (!hasFirmwareWork(work) && !raidDue) return softwareRaid ? { softwareRaid } : undefined;
    return { work, plan: planOf(work, raidDue ? hardware : undefined), ...(softwareRaid ? { softwareRaid } : {}) };
  }

  /** The prepare or servicing child's plan for `work` (and hardware RAID volumes, in preparing). */
  function planOf(work: FirmwareWork | undefined, raid: RaidConfig['hardwareRAIDVolumes'] | undefined): FirmwarePlan {
    return {
      settings: work?.settings ?? {},
      updates: work?.updates ?? [],
      componentUpdates: work?.componentUpdates ?? [],
      ...(raid ? { raid } : {}),
      ...(state.firmware?.schemaName ? { knownSchema: state.firmware.schemaName } : {}),
    };
  }

  /**
   * The operation as a firmware child (prepare or servicing, workflows/prepare.ts), followed by the cleaning
   * `base` plans when it has one (first preparing: RAID is built before the disks are cleaned). The firmware
   * child takes the operation's ID, or `<id>/firmware` when the cleaning child (which the agent's messages
   * reach by that ID) follows it.
   */
  function withFirmwareChild(kind: 'prepare' | 'servicing', plan: FirmwarePlan, base: OperationPlan, now: number): OperationPlan {
    const cleaning = base.kind === 'child' ? base : undefined;
    return {
      kind: 'child',
      ...(cleaning?.agent ? { agent: cleaning.agent } : {}),
      events: base.events ?? [],
      run: async (options, bootId) => {
        const workflowId = cleaning ? `${options.workflowId}/firmware` : options.workflowId;
        firmwareChild = { workflowId, started: false };
        const input = { operationId: workflowId, target: target(), plan, since: new Date(now).toISOString() };
        const child = await startChild(kind === 'prepare' ? prepareWorkflow : servicingWorkflow, {
          ...options,
          workflowId,
          workflowExecutionTimeout: CHILD_TIMEOUT[kind],
          args: [input],
        });
        firmwareChild.started = true;
        // A rollout's abort that came while the child was starting: it stops after its current flash.
        if (state.rollout?.stop) await child.signal(stopFirmwareWork);
        const done = await child.result();
        firmwareChild = undefined;
        if (!cleaning) return done;
        const cleaned = (await cleaning.run(options, bootId)) as OperationResults['prepare'];
        return { ...cleaned, firmware: done.firmware };
      },
    };
  }

  /**
   * Moves the host by `trigger`. Entering a provisioning-heavy state claims a slot on the publication of the
   * new state; when the bridge refuses, the host stays where it was, delayed (the bridge already shows that).
   */
  async function move(step: Extract<Step, { kind: 'transition' }>, now: number): Promise<void> {
    const before = state;
    // Only a host the bridge counts claims: for the others the move costs no wait for an answer.
    const claim = v3 && desired.countsTowardProvisioningLimit === true && claimsSlot(state, step.trigger);
    const moved = transition(state, step.trigger, desired, now);
    log.info('transition', { from: before.provisioningState, to: moved.state.provisioningState, trigger: step.trigger, reason: step.reason });
    if (!claim) {
      fold(moved);
      return;
    }
    if (moved.consume.length > 0) consume(moved.consume);
    state = { ...moved.state, consumedAnnotations: state.consumedAnnotations };
    if (v6) state = withoutStaleJoin(state);
    events.push(...moved.events);
    claimAnswer = undefined;
    const inFlight = (claiming = { offered: false });
    queue.addClaim(state, pending(), before);
    await condition(() => claimAnswer !== undefined);
    claiming = undefined;
    const reason = (claimAnswer as PublishResult | undefined)?.delayed;
    if (reason === undefined) return;
    log.info('delayed: no slot under the provisioning limit', { state: moved.state.provisioningState, reason });
    // A slot offered before the refusal was seen is reserved for this host: it claims it at once. Before this
    // patch such an offer was dropped and the host waited until the bridge's reservation expired (2 minutes).
    const offered = inFlight.offered && patch('slot-offered-during-claim');
    // Signals may have changed the state meanwhile; what they change is not shown, so it is what the bridge shows.
    state = delay(onDesiredChanged(before, desired), moved.state.provisioningState, reason, offered);
    lastPublished = visibleKey(state);
    lastPublishedState = state.provisioningState;
  }

  /** Executes one decision (all but `release`, which ends the workflow). */
  async function execute(step: Step, now: number): Promise<void> {
    switch (step.kind) {
      case 'transition':
        await move(step, now);
        break;
      case 'detach':
        fold(detach(state));
        break;
      case 'attach':
        fold(attach(state));
        break;
      case 'undelay':
        state = undelay(state);
        publish();
        break;
      case 'consume':
        consume(step.annotations);
        publish();
        break;
      case 'fail':
        fold(applyFailure(state, step.operation, { code: step.code, message: step.message }, desired, now, workflowRandom(), config));
        break;
      case 'operation':
        if (!v4 && step.request.name === 'provision' && (step.request.customDeploy || step.request.image?.format !== 'live-iso')) {
          // Before the deploy agent: such a deploy waited in provisioning, visibly, until the spec changed.
          await execute({ kind: 'wait', why: 'steady', reason: 'the deploy agent is not available to this workflow run', notice: 'ProvisioningWaiting' }, now);
          break;
        }
        if (drain.wants(step) && !(await drain.before())) break;
        await runOperation(step.request);
        break;
      case 'checkPower': {
        try {
          const { poweredOn } = await bmcCall('quick', 'readPower', 'steady state: read power', target());
          if (poweredOn !== state.poweredOn) {
            const message = `The BMC reports power ${poweredOn ? 'on' : 'off'}, changed outside Tempered`;
            events.push({ type: 'Normal', reason: 'PowerChanged', message });
          }
          state = { ...state, poweredOn, powerCheckedAt: new Date(now).toISOString() };
        } catch (err) {
          const failure = hostFailureOf(err);
          state = { ...state, powerCheckedAt: new Date(now).toISOString() };
          events.push({ type: 'Warning', reason: 'PowerCheckFailed', message: failure.message });
        }
        publish();
        break;
      }
      case 'release':
        break;
      case 'wait':
        // A wait the user should see (a deploy this engine cannot run yet): shown once, with a Warning.
        if (step.notice && state.waitingReason !== step.reason) {
          state = { ...state, waitingReason: step.reason };
          events.push({ type: 'Warning', reason: step.notice, message: step.reason });
          publish();
        }
        if (step.until !== undefined) await condition(() => changed, Math.max(step.until - now, 1));
        else await condition(() => changed);
        break;
    }
  }

  /** Nothing runs beside the steady state's wait that a new run would have to start again. */
  const quiet = () =>
    !running && !state.operation && !state.rollout && !state.rolloutDrain && !state.delayed && !claiming && !(v6 && joinCheck.checking);

  let detailsKey = '';
  let spins = 0;
  let previous: Step['kind'] | undefined;
  for (;;) {
    upsert(searchAttributes.state(state));
    const details = describe(state, desired);
    if (details !== detailsKey) {
      setCurrentDetails(details);
      detailsKey = details;
    }

    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > config.maxHistoryEvents) {
      await publicationsDone();
      await condition(allHandlersFinished);
      flushSearchAttributes();
      await continueAsNew<typeof hostWorkflow>({ desired, config: input.config, carried: { state, sequence, lastPublished }, patches: HOST_PATCHES });
    }

    changed = false;
    const now = workflowNow();
    const step = decide(state, desired, now, lifecycle);
    spins = step.kind === 'wait' ? 0 : spins + 1;
    if (spins > MAX_DECISIONS_WITHOUT_WAIT) {
      log.error(`lifecycle made ${MAX_DECISIONS_WITHOUT_WAIT} decisions without waiting; waiting for a change`, { step: step.kind });
      spins = 0;
      await condition(() => changed);
      continue;
    }
    // A steady host whose power was just checked starts a new run with a short history (see
    // `steadyHistoryEvents`): carried are the state and what the bridge last showed, as at `maxHistoryEvents`.
    const compact =
      step.kind === 'wait' && step.why === 'steady' && previous === 'checkPower' && quiet() && workflowInfo().historyLength > config.steadyHistoryEvents;
    previous = step.kind;
    if (compact && patch('compact-at-steady-state')) {
      await publicationsDone();
      await condition(allHandlersFinished);
      flushSearchAttributes();
      await continueAsNew<typeof hostWorkflow>({ desired, config: input.config, carried: { state, sequence, lastPublished }, patches: HOST_PATCHES });
    }
    if (step.kind === 'release') {
      if (state.rollout) reply(state.rollout.replyTo, answerOf(state.rollout, 'skipped', 'the host was deleted'));
      await publicationsDone();
      const released = desired.ref;
      await bridge.releaseHost(released);
      // A new object of the same name (recreated with its status annotation, as a move does) can be signalled
      // to this run while it releases the old one. Before this patch the run ended with it, and the new host
      // waited for the bridge's next resync (10 minutes): now a new run takes it over, as a new host.
      if (desired.ref.uid !== released.uid && patch('recreated-while-releasing')) {
        log.info('host released; a new object of the same name arrived meanwhile: a new run takes it over');
        flushSearchAttributes();
        await continueAsNew<typeof hostWorkflow>({ desired, config: input.config, patches: HOST_PATCHES });
      }
      log.info('host released: workflow ends');
      flushSearchAttributes();
      return;
    }
    try {
      await execute(step, now);
      // A waiting rollout request the host can no longer take (deprovisioning, detached, ...): answered now.
      const waiting = state.rollout;
      const refusal = waiting && !waiting.started ? rolloutRefusal(state, desired) : undefined;
      if (waiting && refusal) {
        state = { ...state, rollout: undefined };
        reply(waiting.replyTo, answerOf(waiting, 'skipped', refusal));
      }
      if (v6) joinCheck.reconcile();
    } catch (err) {
      // A move the transition table does not have: a bug, recorded on the host (errorType, message, Event)
      // with a backoff, never a crash loop; the next change decides again.
      if (!isInternalError(err)) throw err;
      const failure = hostFailureOf(err);
      log.error('illegal decision', { step: step.kind, error: failure.message });
      const operation = operationOfState(state.provisioningState);
      fold(applyFailure(state, operation, failure, desired, now, workflowRandom(), config));
    }
  }
}
