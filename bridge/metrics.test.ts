/**
 * BMO's state-change counter (bridge/metrics.ts): a publication that carries states the host passed together writes
 * each, and each is a change, as BMO counts them.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { HostState } from '../domain/host-model.ts';
import { BridgeMetrics } from './metrics.ts';

const ref = { namespace: 'ns', name: 'h', uid: 'u' };

async function changes(metrics: BridgeMetrics): Promise<string[]> {
  const metric = await metrics.registry.getSingleMetric('metal3_provisioning_state_change_total')?.get();
  return (metric?.values ?? []).flatMap((v) => Array.from({ length: v.value }, () => `${v.labels['prev_state']}>${v.labels['new_state']}`));
}

describe('BridgeMetrics.published', () => {
  it('counts every state a publication wrote, in order, not only its first and last', async () => {
    const metrics = new BridgeMetrics(new Registry());
    metrics.published(
      { ref, state: { provisioningState: 'provisioning' } as HostState },
      {
        result: 'written',
        before: { provisioning: { state: '' } },
        after: { provisioning: { state: 'provisioning' } },
        states: ['registering', 'inspecting', 'preparing', 'available', 'provisioning'],
        events: [],
      },
    );
    expect((await changes(metrics)).sort()).toEqual(
      ['>registering', 'registering>inspecting', 'inspecting>preparing', 'preparing>available', 'available>provisioning'].sort(),
    );
  });

  it('counts one change for one state written, and none for a state written again', async () => {
    const metrics = new BridgeMetrics(new Registry());
    const one = (before: string, states: string[]) =>
      metrics.published(
        { ref, state: { provisioningState: states.at(-1) ?? before } as HostState },
        { result: 'written', before: { provisioning: { state: before } }, after: { provisioning: { state: states.at(-1) ?? before } }, states, events: [] },
      );
    one('available', ['provisioning']);
    one('provisioning', ['provisioning']);
    expect(await changes(metrics)).toEqual(['available>provisioning']);
  });
});
