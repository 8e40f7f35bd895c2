/**
 * A fake of the join check activity for the workflow tier: answers queued per host, and a check that has no
 * answer queued keeps watching (heartbeating) until it is cancelled, as the real one does. The
 * capi tier runs the real activity against a real workload cluster.
 */
import { Context } from '@temporalio/activity';
import type { ClusterJoinActivities, VerifyJoinInput, VerifyJoinResult } from '../../activities/cluster-join.ts';

export interface FakeClusterJoin extends ClusterJoinActivities {
  /** Answers the next checks of host `name` will return, in order. */
  answer(name: string, ...results: VerifyJoinResult[]): void;
  /** Every check started, in order. */
  readonly calls: VerifyJoinInput[];
}

export function fakeClusterJoin(): FakeClusterJoin {
  const answers = new Map<string, VerifyJoinResult[]>();
  const calls: VerifyJoinInput[] = [];
  return {
    calls,
    answer(name, ...results) {
      answers.set(name, [...(answers.get(name) ?? []), ...results]);
    },
    async verifyNodeJoin(input) {
      calls.push(input);
      const ctx = Context.current();
      for (;;) {
        const next = answers.get(input.host.name)?.shift();
        if (next) return next;
        ctx.heartbeat();
        // Polls for the answer the test gives (a heartbeating activity's pace, not a test wait).
        await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 100))]);
      }
    },
  };
}
