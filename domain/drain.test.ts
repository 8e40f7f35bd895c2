/** The drain's choice of pods, cordon ownership and "Ready again", as kubectl drain and Cluster API decide them. */
import { describe, expect, it } from 'vitest';
import {
  CORDONED_BY_ROLLOUT_ANNOTATION,
  cordonDecision,
  describeDrain,
  planDrain,
  readyAgain,
  type DrainNodeView,
  type PodView,
} from './drain.ts';

const pod = (name: string, extra: Partial<PodView> = {}): PodView => ({
  namespace: 'apps',
  name,
  uid: `uid-${name}`,
  annotations: {},
  deleting: false,
  emptyDir: false,
  ...extra,
});

describe('planDrain', () => {
  it.each<[string, PodView, 'evict' | 'terminating' | 'kept', string?]>([
    ['a ReplicaSet pod is evicted', pod('web', { controllerKind: 'ReplicaSet' }), 'evict'],
    ['a StatefulSet pod is evicted', pod('db-0', { controllerKind: 'StatefulSet' }), 'evict'],
    ['a pod with emptyDir is evicted (--delete-emptydir-data)', pod('cache', { controllerKind: 'ReplicaSet', emptyDir: true }), 'evict'],
    ['a pod without a controller is evicted (Cluster API drains with Force)', pod('bare'), 'evict'],
    ['a finished Job pod is evicted (deleted)', pod('job-x', { controllerKind: 'Job', phase: 'Succeeded' }), 'evict'],
    ['a DaemonSet pod stays (--ignore-daemonsets)', pod('agent', { controllerKind: 'DaemonSet' }), 'kept', 'DaemonSet-managed'],
    [
      'a mirror pod stays (a static pod the API cannot delete)',
      pod('etcd-n1', { annotations: { 'kubernetes.io/config.mirror': 'abc' }, controllerKind: 'Node' }),
      'kept',
      'mirror pod',
    ],
    ['a pod already being deleted is waited for, not evicted again', pod('going', { controllerKind: 'ReplicaSet', deleting: true }), 'terminating'],
    [
      'a terminating DaemonSet pod still stays',
      pod('agent-old', { controllerKind: 'DaemonSet', deleting: true }),
      'kept',
      'DaemonSet-managed',
    ],
  ])('%s', (_name, p, where, reason) => {
    const plan = planDrain([p]);
    if (where === 'kept') expect(plan.kept).toEqual([{ pod: p, reason }]);
    else expect(plan[where]).toEqual([p]);
    const total = plan.evict.length + plan.terminating.length + plan.kept.length;
    expect(total).toBe(1);
  });

  it('keeps the order of the pods it evicts', () => {
    const pods = [pod('a'), pod('ds', { controllerKind: 'DaemonSet' }), pod('b')];
    expect(planDrain(pods).evict.map((p) => p.name)).toEqual(['a', 'b']);
  });
});

const node = (extra: Partial<DrainNodeView> = {}): DrainNodeView => ({ name: 'n1', unschedulable: false, annotations: {}, ...extra });

describe('cordonDecision', () => {
  it.each<[string, DrainNodeView, ReturnType<typeof cordonDecision>]>([
    ['a schedulable Node is cordoned by the rollout', node(), 'cordon'],
    ['a Node cordoned by someone else stays theirs', node({ unschedulable: true }), 'cordonedByOthers'],
    [
      'a Node the rollout cordoned before (retry, failed attempt) is still ours',
      node({ unschedulable: true, annotations: { [CORDONED_BY_ROLLOUT_ANNOTATION]: 'ns/r' } }),
      'alreadyOurs',
    ],
    [
      'our annotation on a Node someone uncordoned: ours to cordon again',
      node({ annotations: { [CORDONED_BY_ROLLOUT_ANNOTATION]: 'ns/r' } }),
      'alreadyOurs',
    ],
  ])('%s', (_name, n, expected) => {
    expect(cordonDecision(n)).toBe(expected);
  });
});

describe('readyAgain', () => {
  const before = { bootId: 'boot-1', drainedAt: '2026-12-02T10:00:00.000Z' };
  it.each<[string, DrainNodeView, boolean]>([
    ['Ready with a new boot ID', node({ bootId: 'boot-2', ready: { status: 'True' } }), true],
    [
      'Ready with the old boot ID (a status left over from before the power-off)',
      node({ bootId: 'boot-1', ready: { status: 'True', lastHeartbeatTime: '2026-12-02T10:05:00.000Z' } }),
      false,
    ],
    ['NotReady with a new boot ID', node({ bootId: 'boot-2', ready: { status: 'False' } }), false],
    ['Unknown (kubelet silent)', node({ bootId: 'boot-1', ready: { status: 'Unknown' } }), false],
    ['no Ready condition', node({ bootId: 'boot-2' }), false],
  ])('%s: %s', (_name, n, expected) => {
    expect(readyAgain(n, before)).toBe(expected);
  });

  it('without boot IDs: a Ready heartbeat posted after the drain', () => {
    const noBoot = { drainedAt: before.drainedAt };
    expect(readyAgain(node({ ready: { status: 'True', lastHeartbeatTime: '2026-12-02T10:00:05.000Z' } }), noBoot)).toBe(true);
    expect(readyAgain(node({ ready: { status: 'True', lastHeartbeatTime: '2026-12-02T09:59:55.000Z' } }), noBoot)).toBe(false);
  });
});

describe('describeDrain', () => {
  it('counts what was evicted and kept', () => {
    expect(describeDrain({ evicted: ['a/b', 'a/c'], kept: ['k/ds'] })).toBe('2 pods evicted, 1 DaemonSet or mirror pod kept');
    expect(describeDrain({ evicted: ['a/b'], kept: [] })).toBe('1 pod evicted');
  });
});
