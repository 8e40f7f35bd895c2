/** A minimal workflow used to prove the Temporal tier is real: one activity, then a result. */
import { proxyActivities } from '@temporalio/workflow';

export interface ProbeActivities {
  echo(text: string): Promise<string>;
}

const { echo } = proxyActivities<ProbeActivities>({ startToCloseTimeout: '10 seconds' });

export async function probeWorkflow(text: string): Promise<string> {
  return `probe: ${await echo(text)}`;
}
