/**
 * hostWorkflow: the entity workflow of one BareMetalHost (ID `bmh/<namespace>/<name>`), alive as long as the
 * object is. It holds the user's intent (the latest `syncHost` from the bridge) and the host's state, runs
 * Metal3's transitions (decided by domain/host-lifecycle.ts), runs each operation as a child workflow with
 * its own history, and publishes user-visible changes through the bridge's `publishStatus` activity.
 *
 * Messages: `syncHost` (signal: new intent), `hostState` (query), `abortOperation` (update).
 * Ends when the host is deleted (after `releaseHost`); continues as new when history grows.
 */
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowOptions,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { BmcTarget } from '../activities/contract.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import {
  ANNOTATION,
  DEFAULT_LIFECYCLE_CONFIG,
  applyFailure,
  applySuccess,
  applyTransition,
  initialHostState,
  nextStep,
  onDesiredChanged,
  operationOf,
  stateFromStatus,
  type LifecycleConfig,
  type OperationRequest,
  type OperationResults,
} from '../domain/host-lifecycle.ts';
import type { HostDesired, HostEvent, HostState } from '../domain/host-model.ts';
import { operationWorkflowId } from '../domain/names.ts';
import { bmcCall, bridgeOn } from './activities.ts';
import { workflowNow, workflowRandom } from './clock.ts';
import { hostFailureOf, type HostFailure } from './failures.ts';
import { deprovisionWorkflow } from './deprovision.ts';
import { inspectWorkflow } from './inspect.ts';
import { abortOperation, hostState, syncHost } from './messages.ts';
import { powerWorkflow } from './power.ts';
import { provisionWorkflow } from './provision.ts';
import { registerWorkflow } from './register.ts';

export interface HostWorkflowConfig extends LifecycleConfig {
  /** The bridge's task queue (tests run bridges on queues of their own). */
  bridgeTaskQueue?: string;
  /** Continue as new beyond this many events, even if the server has not suggested it yet. */
  maxHistoryEvents: number;
}

export interface HostWorkflowInput {
  desired: HostDesired;
  config?: Partial<HostWorkflowConfig>;
  /** Carried across continue-as-new. */
  carried?: { state: HostState; sequence: number; lastPublished: string };
}

const DEFAULT_CONFIG: HostWorkflowConfig = { ...DEFAULT_LIFECYCLE_CONFIG, maxHistoryEvents: 2000 };

/** Time limits of the operation children (Ironic: deploy callback up to 30-80 min, power 60-120 s). */
const CHILD_TIMEOUT: Record<OperationRequest['name'], ChildWorkflowOptions['workflowExecutionTimeout']> = {
  register: '15 minutes',
  inspect: '30 minutes',
  prepare: '60 minutes',
  provision: '60 minutes',
  deprovision: '30 minutes',
  power: '15 minutes',
};

const SA = {
  provisioningState: defineSearchAttributeKey('ProvisioningState', 'KEYWORD'),
  operationalStatus: defineSearchAttributeKey('OperationalStatus', 'KEYWORD'),
  operation: defineSearchAttributeKey('Operation', 'KEYWORD'),
  errorType: defineSearchAttributeKey('ErrorType', 'KEYWORD'),
};

/** The fields of the state that `.status` shows: a change in these is worth a publication. */
function visibleKey(state: HostState): string {
  const { powerCheckedAt: _p, retryAfter: _r, errorIntent: _i, consumedAnnotations: _c, deleteAttempts: _d, operation: _o, errorCode: _e, ...visible } = state;
  return JSON.stringify(visible);
}

function describe(state: HostState, desired: HostDesired): string {
  const lines = [
    `**${desired.ref.namespace}/${desired.ref.name}**: \`${state.provisioningState || 'new'}\`, ${state.operationalStatus || 'OK'}, power ${state.poweredOn ? 'on' : 'off'}`,
  ];
  if (state.operation) lines.push(`running: ${state.operation.summary}`);
  if (state.errorType) lines.push(`error (${state.errorType}, ${state.errorCount}×): ${state.errorMessage}`);
  if (state.waitingReason) lines.push(`waiting: ${state.waitingReason}`);
  return lines.join('\n\n');
}

