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

/**
 * The recorded executions of one scenario: the host's history and its children's; `edit` may change a file's
 * events (as JSON, before they are read) to make a history the recordings do not have.
 */
function recorded(scenario: string, edit: (file: string, events: Record<string, unknown>[]) => void = () => {}): Execution[] {
  return readdirSync(dir)
    .filter((f) => f === `${scenario}.json` || (f.startsWith(`${scenario}.`) && f.endsWith('.json')))
    .map((f) => {
      const child = f.slice(scenario.length + 1, -'.json'.length);
      return {
        workflowId: child ? `bmh/ns/host/${child}/1` : 'bmh/ns/host',
        runId: f,
        history: historyFromJSON(edited(f, JSON.parse(readFileSync(`${dir}${f}`, 'utf8')) as { events: Record<string, unknown>[] }, edit)),
      };
    });
}

function edited<T extends { events: Record<string, unknown>[] }>(file: string, history: T, edit: (file: string, events: Record<string, unknown>[]) => void): T {
  edit(file, history.events);
  return history;
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

  it('counts the attempts of a retried BMC call (a local activity): setPower to a BMC that is gone', async () => {
    // Recorded before the power-off ran in the host workflow: its retries inside one call, one marker.
    const entries = await hostTimeline(recorded('pre-inline-host-bmc-gone'), plain);
    const retried = entries.filter((e) => e.kind === 'bmc' && (e.attempt ?? 1) > 1);
    expect(retried.map((e) => [e.where, e.attempt])).toEqual([['powerWorkflow/1', 4]]);
    expect(retried[0]?.text).toMatch(/^setPower failed after 4 attempts in \d+\.\d s: Bmc\w+: /);
    // A call that worked the first time says nothing about attempts.
    const once = entries.filter((e) => e.kind === 'bmc' && e.attempt === 1);
    expect(once.length).toBeGreaterThan(0);
    for (const e of once) expect(e.text).not.toContain('attempts');
  });

  it('shows each attempt of a BMC call retried after a backoff on a server timer: the power-off in the host workflow', async () => {
    const entries = await hostTimeline(recorded('host-bmc-gone'), plain);
    const powerOffs = entries.filter((e) => e.kind === 'bmc' && e.text.startsWith('setPower failed'));
    expect(powerOffs.map((e) => [e.where, e.attempt])).toEqual([['host', 1], ['host', 2], ['host', 3], ['host', 4]]);
    expect(powerOffs.at(-1)?.text).toMatch(/^setPower failed after 4 attempts in \d+\.\d s: Bmc\w+: /);
    // The backoffs between them are the waits.
    const waits = entries.filter((e) => e.kind === 'wait' && e.time > (powerOffs[0]?.time ?? '') && e.time < (powerOffs.at(-1)?.time ?? ''));
    expect(waits).toHaveLength(3);
  });

  it('counts the attempts of a retried activity, from the attempt its started event records', async () => {
    // The image write of a recorded deploy, as if its first two attempts had failed (a worker restart, an
    // agent that did not answer): the server records only the attempt that closed the activity.
    const retriedWrite = (file: string, events: Record<string, unknown>[]) => {
      if (file !== 'agent-image-deploy.deployWorkflow.json') return;
      const types = new Map<string, string>();
      for (const event of events) {
        const scheduled = event['activityTaskScheduledEventAttributes'] as { activityType: { name: string } } | undefined;
        if (scheduled) types.set(String(event['eventId']), scheduled.activityType.name);
        const started = event['activityTaskStartedEventAttributes'] as { scheduledEventId: string; attempt: number } | undefined;
        if (started && types.get(String(started.scheduledEventId)) === 'agentWriteImage') started.attempt = 3;
      }
    };
    const entries = await hostTimeline(recorded('agent-image-deploy', retriedWrite), plain);
    const write = entries.filter((e) => e.kind === 'activity' && e.text.startsWith('agentWriteImage'));
    expect(write).toHaveLength(1);
    expect(write[0]?.text).toMatch(/^agentWriteImage ok after 3 attempts in \d+\.\d s → /);
    expect(write[0]?.attempt).toBe(3);
    const run = entries.filter((e) => e.kind === 'activity' && e.text.startsWith('agentRun'));
    expect(run.map((e) => e.attempt)).toEqual([1]);
    expect(run[0]?.text).not.toContain('attempts');
  });

  it('names each execution by its place under the host', () => {
    expect(whereOf('bmh/metal3/host-0')).toBe('host');
    expect(whereOf('bmh/metal3/host-0/provision/3')).toBe('provision/3');
  });
});
