/**
 * What a cached workflow costs the worker before it runs a step: N host workflows are created in the SDK's
 * reusable V8 context (what the worker uses), from the bundle the worker builds (workers/workflow-bundle.ts),
 * with the pure domain modules shared (as shipped) and, for comparison, evaluated per workflow. Each variant
 * runs in a fresh process with `--expose-gc`; the variants alternate, `--runs` times each. Prints heap and RSS
 * per workflow and milliseconds per creation (medians), and appends them to bench/results/workflow-memory.jsonl.
 * It reaches into the SDK's internals (`lib/workflow/reusable-vm.js`), so an SDK upgrade may need it adjusted.
 *
 *   npm run bench -- workflow-memory [--workflows 1000] [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TypedSearchAttributes } from '@temporalio/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker.js';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm.js';
import { workflowBundleOptions } from '../workers/workflow-bundle.ts';
import { recordResult } from './results.ts';

type Variant = 'shared' | 'per-workflow';
interface Sample {
  variant: Variant;
  workflows: number;
  heapKiBPerWorkflow: number;
  rssKiBPerWorkflow: number;
  msPerCreate: number;
}

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** One variant in this process (started with --expose-gc): create `n` host workflows and measure. */
async function measure(variant: Variant, n: number): Promise<Sample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const { workflowsPath, preloadModules } = workflowBundleOptions();
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: silent, ...(variant === 'shared' ? { preloadModules } : {}) });
  const creator = await ReusableVMWorkflowCreator.create(parseWorkflowCode(code, '/tempered/workflow-bundle.js'), 5000, new Set<string>(), undefined);
  const settle = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  const before = settle();
  const kept: unknown[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const runId = randomUUID();
    const now = new Date();
    kept.push(
      await creator.createWorkflow({
        info: {
          workflowId: `bmh/bench/host-${i}`, runId, workflowType: 'hostWorkflow', searchAttributes: {}, typedSearchAttributes: new TypedSearchAttributes(),
          taskQueue: 'bench', namespace: 'default', firstExecutionRunId: runId, originalExecutionRunId: runId, startTime: now, runStartTime: now,
          taskTimeoutMs: 10_000, attempt: 1, historyLength: 3, historySize: 1000, continueAsNewSuggested: false, suggestedContinueAsNewReasons: [],
          targetWorkerDeploymentVersionChanged: false, currentBuildId: '', priority: {},
          unsafe: { now: () => Date.now(), isReplaying: false, isReplayingHistoryEvents: false, random: Math.random },
        },
        randomnessSeed: [1, 2, 3, 4],
        now: now.getTime(),
        showStackTraceSources: false,
        failureExceptionTypeNames: [],
      } as unknown as Parameters<ReusableVMWorkflowCreator['createWorkflow']>[0]),
    );
  }
  const ms = performance.now() - started;
  const after = settle();
  if (kept.length !== n) throw new Error('lost a workflow');
  return {
    variant,
    workflows: n,
    heapKiBPerWorkflow: Math.round((after.heapUsed - before.heapUsed) / n / 1024),
    rssKiBPerWorkflow: Math.round((after.rss - before.rss) / n / 1024),
    msPerCreate: Number((ms / n).toFixed(3)),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { workflows: { type: 'string', default: '1000' }, runs: { type: 'string', default: '3' } } });
  const n = Number(values.workflows);
  const runs = Number(values.runs);
  const samples: Sample[] = [];
  for (let r = 0; r < runs; r++) {
    for (const variant of ['per-workflow', 'shared'] as const) {
      const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', variant, String(n)], { encoding: 'utf8' });
      samples.push(JSON.parse(out.trim().split('\n').at(-1) as string) as Sample);
    }
  }
  const shared = fileURLToPath(new URL('..', import.meta.url));
  console.log(`${n} host workflows created in the reusable V8 context, ${runs} runs per variant (medians)`);
  console.log(`shared domain modules: ${workflowBundleOptions().preloadModules.map((f) => f.slice(shared.length)).join(', ')}`);
  const figures: Record<string, unknown> = { workflows: n, runs };
  for (const variant of ['per-workflow', 'shared'] as const) {
    const mine = samples.filter((s) => s.variant === variant);
    const row = {
      heapKiBPerWorkflow: median(mine.map((s) => s.heapKiBPerWorkflow)),
      rssKiBPerWorkflow: median(mine.map((s) => s.rssKiBPerWorkflow)),
      msPerCreate: median(mine.map((s) => s.msPerCreate)),
    };
    figures[variant] = { ...row, samples: mine.map(({ variant: _v, workflows: _w, ...s }) => s) };
    console.log(`${variant.padEnd(14)} heap ${row.heapKiBPerWorkflow} KiB, RSS ${row.rssKiBPerWorkflow} KiB per workflow; ${row.msPerCreate} ms per creation`);
  }
  console.log(`results: ${recordResult('workflow-memory', figures)}`);
}

if (process.argv[2] === '--child') {
  const sample = await measure(process.argv[3] as Variant, Number(process.argv[4]));
  console.log(JSON.stringify(sample));
}