export async function hostWorkflow(input: HostWorkflowInput): Promise<void> {
  const config: HostWorkflowConfig = { ...DEFAULT_CONFIG, ...input.config };
  // v2: one search-attribute upsert per decision (not one per attribute change), and a snapshot superseded by
  // a later state in the queue is not published on its own. Each costs server work; histories from before
  // replay the old way.
  const v2 = patched('coalesce-publications-and-search-attributes');
  const bridge = bridgeOn(config.bridgeTaskQueue);
  let desired = input.desired;
  let state: HostState = input.carried?.state ?? initialHostState(desired.ref.uid);
  let sequence = input.carried?.sequence ?? 0;
  let lastPublished = input.carried?.lastPublished ?? '';
  let lastPublishedState: string | undefined;
  let changed = false;
  let forcePublish = !input.carried || desired.statusMissing;

  // Publications wait here in order. Each provisioning state a host passes through is published (users
  // watch them go by); changes within one state coalesce into the latest snapshot of that state.
  const queue: { state: HostState; events: HostEvent[]; removeAnnotations: string[]; hardwareData?: Record<string, unknown> }[] = [];
  const events: HostEvent[] = [];
  const removals = new Set<string>();
  let hardwareData: Record<string, unknown> | undefined;
  let publishing = false;
  let running: { scope: CancellationScope; abortReason?: string } | undefined;


  setHandler(hostState, () => state);
  setHandler(abortOperation, ({ reason }) => {
    if (!running || !state.operation) return { aborted: null };
    running.abortReason = reason;
    running.scope.cancel();
    return { aborted: state.operation.name };
  });

  const publish = () => {
    const last = queue.at(-1);
    const pending = { events: events.splice(0), removeAnnotations: [...removals], ...(hardwareData ? { hardwareData } : {}) };
    removals.clear();
    hardwareData = undefined;
    if (last && last.state.provisioningState === state.provisioningState) {
      last.state = state;
      last.events.push(...pending.events);
      last.removeAnnotations = [...new Set([...last.removeAnnotations, ...pending.removeAnnotations])];
      if (pending.hardwareData) last.hardwareData = pending.hardwareData;
    } else {
      queue.push({ state, ...pending });
    }
  };
  const consume = (keys: string[]) => {
    for (const k of keys) removals.add(k);
    state = { ...state, consumedAnnotations: [...new Set([...state.consumedAnnotations, ...keys])] };
  };

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

  // One publication in flight at a time, in order; unchanged snapshots are not sent.
  const publisher = async () => {
    for (;;) {
      await condition(() => queue.length > 0);
      const next = queue.shift();
      if (!next) continue;
      const following = queue[0];
      if (v2 && following && next.state.provisioningState === lastPublishedState && !forcePublish) {
        // Only fields of a state already shown changed, and a later snapshot carries them too: fold this one
        // into it (its Events first) instead of spending a write and two Temporal tasks on it.
        following.events.unshift(...next.events);
        following.removeAnnotations = [...new Set([...next.removeAnnotations, ...following.removeAnnotations])];
        if (next.hardwareData && !following.hardwareData) following.hardwareData = next.hardwareData;
        continue;
      }
      const key = visibleKey(next.state);
      if (!forcePublish && key === lastPublished && next.events.length === 0 && next.removeAnnotations.length === 0 && !next.hardwareData) continue;
      forcePublish = false;
      publishing = true;
      try {
        await bridge.publishStatus({ ref: desired.ref, ...next });
        lastPublished = key;
        lastPublishedState = next.state.provisioningState;
      } catch (err) {
        // The bridge refused this snapshot for good (transient failures are retried by the policy): the
        // host goes on, and the next change publishes again. The refusal is in history and the log.
        log.error('status publication refused', { error: hostFailureOf(err).message });
      } finally {
        publishing = false;
      }
    }
  };
  void publisher();
  const publicationsDone = () => condition(() => queue.length === 0 && !publishing);

  // A new workflow for a host that already has a history elsewhere: the status annotation (pivot, BMO's
  // way) or the object's own status (this engine's history was lost) seeds the state.
  if (!input.carried) {
    if (desired.restoredStatus) {
      state = stateFromStatus(desired.restoredStatus, desired.ref.uid);
      consume([ANNOTATION.status]);
      events.push({ type: 'Normal', reason: 'StatusRestored', message: `Status restored from the ${ANNOTATION.status} annotation (state ${state.provisioningState || 'new'})` });
    } else if (desired.adoptStatus && (desired.adoptStatus as { provisioning?: { state?: string } }).provisioning?.state) {
      state = stateFromStatus(desired.adoptStatus, desired.ref.uid);
      events.push({ type: 'Normal', reason: 'StatusAdopted', message: `Adopted the host in state ${state.provisioningState}: registering with the BMC again` });
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

  const fold = (result: { state: HostState; events: HostEvent[] }) => {
    state = result.state;
    events.push(...result.events);
    publish();
  };

  async function runOperation(request: OperationRequest): Promise<void> {
    const now = workflowNow();
    const address = checkBmcAddress(desired.spec.bmc?.address ?? '');
    const capabilities = address.ok ? address.address.capabilities : undefined;

    // Operations that need no BMC call are folded without a child.
    if (request.name === 'prepare') {
      if (desired.spec.raid && Object.keys(desired.spec.raid).length > 0) {
        fold(applyFailure(state, 'prepare', { code: 'BmcUnsupported', message: 'RAID configuration (spec.raid) is not applied by Tempered yet; remove spec.raid to continue' }, desired, now, workflowRandom(), config));
        return;
      }
      if ((desired.spec.automatedCleaningMode ?? 'metadata') !== 'disabled') {
        events.push({ type: 'Normal', reason: 'CleaningSkipped', message: 'Automated cleaning (metadata) runs in the deploy agent, which this engine does not have yet: disks were not cleaned' });
      }
      fold(applySuccess(state, request, { poweredOn: state.poweredOn }, desired, now));
      return;
    }
    if (request.name === 'provision' && (request.image.format ?? '') !== 'live-iso') {
      const reason = `image format '${request.image.format ?? 'unset'}' is written to disk by the deploy agent, which this engine does not have yet; the host waits in provisioning (only live-iso images are deployed so far)`;
      if (state.waitingReason !== reason) {
        state = { ...state, waitingReason: reason };
        events.push({ type: 'Warning', reason: 'ProvisioningWaiting', message: reason });
        publish();
      }
      await condition(() => changed);
      return;
    }
    if (request.name === 'inspect' && capabilities && !capabilities.outOfBandInspection) {
      const skipped = `the ${address.ok ? address.address.type : ''} driver has no out-of-band inspection; agent inspection arrives with the deploy agent`;
      fold(applySuccess(state, request, { poweredOn: state.poweredOn, skipped }, desired, now));
      return;
    }

    sequence += 1;
    const workflowId = operationWorkflowId(desired.ref.namespace, desired.ref.name, request.name, sequence);
    const summary = request.name === 'power' ? `power ${request.on ? 'on' : 'off'} (${request.purpose})` : request.name;
    state = { ...state, operation: { name: request.name, workflowId, startedAt: new Date(now).toISOString(), summary } };
    await upsertOperation(request.name);
    setCurrentDetails(describe(state, desired));
    const options = {
      workflowId,
      workflowExecutionTimeout: CHILD_TIMEOUT[request.name],
      staticSummary: `${summary}: ${desired.ref.namespace}/${desired.ref.name} via ${address.ok ? address.address.type : 'BMC'}`,
    };
    const scope = new CancellationScope();
    running = { scope };
    try {
      const t = target();
      const result = await scope.run(async (): Promise<OperationResults[OperationRequest['name']]> => {
        switch (request.name) {
          case 'register':
            return executeChild(registerWorkflow, { ...options, args: [{ target: t }] });
          case 'inspect':
            return executeChild(inspectWorkflow, { ...options, args: [{ target: t }] });
          case 'provision':
            return executeChild(provisionWorkflow, { ...options, args: [{ target: t, image: request.image, ...(desired.spec.bootMode ? { bootMode: desired.spec.bootMode } : {}) }] });
          case 'deprovision':
            return executeChild(deprovisionWorkflow, { ...options, args: [{ target: t, virtualMedia: Boolean(capabilities?.virtualMedia) }] });
          case 'power':
            return executeChild(powerWorkflow, { ...options, args: [{ target: t, on: request.on, mode: request.mode }] });
        }
      });
      const done = applySuccess(state, request as never, result as never, desired, workflowNow());
      if (request.name === 'inspect' && done.state.hardware && (result as OperationResults['inspect']).hardware) {
        hardwareData = done.state.hardware;
      }
      fold(done);
    } catch (err) {
      let failure: HostFailure = hostFailureOf(err);
      if (running.abortReason !== undefined) failure = { code: 'OperationAborted', message: `${request.name} aborted by an operator: ${running.abortReason}` };
      log.warn('operation failed', { operation: request.name, code: failure.code, message: failure.message });
      fold(applyFailure(state, operationOf(request), failure, desired, workflowNow(), workflowRandom(), config));
    } finally {
      running = undefined;
      state = { ...state, operation: undefined };
      await upsertOperation('');
    }
  }

  const searchAttributes = { provisioningState: '', operationalStatus: '', errorType: '', operation: '' };
  let pendingOperation: string | undefined;
  async function upsertOperation(operation: string): Promise<void> {
    if (v2) {
      // Starting an operation shows at once; its end is shown with the next state, in the same upsert.
      if (operation === '') pendingOperation = '';
      else {
        pendingOperation = operation;
        upsertStateAttributes();
      }
      return;
    }
    if (searchAttributes.operation === operation) return;
    searchAttributes.operation = operation;
    upsertSearchAttributes([{ key: SA.operation, value: operation }]);
  }
  function upsertStateAttributes(): void {
    const next = { provisioningState: state.provisioningState || 'none', operationalStatus: state.operationalStatus || 'none', errorType: state.errorType || 'none' };
    const updates = [];
    if (next.provisioningState !== searchAttributes.provisioningState) updates.push({ key: SA.provisioningState, value: next.provisioningState });
    if (next.operationalStatus !== searchAttributes.operationalStatus) updates.push({ key: SA.operationalStatus, value: next.operationalStatus });
    if (next.errorType !== searchAttributes.errorType) updates.push({ key: SA.errorType, value: next.errorType });
    if (v2 && pendingOperation !== undefined && pendingOperation !== searchAttributes.operation) {
      updates.push({ key: SA.operation, value: pendingOperation });
      searchAttributes.operation = pendingOperation;
    }
    pendingOperation = undefined;
    if (updates.length === 0) return;
    Object.assign(searchAttributes, next);
    upsertSearchAttributes(updates);
  }

  let detailsKey = '';
  let spins = 0;
  for (;;) {
    upsertStateAttributes();
    const details = describe(state, desired);
    if (details !== detailsKey) {
      setCurrentDetails(details);
      detailsKey = details;
    }

    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > config.maxHistoryEvents) {
      await publicationsDone();
      await condition(allHandlersFinished);
      await continueAsNew<typeof hostWorkflow>({ desired, config: input.config, carried: { state, sequence, lastPublished } });
    }

    changed = false;
    const now = workflowNow();
    const step = nextStep(state, desired, now, config);
    // Steps other than waits change the state; a run of them without a wait means a decision bug.
    spins = step.kind === 'wait' ? 0 : spins + 1;
    if (spins > 50) {
      log.error('lifecycle made 50 decisions without waiting; waiting for a change', { step: step.kind });
      spins = 0;
      await condition(() => changed);
      continue;
    }
    switch (step.kind) {
      case 'transition': {
        log.info('transition', { from: state.provisioningState, to: step.to, reason: step.reason });
        const result = applyTransition(state, step, desired, now);
        if (result.consume.length) consume(result.consume);
        fold(result);
        break;
      }
      case 'consume':
        consume(step.annotations);
        publish();
        break;
      case 'fail':
        fold(applyFailure(state, step.operation, { code: step.code, message: step.message }, desired, now, workflowRandom(), config));
        break;
      case 'operation':
        await runOperation(step.request);
        break;
      case 'checkPower': {
        try {
          const { poweredOn } = await bmcCall('quick', 'readPower', 'steady state: read power', target());
          if (poweredOn !== state.poweredOn) {
            events.push({ type: 'Normal', reason: 'PowerChanged', message: `The BMC reports power ${poweredOn ? 'on' : 'off'}, changed outside Tempered` });
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
        await publicationsDone();
        await bridge.releaseHost(desired.ref);
        log.info('host released: workflow ends');
        return;
      case 'wait':
        if (step.until !== undefined) await condition(() => changed, Math.max(step.until - now, 1));
        else await condition(() => changed);
        break;
    }
  }
}
