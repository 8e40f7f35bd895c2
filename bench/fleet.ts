/**
 * The fleet benchmark (PERFORMANCE.md): N BareMetalHosts with a live ISO (or, on the simulator, a qcow2 disk
 * image written by its deploy agent through the agent API) and `online: true`, created at once, from nothing
 * to `provisioned` through the real stack (the Temporal dev server or a multi-process cluster,
 * kube-apiserver + etcd, Tempered's worker and bridge processes) against sushy-tools or the simulator.
 * Everything is counted where it happens, not from Tempered's logs: Temporal tasks at the server's metrics
 * endpoints (and local activities from the histories' markers), Kubernetes writes at the apiserver's
 * `/metrics`, Redfish requests at the BMCs, CPU seconds and peak RSS from /proc per process, status lag as
 * the time from the workflow's transition (its search-attribute upsert in history; a state passed within one
 * workflow task takes the time of the task's upsert, `fillPassedStates`) to the status seen through a watch (for a
 * state the status never showed, the first later one it showed, `visibleAt`), split into the wait for the
 * `publishStatus` activity that carries it, that activity's wait
 * for a bridge, and the bridge's writes until the watch sees it. The machine's speed is read before the stack
 * starts and once the fleet is done (bench/machine-reference.ts): whether one core got slower between runs. The
 * figures go to stdout and, with the commit and flags, to `bench/results/` as JSON.
 *
 *   npm run bench -- fleet [--hosts 50] [--temporal dev|cluster] [--bmc sushy|sim] [--power-delay 0|stock]
 *                          [--workers 1] [--bridges 1] [--provisioning-limit N] [--kube-qps 20 --kube-burst 30]
 *                          [--iso-kib 4096] [--cpu-prof] [--image live-iso|qcow2 [--image-mib 4]]
 *                          [--cleaning disabled|metadata] [--sticky-timeout 10] [--workflow-slots 40|20-100]
 *                          [--allocator jemalloc|system] [--steady-minutes 0]
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { localActivityOf } from '../lib/history-markers.ts';
import { publicationsIn, statesPassed } from '../lib/history-publications.ts';
import { pooledApiClient } from '../lib/kube-client.ts';
import { Client, Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common';
import proto from '@temporalio/proto';
import { DEFAULT_PROVISIONING_LIMIT } from '../bridge/provisioning-limit.ts';
import type { AgentCounters, BmcSpec } from '../sim/index.ts';
import { buildStandInIpaIso } from '../activities/images/deploy-iso.ts';
import { imageTools } from '../stack/binaries.ts';
import { ENGINE_ALLOCATORS, startEngine, type Engine, type EngineAllocator } from '../stack/engine.ts';
import { makeRawImage, toQcow2 } from '../test/fixtures/disk-images.ts';
import { createHash } from 'node:crypto';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startStack, type Stack } from '../stack/index.ts';
import { describeReading, machineReference } from './machine-reference.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { liveProcesses } from '../stack/processes.ts';
import { startSimulatorProcess, type SimulatorProcess } from '../stack/simulator.ts';
import { watchHosts } from '../stack/watch-hosts.ts';
import { difference, groupCpuSeconds, histogramChange, histogramReading, peakRssMiB, percentile, rssMiB, scrape, scrapeApiserver, slope, sumBy, threadCpuSeconds, type MetricSample } from './measure.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NS = 'bench';
const BMH = { group: 'metal3.io', version: 'v1alpha1', namespace: NS, plural: 'baremetalhosts' };

export interface FleetOptions {
  hosts: number;
  temporal: 'dev' | 'cluster';
  bmc: 'sushy' | 'sim';
  powerDelay: 0 | 'stock';
  workers: number;
  bridges: number;
  provisioningLimit: number | undefined;
  /** The bridge's client-side apiserver budget (BMO's -kube-api-qps/-kube-api-burst; default 20/30). */
  kubeQps: number | undefined;
  kubeBurst: number | undefined;
  isoKiB: number;
  /** What is provisioned: a live ISO booted over virtual media, or a qcow2 image the deploy agent writes. */
  image: 'live-iso' | 'qcow2';
  /** Size of the raw disk image the qcow2 is made from. */
  imageMiB: number;
  /** Automated cleaning (metadata needs the deploy agent: the simulator's). */
  cleaning: 'disabled' | 'metadata';
  cpuProf: boolean;
  /** The engine processes' allocator (stack/engine.ts). */
  allocator: EngineAllocator;
  /** The worker's sticky-queue schedule-to-start timeout, seconds (TEMPERED_STICKY_TIMEOUT_SECONDS). */
  stickyTimeout: number | undefined;
  /**
   * The worker's workflow-task slots: `N` fixed, or `MIN-MAX` following the CPU (TEMPERED_MIN_/MAX_CONCURRENT_
   * WORKFLOW_TASKS, workers/workflow-slots.ts); the worker's default when absent.
   */
  workflowSlots: { min: number; max: number } | undefined;
  /** Give up after this long (the run is then reported as incomplete). */
  timeoutMinutes: number;
  /** After the fleet is provisioned and measured, leave it alone this long and measure what standing still costs. */
  steadyMinutes: number;
}

function parse(args: string[]): FleetOptions {
  const { values } = parseArgs({
    args,
    options: {
      hosts: { type: 'string', default: '50' },
      temporal: { type: 'string', default: 'dev' },
      bmc: { type: 'string', default: 'sushy' },
      'power-delay': { type: 'string', default: '0' },
      workers: { type: 'string', default: '1' },
      bridges: { type: 'string', default: '1' },
      'provisioning-limit': { type: 'string' },
      'kube-qps': { type: 'string' },
      'kube-burst': { type: 'string' },
      'iso-kib': { type: 'string', default: '4096' },
      image: { type: 'string', default: 'live-iso' },
      'image-mib': { type: 'string', default: '4' },
      cleaning: { type: 'string', default: 'disabled' },
      'cpu-prof': { type: 'boolean', default: false },
      allocator: { type: 'string', default: 'jemalloc' },
      'sticky-timeout': { type: 'string' },
      'workflow-slots': { type: 'string' },
      'timeout-minutes': { type: 'string', default: '60' },
      'steady-minutes': { type: 'string', default: '0' },
    },
  });
  const whole = (name: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got '${v}'`);
    return n;
  };
  const slotRange = (v: string | undefined) => {
    if (v === undefined) return undefined;
    const [min, max = min] = v.split('-');
    const range = { min: whole('workflow-slots', min, 2, 2000), max: whole('workflow-slots', max, 2, 2000) };
    if (range.min > range.max) throw new Error(`--workflow-slots MIN-MAX needs MIN <= MAX, got '${v}'`);
    return range;
  };
  const oneOf = <T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T => {
    if (!allowed.includes(v as T)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
    return v as T;
  };
  const delay = oneOf('power-delay', values['power-delay'], ['0', 'stock']);
  const image = oneOf('image', values.image, ['live-iso', 'qcow2']);
  const cleaning = oneOf('cleaning', values.cleaning, ['disabled', 'metadata']);
  if ((image !== 'live-iso' || cleaning !== 'disabled') && values.bmc !== 'sim') {
    throw new Error('--image qcow2 and --cleaning metadata need a deploy agent: use --bmc sim');
  }
  return {
    hosts: whole('hosts', values.hosts, 1, 5000),
    temporal: oneOf('temporal', values.temporal, ['dev', 'cluster']),
    bmc: oneOf('bmc', values.bmc, ['sushy', 'sim']),
    powerDelay: delay === 'stock' ? 'stock' : 0,
    workers: whole('workers', values.workers, 1, 4),
    bridges: whole('bridges', values.bridges, 1, 4),
    provisioningLimit: values['provisioning-limit'] === undefined ? undefined : whole('provisioning-limit', values['provisioning-limit'], 1, 100_000),
    kubeQps: values['kube-qps'] === undefined ? undefined : whole('kube-qps', values['kube-qps'], 1, 100_000),
    kubeBurst: values['kube-burst'] === undefined ? undefined : whole('kube-burst', values['kube-burst'], 1, 100_000),
    isoKiB: whole('iso-kib', values['iso-kib'], 1, 1024 * 1024),
    image,
    imageMiB: whole('image-mib', values['image-mib'], 2, 64 * 1024),
    cleaning,
    cpuProf: values['cpu-prof'] ?? false,
    allocator: oneOf('allocator', values.allocator, ENGINE_ALLOCATORS),
    workflowSlots: slotRange(values['workflow-slots']),
    stickyTimeout: values['sticky-timeout'] === undefined ? undefined : whole('sticky-timeout', values['sticky-timeout'], 1, 600),
    timeoutMinutes: whole('timeout-minutes', values['timeout-minutes'], 1, 24 * 60),
    steadyMinutes: whole('steady-minutes', values['steady-minutes'], 0, 24 * 60),
  };
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  }));
}

/** A seeded random source (mulberry32), so a run's power delays repeat. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The commit the figures belong to (with `+dirty` when the tree has changes). */
function commit(): string {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${hash}+dirty` : hash;
  } catch {
    return 'unknown';
  }
}

