/**
 * The chaos run's verdict (bench/chaos.ts `judgeChaos`) guards safety properties, so each check is proven
 * here by planting the fault it must catch: a repeated power-on, a repeated media insert, a status the
 * workflow recorded that was never written, states written out of order, a host that went back to a state it
 * had left, a status that disagrees with the workflow, and a host that never got there. A clean run passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeChaos, type Bmh, type ChaosObservations } from '../bench/chaos.ts';
import { startSimulator, type BmcCounters, type Simulator } from '../sim/index.ts';

const PIPELINE = ['registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned'];
let sim: Simulator;
let zero: BmcCounters;

beforeAll(async () => {
  sim = await startSimulator({ bmcs: [{ profile: 'dmtf' }] });
  zero = sim.bmcs[0]!.counters();
});
afterAll(() => sim.stop());

/** Two hosts that did everything right. */
function clean(): ChaosObservations {
  const hosts = [{ name: 'a', bmc: 'bmc-a' }, { name: 'b', bmc: 'bmc-b' }];
  const done: Bmh = { metadata: { name: '' }, status: { provisioning: { state: 'provisioned' }, operationalStatus: 'OK', poweredOn: true } };
  return {
    hosts,
    statuses: new Map(hosts.map((h) => [h.name, { ...done, metadata: { name: h.name } }])),
    seen: new Map(hosts.map((h) => [h.name, [...PIPELINE]])),
    counters: Object.fromEntries(hosts.map((h) => [h.bmc, { ...zero, powerOn: 1, mediaInserts: 1, resetActions: { On: 1 } }])),
    recorded: new Map(hosts.map((h) => [h.name, ['none', ...PIPELINE]])),
    workflowStates: new Map(hosts.map((h) => [h.name, 'provisioned'])),
  };
}

describe('the chaos verdict', () => {
  it('passes a clean run and counts the states it checked', () => {
    const verdict = judgeChaos(clean());
    expect(verdict.problems).toEqual([]);
    expect(verdict.statesChecked).toBe(2 * PIPELINE.length);
    expect(verdict.perHostMax).toEqual({ powerOn: 1, mediaInserts: 1, resetOn: 1 });
  });

  const planted: [string, (o: ChaosObservations) => void, RegExp][] = [
    ['a repeated power-on', (o) => (o.counters['bmc-b'] = { ...zero, powerOn: 2, mediaInserts: 1 }), /b was powered on 2 times/],
    ['a repeated media insert', (o) => (o.counters['bmc-a'] = { ...zero, powerOn: 1, mediaInserts: 2 }), /a had its media inserted 2 times/],
    ['a recorded state never written', (o) => o.seen.set('a', PIPELINE.filter((s) => s !== 'inspecting')), /a: its workflow recorded 'inspecting' but it was never written/],
    ['states written out of order', (o) => o.seen.set('b', ['registering', 'preparing', 'inspecting', 'available', 'provisioning', 'provisioned']), /b: its workflow recorded 'preparing' but it was never written/],
    ['a host that went back to a state it had left', (o) => o.seen.set('a', ['registering', 'inspecting', 'preparing', 'available', 'preparing', 'available', 'provisioning', 'provisioned']), /a went back to 'preparing'/],
    ['a status that disagrees with the workflow', (o) => o.workflowStates.set('a', 'deprovisioning'), /a: the workflow is in 'deprovisioning', its status shows 'provisioned'/],
    ['a host that never got there', (o) => o.statuses.set('b', { metadata: { name: 'b' }, status: { provisioning: { state: 'provisioning' }, operationalStatus: 'OK', poweredOn: true } }), /b ended provisioning\/OK/],
    ['a host whose workflow recorded nothing', (o) => o.recorded.set('a', []), /a: its workflow recorded no provisioning state/],
  ];
  for (const [fault, plant, message] of planted) {
    it(`catches ${fault}`, () => {
      const o = clean();
      plant(o);
      const { problems } = judgeChaos(o);
      expect(problems.join('\n')).toMatch(message);
    });
  }
});
