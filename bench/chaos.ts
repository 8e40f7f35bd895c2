/**
 * The chaos run (`npm run chaos`): N simulated hosts provisioning with a live ISO while their BMCs fail a
 * fifth of the requests (500s, dropped connections, and requests carried out whose response is lost), and,
 * at random moments, one of the engine's parts is killed with SIGKILL and restarted: a worker, the bridge that
 * leads, Temporal (the dev server with its SQLite file, or one of the cluster's history services), or the
 * kube-apiserver. Everything runs on a stack of its own (it kills its apiserver and Temporal), on 127.0.0.1,
 * with two workers and two bridges, seeded so a failure repeats, bounded in kills and in time.
 *
 * The verdict: every host reaches `provisioned` and stays OK; the simulator's counters show one power-on
 * and one media insert per host (no side effect repeated by a retried or re-run step); no status lost: every
 * provisioning state a host's workflow published (its `publishStatus` inputs) was written, in order, and no
 * host went back to a state it had left; the last status matches the workflow's state. What was written is
 * read from etcd's own watch (every revision of every host): an apiserver watch cannot be the record here,
 * since a restarted apiserver's watch cache starts at etcd's current revision, so a watch resumed across the
 * restart gets 410 Gone and lists again, and states written just before the kill are not delivered to it. It prints a table of what was killed when and what
 * it cost: the time until the process was ready again, and until hosts made progress again.
 *
 *   npm run chaos -- [--hosts 100] [--kills 20] [--temporal dev|cluster] [--fault-rate 0.2] [--seed 1]
 *                    [--timeout-minutes 30]
 *
 * Each run's report (kills, verdict, counters) is appended with the commit to `bench/results/chaos.jsonl`.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { publicationsIn, statesToShow } from '../lib/history-publications.ts';
import { pooledApiClient } from '../lib/kube-client.ts';
import { Client, Connection, isGrpcDeadlineError } from '@temporalio/client';
import type { BmcCounters, BmcSpec } from '../sim/index.ts';
import { hostWorkflowId } from '../domain/names.ts';
import { startEngine, type Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startStack, type Stack } from '../stack/index.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { startSimulatorProcess, type SimulatorProcess } from '../stack/simulator.ts';
import { watchHosts } from '../stack/watch-hosts.ts';
import { seededRandom } from './fleet.ts';
import { recordResult } from './results.ts';

/** What can be killed. */
export const KILL_TARGETS = ['worker', 'bridge-leader', 'temporal', 'kube-apiserver'] as const;
export type KillTarget = (typeof KILL_TARGETS)[number];

export interface ChaosOptions {
  hosts: number;
  kills: number;
  temporal: 'dev' | 'cluster';
  /** Fraction of BMC requests that fail (split over errors, dropped connections and lost responses). */
  faultRate: number;
  seed: number;
  timeoutMinutes: number;
  /**
   * Where the stack keeps its state; default a new temporary directory, removed at the end unless
   * TEMPERED_KEEP_STATE is set. A directory given is the caller's and stays.
   */
  stateDir?: string;
  progress?: (message: string) => void;
}

/** One kill and what it cost. */
export interface KillRecord {
  n: number;
  /** Seconds since the hosts were created. */
  at: number;
  target: KillTarget;
  /** Which process: `worker pid 123`, `history-2`, ... */
  what: string;
  /** Seconds from the kill until the restarted process was ready. */
  ready: number;
  /** Seconds from the kill until a host's status changed again; undefined when every host was already done. */
  progress: number | undefined;
  /** Hosts provisioned when it was killed. */
  done: number;
}

export interface ChaosReport {
  options: ChaosOptions;
  ok: boolean;
  problems: string[];
  kills: KillRecord[];
  seconds: number;
  provisioned: number;
  faultsInjected: number;
  requests: number;
  /** The most power-ons, media inserts and accepted Reset On actions any one host saw. */
  perHostMax: { powerOn: number; mediaInserts: number; resetOn: number };
  /** Provisioning states checked against the histories. */
  statesChecked: number;
}

