/**
 * Tempered on a real multi-process Temporal cluster (stack/temporal-cluster.ts: frontend, history, matching
 * and worker as separate server processes on PostgreSQL), unchanged: two worker processes and two bridge
 * processes (one leads) on the shared apiserver, hosts on simulated BMCs provisioned with a live ISO, and
 * the histories showing both workers ran workflow tasks. Then the history service is killed with SIGKILL
 * and restarted: every host keeps its state and the engine goes on (a power change after the restart).
 *
 * Uses a private cluster, its own namespace, task queues and Lease.
 */
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostWorkflowId } from '../domain/names.ts';
import { startSimulator, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startTemporalCluster } from '../stack/temporal-cluster.ts';
import type { TemporalServer } from '../stack/temporal.ts';
import { parsePrometheus } from '../bench/measure.ts';
import { bmhClient } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = Date.now().toString(36);
const NS = `cluster-${RUN}`;
const HOSTS = 12;
const PASSWORD = `Cluster-${RUN}-pw`;

const hosts = bmhClient(stack.kube.kubeconfig, NS);

let cluster: TemporalServer;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let connection: Connection;
let client: Client;
let stopWatch: (() => void) | undefined;
const names = Array.from({ length: HOSTS }, (_, i) => `host-${i}`);
/** The provisioning states each host showed, in order. */
const seen = new Map<string, string[]>();

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-cluster-'));
  cluster = await startTemporalCluster({ stateDir: join(dir, 'temporal'), progress: (m) => process.stderr.write(`[cluster] ${m}\n`) });
  sim = await startSimulator({ bmcs: { count: HOSTS, profiles: ['dmtf'], password: PASSWORD } });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 1) });
  await hosts.createNamespace();
  stopWatch = await hosts.recordChanges(seen, (h) => h.status?.provisioning?.state);
  engine = await startTestEngine({ ...stack, temporal: cluster }, dir, RUN, NS, {}, { workers: 2, bridges: 2 });
  connection = await Connection.connect({ address: cluster.address });
  client = new Client({ connection, namespace: cluster.namespace });
});

afterAll(async () => {
  stopWatch?.();
  await engine?.stop();
  await connection?.close();
  await images?.stop();
  await sim?.stop();
  await cluster?.stop();
});

const describeHosts = async () => (await hosts.list()).map((h) => `${h.metadata.name}: ${h.status?.provisioning?.state}/${h.status?.operationalStatus}`);

describe('a multi-process Temporal cluster', () => {
  it('runs frontend, history, matching and worker as separate processes, each with its own metrics', async () => {
    const procs = cluster.processes?.() ?? [];
    expect(procs.map((p) => p.name).sort()).toEqual(['postgres', 'temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-worker']);
    expect(new Set(procs.map((p) => p.pid)).size).toBe(procs.length);
    for (const endpoint of cluster.metrics ?? []) {
      const samples = parsePrometheus(await (await fetch(endpoint.url)).text());
      const service = endpoint.name.replace('temporal-', '');
      expect(samples.some((s) => s.labels['service_name'] === service), endpoint.name).toBe(true);
    }
  });

  it(`provisions ${HOSTS} hosts with two workers and two bridges; both workers run workflow tasks`, async () => {
    const bridgeLogs = engine.bridges().map((b) => b.logFile);
    await hosts.secret('bmc', sim.bmcs[0]!.username, PASSWORD);
    const iso = images.url('/live.iso');
    await Promise.all(names.map((name, i) => hosts.create(name, {
      online: true,
      automatedCleaningMode: 'disabled',
      image: { url: iso, format: 'live-iso' },
      bmc: { address: sim.bmcs[i]!.address, credentialsName: 'bmc' },
    })));
    // Read and watched: the watch behind `seen` can trail a list by a moment, so the wait covers both.
    await waitFor('every host provisioned', async () => {
      const all = await hosts.list();
      return all.length === HOSTS && all.every((h) => h.status?.provisioning?.state === 'provisioned' && h.status.operationalStatus === 'OK')
        && names.every((name) => seen.get(name)?.at(-1) === 'provisioned');
    }, { timeoutMs: 300_000, intervalMs: 500, detail: describeHosts });
    for (const [i, name] of names.entries()) {
      // The watch saw the host arrive once and stay: no provisioned → something else → provisioned.
      const shown = seen.get(name) ?? [];
      expect(shown.filter((s) => s === 'provisioned'), `${name} showed ${shown.join(' → ')}`).toHaveLength(1);
      expect(sim.bmcs[i]!.counters().powerOn, name).toBe(1);
      expect(sim.bmcs[i]!.counters().mediaInserts, name).toBe(1);
    }

    // One bridge led the whole time; the other waited.
    const leaders = engine.logs().split('\n').filter((l) => l.includes('"became the leader"'));
    expect(leaders, bridgeLogs.join(', ')).toHaveLength(1);

    // Which worker ran which workflow task, from the histories (host workflows and their children).
    const identities = new Map<string, number>();
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "bmh/${NS}/"` })) {
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      for (const e of history.events ?? []) {
        const identity = e.workflowTaskStartedEventAttributes?.identity;
        if (identity) identities.set(identity, (identities.get(identity) ?? 0) + 1);
      }
    }
    const workerIdentities = engine.workers().map((w) => `${w.proc.pid}@${hostname()}`);
    for (const identity of workerIdentities) expect(identities.get(identity) ?? 0, `workflow tasks run by ${identity}: ${JSON.stringify([...identities])}`).toBeGreaterThan(0);
  });

  it('keeps every host when the history service is killed with SIGKILL and restarted', async () => {
    await cluster.restart({ service: 'history', kill: true });
    for (const name of names) {
      const state = await waitFor(`${name}'s workflow answering after the restart`, async () => {
        const s = await client.workflow.getHandle(hostWorkflowId(NS, name)).query<{ provisioningState: string }>('hostState');
        return s.provisioningState;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      expect(state, name).toBe('provisioned');
    }
    // The engine goes on: a power change after the restart reaches the BMC and the status.
    const name = names[0]!;
    await hosts.patchSpec(name, { online: false });
    await waitFor(`${name} powered off`, async () => (await hosts.get(name)).status?.poweredOn === false, { timeoutMs: 120_000, intervalMs: 250, detail: describeHosts });
    expect(sim.bmcs[0]!.state().power).toBe('Off');
  });
});
