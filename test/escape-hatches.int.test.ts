/**
 * Beyond Metal3, on the real stack with the real engine: deleting hosts whose BMC is gone (BMO #1666), and
 * replacing a host's BMC in place (BMO #1458).
 *
 * Gone: a sushy-tools of this test's own serves two hosts, one available and powered on, one provisioned; then
 * it is stopped and both are deleted. Each gives up a step after the one attempt that found the BMC gone (not
 * three, with no backoff between), the finalizer goes, and a Warning Event says what was skipped; the bridge
 * counts it as BMO's `metal3_delete_without_*` metrics.
 *
 * Replaced: a provisioned host on a simulated BMC gets a new address with `tempered.dev/replace-bmc`: first one
 * whose system has another serial (refused: BmcIdentityMismatch, the host stays provisioned), then one of the
 * same machine (registered in place: still provisioned, nothing provisioned again, the annotation consumed,
 * and the next power change goes to the new BMC).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../deploy/promql.ts';
import { startSimulator, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import { bmhClient } from './bmh.ts';
import { engineDataConverter, startTestEngine } from './engine-fixture.ts';
import { unique } from './support.ts';
import { waitFor } from './wait.ts';
import { localActivityCalls } from './workflow-waits.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = unique('hatch').slice(6);
const NS = `hatch-${RUN}`;
const PASSWORD = `Hatch-${RUN}-pw`;
const hosts = bmhClient(stack.kube.kubeconfig, NS);

let sushy: SushyEmulator;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-hatch-'));
  sushy = await startSushy({ stateDir: join(dir, 'sushy'), systems: 2, password: PASSWORD, progress: () => {} });
  sim = await startSimulator({
    bmcs: [
      { profile: 'dmtf', password: PASSWORD, id: 'old' },
      { profile: 'dmtf', password: PASSWORD, id: 'new' },
      // Another machine: another model, another serial number.
      { profile: 'ilo5', password: PASSWORD, id: 'other' },
    ],
  });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 9) });
  await hosts.createNamespace();
  engine = await startTestEngine(stack, dir, RUN, NS, {}, { encryption: 'generate' });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace, dataConverter: engineDataConverter(engine) });
});

afterAll(async () => {
  await engine?.stop();
  await connection?.close();
  await images?.stop();
  await sim?.stop();
  await sushy?.stop();
});

const sushyAddress = (i: number) => `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${sushy.systems[i]?.path}`;

async function reasons(name: string): Promise<{ reason: string; message: string }[]> {
  const events = await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${name}` });
  return events.items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
}

/**
 * The BMC calls host `name`'s workflow made itself (patch inline-bmc-operations: a power change, a deprovision
 * without cleaning) from event `from` of its history on: one entry per call, its retries (each after a backoff on
 * a server timer, one marker each) counted in it.
 */
async function callsSince(name: string, from: number): Promise<{ type: string; attempts: number }[]> {
  const calls: { type: string; attempts: number }[] = [];
  for (const c of localActivityCalls(await client.workflow.getHandle(`bmh/${NS}/${name}`).fetchHistory())) {
    if (c.index < from || c.type === 'readPower') continue; // the steady state's power check is no operation
    const last = calls.at(-1);
    if (c.attempt > 1 && last?.type === c.type) last.attempts = c.attempt;
    else calls.push({ type: c.type, attempts: c.attempt });
  }
  return calls;
}

const historyLength = async (name: string) => (await client.workflow.getHandle(`bmh/${NS}/${name}`).fetchHistory()).events?.length ?? 0;