const NS = 'chaos';
const BMH = { group: 'metal3.io', version: 'v1alpha1', namespace: NS, plural: 'baremetalhosts' };
const LEASE = 'tempered-bridge';
/** registering, inspecting, preparing, available, provisioning, provisioned. */
const PIPELINE_STATES = 6;

export interface Bmh {
  metadata: { name: string; resourceVersion?: string };
  status?: { provisioning?: { state?: string }; operationalStatus?: string; poweredOn?: boolean };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`chaos: ${what} not reached within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(200);
  }
}

/**
 * Runs the chaos scenario and returns its verdict; everything it started is stopped before it returns, and then
 * the state directory it made removed (or kept, and said where).
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const say = o.progress ?? (() => {});
  const random = seededRandom(o.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const ownDir = o.stateDir === undefined;
  const dir = o.stateDir ?? mkdtempSync(join(tmpdir(), 'tempered-chaos-'));
  mkdirSync(dir, { recursive: true });
  say(`state in ${dir}`);
  const deadline = Date.now() + o.timeoutMinutes * 60_000;

  let stack: Stack | undefined;
  let sim: SimulatorProcess | undefined;
  let images: ImageServer | undefined;
  let engine: Engine | undefined;
  let stopWatch: (() => void) | undefined;
  try {
    stack = await startStack({
      stateDir: dir,
      temporal: o.temporal === 'cluster' ? { kind: 'cluster', historyServices: 2, shards: 8 } : { kind: 'dev' },
      sushy: false,
      ipmi: false,
      progress: (m) => say(`[stack] ${m}`),
    });
    const { temporal, kube } = stack;
    if (!temporal || !kube) throw new Error('chaos: the stack came up incomplete');
    // A fifth of the requests fail: half as 500s, a quarter as connections dropped before the BMC acts, a
    // quarter as requests carried out whose response is lost (the hard case for exactly-once).
    const specs: BmcSpec[] = Array.from({ length: o.hosts }, (_, i) => ({
      id: `bmc-${String(i + 1).padStart(4, '0')}`,
      profile: 'dmtf',
      uniqueIdentity: true,
      password: `chaos-${o.seed}-${i}`,
      faults: { errorRate: o.faultRate / 2, resetRate: o.faultRate / 4, lostResponseRate: o.faultRate / 4, seed: o.seed * 100_003 + i },
    }));
    mkdirSync(join(dir, 'sim'), { recursive: true });
    sim = await startSimulatorProcess({ stateDir: join(dir, 'sim'), specs });
    images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 5) });
    engine = await startEngine({
      stateDir: join(dir, 'engine'),
      temporal,
      kubeconfig: kube.kubeconfig,
      workers: 2,
      bridges: 2,
      leaseName: LEASE,
      // A dead leader's Lease runs out in 8 s rather than 15: the run measures recovery, not the default.
      env: { TEMPERED_LEASE_DURATION_SECONDS: '8', TEMPERED_LEASE_RENEW_DEADLINE_SECONDS: '5', TEMPERED_LEASE_RETRY_PERIOD_SECONDS: '1' },
    });

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kube.kubeconfig);
    const core = pooledApiClient(kc, k8s.CoreV1Api);
    const objects = pooledApiClient(kc, k8s.CustomObjectsApi);
    const coordination = pooledApiClient(kc, k8s.CoordinationV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });

    const names = specs.map((_, i) => `host-${i}`);
    const seen = new Map<string, string[]>(names.map((n) => [n, []]));
    const last = new Map<string, Bmh>();
    const changes: number[] = [];
    stopWatch = await watchHosts<Bmh>(kc, NS, (type, obj) => {
      if (type === 'DELETED') return;
      last.set(obj.metadata.name, obj);
      const state = obj.status?.provisioning?.state;
      const list = seen.get(obj.metadata.name);
      if (state === undefined || !list) return;
      if (list.at(-1) !== state) {
        list.push(state);
        changes.push(Date.now());
      }
    });
    const done = () => names.filter((n) => last.get(n)?.status?.provisioning?.state === 'provisioned').length;
    // Every provisioning state each host's object had in etcd, in revision order (see the header).
    const written = new Map<string, string[]>(names.map((n) => [n, []]));
    const stopEtcdWatch = await watchEtcd(kube.etcd, `/registry/metal3.io/baremetalhosts/${NS}/`, (key, value) => {
      const list = written.get(key.slice(key.lastIndexOf('/') + 1));
      const state = (JSON.parse(value) as Bmh).status?.provisioning?.state;
      if (list && state !== undefined && list.at(-1) !== state) list.push(state);
    });
    const previousStop = stopWatch;
    stopWatch = () => (previousStop?.(), stopEtcdWatch());

    const bmcs = sim.bmcs;
    const iso = images.url('/live.iso');
    await Promise.all(names.map(async (name, i) => {
      const b = bmcs[i];
      if (!b) throw new Error(`chaos: no BMC for ${name}`);
      await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: `${name}-bmc` }, stringData: { username: b.username, password: b.password } } });
      await objects.createNamespacedCustomObject({
        ...BMH,
        body: { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name }, spec: { online: true, automatedCleaningMode: 'disabled', image: { url: iso, format: 'live-iso' }, bmc: { address: b.address, credentialsName: `${name}-bmc` } } },
      });
    }));
    const t0 = Date.now();
    say(`${o.hosts} hosts created; ${o.kills} kills to come (seed ${o.seed}, ${Math.round(o.faultRate * 100)} % BMC faults, Temporal ${o.temporal})`);

    const leader = async () => (await coordination.readNamespacedLease({ namespace: 'default', name: LEASE })).spec?.holderIdentity;
    const kill = async (target: KillTarget): Promise<string> => {
      if (!engine || !temporal || !kube) throw new Error('chaos: nothing to kill');
      switch (target) {
        case 'worker': {
          const victim = pick(engine.workers().filter((w) => w.proc.isRunning()));
          await victim.proc.kill();
          await engine.startWorker();
          return `worker pid ${victim.proc.pid}`;
        }
        case 'bridge-leader': {
          const holder = await leader();
          const victim = engine.bridges().find((b) => b.identity === holder && b.proc.isRunning());
          if (!victim) throw new Error(`chaos: the Lease names ${holder}, which is not a running bridge`);
          await victim.proc.kill();
          await engine.startBridge({ waitForLeadership: false });
          const live = new Set(engine.bridges().filter((b) => b.proc.isRunning()).map((b) => b.identity));
          await until('a new bridge leading', async () => {
            const now = await leader();
            return now !== undefined && now !== holder && live.has(now);
          }, 120_000);
          return `bridge ${holder} (pid ${victim.proc.pid})`;
        }
        case 'temporal': {
          if (temporal.kind === 'cluster') {
            const service = pick((temporal.services ?? []).filter((s) => s.startsWith('history')));
            await temporal.restart({ service, kill: true });
            return `Temporal ${service}`;
          }
          await temporal.restart({ kill: true });
          return 'Temporal dev server';
        }
        case 'kube-apiserver':
          await kube.restartApiserver({ kill: true });
          return 'kube-apiserver';
      }
    };

    // Every kind is killed once first (in a seeded order), then kinds are drawn at random.
    const order = [...KILL_TARGETS].map((t) => ({ t, key: random() })).sort((a, b) => a.key - b.key).map((x) => x.t);
    const kills: KillRecord[] = [];
    // Kills land while hosts provision: kill n waits for a random point of the n-th stretch of the first 90 %
    // of the state changes the fleet goes through (six states per host), so none is wasted on a finished fleet.
    const progress = () => changes.length / (o.hosts * PIPELINE_STATES);
    for (let n = 1; n <= o.kills && Date.now() < deadline; n++) {
      const when = (0.9 * (n - 1 + random())) / o.kills;
      while (progress() < when && done() < o.hosts && Date.now() < deadline) await sleep(100);
      const target = order[n - 1] ?? pick(KILL_TARGETS);
      const at = Date.now();
      const doneAtKill = done();
      const what = await kill(target);
      const ready = (Date.now() - at) / 1000;
      kills.push({ n, at: (at - t0) / 1000, target, what, ready, progress: undefined, done: doneAtKill });
      say(`kill ${n}/${o.kills} at ${((at - t0) / 1000).toFixed(1)} s: ${what}, ready again after ${ready.toFixed(1)} s (${doneAtKill}/${o.hosts} provisioned)`);
    }

    await until(`every host provisioned (${done()}/${o.hosts} so far)`, async () => done() === o.hosts, Math.max(60_000, deadline - Date.now()));
    const seconds = (Date.now() - t0) / 1000;
    for (const k of kills) {
      const killedAt = t0 + k.at * 1000;
      const next = changes.find((c) => c > killedAt + k.ready * 1000);
      k.progress = k.done === o.hosts || next === undefined ? undefined : (next - killedAt) / 1000;
    }

    // What the workflows published and the state they are in, for the verdict.
    const recorded = new Map<string, string[]>();
    const workflowStates = new Map<string, string>();
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = new Client({ connection, namespace: temporal.namespace });
      for (const name of names) {
        const states: string[] = [];
        const runs: { runId: string; start: number }[] = [];
        for await (const wf of client.workflow.list({ query: `WorkflowId = "${hostWorkflowId(NS, name)}"` })) runs.push({ runId: wf.runId, start: wf.startTime.getTime() });
        for (const run of runs.sort((a, b) => a.start - b.start)) {
          const history = await client.workflow.getHandle(hostWorkflowId(NS, name), run.runId).fetchHistory();
          states.push(...statesToShow(await publicationsIn(history.events ?? [])));
        }
        recorded.set(name, states);
        // A query waits for a worker to answer it; one that timed out (a worker killed moments before can still
        // hold the workflow's sticky queue on the server) is asked again, three times at most, and said.
        let state: { provisioningState: string } | undefined;
        for (let attempt = 1; !state; attempt++) {
          try {
            state = await client.workflow.getHandle(hostWorkflowId(NS, name)).query<{ provisioningState: string }>('hostState');
          } catch (err) {
            if (!isGrpcDeadlineError(err) || attempt >= 3) throw err;
            say(`the query of ${name}'s workflow timed out (attempt ${attempt}): asking again`);
          }
        }
        workflowStates.set(name, state.provisioningState);
      }
    } finally {
      await connection.close();
    }
    const counters = await sim.counters();
    const verdict = judgeChaos({
      hosts: names.map((name, i) => ({ name, bmc: bmcs[i]?.id ?? '' })),
      statuses: last,
      seen: written,
      counters,
      recorded,
      workflowStates,
    });
    let faultsInjected = 0;
    let requests = 0;
    for (const c of Object.values(counters)) {
      faultsInjected += c.faults.errors + c.faults.resets + c.faults.lostResponses;
      requests += Object.values(c.requests).reduce((a, v) => a + v, 0);
    }
    const { problems, perHostMax, statesChecked } = verdict;

    return { options: o, ok: problems.length === 0, problems, kills, seconds, provisioned: done(), faultsInjected, requests, perHostMax, statesChecked };
  } finally {
    stopWatch?.();
    await engine?.stop();
    await images?.stop();
    await sim?.stop();
    await stack?.stop();
    if (ownDir) say((await endStateDir(dir)).line);
  }
}

