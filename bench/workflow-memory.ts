/**
 * What a cached workflow costs the worker, in two parts, each in a fresh process with `--expose-gc`:
 * - Created: N host workflows are created in the SDK's reusable V8 context (what the worker uses), from the
 *   bundle the worker builds (workers/workflow-bundle.ts), with the pure domain modules shared (as shipped) and,
 *   for comparison, evaluated per workflow; the variants alternate, `--runs` times each. Heap and RSS per
 *   workflow and milliseconds per creation (medians). This part reaches into the SDK's internals
 *   (`lib/workflow/reusable-vm.js`), so an SDK upgrade may need it adjusted.
 * - Running (`--running N`, 0 skips it): N host workflows are driven to `provisioned` (live ISO) on a Temporal
 *   dev server by an in-process worker whose workflows run on the main thread (`debugMode`, so the process's
 *   heap figures include them), with the workflow tier's fake BMC activities. Once only the N host workflows
 *   are cached and idle: heap, V8 heap committed and RSS per host; then again after the worker shut down
 *   (which evicts them all), to tell live memory from memory the process keeps after use. The process runs on
 *   the engine's allocator (`--allocator`, default jemalloc preloaded, as stack/engine.ts does) or glibc's.
 * Figures are appended to bench/results/workflow-memory.jsonl.
 *
 *   npm run bench -- workflow-memory [--workflows 1000] [--runs 3] [--running 1000] [--allocator jemalloc|system]
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker.js';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm.js';
import type { HostDesired, StatusPublication } from '../domain/host-model.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { jemalloc } from '../stack/binaries.ts';
import { ENGINE_ALLOCATORS, type EngineAllocator } from '../stack/engine.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { startTemporal, type TemporalServer } from '../stack/temporal.ts';
import { fakeClusterJoin } from '../test/fakes/cluster-join.ts';
import { fakeHostActivities } from '../test/fakes/host-activities.ts';
import { QUIET_BUNDLER_LOGGER, workflowBundleOptions } from '../workers/workflow-bundle.ts';
import { snapshotsOf } from '../workflows/publication-queue.ts';
import { recordResult } from './results.ts';

type Variant = 'shared' | 'per-workflow';
interface Sample {
  variant: Variant;
  workflows: number;
  heapKiBPerWorkflow: number;
  rssKiBPerWorkflow: number;
  msPerCreate: number;
}

/** One variant in this process (started with --expose-gc): create `n` host workflows and measure. */
async function measure(variant: Variant, n: number): Promise<Sample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const { workflowsPath, preloadModules } = workflowBundleOptions();
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: QUIET_BUNDLER_LOGGER, ...(variant === 'shared' ? { preloadModules } : {}) });
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

