/**
 * The host timeline (cli/timeline.ts) from histories the workflow tier recorded (test/replay/histories): the
 * host workflow and its children read as one story, in time order, with each BMC call, operation and status.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, expect, it } from 'vitest';
import { clientDataConverter } from '../workers/data-converter.ts';
import { hostTimeline, whereOf, type Execution } from './timeline.ts';

const dir = fileURLToPath(new URL('../test/replay/histories/', import.meta.url));

/** The recorded executions of one scenario: the host's history and its children's. */
function recorded(scenario: string): Execution[] {
  return readdirSync(dir)
    .filter((f) => f === `${scenario}.json` || (f.startsWith(`${scenario}.`) && f.endsWith('.json')))
    .map((f) => {
      const child = f.slice(scenario.length + 1, -'.json'.length);
      return {
        workflowId: child ? `bmh/ns/host/${child}/1` : 'bmh/ns/host',
        runId: f,
        history: historyFromJSON(JSON.parse(readFileSync(`${dir}${f}`, 'utf8'))),
      };
    });
}

const plain = clientDataConverter({ codec: undefined });

describe('host timeline', () => {
  it('tells a lifecycle: operations, BMC calls with their results, statuses, the intent that changed', async () => {
    const entries = await hostTimeline(recorded('v2-host-lifecycle'), plain);
    const texts = entries.map((e) => `${e.where} ${e.kind} ${e.text}`);
    const order = [
      /^host operation operation register\/1 started: register:/,
      /^registerWorkflow\/1 bmc registerBmc ok/,
      /^host status status inspecting, OK, power off \[events: Registered, InspectionStarted\]/,
      /^host intent intent: generation 1, online true, http:\/\/images\.example\/live\.iso/,
      /^provisionWorkflow\/1 bmc insertVirtualMedia ok/,
      /^provisionWorkflow\/1 bmc setPower ok .*"poweredOn":true/,
      /^host status status provisioned, OK, power on/,
      /^host intent .*being deleted/,
      /^host status releasing the host/,
    ];
    let at = -1;
    for (const pattern of order) {
      const next = texts.findIndex((t, i) => i > at && pattern.test(t));
      expect(next, `${pattern} after line ${at}:\n${texts.join('\n')}`).toBeGreaterThan(at);
      at = next;
    }
    expect([...entries].map((e) => e.time)).toEqual([...entries].map((e) => e.time).sort());
  });

  it('shows a failed registration with its error code and message', async () => {
    const entries = await hostTimeline(recorded('v2-host-registration-error'), plain);
    const failed = entries.filter((e) => e.error);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]?.error?.code).toMatch(/^Bmc/);
    expect(entries.some((e) => e.kind === 'status' && /registration error/.test(e.text))).toBe(true);
  });

  it('names each execution by its place under the host', () => {
    expect(whereOf('bmh/metal3/host-0')).toBe('host');
    expect(whereOf('bmh/metal3/host-0/provision/3')).toBe('provision/3');
  });
});