/** What the verdict looks at, gathered after the run. */
export interface ChaosObservations {
  hosts: { name: string; bmc: string }[];
  /** The last status each host showed through the watch. */
  statuses: Map<string, Bmh>;
  /** The provisioning states each host's object had in etcd, in revision order. */
  seen: Map<string, string[]>;
  /** The simulator's side-effect counters by BMC id. */
  counters: Record<string, BmcCounters>;
  /**
   * The provisioning states each host's status had to show, in history order (all runs): where the host stood at
   * each of its workflow's publications (`statesToShow`). The states passed on the way are told by Events.
   */
  recorded: Map<string, string[]>;
  /** The provisioning state each host's workflow reports now. */
  workflowStates: Map<string, string>;
}

/**
 * The chaos run's verdict: every host provisioned, OK and powered on; one power-on and one media insert per
 * host; every state its workflow published as where the host stood written, in order, and none gone back to;
 * the last status the workflow's.
 */
export function judgeChaos(o: ChaosObservations): { problems: string[]; perHostMax: ChaosReport['perHostMax']; statesChecked: number } {
  const problems: string[] = [];
  const perHostMax = { powerOn: 0, mediaInserts: 0, resetOn: 0 };
  let statesChecked = 0;
  for (const { name, bmc } of o.hosts) {
    const s = o.statuses.get(name)?.status;
    if (s?.provisioning?.state !== 'provisioned' || s.operationalStatus !== 'OK' || s.poweredOn !== true) {
      problems.push(`${name} ended ${s?.provisioning?.state}/${s?.operationalStatus}, poweredOn ${s?.poweredOn}`);
    }
    const c = o.counters[bmc];
    if (!c) problems.push(`${name}: no counters for BMC ${bmc}`);
    else {
      perHostMax.powerOn = Math.max(perHostMax.powerOn, c.powerOn);
      perHostMax.mediaInserts = Math.max(perHostMax.mediaInserts, c.mediaInserts);
      perHostMax.resetOn = Math.max(perHostMax.resetOn, c.resetActions['On'] ?? 0);
      if (c.powerOn !== 1) problems.push(`${name} was powered on ${c.powerOn} times`);
      if (c.mediaInserts !== 1) problems.push(`${name} had its media inserted ${c.mediaInserts} times`);
    }
    const recorded = (o.recorded.get(name) ?? []).filter((v, i, all) => v !== 'none' && all[i - 1] !== v);
    const observed = o.seen.get(name) ?? [];
    if (recorded.length === 0) problems.push(`${name}: its workflow recorded no provisioning state`);
    statesChecked += recorded.length;
    let at = 0;
    for (const state of recorded) {
      const found = observed.indexOf(state, at);
      if (found < 0) {
        problems.push(`${name}: its workflow recorded '${state}' but it was never written (written: ${observed.join(' > ')}; recorded: ${recorded.join(' > ')})`);
        break;
      }
      at = found + 1;
    }
    const back = observed.findIndex((state, i) => observed.indexOf(state) < i);
    if (back >= 0) problems.push(`${name} went back to '${observed[back]}' (written: ${observed.join(' > ')})`);
    const workflowState = o.workflowStates.get(name);
    if (workflowState !== s?.provisioning?.state) problems.push(`${name}: the workflow is in '${workflowState}', its status shows '${s?.provisioning?.state}'`);
  }
  return { problems, perHostMax, statesChecked };
}

