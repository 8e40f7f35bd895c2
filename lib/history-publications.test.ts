// What a host workflow's history sent the bridge, read from recorded histories (test/replay/histories).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, expect, it } from 'vitest';
import { publicationsIn, statesPassed, statesToShow } from './history-publications.ts';

const PIPELINE = ['registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned'];
const events = (file: string) =>
  historyFromJSON(JSON.parse(readFileSync(fileURLToPath(new URL(`../test/replay/histories/${file}.json`, import.meta.url)), 'utf8'))).events ?? [];

describe('the states a host workflow published', () => {
  it('has every state the host passed through, also those passed within one workflow task', async () => {
    // Recorded with one search-attribute upsert per task: preparing and available have no upsert of their own.
    const history = events('host-lifecycle');
    const upserted = history
      .map((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.['ProvisioningState']?.data)
      .filter((d): d is Uint8Array => d !== undefined && d !== null)
      .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as string);
    expect(upserted).toContain('available');
    expect(upserted).not.toContain('preparing');
    expect(statesPassed(await publicationsIn(history)).slice(0, PIPELINE.length)).toEqual(PIPELINE);
  });

  it('leaves out a slot claim the bridge refused', async () => {
    expect(statesPassed(await publicationsIn(events('host-delayed')))).toEqual(['registering', 'inspecting', 'preparing', 'available', 'powering off before delete', 'deleting']);
  });

  it('each publication carries the states passed while the one before it was in flight; the status has to show its last', async () => {
    const publications = await publicationsIn(events('host-lifecycle'));
    expect(publications).toEqual([['registering', 'inspecting', 'preparing', 'available'], ['provisioning'], ['provisioned'], ['deprovisioning', 'available'], ['powering off before delete', 'deleting']]);
    expect(statesToShow(publications)).toEqual(['available', 'provisioning', 'provisioned', 'available', 'deleting']);
  });
});