interface HostObservation {
  created: number;
  /** Epoch ms at which each provisioning state was first seen through the watch. */
  seen: Map<string, number>;
  /** Status changes seen (status differs from the previous one, `lastUpdated` aside). */
  statusChanges: number;
  lastStatus: string;
}

/** Records, for each host of the bench namespace, when each state was first seen and how often its status changed. */
function observeHosts(kc: k8s.KubeConfig, hosts: Map<string, HostObservation>): Promise<() => void> {
  return watchHosts<{ metadata: { name: string }; status?: Record<string, unknown> & { provisioning?: { state?: string } } }>(kc, NS, (_type, obj) => {
    const at = Date.now();
    const h = hosts.get(obj.metadata.name);
    if (!h || !obj.status) return;
    const { lastUpdated: _l, ...status } = obj.status;
    const key = JSON.stringify(status);
    if (key !== h.lastStatus) {
      h.statusChanges += 1;
      h.lastStatus = key;
    }
    const state = obj.status.provisioning?.state;
    if (state !== undefined && !h.seen.has(state)) h.seen.set(state, at);
  });
}

/** CPU seconds by process name (instances of one name summed), by thread of our processes, and peak RSS, now. */
function processFigures(): { cpu: Map<string, number>; threads: Map<string, number>; instances: Map<string, number>; rss: Map<string, number> } {
  const cpu = new Map<string, number>();
  const threads = new Map<string, number>();
  const instances = new Map<string, number>();
  const rss = new Map<string, number>();
  for (const p of liveProcesses()) {
    cpu.set(p.name, (cpu.get(p.name) ?? 0) + groupCpuSeconds(p.pid));
    instances.set(p.name, (instances.get(p.name) ?? 0) + 1);
    rss.set(`${p.name}#${p.pid}`, peakRssMiB(p.pid));
    if (p.name.startsWith('tempered-')) {
      for (const [thread, v] of threadCpuSeconds(p.pid)) threads.set(`${p.name}/${thread}`, (threads.get(`${p.name}/${thread}`) ?? 0) + v);
    }
  }
  return { cpu, threads, instances, rss };
}

/**
 * The bridges' own view of their Kubernetes requests (client-go's names): how long each waited for the request
 * budget before it was sent, and how long it then took, by verb. A diagnostic of where the status lag goes.
 */
async function bridgeRequests(engine: Engine) {
  const urls = engine.bridges().map((b) => b.metricsUrl()).filter((u): u is string => u !== undefined);
  const samples = (await Promise.all(urls.map((u) => scrape(`${u}/metrics`).catch(() => [] as MetricSample[])))).flat();
  return {
    budgetWait: histogramReading(samples, 'rest_client_rate_limiter_duration_seconds', ['verb']),
    duration: histogramReading(samples, 'rest_client_request_duration_seconds', ['verb']),
  };
}

/** How often the workers' workflow-task slots are read while the fleet provisions. */
const SLOT_SAMPLE_MS = 2000;

interface SlotSample {
  /** Workflow-task slots in use, all workers together. */
  used: number;
  /** The CPU share (0-1) the slot supplier last read, when it follows the CPU (the highest of the workers). */
  cpu?: number;
}

/**
 * The workers' workflow-task slots in use (the SDK's `temporal_worker_task_slots_used`), and the CPU share their
 * resource-based supplier acts on (`temporal_resource_slots_cpu_usage`, in percent): how the slots followed the load.
 */
async function workflowSlotSample(engine: Engine): Promise<SlotSample> {
  const urls = engine.workers().map((w) => w.metricsUrl()).filter((u): u is string => u !== undefined);
  const samples = (await Promise.all(urls.map((u) => scrape(`${u}/metrics`).catch(() => [] as MetricSample[])))).flat();
  const used = samples
    .filter((m) => m.name === 'temporal_worker_task_slots_used' && m.labels['worker_type'] === 'WorkflowWorker')
    .reduce((a, m) => a + m.value, 0);
  const cpus = samples.filter((m) => m.name === 'temporal_resource_slots_cpu_usage').map((m) => m.value / 100);
  return { used, ...(cpus.length > 0 ? { cpu: Math.max(...cpus) } : {}) };
}

/** One line of the table: slots in use, and the CPU the supplier read when it follows the CPU. */
function slotRow(f: ReturnType<typeof slotFigures>): string {
  if (!f.used) return 'no sample';
  const used = `${fmt(f.used.p50, 0)}/${fmt(f.used.p90, 0)}/${fmt(f.used.max, 0)} (${f.used.samples} samples)`;
  return f.cpu ? `${used}; CPU as the supplier read it ${fmt(f.cpu.p50 * 100, 0)}/${fmt(f.cpu.p90 * 100, 0)}/${fmt(f.cpu.max * 100, 0)} %` : used;
}

/** p50, p90 and max of the slot samples. */
function slotFigures(samples: readonly SlotSample[]) {
  const spread = (values: number[]) => (values.length === 0 ? undefined : {
    p50: percentile(values, 50), p90: percentile(values, 90), max: Math.max(...values), samples: values.length,
  });
  const cpu = spread(samples.flatMap((s) => (s.cpu === undefined ? [] : [s.cpu])));
  return { used: spread(samples.map((s) => s.used)), ...(cpu ? { cpu } : {}) };
}

async function temporalMetrics(stack: Stack): Promise<MetricSample[]> {
  const endpoints = stack.temporal?.metrics ?? [];
  return (await Promise.all(endpoints.map((e) => scrape(e.url)))).flat();
}

/** The server's database calls per host in all, and the eight most frequent by operation. */
export function persistenceRow(requests: Map<string, number>, hosts: number): string {
  const calls = [...requests].filter(([k, v]) => k.startsWith('persistence/') && v > 0).sort((a, b) => b[1] - a[1]);
  const total = calls.reduce((s, [, v]) => s + v, 0);
  return `${fmt(total / hosts, 1)}: ${calls.slice(0, 8).map(([k, v]) => `${k.slice('persistence/'.length)} ${fmt(v / hosts, 1)}`).join(', ')}`;
}

const TASK_OPERATIONS = {
  workflowTasks: ['RespondWorkflowTaskCompleted', 'RespondWorkflowTaskFailed'],
  activityTasks: ['RespondActivityTaskCompleted', 'RespondActivityTaskFailed', 'RespondActivityTaskCanceled', 'RespondActivityTaskCompletedById', 'RespondActivityTaskFailedById', 'RespondActivityTaskCanceledById'],
  failedAttempts: ['RespondActivityTaskFailed', 'RespondActivityTaskFailedById', 'RespondWorkflowTaskFailed'],
  dispatchedWorkflowTasks: ['RecordWorkflowTaskStarted'],
  dispatchedActivityTasks: ['RecordActivityTaskStarted'],
} as const;

/**
 * The server's requests by service and operation (namespace `default`), and its calls to its database by
 * operation as `persistence/<operation>` (every namespace: a shard's own work is in none). A task that finds no
 * poller waiting is written to the database and read back (`CreateTasks`, `GetTasks`): the second shows the first.
 */
export function temporalRequests(samples: MetricSample[]): Map<string, number> {
  const requests = sumBy(samples, 'service_requests', ['service_name', 'operation'], (l) => l['namespace'] === 'default');
  for (const [operation, v] of sumBy(samples, 'persistence_requests', ['operation'])) requests.set(`persistence/${operation}`, v);
  return requests;
}

/** The apiserver's metrics samples of writes (its verbs that change an object). */
const isWrite = (labels: Record<string, string>) => ['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY'].includes(labels['verb'] ?? '');

function apiserverWrites(samples: MetricSample[]): Map<string, number> {
  return sumBy(samples, 'apiserver_request_total', ['verb', 'resource', 'subresource'], isWrite);
}

/** The apiserver's time for each write it served, by verb, resource and subresource (its own histogram). */
function apiserverWriteDurations(samples: MetricSample[]) {
  return histogramReading(samples, 'apiserver_request_duration_seconds', ['verb', 'resource', 'subresource'], isWrite);
}

