/**
 * Test support: a fake host workflow with the real one's name and messages, for the bridge's integration
 * tests on the real Temporal dev server. It records every `syncHost` it receives, publishes what a test
 * asks for (`testPublish`) through the bridge's real `publishStatus` activity, republishes when told the
 * status is missing (restoring from `restoredStatus` like BMO), and on deletion calls `releaseHost` and ends.
 */
import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BridgeActivities, HostDesired, HostState, StatusPublication } from '../../domain/host-model.ts';
import { BRIDGE_TASK_QUEUE } from '../../domain/names.ts';
import { hostState, syncHost } from '../../workflows/messages.ts';

export type TestPublication = Omit<StatusPublication, 'ref'>;

/** Every HostDesired the workflow received by signal, in order. */
export const receivedDesired = defineQuery<HostDesired[]>('testReceivedDesired');
/** The results of the workflow's publishStatus calls, in order. */
export const publishResults = defineQuery<{ written: boolean }[]>('testPublishResults');
/** Publish this state (and events, annotation removals, hardware data) through the bridge. */
export const testPublish = defineSignal<[TestPublication]>('testPublish');

export function fakeInitialState(uid: string): HostState {
  return {
    provisioningState: 'registering',
    operationalStatus: 'OK',
    errorType: '',
    errorMessage: '',
    errorCount: 0,
    poweredOn: false,
    provisioningId: uid,
    operationHistory: { register: {}, inspect: {}, provision: {}, deprovision: {} },
    provisioningFailCount: 0,
    consumedAnnotations: [],
    deleteAttempts: 0,
    detached: false,
  };
}

export async function hostWorkflow(input: { desired: HostDesired; config?: { bridgeTaskQueue?: string } }): Promise<void> {
  const bridge = proxyActivities<BridgeActivities>({
    taskQueue: input.config?.bridgeTaskQueue ?? BRIDGE_TASK_QUEUE,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '200 milliseconds', maximumInterval: '2 seconds' },
  });
  let desired = input.desired;
  let state = fakeInitialState(desired.ref.uid);
  const received: HostDesired[] = [];
  const results: { written: boolean }[] = [];
  const pending: TestPublication[] = [];

  setHandler(syncHost, (next) => {
    received.push(next);
    desired = next;
    if (next.statusMissing) {
      const restored = next.restoredStatus as { operationalStatus?: HostState['operationalStatus']; poweredOn?: boolean; provisioning?: { state?: string } } | undefined;
      const removeAnnotations: string[] = [];
      if (restored) {
        state = { ...state, provisioningState: restored.provisioning?.state ?? state.provisioningState, operationalStatus: restored.operationalStatus ?? state.operationalStatus, poweredOn: restored.poweredOn ?? state.poweredOn };
        removeAnnotations.push('baremetalhost.metal3.io/status');
      }
      pending.push({ state, events: [], removeAnnotations });
    }
  });
  setHandler(testPublish, (publication) => {
    state = publication.state;
    pending.push(publication);
  });
  setHandler(hostState, () => state);
  setHandler(receivedDesired, () => received);
  setHandler(publishResults, () => results);

  for (;;) {
    await condition(() => pending.length > 0 || desired.deleting);
    for (let next = pending.shift(); next; next = pending.shift()) {
      results.push(await bridge.publishStatus({ ref: desired.ref, ...next }));
    }
    if (desired.deleting) {
      await bridge.releaseHost(desired.ref);
      return;
    }
  }
}
