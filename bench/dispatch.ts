/**
 * How long the Temporal server as the stack runs it takes to hand a task to a waiting worker, with nothing
 * else running: a workflow runs a chain of activities on a second task queue (as a host workflow's status
 * publications go to the bridge's queue), and the histories give each task's wait, from its scheduled event to
 * its started event. One chain alone, then `--parallel` chains at once. Workers and client are in this process;
 * the server is the dev server of stack/temporal.ts with its dynamic configuration, over which `--set KEY=VALUE`
 * (repeatable) compares another setting, e.g. `--set history.transferProcessorMaxPollRPS=20` (the server's
 * default). Figures are appended to bench/results/dispatch.jsonl.
 *
 *   npm run bench -- dispatch [--steps 20] [--parallel 10] [--set KEY=VALUE ...]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { endStateDir } from '../stack/keep-state.ts';
import { startTemporal, type TemporalServer } from '../stack/temporal.ts';
import { PROBE_QUEUE } from './dispatch-workflow.ts';
import { percentile } from './measure.ts';
import { recordResult } from './results.ts';

const WORKFLOW_QUEUE = 'bench-dispatch-workflows';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Milliseconds from each task's scheduled event to its started event, by kind. */
export function dispatchWaits(events: HistoryEvent[]): { activity: number[]; workflowTask: number[] } {
  const at = new Map<number, number>();
  const ms = (e: HistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  const activity: number[] = [];
  const workflowTask: number[] = [];
  for (const e of events) {
    at.set(Number(e.eventId), ms(e));
    const fromActivity = e.activityTaskStartedEventAttributes?.scheduledEventId;
    const fromTask = e.workflowTaskStartedEventAttributes?.scheduledEventId;
    if (fromActivity != null) activity.push(ms(e) - (at.get(Number(fromActivity)) ?? Number.NaN));
    if (fromTask != null) workflowTask.push(ms(e) - (at.get(Number(fromTask)) ?? Number.NaN));
  }
  return { activity, workflowTask };
}

interface Waits {
  p50: number;
  p90: number;
  max: number;
  samples: number;
}

function summary(values: number[]): Waits {
  const round = (v: number) => Math.round(v * 10) / 10;
  return { p50: round(percentile(values, 50)), p90: round(percentile(values, 90)), max: round(percentile(values, 100)), samples: values.length };
}

function parseSetting(text: string): [string, boolean | number] {
  const [key, value] = text.split('=');
  const parsed = value === 'true' ? true : value === 'false' ? false : Number(value);
  if (!key || value === undefined || (typeof parsed === 'number' && Number.isNaN(parsed))) {
    throw new Error(`--set wants KEY=VALUE with a number or true/false, got '${text}'`);
  }
  return [key, parsed];
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { steps: { type: 'string', default: '20' }, parallel: { type: 'string', default: '10' }, set: { type: 'string', multiple: true, default: [] } },
    strict: true,
  });
  const steps = Number(values.steps);
  const parallel = Number(values.parallel);
  const dynamicConfig = Object.fromEntries(values.set.map(parseSetting));
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-dispatch-'));
  let temporal: TemporalServer | undefined;
  try {
    temporal = await startTemporal({ stateDir: dir, dynamicConfig, progress: () => {} });
    const native = await NativeConnection.connect({ address: temporal.address });
    const workflows = await Worker.create({ connection: native, namespace: temporal.namespace, taskQueue: WORKFLOW_QUEUE, workflowsPath: fileURLToPath(new URL('./dispatch-workflow.ts', import.meta.url)) });
    const activities = await Worker.create({ connection: native, namespace: temporal.namespace, taskQueue: PROBE_QUEUE, activities: { probe: async (step: number) => step } });
    const running = Promise.all([workflows.run(), activities.run()]);
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const figures: Record<string, unknown> = { steps, parallel, dynamicConfig };
    // A first chain warms the workers' pollers and the server's caches; it is not counted.
    for (const [label, chains] of [['warm-up', 1], ['alone', 1], ['parallel', parallel]] as const) {
      const handles = await Promise.all(
        Array.from({ length: chains }, (_, i) => client.workflow.start('dispatchChain', { taskQueue: WORKFLOW_QUEUE, workflowId: `dispatch-${label}-${i}`, args: [steps] })),
      );
      await Promise.all(handles.map((h) => h.result()));
      if (label === 'warm-up') continue;
      const waits = { activity: [] as number[], workflowTask: [] as number[] };
      for (const h of handles) {
        const { events } = await h.fetchHistory();
        const w = dispatchWaits(events ?? []);
        waits.activity.push(...w.activity);
        waits.workflowTask.push(...w.workflowTask);
      }
      const row = { activity: summary(waits.activity), workflowTask: summary(waits.workflowTask) };
      figures[label] = row;
      const show = (w: Waits) => `p50 ${w.p50} ms, p90 ${w.p90} ms, max ${w.max} ms (${w.samples})`;
      console.log(`${label === 'alone' ? 'one chain' : `${chains} chains at once`}`.padEnd(20) + `activity ${show(row.activity)}; workflow task ${show(row.workflowTask)}`);
    }
    workflows.shutdown();
    activities.shutdown();
    await running;
    await connection.close();
    await native.close();
    console.log(`results: ${recordResult('dispatch', figures)}`);
  } finally {
    await temporal?.stop();
    console.log((await endStateDir(dir)).line);
  }
}
