/**
 * Records what a workflow-tier test produced for the replay tier: the workflow's history and one history per
 * type of its children (and their children), replayed at once against the same code, and written to
 * test/replay/histories/ with RECORD_HISTORIES=1.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** Replays the workflow's history and each child type's (one of each); with RECORD_HISTORIES=1, stores them. */
export async function recordHistories(client: Client, bundle: WorkflowBundleWithSourceMap, handle: WorkflowHandle, file: string): Promise<void> {
  const runs: { name: string; history: History }[] = [{ name: file, history: await handle.fetchHistory() }];
  const seen = new Set<string>();
  for await (const child of client.workflow.list({ query: `WorkflowId STARTS_WITH "${handle.workflowId}/"` })) {
    if (seen.has(child.type)) continue; // one history per child type is enough to pin its behaviour
    seen.add(child.type);
    runs.push({ name: `${file}.${child.type}`, history: await client.workflow.getHandle(child.workflowId, child.runId).fetchHistory() });
  }
  for (const run of runs) {
    if (process.env.RECORD_HISTORIES === '1') {
      writeFileSync(fileURLToPath(new URL(`./replay/histories/${run.name}.json`, import.meta.url)), `${JSON.stringify(JSON.parse(historyToJSON(run.history)), null, 1)}\n`);
    }
    // Always replay what was just produced against the same code.
    await Worker.runReplayHistory({ workflowBundle: bundle, replayName: run.name }, run.history);
  }
}