/**
 * Where an apiserver request's time goes besides its own work: the wait in API Priority and Fairness's queues
 * (by priority level) and the apiserver's calls to etcd (by operation). A diagnostic of the status lag.
 */
function apiserverTimeParts(samples: MetricSample[]) {
  return {
    flowControlWait: histogramReading(samples, 'apiserver_flowcontrol_request_wait_duration_seconds', ['priority_level']),
    etcd: histogramReading(samples, 'etcd_request_duration_seconds', ['operation']),
  };
}

/**
 * Gives each state a host passed its transition time from history when its workflow recorded none of its own.
 * A host workflow upserts its search attributes once per workflow task (patch fewer-history-events), so a state
 * it passed through within a task (preparing, available on the way to provisioning) has no upsert: it was entered
 * in the task whose upsert records the next state, at that upsert's time (every event of a task completion has
 * the same time), and went out in the same publication. `passed` is every state in order: what the host's
 * publications carried (`statesPassed`), whether or not the status showed each.
 */
export function fillPassedStates(
  passed: readonly string[],
  transitions: Map<string, number>,
  publications: Map<string, { scheduled: number; started?: number }> | undefined,
): void {
  for (let i = passed.length - 1; i >= 0; i--) {
    const state = passed[i] as string;
    if (transitions.has(state) || state === 'none') continue;
    const next = passed.slice(i + 1).find((s) => transitions.has(s));
    if (next === undefined) continue;
    transitions.set(state, transitions.get(next) as number);
    const carried = publications?.get(next);
    if (publications && carried && !publications.has(state)) publications.set(state, carried);
  }
}

/**
 * When a watch could first tell that the host had reached `state`: when it saw that state, or, for a state the
 * status never showed (the bridge writes where the host stands, not each state it passed in one publication),
 * when it saw a state the host entered at or after it. Undefined when it saw neither.
 */
export function visibleAt(state: string, seen: ReadonlyMap<string, number>, transitions: ReadonlyMap<string, number>): number | undefined {
  const own = seen.get(state);
  if (own !== undefined) return own;
  const at = transitions.get(state);
  if (at === undefined) return undefined;
  let first: number | undefined;
  for (const [other, entered] of transitions) {
    const shown = seen.get(other);
    if (other === state || entered < at || shown === undefined) continue;
    if (first === undefined || shown < first) first = shown;
  }
  return first;
}

/** What the histories say: local activities (markers), worker identities, and transition times. */
interface HistoryFigures {
  workflows: number;
  localActivities: number;
  /** Workflow tasks by the identity of the worker that ran them (host workflows and children). */
  tasksByWorker: Map<string, number>;
  /** Host workflows by the worker that ran most of their workflow tasks. */
  hostsByWorker: Map<string, number>;
  /** host -> provisioning state -> epoch ms of the upsert that recorded it. */
  transitions: Map<string, Map<string, number>>;
  /** host -> every provisioning state its publications carried, in order (lib/history-publications.ts). */
  passed: Map<string, string[]>;
  /**
   * host -> provisioning state -> the `publishStatus` activity that carried it to the bridge: epoch ms when it
   * was scheduled (the first one scheduled in or after the workflow task that recorded the state; a state
   * recorded while a publication is in flight waits for the next) and when the bridge started it.
   */
  publications: Map<string, Map<string, { scheduled: number; started?: number }>>;
  /** History events by type, and workflow tasks by workflow type: where the tasks go. */
  eventsByType: Map<string, number>;
  workflowTasksByType: Map<string, number>;
  /** Local activities by activity type (from the markers). */
  localActivitiesByType: Map<string, number>;
  /** Regular activities by activity type. */
  activitiesByType: Map<string, number>;
}

function payloadString(p: proto.temporal.api.common.v1.IPayload | null | undefined): string | undefined {
  if (!p?.data) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(p.data).toString('utf8'));
    return Array.isArray(value) ? String(value[0]) : String(value);
  } catch {
    return undefined;
  }
}

/** When each host's state was first written, by the bridges' 'status written' log lines (host key -> state -> ms). */
function statusWrittenTimes(logFiles: string[]): Map<string, Map<string, number>> {
  const times = new Map<string, Map<string, number>>();
  for (const file of logFiles) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // a bridge that never wrote its log
    }
    for (const line of text.split('\n')) {
      if (!line.includes('"status written"')) continue;
      try {
        const entry = JSON.parse(line) as { time?: number; host?: string; state?: string };
        if (entry.time === undefined || !entry.host || !entry.state) continue;
        const map = times.get(entry.host) ?? new Map<string, number>();
        if (!map.has(entry.state)) map.set(entry.state, entry.time);
        times.set(entry.host, map);
      } catch {
        // not a JSON line
      }
    }
  }
  return times;
}