/**
 * Watches the keys under `prefix` in etcd itself (its JSON gateway, `/v3/watch`), from now on, calling `onPut`
 * with each new value in revision order. Resolves once the watch is created; call the result to stop.
 */
async function watchEtcd(etcdUrl: string, prefix: string, onPut: (key: string, value: string) => void): Promise<() => void> {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  // The range end of a prefix: the prefix with its last byte incremented.
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const abort = new AbortController();
  const response = await fetch(`${etcdUrl}/v3/watch`, {
    method: 'POST',
    body: JSON.stringify({ create_request: { key: b64(prefix), range_end: b64(end) } }),
    signal: abort.signal,
  });
  if (!response.ok || !response.body) throw new Error(`chaos: etcd watch answered ${response.status}`);
  const reader = response.body.getReader();
  let created: () => void = () => {};
  const ready = new Promise<void>((resolve) => (created = resolve));
  void (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const message = JSON.parse(line) as { result?: { created?: boolean; events?: { type?: string; kv?: { key?: string; value?: string } }[] } };
        if (message.result?.created) created();
        for (const event of message.result?.events ?? []) {
          if (event.type === 'DELETE' || !event.kv?.key || !event.kv.value) continue;
          onPut(Buffer.from(event.kv.key, 'base64').toString('utf8'), Buffer.from(event.kv.value, 'base64').toString('utf8'));
        }
      }
    }
  })();
  await ready;
  return () => abort.abort();
}