describe('a host whose BMC is gone can be deleted', () => {
  it('powered on (power-off skipped), provisioned (deprovisioning, power-off skipped): one attempt each', async () => {
    await hosts.secret('bmc', sushy.username, PASSWORD);
    // These BMCs boot no deploy agent: automated cleaning is off (the agent's tests run it).
    await hosts.create('on', {
      automatedCleaningMode: 'disabled',
      online: true,
      bootMACAddress: sushy.systems[0]?.mac,
      bmc: { address: sushyAddress(0), credentialsName: 'bmc' },
    });
    const iso = images.url('/live.iso');
    await hosts.create('prov', {
      automatedCleaningMode: 'disabled',
      online: true,
      image: { url: iso, format: 'live-iso' },
      bootMACAddress: sushy.systems[1]?.mac,
      bmc: { address: sushyAddress(1), credentialsName: 'bmc' },
    });
    await hosts.inState('on', 'available', (h) => h.status?.poweredOn === true);
    await hosts.inState('prov', 'provisioned', (h) => h.status?.poweredOn === true);
    const [onFrom, provFrom] = [await historyLength('on'), await historyLength('prov')];

    await sushy.stop(); // the BMCs are gone
    const started = Date.now();
    await Promise.all([hosts.delete('on'), hosts.delete('prov')]);
    await Promise.all([hosts.gone('on', 180_000), hosts.gone('prov', 180_000)]);
    const seconds = (Date.now() - started) / 1000;

    // One power-off attempt for 'on' (BMO: three, each after the last's backoff); the Warning says why.
    expect((await callsSince('on', onFrom)).map((c) => c.type)).toEqual(['setPower']);
    // Events go out after the status write, in the background: wait for them.
    const eventually = (name: string, reason: string) =>
      waitFor(`${name} ${reason} Event`, async () => (await reasons(name)).find((e) => e.reason === reason), { timeoutMs: 30_000, intervalMs: 200 });
    const skipped = await eventually('on', 'PowerOffSkipped');
    expect(skipped?.message).toMatch(
      /Deleting without powering off: the machine may still be running \(last error: .*127\.0\.0\.1/,
    );
    // 'prov': one deprovision attempt (its first call, the eject, failed), then one power-off attempt, then released.
    expect((await callsSince('prov', provFrom)).map((c) => c.type)).toEqual(['ejectVirtualMedia', 'setPower']);
    await Promise.all([eventually('prov', 'DeprovisioningSkipped'), eventually('prov', 'PowerOffSkipped')]);
    const prov = (await reasons('prov')).map((e) => e.reason);
    expect(prov).toEqual(expect.arrayContaining(['DeprovisioningSkipped', 'PowerOffSkipped']));
    // The bridge counts what BMO counts for this.
    const bridge = parseExposition(await (await fetch(`${engine.bridges()[0]?.metricsUrl()}/metrics`)).text());
    expect(bridge.get('metal3_delete_without_powering_off_total')?.samples[0]?.value).toBe(2);
    expect(bridge.get('metal3_delete_without_deprovisioning_total')?.samples[0]?.value).toBe(1);
    await expect.soft(seconds, 'deleting both hosts with their BMCs gone').toBeLessThan(150);
  });
});

describe('a BMC replaced in place (tempered.dev/replace-bmc)', () => {
  it('refuses another machine\'s BMC, registers the same machine\'s new BMC, the host stays provisioned', async () => {
    const [old, replacement, other] = [sim.bmc('old'), sim.bmc('new'), sim.bmc('other')];
    await hosts.secret('sim', old.username, PASSWORD);
    const iso = images.url('/live.iso');
    await hosts.create('moved', {
      automatedCleaningMode: 'disabled',
      online: true,
      image: { url: iso, format: 'live-iso' },
      bmc: { address: old.address, credentialsName: 'sim' },
    });
    await hosts.inState('moved', 'provisioned', (h) => h.status?.poweredOn === true);
    const fetched = images.gets('/live.iso');

    // Another machine's BMC: refused with a precise error, the host stays provisioned.
    await hosts.patch('moved', {
      metadata: { annotations: { 'tempered.dev/replace-bmc': 'BMC board swapped' } },
      spec: { bmc: { address: other.address, credentialsName: 'sim' } },
    });
    const refused = await hosts.inState('moved', 'provisioned', (h) => h.status?.operationalStatus === 'error');
    expect(refused.status?.errorType).toBe('provisioned registration error');
    expect(refused.status?.errorMessage).toMatch(
      /manages the machine with serial number .*, but this host was inspected as 437XR1138R2/,
    );

    // The same machine's new BMC: registered in place, nothing provisioned again, the annotation consumed.
    replacement.resetCounters();
    await hosts.patch('moved', { spec: { bmc: { address: replacement.address, credentialsName: 'sim' } } });
    // Its simulated machine starts off: the host powers it on as spec.online asks before it is used below.
    const replaced = await hosts.inState(
      'moved',
      'provisioned',
      (h) => h.status?.operationalStatus === 'OK' && h.status?.poweredOn === true,
    );
    expect(replaced.status?.errorType).toBeUndefined();
    await waitFor(
      'the replacement annotation consumed',
      async () => {
        const host = await hosts.get('moved');
        return !('tempered.dev/replace-bmc' in (host.metadata.annotations ?? {}));
      },
      { timeoutMs: 60_000 },
    );
    // Events follow the status write, best effort: wait for it.
    const event = await waitFor('the BmcReplaced Event', async () =>
      (await reasons('moved')).find((e) => e.reason === 'BmcReplaced'),
    );
    expect(event.message).toContain(replacement.address);
    expect(images.gets('/live.iso')).toBe(fetched);
    // Nothing provisioned again through the new BMC (its simulated machine starts off, so it is powered on
    // as spec.online asks: the one side effect a replacement may have).
    expect(replacement.counters().mediaInserts).toBe(0);

    // The host is managed through the new BMC now.
    old.resetCounters();
    await hosts.patchSpec('moved', { online: false });
    await hosts.inState('moved', 'provisioned', (h) => h.status?.poweredOn === false);
    expect(replacement.counters().powerOff).toBe(1);
    expect(old.counters().powerOff).toBe(0);
  });
});