interface RunningSample {
  hosts: number;
  seconds: number;
  cached: { heapKiB: number; heapCommittedKiB: number; rssKiB: number };
  afterShutdown: { heapKiB: number; heapCommittedKiB: number; rssKiB: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running part in this process (started with --expose-gc): `n` host workflows to provisioned, then measured. */
async function measureRunning(n: number): Promise<RunningSample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const settle = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const stateDir = mkdtempSync(join(tmpdir(), 'tempered-bench-wfmem-'));
  let temporal: TemporalServer | undefined;
  try {
    temporal = await startTemporal({ stateDir, progress: () => {} });
    const native = await NativeConnection.connect({ address: temporal.address });
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const workflowBundle = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: QUIET_BUNDLER_LOGGER });
    const hosts = await Worker.create({
      connection: native, namespace: temporal.namespace, taskQueue: 'hosts', workflowBundle, debugMode: true, maxCachedWorkflows: n * 2 + 100,
      activities: { ...fakeHostActivities(), ...fakeClusterJoin() },
    });
    const states = new Map<string, string>();
    const bridge = await Worker.create({
      connection: native, namespace: temporal.namespace, taskQueue: 'bridge',
      activities: {
        async publishStatus(p: StatusPublication) {
          for (const snapshot of snapshotsOf(p)) states.set(p.ref.name, snapshot.state.provisioningState);
          return { written: true };
        },
        async releaseHost() {},
      },
    });
    const running = Promise.all([hosts.run(), bridge.run()]);
    const base = settle();
    const started = Date.now();
    for (let i = 0; i < n; i++) {
      const name = `host-${i}`;
      const desired: HostDesired = {
        ref: { namespace: 'bench', name, uid: `uid-${name}` }, generation: 1, resourceVersion: '1',
        spec: {
          online: true, automatedCleaningMode: 'disabled', image: { url: 'http://images.example/live.iso', format: 'live-iso' },
          bmc: { address: `redfish-virtualmedia+http://bmc-${i}.example/redfish/v1/Systems/1`, credentialsName: `${name}-bmc` },
        },
        annotations: { paused: false, reboot: {}, invalid: [] }, credentials: { name: `${name}-bmc`, version: '1' }, deleting: false, statusMissing: false,
      } as HostDesired;
      await client.workflow.start('hostWorkflow', { taskQueue: 'hosts', workflowId: hostWorkflowId('bench', name), args: [{ desired, config: { bridgeTaskQueue: 'bridge' } }] });
    }
    const provisioned = () => [...states.values()].filter((s) => s === 'provisioned').length;
    while (provisioned() < n) {
      if (Date.now() - started > 900_000) throw new Error(`${provisioned()} of ${n} hosts provisioned after 15 minutes`);
      await sleep(250);
    }
    // The children have ended and left the cache; the host workflows wait for their next message.
    while (hosts.getStatus().numCachedWorkflows > n || hosts.getStatus().numInFlightWorkflowActivations > 0) await sleep(100);
    const seconds = (Date.now() - started) / 1000;
    const cached = settle();
    hosts.shutdown();
    bridge.shutdown();
    await running;
    await connection.close();
    await native.close();
    const down = settle();
    const per = (m: NodeJS.MemoryUsage) => ({
      heapKiB: Math.round((m.heapUsed - base.heapUsed) / n / 1024),
      heapCommittedKiB: Math.round((m.heapTotal - base.heapTotal) / n / 1024),
      rssKiB: Math.round((m.rss - base.rss) / n / 1024),
    });
    return { hosts: n, seconds, cached: per(cached), afterShutdown: per(down) };
  } finally {
    await temporal?.stop();
    // On stderr: the parent reads this child's stdout for its figures.
    console.error((await endStateDir(stateDir)).line);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      workflows: { type: 'string', default: '1000' }, runs: { type: 'string', default: '3' }, running: { type: 'string', default: '1000' },
      allocator: { type: 'string', default: 'jemalloc' },
    },
  });
  const allocator = values.allocator as EngineAllocator;
  if (!ENGINE_ALLOCATORS.includes(allocator)) throw new Error(`--allocator must be one of ${ENGINE_ALLOCATORS.join(', ')}, got '${values.allocator}'`);
  const n = Number(values.workflows);
  const runs = Number(values.runs);
  const runningHosts = Number(values.running);
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
  if (runningHosts > 0) {
    // The allocator as the engine's processes have it (stack/engine.ts): preloaded, or glibc's malloc.
    const env = allocator === 'jemalloc' ? { ...process.env, LD_PRELOAD: await jemalloc(() => {}) } : process.env;
    const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child-running', String(runningHosts)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env });
    const sample = JSON.parse(out.trim().split('\n').at(-1) as string) as RunningSample;
    figures['running'] = { ...sample, allocator };
    const show = (m: RunningSample['cached']) => `heap ${m.heapKiB} KiB, V8 heap committed ${m.heapCommittedKiB} KiB, RSS ${m.rssKiB} KiB per host`;
    console.log(`${sample.hosts} host workflows provisioned (live ISO, fake BMCs) in ${sample.seconds.toFixed(1)} s, shared modules, allocator ${allocator}`);
    console.log(`  cached and idle             ${show(sample.cached)}`);
    console.log(`  after the worker shut down  ${show(sample.afterShutdown)}`);
  }
  console.log(`results: ${recordResult('workflow-memory', figures)}`);
}

if (process.argv[2] === '--child') {
  const sample = await measure(process.argv[3] as Variant, Number(process.argv[4]));
  console.log(JSON.stringify(sample));
} else if (process.argv[2] === '--child-running') {
  const sample = await measureRunning(Number(process.argv[3]));
  console.log(JSON.stringify(sample));
  process.exit(0);
}
