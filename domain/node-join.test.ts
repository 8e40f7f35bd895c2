/** The join check's reading of a workload cluster's Nodes for one host. */
import { describe, expect, it } from 'vitest';
import { describeObservation, observeJoin, warningReason, type NodeView } from './node-join.ts';

const host = { uid: 'u-1', namespace: 'ns', name: 'host-1', consumerName: 'm3m-1' };
const ready = { status: 'True', reason: 'KubeletReady', lastTransitionTime: '2026-12-02T10:00:00.000Z' };

describe('observeJoin', () => {
  it.each<[string, NodeView[], ReturnType<typeof observeJoin>]>([
    [
      'a Ready Node with the host UID label',
      [{ name: 'n1', labels: { 'metal3.io/uuid': 'u-1' }, ready }],
      { kind: 'ready', node: 'n1', matchedBy: 'label', readySince: ready.lastTransitionTime },
    ],
    [
      'a labelled Node that is not Ready',
      [
        {
          name: 'n1',
          labels: { 'metal3.io/uuid': 'u-1' },
          ready: { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' },
        },
      ],
      {
        kind: 'notReady',
        node: 'n1',
        detail: 'Ready is Unknown (NodeStatusUnknown: Kubelet stopped posting node status.)',
      },
    ],
    [
      'a labelled Node without a Ready condition',
      [{ name: 'n1', labels: { 'metal3.io/uuid': 'u-1' } }],
      { kind: 'notReady', node: 'n1', detail: 'it has no Ready condition' },
    ],
    [
      "a Ready Node with CAPM3's provider ID for the host and an older UID (after a move)",
      [{ name: 'x', labels: { 'metal3.io/uuid': 'old' }, providerID: 'metal3://ns/host-1/m3m-1', ready }],
      { kind: 'ready', node: 'x', matchedBy: 'providerID', readySince: ready.lastTransitionTime },
    ],
    [
      "a Node with the host's name and another UID",
      [{ name: 'host-1', labels: { 'metal3.io/uuid': 'other' }, ready }],
      { kind: 'wrongLabel', node: 'host-1', detail: "has the host's name but metal3.io/uuid=other, not u-1" },
    ],
    [
      "a Node with the host's name and no UID label",
      [{ name: 'host-1', labels: {}, ready }],
      { kind: 'wrongLabel', node: 'host-1', detail: "has the host's name but no metal3.io/uuid label" },
    ],
    ['other Nodes only', [{ name: 'else', labels: { 'metal3.io/uuid': 'u-9' }, ready }], { kind: 'noNode' }],
    ['no Nodes', [], { kind: 'noNode' }],
  ])('%s', (_name, nodes, expected) => {
    expect(observeJoin(host, nodes)).toEqual(expected);
  });

  it('prefers the Ready Node when two carry the label', () => {
    const nodes = [
      { name: 'old', labels: { 'metal3.io/uuid': 'u-1' }, ready: { status: 'False' } },
      { name: 'new', labels: { 'metal3.io/uuid': 'u-1' }, ready },
    ];
    expect(observeJoin(host, nodes)).toMatchObject({ kind: 'ready', node: 'new' });
  });
});

describe('describeObservation and warningReason', () => {
  it.each<[ReturnType<typeof observeJoin>, string, string]>([
    [
      { kind: 'noNode' },
      "no Node has metal3.io/uuid=u-1 or the host's provider ID, and none has its name",
      'NodeNotFound',
    ],
    [
      { kind: 'notReady', node: 'n1', detail: 'Ready is False' },
      'Node n1 (metal3.io/uuid=u-1) is not Ready: Ready is False',
      'NodeNotReady',
    ],
    [
      { kind: 'wrongLabel', node: 'x', detail: "has the host's name but no metal3.io/uuid label" },
      "no Node has metal3.io/uuid=u-1; Node x has the host's name but no metal3.io/uuid label",
      'NodeLabelMismatch',
    ],
    [
      { kind: 'unreachable', detail: 'Secret ns/c-kubeconfig does not exist' },
      'the workload cluster cannot be read: Secret ns/c-kubeconfig does not exist',
      'ClusterUnreachable',
    ],
  ])('%j', (seen, text, reason) => {
    expect(describeObservation(host, seen)).toBe(text);
    expect(warningReason(seen)).toBe(reason);
  });
});
