/**
 * BMO's provisioning limit end to end: Tempered's real worker and bridge processes with PROVISIONING_LIMIT=2
 * (hosts booting virtual media counted too), the real Temporal server and apiserver, and five BareMetalHosts
 * on simulated BMCs created at once, provisioned with a live ISO, then deleted at once. A watch records every
 * status the hosts show, in the apiserver's order: never more than two hosts inspecting, provisioning or
 * deprovisioning, the others `delayed` with the reason, and every host finishes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPACITY_LIMITED_STATES } from '../domain/host-state.ts';
import { startSimulator, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { bmhClient } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { waitFor } from './wait.ts';
import { signalInputs } from './workflow-waits.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = Date.now().toString(36);
const NS = `limit-${RUN}`;
const LIMIT = 2;
const HOSTS = 5;
const PASSWORD = `Limit-${RUN}-pw`;

const hosts = bmhClient(stack.kube.kubeconfig, NS);

let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let connection: Connection;
let client: Client;
let stopWatch: (() => void) | undefined;
/** Every status the hosts showed, in the order the apiserver wrote them. */
const timeline: { name: string; state: string; delayed: boolean; reason?: string }[] = [];
const gone = new Set<string>();

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-limit-'));
  sim = await startSimulator({ bmcs: { count: HOSTS, profiles: ['dmtf'], password: PASSWORD } });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 1) });
  await hosts.createNamespace();
  stopWatch = await hosts.watch((type, obj) => {
    if (type === 'DELETED') gone.add(obj.metadata.name);
    const state = obj.status?.provisioning?.state;
    if (state === undefined || type === 'DELETED') return;
    const delayed = obj.status?.operationalStatus === 'delayed';
    const reason = obj.status?.conditions?.find((c) => c.type === 'Progressing')?.message;
    timeline.push({ name: obj.metadata.name, state, delayed, ...(delayed ? { reason } : {}) });
  });
  engine = await startTestEngine(stack, dir, RUN, NS, { PROVISIONING_LIMIT: String(LIMIT), TEMPERED_PROVISIONING_LIMIT_VIRTUAL_MEDIA: 'count' });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace });
});

afterAll(async () => {
  stopWatch?.();
  await engine?.stop();
  await connection?.close();
  await images?.stop();
  await sim?.stop();
});

const names = Array.from({ length: HOSTS }, (_, i) => `host-${i}`);

/** The most hosts the timeline ever shows in the provisioning-heavy states at once (not delayed). */
function mostBusy(): number {
  const now = new Map<string, { state: string; delayed: boolean }>();
  let most = 0;
  for (const entry of timeline) {
    now.set(entry.name, entry);
    const busy = [...now.values()].filter((h) => !h.delayed && (CAPACITY_LIMITED_STATES as readonly string[]).includes(h.state)).length;
    most = Math.max(most, busy);
  }
  return most;
}

describe('the provisioning limit', () => {
  it(`keeps at most ${LIMIT} of ${HOSTS} hosts in the heavy states; the others show delayed, and all finish`, async ({ annotate }) => {
    await hosts.secret('bmc', sim.bmcs[0]!.username, PASSWORD);
    const iso = images.url('/live.iso');
    await Promise.all(
      names.map((name, i) =>
        hosts.create(name, {
          online: true,
          automatedCleaningMode: 'disabled',
          image: { url: iso, format: 'live-iso' },
          bmc: { address: sim.bmcs[i]!.address, credentialsName: 'bmc' },
        }),
      ),
    );
    const all = await waitFor('every host provisioned', async () => {
      const listed = await hosts.list();
      return listed.length === HOSTS && listed.every((h) => h.status?.provisioning?.state === 'provisioned' && h.status.operationalStatus === 'OK') && listed;
    }, { timeoutMs: 90_000, intervalMs: 250, detail: async () => (await hosts.list()).map((h) => `${h.metadata.name}: ${h.status?.provisioning?.state}/${h.status?.operationalStatus}`) });
    expect(all).toHaveLength(HOSTS);
    expect(mostBusy()).toBe(LIMIT);
    const delayed = timeline.filter((t) => t.delayed);
    expect(new Set(delayed.map((t) => t.name)).size).toBeGreaterThanOrEqual(HOSTS - LIMIT);
    expect(delayed[0]?.reason).toMatch(new RegExp(`${LIMIT} of ${LIMIT} hosts are inspecting, provisioning or deprovisioning \\(PROVISIONING_LIMIT=${LIMIT}\\)`));
    for (const name of names) expect(sim.bmcs[names.indexOf(name)]!.counters().powerOn, name).toBe(1);

    // Deleting them all at once: deprovisioning is limited too.
    await Promise.all(names.map((name) => hosts.delete(name)));
    await waitFor('every host gone', () => names.every((n) => gone.has(n)), { timeoutMs: 90_000, intervalMs: 250, detail: () => timeline.slice(-10) });
    expect(mostBusy()).toBe(LIMIT);
    expect(timeline.filter((t) => t.state === 'provisioned' && t.delayed).length).toBeGreaterThan(0);

    // What a delay costs: the host's workflow tasks and activities, against the number of slots offered.
    const costs: string[] = [];
    for (const name of names) {
      const history = await client.workflow.getHandle(`bmh/${NS}/${name}`).fetchHistory();
      const count = (attribute: string) => (history.events ?? []).filter((e) => (e as Record<string, unknown>)[attribute]).length;
      const offers = (await signalInputs(history, 'offerSlot')).length;
      costs.push(`${name}: ${count('workflowTaskScheduledEventAttributes')} workflow tasks, ${count('activityTaskScheduledEventAttributes')} activities, ${offers} slots offered`);
    }
    await annotate(costs.join('; '));
    // Both waits fit in the test's time, so a stuck host fails with what every host showed.
  }, 200_000);
});
