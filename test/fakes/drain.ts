/**
 * A fake of the rollout drain activities for the workflow tier: each call is recorded with what the test wants
 * to know at that moment (the host's power, from the fake BMC), and answered at once, as a drain that found
 * nothing in its way and a Node that came back. test/rollout-drain.int.test.ts runs the real ones against a
 * real workload cluster.
 */
import type { DrainActivities, DrainInput, DrainResult, ReleaseInput, ReleaseResult } from '../../activities/drain.ts';

export interface FakeDrain extends DrainActivities {
  readonly calls: { activity: 'drainNode' | 'releaseNode'; input: DrainInput | ReleaseInput; poweredOn: boolean }[];
}

/** `poweredOn(host)`: the host's power now, as its fake BMC says. */
export function fakeDrain(poweredOn: (host: string) => boolean): FakeDrain {
  const calls: FakeDrain['calls'] = [];
  return {
    calls,
    async drainNode(input): Promise<DrainResult> {
      calls.push({ activity: 'drainNode', input, poweredOn: poweredOn(input.host.name) });
      return {
        outcome: 'drained',
        node: input.node,
        cluster: `${input.host.namespace}/c1`,
        cordonedByUs: true,
        evicted: ['apps/web-0'],
        kept: ['apps/agent (DaemonSet-managed)'],
        bootId: 'boot-1',
        drainedAt: new Date().toISOString(),
        message: `Node ${input.node} cordoned and drained: 1 pod evicted, 1 DaemonSet or mirror pod kept`,
      };
    },
    async releaseNode(input): Promise<ReleaseResult> {
      calls.push({ activity: 'releaseNode', input, poweredOn: poweredOn(input.host.name) });
      return { outcome: 'uncordoned', node: input.node, message: `Node ${input.node} Ready again and uncordoned` };
    },
  };
}