/** The report as a table of kills and a verdict. */
export function formatChaosReport(r: ChaosReport): string {
  const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));
  const lines = [
    `chaos: ${r.options.hosts} hosts, Temporal ${r.options.temporal}, ${Math.round(r.options.faultRate * 100)} % BMC faults (${r.faultsInjected} injected in ${r.requests} requests), seed ${r.options.seed}`,
    '',
    ' #   at (s)  killed                                  ready (s)  progress (s)  provisioned then',
    ...r.kills.map((k) => `${String(k.n).padStart(2)}  ${f(k.at).padStart(7)}  ${k.what.padEnd(40)}  ${f(k.ready).padStart(9)}  ${f(k.progress).padStart(12)}  ${k.done}/${r.options.hosts}`),
    '',
    `${r.provisioned}/${r.options.hosts} hosts provisioned in ${r.seconds.toFixed(1)} s; per host at most ${r.perHostMax.powerOn} power-on, ${r.perHostMax.mediaInserts} media insert, ${r.perHostMax.resetOn} Reset On accepted; ${r.statesChecked} recorded states checked against what etcd holds`,
    r.ok ? 'verdict: every host reached its goal, no side effect repeated, no status lost' : `verdict: FAILED\n  ${r.problems.join('\n  ')}`,
  ];
  return lines.join('\n');
}

