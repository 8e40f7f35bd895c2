/**
 * A workflow that puts a secret where the secret scan must find it (test/secret-scan.int.test.ts): the whole
 * password appears only in an activity's input, since the workflow receives it in two halves and joins them.
 */
import { proxyActivities } from '@temporalio/workflow';

export interface PlantedActivities {
  login(request: { address: string; password: string }): Promise<string>;
}

const { login } = proxyActivities<PlantedActivities>({ startToCloseTimeout: '10 seconds' });

export async function plantedWorkflow(input: { address: string; halves: [string, string] }): Promise<string> {
  return login({ address: input.address, password: input.halves.join('') });
}