async function readHistories(client: Client): Promise<HistoryFigures> {
  const figures: HistoryFigures = {
    workflows: 0, localActivities: 0, tasksByWorker: new Map(), hostsByWorker: new Map(), transitions: new Map(), passed: new Map(), publications: new Map(),
    eventsByType: new Map(), workflowTasksByType: new Map(), localActivitiesByType: new Map(), activitiesByType: new Map(),
  };
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const runs: { workflowId: string; runId: string; type: string }[] = [];
  const passedByRun = new Map<string, { start: number; states: string[] }[]>();
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "bmh/${NS}/"` })) runs.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type });
  await pool(runs, 16, async ({ workflowId, runId, type }) => {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    figures.workflows += 1;
    const host = workflowId.split('/').length === 3 ? workflowId.split('/')[2] : undefined;
    const byWorker = new Map<string, number>();
    // States recorded (by the workflow task that recorded them) and publications (by the task that scheduled
    // them), matched once the history is read: within one task the upsert may come after the publication
    // (patch fewer-history-events sends it when the workflow waits). Publications by their scheduled event.
    const recorded: { state: string; task: number }[] = [];
    const scheduledIn: { task: number; carried: { scheduled: number; started?: number } }[] = [];
    const publicationByEvent = new Map<number, { scheduled: number; started?: number }>();
    for (const e of history.events ?? []) {
      add(figures.eventsByType, proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType));
      // A sticky-queue timeout (SCHEDULE_TO_START) means the worker was too busy to take its own task in time:
      // the task goes to the normal queue, and a worker replays the whole history to run it.
      const timedOut = e.workflowTaskTimedOutEventAttributes?.timeoutType;
      if (timedOut !== undefined && timedOut !== null) {
        add(figures.eventsByType, `WORKFLOW_TASK_TIMED_OUT/${proto.temporal.api.enums.v1.TimeoutType[timedOut] ?? String(timedOut)}`);
      }
      if (e.workflowTaskCompletedEventAttributes) add(figures.workflowTasksByType, type);
      const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (scheduled) add(figures.activitiesByType, scheduled);
      const localActivity = localActivityOf(e.markerRecordedEventAttributes);
      if (localActivity) {
        figures.localActivities += 1;
        add(figures.localActivitiesByType, localActivity.type || 'unknown');
      }
      const identity = e.workflowTaskStartedEventAttributes?.identity;
      if (identity) {
        figures.tasksByWorker.set(identity, (figures.tasksByWorker.get(identity) ?? 0) + 1);
        byWorker.set(identity, (byWorker.get(identity) ?? 0) + 1);
      }
      const state = payloadString(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.['ProvisioningState']);
      if (host && state && e.eventTime) {
        const map = figures.transitions.get(host) ?? new Map<string, number>();
        if (!map.has(state)) {
          map.set(state, tsToMs(e.eventTime));
          recorded.push({ state, task: Number(e.upsertWorkflowSearchAttributesEventAttributes?.workflowTaskCompletedEventId ?? 0) });
        }
        figures.transitions.set(host, map);
      }
      const publication = e.activityTaskScheduledEventAttributes;
      if (host && scheduled === 'publishStatus' && publication && e.eventTime) {
        const carried = { scheduled: tsToMs(e.eventTime) };
        publicationByEvent.set(Number(e.eventId), carried);
        scheduledIn.push({ task: Number(publication.workflowTaskCompletedEventId ?? 0), carried });
      }
      const started = e.activityTaskStartedEventAttributes;
      if (started && e.eventTime) {
        const carried = publicationByEvent.get(Number(started.scheduledEventId ?? 0));
        if (carried) carried.started = tsToMs(e.eventTime);
      }
    }
    if (host && recorded.length > 0) {
      // A state goes out with the first publication scheduled in or after the task that recorded it (one in
      // flight holds it back for the next).
      const map = figures.publications.get(host) ?? new Map<string, { scheduled: number; started?: number }>();
      for (const r of recorded) {
        const carrier = scheduledIn.find((p) => p.task >= r.task);
        if (carrier) map.set(r.state, carrier.carried);
      }
      figures.publications.set(host, map);
    }
    if (host) {
      // A host's runs (continue-as-new at the steady state) are read side by side: put in order below.
      const first = history.events?.[0]?.eventTime;
      const hostRuns = passedByRun.get(host) ?? [];
      hostRuns.push({ start: first ? tsToMs(first) : 0, states: statesPassed(await publicationsIn(history.events ?? [])) });
      passedByRun.set(host, hostRuns);
      const main = [...byWorker].sort((a, b) => b[1] - a[1])[0]?.[0];
      if (main) figures.hostsByWorker.set(main, (figures.hostsByWorker.get(main) ?? 0) + 1);
    }
  });
  for (const [host, byRun] of passedByRun) {
    figures.passed.set(host, statesPassed(byRun.sort((a, b) => a.start - b.start).map((r) => r.states)));
  }
  return figures;
}

/** Waits until the apiserver has seen no new Event for two polls in a row (bounded). */
async function eventsSettled(read: () => Promise<number>): Promise<void> {
  let last = -1;
  let quiet = 0;
  const deadline = Date.now() + 120_000;
  while (quiet < 2 && Date.now() < deadline) {
    const now = await read();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
    await new Promise((r) => setTimeout(r, 1500));
  }
}

interface SteadySample {
  /** Minutes since the steady phase began. */
  minute: number;
  workerRssMiB: number;
  bridgeRssMiB: number;
  /** The worker's main-thread V8 heap in use (the workflows' own heaps, in the workflow thread, are not in it). */
  workerHeapUsedMiB: number | undefined;
  cachedWorkflows: number | undefined;
  /**
   * Since the steady phase began: CPU seconds of the engine (as `perHostHour.engineCpuSeconds`), of the worker and
   * of Temporal, and the worker's local activities and sticky-cache misses, so a stretch of the phase (after a
   * one-time cost such as the first power check) can be told apart from the whole.
   */
  engineCpuSeconds: number;
  workerCpuSeconds: number;
  temporalCpuSeconds: number;
  localActivities: number | undefined;
  cacheMisses: number | undefined;
}

/** CPU seconds of the engine's processes (ours, Temporal's, its database) in a per-process map. */
function engineCpuOf(cpu: Map<string, number>): number {
  return [...cpu].filter(([k]) => k.startsWith('tempered-') || k === 'temporal' || k.startsWith('temporal-') || k === 'postgres').reduce((s, [, v]) => s + v, 0);
}

/** Sums a metric family over a scrape (a counter may be exposed with or without `_total`); undefined when absent. */
function metricSum(samples: MetricSample[], name: string): number | undefined {
  const found = samples.filter((s) => s.name === name || s.name === `${name}_total`);
  return found.length ? found.reduce((a, s) => a + s.value, 0) : undefined;
}

/**
 * The provisioned fleet left alone for `minutes`: the worker's and the bridge's memory every 30 s (does it level
 * off with more host workflows than cache places?), and what standing still costs per host and hour (CPU by
 * process, Temporal tasks, local activities, Kubernetes writes, Redfish requests, BMC calls by kind). At the end,
 * every host is read back: it must still be provisioned, OK and without an error.
 */
async function steadyState(minutes: number, c: {
  n: number;
  engine: Engine;
  stack: Stack;
  readApiserver: () => Promise<MetricSample[]>;
  redfishRequests: () => Promise<number>;
  objects: k8s.CustomObjectsApi;
}) {
  const workerScrape = async () => (await Promise.all(c.engine.workers().map((w) => w.metricsUrl()).filter((u): u is string => u !== undefined)
    .map((u) => scrape(`${u}/metrics`).catch(() => [] as MetricSample[])))).flat();
  const point = async () => {
    const worker = await workerScrape();
    return {
      at: Date.now(),
      processes: processFigures(),
      temporal: temporalRequests(await temporalMetrics(c.stack)),
      apiserver: apiserverWrites(await c.readApiserver()),
      redfish: await c.redfishRequests(),
      bmcCalls: sumBy(worker, 'tempered_bmc_call_duration_seconds_count', ['call']),
      localActivities: metricSum(worker, 'temporal_local_activity'),
      cacheMisses: metricSum(worker, 'temporal_sticky_cache_miss'),
      worker,
    };
  };
  const live = (list: { proc: { pid: number; isRunning(): boolean } }[]) => list.filter((p) => p.proc.isRunning()).reduce((s, p) => s + rssMiB(p.proc.pid), 0);
  const samples: SteadySample[] = [];
  const begin = await point();
  const since = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);
  const record = (worker: MetricSample[]) => {
    const heap = metricSum(worker, 'nodejs_heap_size_used_bytes');
    const cpu = processFigures().cpu;
    const used = (name: string) => (cpu.get(name) ?? 0) - (begin.processes.cpu.get(name) ?? 0);
    samples.push({
      minute: (Date.now() - begin.at) / 60_000,
      workerRssMiB: live(c.engine.workers()),
      bridgeRssMiB: live(c.engine.bridges()),
      workerHeapUsedMiB: heap === undefined ? undefined : heap / 2 ** 20,
      cachedWorkflows: metricSum(worker, 'temporal_sticky_cache_size'),
      engineCpuSeconds: engineCpuOf(cpu) - engineCpuOf(begin.processes.cpu),
      workerCpuSeconds: used('tempered-worker'),
      temporalCpuSeconds: used('temporal'),
      localActivities: since(begin.localActivities, metricSum(worker, 'temporal_local_activity')),
      cacheMisses: since(begin.cacheMisses, metricSum(worker, 'temporal_sticky_cache_miss')),
    });
  };
  record(begin.worker);
  const endAt = begin.at + minutes * 60_000;
  while (Date.now() < endAt) {
    await new Promise((r) => setTimeout(r, Math.min(30_000, endAt - Date.now())));
    record(await workerScrape());
    const s = samples[samples.length - 1] as SteadySample;
    console.log(`  steady ${fmt(s.minute)} min: worker ${fmt(s.workerRssMiB, 0)} MiB RSS (main-thread heap ${fmt(s.workerHeapUsedMiB ?? NaN, 0)} MiB, ${s.cachedWorkflows ?? 'n/a'} workflows cached), bridge ${fmt(s.bridgeRssMiB, 0)} MiB`);
  }
  const end = await point();
  const hours = (end.at - begin.at) / 3_600_000;
  const perHostHour = (v: number) => v / c.n / hours;
  const tasks = difference(begin.temporal, end.temporal);
  const op = (names: readonly string[]) => names.reduce((s, name) => s + (tasks.get(`frontend/${name}`) ?? 0), 0);
  const writes = difference(begin.apiserver, end.apiserver);
  const cpu = new Map([...end.processes.cpu].map(([name, v]) => [name, v - (begin.processes.cpu.get(name) ?? 0)]));
  const engineCpu = engineCpuOf(cpu);
  const delta = since;

  // Where every host stands at the end.
  const states = new Map<string, number>();
  let continueToken: string | undefined;
  do {
    const page = (await c.objects.listNamespacedCustomObject({ ...BMH, limit: 500, ...(continueToken ? { _continue: continueToken } : {}) })) as {
      items: { status?: { provisioning?: { state?: string }; operationalStatus?: string; errorType?: string } }[];
      metadata?: { continue?: string };
    };
    for (const h of page.items) {
      const key = `${h.status?.provisioning?.state ?? 'none'}/${h.status?.operationalStatus ?? 'none'}${h.status?.errorType ? `/${h.status.errorType}` : ''}`;
      states.set(key, (states.get(key) ?? 0) + 1);
    }
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);

  const rss = samples.map((s) => s.workerRssMiB);
  const half = samples.filter((s) => s.minute >= minutes / 2);
  return {
    minutes: (end.at - begin.at) / 60_000,
    hostsAtEnd: Object.fromEntries(states),
    worker: {
      rssMiB: { first: rss[0] ?? 0, last: rss[rss.length - 1] ?? 0, max: Math.max(0, ...rss), min: Math.min(...rss) },
      // The trend over the second half, when the first power checks have been through every host.
      rssSlopeMiBPerHourSecondHalf: slope(half.map((s) => ({ x: s.minute / 60, y: s.workerRssMiB }))),
      peakRssMiB: Math.max(0, ...c.engine.workers().map((w) => peakRssMiB(w.proc.pid))),
    },
    bridge: { rssMiB: { first: samples[0]?.bridgeRssMiB ?? 0, last: samples[samples.length - 1]?.bridgeRssMiB ?? 0, max: Math.max(0, ...samples.map((s) => s.bridgeRssMiB)) } },
    perHostHour: {
      engineCpuSeconds: perHostHour(engineCpu),
      cpuSeconds: Object.fromEntries([...cpu].map(([k, v]) => [k, perHostHour(v)])),
      workflowTasks: perHostHour(op(TASK_OPERATIONS.workflowTasks)),
      activityTasks: perHostHour(op(TASK_OPERATIONS.activityTasks)),
      localActivities: ((d) => (d === undefined ? undefined : perHostHour(d)))(delta(begin.localActivities, end.localActivities)),
      stickyCacheMisses: ((d) => (d === undefined ? undefined : perHostHour(d)))(delta(begin.cacheMisses, end.cacheMisses)),
      kubernetesWrites: Object.fromEntries([...writes].filter(([, v]) => v > 0).map(([k, v]) => [k, perHostHour(v)])),
      redfishRequests: perHostHour(end.redfish - begin.redfish),
      bmcCalls: Object.fromEntries([...difference(begin.bmcCalls, end.bmcCalls)].filter(([, v]) => v > 0).map(([k, v]) => [k, perHostHour(v)])),
    },
    samples,
  };
}

/** A count map as per-host figures, largest first. */
function perHostOf(map: Map<string, number>, n: number): Record<string, number> {
  return Object.fromEntries([...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((v / n) * 100) / 100]));
}

/** The boot MAC of a simulated BMC (the agent API finds a host by it), if it has one. */
const bootMac = (b: { bootMACAddress?: string | null } | undefined) => b?.bootMACAddress ?? undefined;

/**
 * The files the deploy agent path needs: a deploy ISO (the engine remasters it per host) and a qcow2 made from
 * a small raw GPT image, with its SHA256SUMS. None for a live-ISO run without cleaning.
 */
async function agentFiles(dir: string, o: FleetOptions): Promise<Record<string, { path: string } | Buffer>> {
  if (o.image === 'live-iso' && o.cleaning === 'disabled') return {};
  const { xorriso } = await imageTools(() => undefined);
  const ipa = await buildStandInIpaIso(join(dir, 'ipa.iso'), { xorriso });
  if (o.image === 'live-iso') return { '/ipa.iso': { path: ipa.output } };
  await makeRawImage(join(dir, 'os.raw'), o.imageMiB);
  const qcow2 = await toQcow2(join(dir, 'os.raw'), join(dir, 'os.qcow2'));
  const sums = `${createHash('sha256').update(qcow2).digest('hex')}  os.qcow2\n`;
  return { '/ipa.iso': { path: ipa.output }, '/os.qcow2': { path: join(dir, 'os.qcow2') }, '/SHA256SUMS': Buffer.from(sums) };
}

/** The simulated agents' side effects over the fleet: every image written once, cleaning counted. */
function agentFigures(counters: Record<string, AgentCounters>, n: number) {
  const all = Object.values(counters);
  const total = (field: keyof AgentCounters) => all.reduce((s, c) => s + Number(c[field] ?? 0), 0);
  return {
    imageWrites: total('imageWrites'),
    maxImageWritesPerHost: Math.max(0, ...all.map((c) => Number(c.imageWrites ?? 0))),
    metadataErasesPerHost: total('metadataErases') / n,
    ramdiskBootsPerHost: total('ramdiskBoots') / n,
  };
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/**
 * Runs the benchmark; resolves to the figures it printed and wrote (bench/image.ts reports them too). Its state
 * directory (servers' data and logs, images: about 1 GB at 1,000 hosts) is removed at the end, unless it holds
 * the profiles of `--cpu-prof` or TEMPERED_KEEP_STATE is set.
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o = parse(args);
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-fleet-'));
  try {
    return await fleet(o, dir);
  } finally {
    const profiles = join(dir, 'profiles');
    const keepFor = o.cpuProf && existsSync(profiles) ? `CPU profiles (worker, bridge; Temporal's services on the cluster) in ${profiles}` : undefined;
    console.log((await endStateDir(dir, { keepFor })).line);
  }
}