function parse(args: string[]): ChaosOptions {
  const { values } = parseArgs({
    args,
    options: {
      hosts: { type: 'string', default: '100' },
      kills: { type: 'string', default: '20' },
      temporal: { type: 'string', default: 'dev' },
      'fault-rate': { type: 'string', default: '0.2' },
      seed: { type: 'string', default: '1' },
      'timeout-minutes': { type: 'string', default: '30' },
    },
  });
  const whole = (name: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got '${v}'`);
    return n;
  };
  const rate = Number(values['fault-rate']);
  if (!(rate >= 0 && rate <= 0.5)) throw new Error(`--fault-rate must be from 0 to 0.5, got '${values['fault-rate']}'`);
  if (values.temporal !== 'dev' && values.temporal !== 'cluster') throw new Error(`--temporal must be dev or cluster, got '${values.temporal}'`);
  return {
    hosts: whole('hosts', values.hosts, 1, 1000),
    kills: whole('kills', values.kills, 0, 200),
    temporal: values.temporal,
    faultRate: rate,
    seed: whole('seed', values.seed, 0, 2 ** 31),
    timeoutMinutes: whole('timeout-minutes', values['timeout-minutes'], 1, 240),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = parse(process.argv.slice(2));
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    const report = await runChaos({ ...options, progress: (m) => console.log(m) });
    console.log(`\n${formatChaosReport(report)}`);
    // Kept with the commit beside the fleet figures, so runs can be compared across commits.
    const { progress: _progress, stateDir: _stateDir, ...flags } = report.options;
    console.log(`results: ${recordResult('chaos', { ...report, options: flags })}`);
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    clearInterval(keepAlive);
  }
}
