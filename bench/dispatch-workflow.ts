/** The dispatch benchmark's workflow (bench/dispatch.ts): a chain of activities, each on the second task queue. */
import { proxyActivities } from '@temporalio/workflow';

export const PROBE_QUEUE = 'bench-dispatch-activities';

const { probe } = proxyActivities<{ probe(step: number): Promise<number> }>({ taskQueue: PROBE_QUEUE, startToCloseTimeout: '30s' });

/** `steps` activities one after another: each costs a workflow task and an activity task to dispatch. */
export async function dispatchChain(steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await probe(i);
}