/** The run in `dir`; whatever it started is stopped when it returns or throws. */
async function fleet(o: FleetOptions, dir: string): Promise<Record<string, unknown>> {
  const n = o.hosts;
  const measured = commit(); // what runs: the tree may change while a long run goes on
  const load = loadavg();
  // The machine's speed before anything starts, and again once the fleet is done (bench/machine-reference.ts).
  const machineBefore = await machineReference();
  const what = o.image === 'live-iso' ? 'live ISO over virtual media' : `${o.imageMiB} MiB qcow2 image through the deploy agent`;
  console.log(`${n} hosts, register -> provisioned (${what}, cleaning ${o.cleaning}), Temporal ${o.temporal}, BMCs ${o.bmc}, power delay ${o.powerDelay}, ${o.workers} worker(s), ${o.bridges} bridge(s); load average ${load.map((l) => l.toFixed(1)).join(' ')}; state in ${dir}`);
  console.log(`  PROVISIONING_LIMIT=${o.provisioningLimit ?? `${DEFAULT_PROVISIONING_LIMIT} (default)`}: hosts booting virtual media are exempt, as in BMO, so it does not hold back a live-ISO fleet; apiserver budget of the bridge ${o.kubeQps ?? 20} qps, burst ${o.kubeBurst ?? 30}${o.kubeQps === undefined ? ' (default, BMO\'s)' : ''}`);

  const stack = await startStack({
    stateDir: dir,
    temporal: { kind: o.temporal },
    ipmi: false,
    sushy: o.bmc === 'sushy' ? { systems: n, powerDelay: o.powerDelay } : false,
    progress: (m) => console.log(`  [stack] ${m}`),
  });
  let sim: SimulatorProcess | undefined;
  let engine: Engine | undefined;
  let images: ImageServer | undefined;
  let stopWatch = () => {};
  try {
    images = await startImageServer({ '/live.iso': Buffer.alloc(o.isoKiB * 1024, 3), ...(await agentFiles(dir, o)) });
    const image = o.image === 'live-iso'
      ? { url: images.url('/live.iso'), format: 'live-iso' }
      : { url: images.url('/os.qcow2'), checksum: images.url('/SHA256SUMS'), checksumType: 'sha256', format: 'qcow2' };
    const { temporal, kube, sushy } = stack;
    if (!temporal || !kube) throw new Error('stack incomplete');
    if (o.bmc === 'sim') {
      const random = seededRandom(12);
      const specs: BmcSpec[] = Array.from({ length: n }, (_, i) => ({
        id: `bmc-${String(i + 1).padStart(4, '0')}`, profile: 'dmtf', uniqueIdentity: true, password: `pw-${i}`,
        powerDelayMs: o.powerDelay === 'stock' ? Math.round(1000 + random() * 10_000) : 0,
      }));
      mkdirSync(join(dir, 'sim'), { recursive: true });
      sim = await startSimulatorProcess({ stateDir: join(dir, 'sim'), specs });
    }
    const profDir = join(dir, 'profiles');
    const env: NodeJS.ProcessEnv = {
      ...(o.provisioningLimit !== undefined ? { PROVISIONING_LIMIT: String(o.provisioningLimit) } : {}),
      ...(o.kubeQps !== undefined ? { TEMPERED_KUBE_API_QPS: String(o.kubeQps) } : {}),
      ...(o.kubeBurst !== undefined ? { TEMPERED_KUBE_API_BURST: String(o.kubeBurst) } : {}),
      ...(o.workflowSlots !== undefined
        ? { TEMPERED_MIN_CONCURRENT_WORKFLOW_TASKS: String(o.workflowSlots.min), TEMPERED_MAX_CONCURRENT_WORKFLOW_TASKS: String(o.workflowSlots.max) }
        : {}),
      ...(o.stickyTimeout !== undefined ? { TEMPERED_STICKY_TIMEOUT_SECONDS: String(o.stickyTimeout) } : {}),
      ...(o.image !== 'live-iso' || o.cleaning !== 'disabled' ? { TEMPERED_IPA_ISO_URL: images.url('/ipa.iso') } : {}),
      ...(o.cpuProf ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profDir}`.trim() } : {}),
    };
    engine = await startEngine({ stateDir: join(dir, 'engine'), temporal, kubeconfig: kube.kubeconfig, env, workers: o.workers, bridges: o.bridges, allocator: o.allocator, progress: (m) => console.log(`  [engine] ${m}`) });

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kube.kubeconfig);
    const core = pooledApiClient(kc, k8s.CoreV1Api);
    const objects = pooledApiClient(kc, k8s.CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    const bmcs: { address: string; username: string; password: string; bootMACAddress?: string | null }[] = sushy
      ? sushy.systems.slice(0, n).map((s) => ({ address: `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${s.path}`, username: sushy.username, password: sushy.password }))
      : (sim?.bmcs ?? []).map((b) => ({ address: b.address, username: b.username, password: b.password, bootMACAddress: b.bootMACAddress }));
    await pool(bmcs, 32, async (b, i) => {
      await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: `host-${i}-bmc` }, stringData: { username: b.username, password: b.password } } });
    });

    const apiTls = { ca: kube.pki.servingCa.cert, cert: kube.pki.admin.cert, key: kube.pki.admin.key };
    const simRequests = async () => Object.values((await sim?.counters()) ?? {}).reduce((s, c) => s + Object.values(c.requests).reduce((a, b) => a + b, 0), 0);
    const redfishRequests = async () => (sushy ? sushy.requests() : await simRequests());

    const observed = new Map<string, HostObservation>();
    stopWatch = await observeHosts(kc, observed);
    const before = {
      processes: processFigures(),
      temporal: temporalRequests(await temporalMetrics(stack)),
      ...(await scrapeApiserver(kube.server, apiTls).then((m) => ({ apiserver: apiserverWrites(m), apiserverDurations: apiserverWriteDurations(m), apiserverParts: apiserverTimeParts(m) }))),
      redfish: await redfishRequests(),
      bridgeRequests: await bridgeRequests(engine),
    };

    const t0 = Date.now();
    const names = bmcs.map((_, i) => `host-${i}`);
    for (const name of names) observed.set(name, { created: 0, seen: new Map(), statusChanges: 0, lastStatus: '' });
    await pool(names, 32, async (name, i) => {
      const h = observed.get(name);
      if (h) h.created = Date.now();
      await objects.createNamespacedCustomObject({
        ...BMH,
        body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name }, spec: {
          online: true,
          automatedCleaningMode: o.cleaning,
          bmc: { address: bmcs[i]?.address, credentialsName: `${name}-bmc` },
          ...(bootMac(bmcs[i]) ? { bootMACAddress: bootMac(bmcs[i]) } : {}),
          image,
        } },
      });
    });
    const createdIn = (Date.now() - t0) / 1000;
    console.log(`  created ${n} hosts in ${fmt(createdIn)} s`);
    // With --cpu-prof on the cluster, each Temporal service's Go CPU profile of the busiest minute, too.
    const serverProfiles = o.cpuProf && temporal.pprof ? profileServer(temporal.pprof, 60, profDir) : undefined;

    const done = () => [...observed.values()].filter((h) => h.seen.has('provisioned')).length;
    const deadline = t0 + o.timeoutMinutes * 60_000;
    let lastReport = Date.now();
    const slotSamples: SlotSample[] = [];
    let lastSlotSample = 0;
    while (done() < n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      if (Date.now() - lastSlotSample >= SLOT_SAMPLE_MS) {
        lastSlotSample = Date.now();
        slotSamples.push(await workflowSlotSample(engine));
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        console.log(`  ${done()} / ${n} provisioned after ${fmt((Date.now() - t0) / 1000, 0)} s`);
      }
    }
    if (serverProfiles) for (const line of await serverProfiles) console.log(line);
    const provisionedAt = Math.max(...[...observed.values()].map((h) => h.seen.get('provisioned') ?? 0));
    const elapsed = (provisionedAt - t0) / 1000;
    await eventsSettled(async () => apiserverWrites(await scrapeApiserver(kube.server, apiTls)).get('POST/events/') ?? 0);
    const after = {
      processes: processFigures(),
      temporal: temporalRequests(await temporalMetrics(stack)),
      ...(await scrapeApiserver(kube.server, apiTls).then((m) => ({ apiserver: apiserverWrites(m), apiserverDurations: apiserverWriteDurations(m), apiserverParts: apiserverTimeParts(m) }))),
      redfish: await redfishRequests(),
      bridgeRequests: await bridgeRequests(engine),
      at: Date.now(),
    };
    const machineAfter = await machineReference();
    const counters = sim ? await sim.counters() : undefined;
    const agentCounters = sim && o.image !== 'live-iso' ? await sim.agentCounters() : undefined;
    stopWatch();

    // Histories: local activities, worker identities, transition times.
    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const history = await readHistories(client);
    await connection.close();

    for (const [host, transitions] of history.transitions) {
      const passed = history.passed.get(host) ?? [...(observed.get(host)?.seen.keys() ?? [])];
      fillPassedStates(passed, transitions, history.publications.get(host));
    }

    const provisioned = done();
    const latencies = [...observed.values()].filter((h) => h.seen.has('provisioned')).map((h) => ((h.seen.get('provisioned') ?? 0) - h.created) / 1000);
    const lags: number[] = [];
    const lagsByState = new Map<string, number[]>();
    for (const [host, transitions] of history.transitions) {
      const seen = observed.get(host)?.seen;
      for (const [state, at] of transitions) {
        const visible = seen && visibleAt(state, seen, transitions);
        if (visible === undefined || state === 'none') continue;
        lags.push((visible - at) / 1000);
        lagsByState.set(state, [...(lagsByState.get(state) ?? []), (visible - at) / 1000]);
      }
    }
    // Where the lag goes: waiting for the publication that carries the state (one already in flight holds it
    // back), the publication waiting for a bridge to take it, and the bridge writing it until the watch sees it.
    const lagParts = { waitForPublication: [] as number[], queuedForBridge: [] as number[], bridgeToVisible: [] as number[] };
    const partsOf: { lag: number; parts: [number, number, number] }[] = [];
    for (const [host, transitions] of history.transitions) {
      for (const [state, at] of transitions) {
        const seen = observed.get(host)?.seen;
        const visible = seen && visibleAt(state, seen, transitions);
        const carried = history.publications.get(host)?.get(state);
        if (visible === undefined || state === 'none' || !carried?.started) continue;
        lagParts.waitForPublication.push((carried.scheduled - at) / 1000);
        lagParts.queuedForBridge.push((carried.started - carried.scheduled) / 1000);
        lagParts.bridgeToVisible.push((visible - carried.started) / 1000);
        partsOf.push({ lag: (visible - at) / 1000, parts: [(carried.scheduled - at) / 1000, (carried.started - carried.scheduled) / 1000, (visible - carried.started) / 1000] });
      }
    }
    // The bridge's part split once more, from the bridge's own log (its only use here, a diagnostic: every
    // count above is taken where it happens): the activity's start to the write's response ('status written',
    // stamped when the apiserver answered), and that answer to the watch seeing it (apiserver fan-out + bench).
    const written = statusWrittenTimes(engine.bridges().map((b) => b.logFile));
    const bridgeSplit = { startedToWritten: [] as number[], writtenToVisible: [] as number[] };
    for (const [host, transitions] of history.transitions) {
      for (const [state] of transitions) {
        const visible = observed.get(host)?.seen.get(state);
        const carried = history.publications.get(host)?.get(state);
        const wrote = written.get(`${NS}/${host}`)?.get(state); // only states whose status was written
        if (visible === undefined || state === 'none' || !carried?.started || wrote === undefined) continue;
        bridgeSplit.startedToWritten.push((wrote - carried.started) / 1000);
        bridgeSplit.writtenToVisible.push((visible - wrote) / 1000);
      }
    }
    // The tail: the slowest 2 % of transitions, and the mean of each part among them.
    const tail = partsOf.sort((a, b) => b.lag - a.lag).slice(0, Math.max(1, Math.ceil(partsOf.length * 0.02)));
    const tailMean = (i: number) => tail.reduce((s, t) => s + t.parts[i]!, 0) / tail.length;
    const tasks = difference(before.temporal, after.temporal);
    const op = (service: string, names: readonly string[]) => names.reduce((s, name) => s + (tasks.get(`${service}/${name}`) ?? 0), 0);
    const workflowTasks = op('frontend', TASK_OPERATIONS.workflowTasks);
    const activityTasks = op('frontend', TASK_OPERATIONS.activityTasks);
    const failedAttempts = op('frontend', TASK_OPERATIONS.failedAttempts);
    const writes = difference(before.apiserver, after.apiserver);
    const totalWrites = [...writes.values()].reduce((a, b) => a + b, 0);
    const statusWrites = writes.get('PATCH/baremetalhosts/status') ?? 0;
    const stateChanges = [...observed.values()].reduce((s, h) => s + h.seen.size, 0);
    const visibleChanges = [...observed.values()].reduce((s, h) => s + h.statusChanges, 0);
    const cpu = new Map([...after.processes.cpu].map(([name, v]) => [name, v - (before.processes.cpu.get(name) ?? 0)]));
    const cpuOf = (...names: string[]) => names.reduce((s, name) => s + (cpu.get(name) ?? 0), 0);
    const temporalNames = [...cpu.keys()].filter((k) => k === 'temporal' || k.startsWith('temporal-') || k === 'postgres');
    // The agent API is the engine's too (it runs only agent traffic: nothing on a live-ISO run without cleaning).
    const engineCpu = cpuOf('tempered-worker', 'tempered-bridge', 'tempered-agent-api', ...temporalNames);
    const rssPeak = (prefix: string) => Math.max(0, ...[...after.processes.rss].filter(([k]) => k.startsWith(`${prefix}#`)).map(([, v]) => v));
    const perHostMax = (field: 'powerOn' | 'mediaInserts') => (counters ? Math.max(0, ...Object.values(counters).map((c) => c[field])) : undefined);

    const figures = {
      provisioned,
      hosts: n,
      seconds: elapsed,
      hostsPerMinute: (provisioned / elapsed) * 60,
      createSeconds: createdIn,
      latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(0, ...latencies) },
      statusLag: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(0, ...lags), samples: lags.length },
      statusLagByState: Object.fromEntries([...lagsByState].map(([state, v]) => [state, { p50: percentile(v, 50), p99: percentile(v, 99) }])),
      statusLagParts: {
        ...Object.fromEntries(Object.entries(lagParts).map(([part, v]) => [part, { p50: percentile(v, 50), p99: percentile(v, 99), samples: v.length }])),
        bridgeToVisibleSplit: Object.fromEntries(Object.entries(bridgeSplit).map(([part, v]) => [part, { p50: percentile(v, 50), p99: percentile(v, 99), samples: v.length }])),
        slowest2Percent: { transitions: tail.length, lagMean: tail.reduce((s, t) => s + t.lag, 0) / tail.length, waitForPublication: tailMean(0), queuedForBridge: tailMean(1), bridgeToVisible: tailMean(2) },
      },
      bridgeRequests: {
        budgetWait: histogramChange(before.bridgeRequests.budgetWait, after.bridgeRequests.budgetWait),
        duration: histogramChange(before.bridgeRequests.duration, after.bridgeRequests.duration),
      },
      apiserverWriteSeconds: histogramChange(before.apiserverDurations, after.apiserverDurations),
      apiserverFlowControlWaitSeconds: histogramChange(before.apiserverParts.flowControlWait, after.apiserverParts.flowControlWait),
      apiserverEtcdSeconds: histogramChange(before.apiserverParts.etcd, after.apiserverParts.etcd),
      kubernetesWritesPerHost: totalWrites / n,
      kubernetesWrites: Object.fromEntries([...writes].filter(([, v]) => v > 0)),
      statusWritesPerHost: statusWrites / n,
      provisioningStatesPerHost: stateChanges / n,
      statusWritesPerVisibleChange: statusWrites / Math.max(1, visibleChanges),
      visibleStatusChangesPerHost: visibleChanges / n,
      temporalTasksPerHost: (workflowTasks + activityTasks + history.localActivities) / n,
      temporal: {
        workflowTasksPerHost: workflowTasks / n,
        activityTasksPerHost: activityTasks / n,
        localActivitiesPerHost: history.localActivities / n,
        failedAttemptsPerHost: failedAttempts / n,
        dispatchedWorkflowTasksPerHost: op('history', TASK_OPERATIONS.dispatchedWorkflowTasks) / n,
        dispatchedActivityTasksPerHost: op('history', TASK_OPERATIONS.dispatchedActivityTasks) / n,
        workflows: history.workflows,
        requests: Object.fromEntries([...tasks].filter(([, v]) => v > 0)),
      },
      redfishRequestsPerHost: (after.redfish - before.redfish) / n,
      cpuSecondsPerHost: Object.fromEntries([...cpu].map(([name, v]) => [name, v / n])),
      threadCpuSecondsPerHost: Object.fromEntries([...after.processes.threads].map(([name, v]): [string, number] => [name, (v - (before.processes.threads.get(name) ?? 0)) / n]).filter(([, v]) => v >= 0.001).sort((a, b) => b[1] - a[1])),
      engineCpuSecondsPerHost: engineCpu / n,
      processInstances: Object.fromEntries(after.processes.instances),
      peakRssMiB: { worker: rssPeak('tempered-worker'), bridge: rssPeak('tempered-bridge'), agentApi: rssPeak('tempered-agent-api') },
      workflowTasksByWorker: Object.fromEntries(history.tasksByWorker),
      workflowSlots: slotFigures(slotSamples),
      perHost: {
        workflowTasksByWorkflowType: perHostOf(history.workflowTasksByType, n),
        activitiesByType: perHostOf(history.activitiesByType, n),
        localActivitiesByType: perHostOf(history.localActivitiesByType, n),
        historyEventsByType: perHostOf(history.eventsByType, n),
      },
      hostsByWorker: Object.fromEntries(history.hostsByWorker),
      simulator: counters ? { maxPowerOnPerHost: perHostMax('powerOn'), maxMediaInsertsPerHost: perHostMax('mediaInserts') } : undefined,
      agent: agentCounters ? agentFigures(agentCounters, n) : undefined,
    };

    const rows: [string, string][] = [
      ['hosts provisioned', `${provisioned} / ${n} in ${fmt(elapsed)} s (created in ${fmt(createdIn)} s)`],
      ['throughput', `${fmt(figures.hostsPerMinute)} hosts/min`],
      ['create -> provisioned', `p50 ${fmt(figures.latency.p50)} s, p99 ${fmt(figures.latency.p99)} s, max ${fmt(figures.latency.max)} s`],
      ['status lag (transition -> watch)', `p50 ${fmt(figures.statusLag.p50, 3)} s, p99 ${fmt(figures.statusLag.p99, 3)} s, max ${fmt(figures.statusLag.max, 3)} s (${lags.length} transitions)`],
      ['  parts (p50/p99)', Object.entries(lagParts).map(([k, v]) => `${k} ${fmt(percentile(v, 50), 2)}/${fmt(percentile(v, 99), 2)}`).join(', ')],
      ['  bridgeToVisible split (p50/p99)', Object.entries(bridgeSplit).map(([k, v]) => `${k} ${fmt(percentile(v, 50), 2)}/${fmt(percentile(v, 99), 2)} (${v.length})`).join(', ')],
      ['  slowest 2 % (mean)', `${tail.length} transitions, lag ${fmt(figures.statusLagParts.slowest2Percent.lagMean, 2)} s: waitForPublication ${fmt(tailMean(0), 2)}, queuedForBridge ${fmt(tailMean(1), 2)}, bridgeToVisible ${fmt(tailMean(2), 2)}`],
      ...(['budgetWait', 'duration'] as const).map((part): [string, string] => [
        `  bridge requests: ${part === 'budgetWait' ? 'wait for the budget' : 'duration'} (mean/p99)`,
        Object.entries(figures.bridgeRequests[part]).map(([verb, h]) => `${verb} ${h.count}: ${fmt(h.mean, 3)}/${fmt(h.p99, 2)} s`).join(', '),
      ]),
      ['  apiserver write duration (mean/p99)', Object.entries(figures.apiserverWriteSeconds).filter(([, h]) => h.count >= n / 2).map(([k, h]) => `${k.replace(/\/$/, '')} ${fmt(h.mean, 3)}/${fmt(h.p99, 2)} s`).join(', ')],
      ['  apiserver: flow-control wait (mean/p99)', Object.entries(figures.apiserverFlowControlWaitSeconds).map(([k, h]) => `${k} ${h.count}: ${fmt(h.mean, 3)}/${fmt(h.p99, 2)} s`).join(', ') || 'none'],
      ['  apiserver: etcd calls (mean/p99)', Object.entries(figures.apiserverEtcdSeconds).filter(([, h]) => h.count >= n / 2).map(([k, h]) => `${k} ${h.count}: ${fmt(h.mean, 3)}/${fmt(h.p99, 2)} s`).join(', ')],
      ['  by state (p50/p99)', Object.entries(figures.statusLagByState).map(([k, v]) => `${k} ${fmt(v.p50, 2)}/${fmt(v.p99, 2)}`).join(', ')],
      ['CPU-s per host: worker + bridge + agent API + Temporal', `${fmt(figures.engineCpuSecondsPerHost, 3)}`],
      ...[...cpu].sort((a, b) => b[1] - a[1]).map(([name, v]): [string, string] => [`  ${name}${(after.processes.instances.get(name) ?? 1) > 1 ? ` (x${after.processes.instances.get(name)})` : ''}`, fmt(v / n, 3)]),
      ['  machine reference, before / after', `${describeReading(machineBefore)} / ${describeReading(machineAfter)}: CPU ms of a fixed workload, larger is slower`],
      ['  by thread (worker, bridge)', Object.entries(figures.threadCpuSecondsPerHost).map(([k, v]) => `${k.replace('tempered-', '')} ${fmt(v, 3)}`).join(', ')],
      ['peak RSS: worker, bridge, agent API', `${fmt(figures.peakRssMiB.worker, 0)} MiB, ${fmt(figures.peakRssMiB.bridge, 0)} MiB, ${fmt(figures.peakRssMiB.agentApi, 0)} MiB`],
      ['Temporal tasks per host', `${fmt(figures.temporalTasksPerHost)} (${fmt(figures.temporal.workflowTasksPerHost)} workflow, ${fmt(figures.temporal.activityTasksPerHost)} activity, ${fmt(figures.temporal.localActivitiesPerHost)} local activities; ${fmt(figures.temporal.failedAttemptsPerHost, 2)} failed attempts)`],
      ['  Temporal database calls per host', persistenceRow(tasks, n)],
      ['Redfish requests per host', fmt(figures.redfishRequestsPerHost)],
      ['Kubernetes writes per host', `${fmt(figures.kubernetesWritesPerHost)} (${[...writes].filter(([, v]) => v > 0).map(([k, v]) => `${k.replace(/\/$/, '')} ${fmt(v / n)}`).join(', ')})`],
      ['status writes', `${fmt(figures.statusWritesPerHost)} per host; ${fmt(figures.statusWritesPerVisibleChange, 2)} per visible status change; ${fmt(figures.provisioningStatesPerHost)} provisioning states per host`],
      ['workflow-task slots in use (p50/p90/max)', slotRow(figures.workflowSlots)],
      ['workflow tasks by worker', [...history.tasksByWorker].map(([k, v]) => `${k}: ${v}`).join(', ')],
      ['hosts by worker', [...history.hostsByWorker].map(([k, v]) => `${k}: ${v}`).join(', ')],
      ['  workflow tasks per host by workflow', Object.entries(figures.perHost.workflowTasksByWorkflowType).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['  activities per host', Object.entries(figures.perHost.activitiesByType).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['  local activities per host', Object.entries(figures.perHost.localActivitiesByType).map(([k, v]) => `${k} ${v}`).join(', ')],
      ...(figures.agent ? [['deploy agent', `image writes ${figures.agent.imageWrites} (max ${figures.agent.maxImageWritesPerHost} per host), metadata erases ${fmt(figures.agent.metadataErasesPerHost)} per host, ramdisk boots ${fmt(figures.agent.ramdiskBootsPerHost)} per host`] as [string, string]] : []),
      ...(figures.simulator ? [['simulator, max per host', `power on ${figures.simulator.maxPowerOnPerHost}, media inserts ${figures.simulator.maxMediaInsertsPerHost}`] as [string, string]] : []),
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(44)} ${v}`);

    // Standing still: what the provisioned fleet costs, and whether the worker's memory levels off.
    let steady: Awaited<ReturnType<typeof steadyState>> | undefined;
    if (o.steadyMinutes > 0 && provisioned === n) {
      console.log(`steady state: ${n} hosts left alone for ${o.steadyMinutes} min`);
      steady = await steadyState(o.steadyMinutes, { n, engine, stack, readApiserver: () => scrapeApiserver(kube.server, apiTls), redfishRequests, objects });
      const h = steady.perHostHour;
      const steadyRows: [string, string][] = [
        ['steady state', `${fmt(steady.minutes)} min; hosts at the end: ${Object.entries(steady.hostsAtEnd).map(([k, v]) => `${k} ${v}`).join(', ')}`],
        ['  worker RSS first / last / max', `${fmt(steady.worker.rssMiB.first, 0)} / ${fmt(steady.worker.rssMiB.last, 0)} / ${fmt(steady.worker.rssMiB.max, 0)} MiB (peak since start ${fmt(steady.worker.peakRssMiB, 0)} MiB); second-half trend ${fmt(steady.worker.rssSlopeMiBPerHourSecondHalf, 0)} MiB/h`],
        ['  bridge RSS first / last / max', `${fmt(steady.bridge.rssMiB.first, 0)} / ${fmt(steady.bridge.rssMiB.last, 0)} / ${fmt(steady.bridge.rssMiB.max, 0)} MiB`],
        ['  per host and hour', `engine CPU ${fmt(h.engineCpuSeconds, 3)} s; ${fmt(h.workflowTasks, 2)} workflow tasks, ${fmt(h.activityTasks, 2)} activity tasks, ${fmt(h.localActivities ?? NaN, 2)} local activities, ${fmt(h.stickyCacheMisses ?? NaN, 2)} sticky cache misses; ${fmt(h.redfishRequests, 2)} Redfish requests`],
        ['  CPU-s per host and hour', Object.entries(h.cpuSeconds).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(', ')],
        ['  Kubernetes writes per host and hour', Object.entries(h.kubernetesWrites).map(([k, v]) => `${k.replace(/\/$/, '')} ${fmt(v, 2)}`).join(', ') || 'none'],
        ['  BMC calls per host and hour', Object.entries(h.bmcCalls).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ') || 'none'],
      ];
      for (const [k, v] of steadyRows) console.log(`${k.padEnd(44)} ${v}`);
    } else if (o.steadyMinutes > 0) {
      console.log(`steady state skipped: ${provisioned} of ${n} hosts provisioned`);
    }

    const result = {
      benchmark: 'fleet',
      commit: measured,
      date: new Date().toISOString(),
      flags: o,
      loadAverage: { start: load, end: loadavg() },
      machineReference: { before: machineBefore, after: machineAfter },
      provisioningLimit: o.provisioningLimit ?? DEFAULT_PROVISIONING_LIMIT,
      kubeBudget: { qps: o.kubeQps ?? 20, burst: o.kubeBurst ?? 30 },
      // Engine settings given through the environment (the processes inherit it, NODE_OPTIONS too): a run is
      // compared with its like.
      engineEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => (k.startsWith('TEMPERED_') && !k.startsWith('TEMPERED_ENCRYPTION_')) || k === 'NODE_OPTIONS')),
      figures: steady ? { ...figures, steadyState: steady } : figures,
    };
    const resultsDir = join(ROOT, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${result.date.replace(/[:.]/g, '-')}-fleet-${o.temporal}-${o.bmc}${o.image === 'live-iso' ? '' : `-${o.image}`}-${n}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`results: ${file}`);
    if (provisioned < n) process.exitCode = 1;
    return figures;
  } finally {
    stopWatch();
    await engine?.stop();
    await images?.stop();
    await sim?.stop();
    await stack.stop();
  }
}

/**
 * Takes a `seconds`-long Go CPU profile of each Temporal service (its pprof endpoint) into `dir`, and returns
 * the top of each (`go tool pprof -top`, by cumulative time) for the output.
 */
async function profileServer(pprof: Record<string, string>, seconds: number, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const out = await Promise.all(
    Object.entries(pprof).map(async ([name, url]) => {
      try {
        const response = await fetch(`${url}/profile?seconds=${seconds}`, { signal: AbortSignal.timeout((seconds + 180) * 1000) });
        if (!response.ok) return [`  ${name}: pprof answered ${response.status}`];
        const file = join(dir, `${name}.pprof`);
        writeFileSync(file, Buffer.from(await response.arrayBuffer()));
        // Not execFileSync: the watch that times the hosts runs on this event loop meanwhile.
        const { stdout: top } = await promisify(execFile)('go', ['tool', 'pprof', '-top', '-cum', '-nodecount=25', file], { encoding: 'utf8' });
        return [`Go CPU profile of ${name} (${seconds} s after the hosts were created): ${file}`, ...top.split('\n').slice(0, 32).map((l) => `  ${l}`)];
      } catch (error) {
        return [`  ${name}: no profile (${(error as Error).message})`];
      }
    }),
  );
  return out.flat();
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
