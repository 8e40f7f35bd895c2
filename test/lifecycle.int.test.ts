/**
 * The host lifecycle end to end, as a Metal3 user drives it: BareMetalHost objects on the real apiserver,
 * Tempered's real worker and bridge processes, the real Temporal server, and real BMC peers (sushy-tools,
 * ipmi_sim) plus the simulator where side effects must be counted. Nothing is faked.
 *
 * Uses its own namespace, task queues and Lease, a private sushy-tools, the simulator, and ipmi_sim 1 of
 * the shared stack. The validating webhook is tested in bridge/admission (it is cluster-wide). The engine runs
 * as production should: payloads encrypted (a keyring of its own), every process logging at trace level, so
 * the closing secret scan (test/secret-scan.ts) reads every payload decrypted and every log line.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../sim/index.ts';
import { workerMemoryLimitMiB, type Engine } from '../stack/engine.ts';
import { stickyCacheSize } from '../workers/cache-size.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import type { HostDesired } from '../domain/host-model.ts';
import { bmhClient, type Bmh } from './bmh.ts';
import { engineDataConverter, startTestEngine } from './engine-fixture.ts';
import { findNeedles, logLevels, logTexts, scanExecutions } from './secret-scan.ts';
import { waitFor } from './wait.ts';
import { localActivityCalls, passedStates, settledAfter, waitingOnTimer } from './workflow-waits.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = Date.now().toString(36);
const NS = `life-${RUN}`;
const SUSHY_PASSWORD = `Sushy-${RUN}-pw`;
const SIM_PASSWORD = `Sim-${RUN}-pw`;

/** What this file reads of a host beyond {@link Bmh}: the image provisioned, the credentials' version, the inventory. */
type Host = Bmh & {
  status?: {
    provisioning?: { image?: { url?: string } };
    goodCredentials?: { credentialsVersion?: string };
    hardware?: { nics?: { mac: string }[] };
  };
};
const hosts = bmhClient<Host>(stack.kube.kubeconfig, NS);
/** The address of this namespace's objects of a metal3.io kind (HardwareData, the hosts' status subresource). */
const metal3 = (plural: string) => ({ group: 'metal3.io', version: 'v1alpha1', namespace: NS, plural });

let sushy: SushyEmulator;
let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let client: Client;
let connection: Connection;
let stopWatch: (() => void) | undefined;
/** Every provisioning state each host showed, in order, from a watch (so fast states are not missed). */
const seen = new Map<string, string[]>();
/** What Temporal must never hold in clear: BMC addresses, MACs, serials (collected as tests go). */
const sensitive = new Set<string>();
/** Every execution of this file's hosts: host workflows and their operation children, every run. */
const HOST_EXECUTIONS = () => `WorkflowId STARTS_WITH "bmh/${NS}/"`;
const USER_DATA = `#cloud-config\n# user data ${RUN}: never in clear in a history\n`;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-life-'));
  sushy = await startSushy({ stateDir: join(dir, 'sushy'), systems: 3, password: SUSHY_PASSWORD, progress: () => {} });
  sim = await startSimulator({ bmcs: [{ profile: 'dmtf', password: SIM_PASSWORD, id: 'kill-test' }, { profile: 'dmtf', password: SIM_PASSWORD, id: 'steady', uniqueIdentity: true }] });
  images = await startImageServer({ '/live.iso': Buffer.alloc(512 * 1024, 1), '/slow.iso': Buffer.alloc(512 * 1024, 2) });
  await hosts.createNamespace();
  stopWatch = await hosts.recordChanges(seen, (h) => h.status?.provisioning?.state);
  const verbose = { LOG_LEVEL: 'trace', TEMPORAL_LOG_LEVEL: 'DEBUG' };
  engine = await startTestEngine(stack, dir, RUN, NS, verbose, { encryption: 'generate' });
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection, namespace: stack.temporal.namespace, dataConverter: engineDataConverter(engine) });
});

afterAll(async () => {
  stopWatch?.();
  await engine?.stop();
  await connection?.close();
  await images?.stop();
  await sim?.stop();
  await sushy?.stop();
});

async function secret(name: string, username: string, password: string): Promise<string> {
  const body = { metadata: { name }, stringData: { username, password } };
  const existing = await hosts.core.readNamespacedSecret({ namespace: NS, name }).catch(() => undefined);
  const result = existing ? await hosts.core.replaceNamespacedSecret({ namespace: NS, name, body }) : await hosts.core.createNamespacedSecret({ namespace: NS, body });
  return result.metadata?.resourceVersion ?? '';
}

/**
 * The Secret's resourceVersion now: the bridge labels a credentials Secret it does not watch yet (BMO's
 * `environment.metal3.io` label, bridge/reconcile.ts), so the version a host reports is the labelled one.
 */
async function secretVersion(name: string): Promise<string> {
  const current = await hosts.core.readNamespacedSecret({ namespace: NS, name });
  expect(current.metadata?.labels?.['environment.metal3.io']).toBe('baremetal');
  return current.metadata?.resourceVersion ?? '';
}

/** These BMCs (sushy-tools, ipmi_sim, the simulator without its agent) boot no deploy agent: cleaning is off. */
async function createHost(name: string, specGiven: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
  await hosts.create(name, { automatedCleaningMode: 'disabled', ...specGiven }, annotations);
}

/** Waits until `probe` gives a value; a timeout shows the status of the host named first in `what`. */
const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 90_000) =>
  waitFor(what, probe, {
    timeoutMs,
    intervalMs: 200,
    detail: () => hosts.get(what.split(' ')[0] ?? '').then((h) => `status ${JSON.stringify(h.status)}`, () => 'no such host'),
  });

/** Remembers what a host's BMC and inventory show that must not be in a history in clear. */
function noteSensitive(address: string, host: Host): void {
  const hardware = host.status?.hardware as
    | { systemVendor?: { serialNumber?: string }; nics?: { mac: string }[] }
    | undefined;
  for (const value of [address, hardware?.systemVendor?.serialNumber, ...(hardware?.nics ?? []).map((n) => n.mac)]) {
    if (value) sensitive.add(value);
  }
}

const hostWorkflow = (name: string) => client.workflow.getHandle(`bmh/${NS}/${name}`);

/** The host's workflow has taken in an intent that satisfies `received` and is done acting on it (idle). */
const settledOn = (name: string, what: string, received: (d: HostDesired) => boolean) =>
  until(`${name} settled on ${what}`, () => settledAfter<HostDesired>(hostWorkflow(name), 'syncHost', received));

/** The host shows `state` (and `extra`) when read, and the watch behind `seen` has caught up with it too. */
const inState = (name: string, state: string, extra: (h: Host) => boolean = () => true) =>
  until(`${name} in ${state}`, async () => {
    const h = await hosts.get(name);
    return h.status?.provisioning?.state === state && extra(h) && seen.get(name)?.at(-1) === state ? h : undefined;
  });

/**
 * Every state the host passed, in order, from its workflow's publications (the latest run): the status shows
 * where the host stands, once per publication, so a watch sees some of these, not each.
 */
const passed = async (name: string) => passedStates(await hostWorkflow(name).fetchHistory(), engineDataConverter(engine));

/** What the watch saw of the host: the states it passed, some left out, none out of order or made up. */
async function shownOf(name: string): Promise<string[]> {
  const shown = seen.get(name) ?? [];
  const states = await passed(name);
  let at = 0;
  for (const state of shown) {
    at = states.indexOf(state, at);
    expect(at, `${name} showed ${shown.join(' → ')}; it passed ${states.join(' → ')}`).toBeGreaterThanOrEqual(0);
    at += 1;
  }
  return states;
}

async function redfish(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${sushy.url}${path}`, { headers: { authorization: `Basic ${Buffer.from(`${sushy.username}:${SUSHY_PASSWORD}`).toString('base64')}` } });
  return (await res.json()) as Record<string, unknown>;
}

const sushyAddress = (i: number) => `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${sushy.systems[i]!.path}`;

describe('a BareMetalHost through its lifecycle', () => {
  it("the engine's Node processes run on jemalloc, as in the container image", () => {
    for (const p of [engine.worker(), ...engine.bridges(), engine.agentApi()]) {
      expect(readFileSync(`/proc/${p.proc.pid}/maps`, 'utf8'), p.logFile).toMatch(/\/libjemalloc\.so\.2$/m);
    }
  });

  it('the worker sizes its sticky cache to the memory limit in its manifest, as the deployed one does', () => {
    const line = readFileSync(engine.worker().logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"sticky cache size"'))
      .map((l) => JSON.parse(l) as { maxCachedWorkflows: number; from: string });
    const expected = stickyCacheSize({ memoryLimitMiB: workerMemoryLimitMiB() });
    expect(line).toMatchObject([{ maxCachedWorkflows: expected.maxCachedWorkflows, from: expected.reason }]);
    expect(expected.reason).toContain(`${workerMemoryLimitMiB()} MiB memory limit`);
  });

  it('on sushy-tools: available, provisioned with a live ISO the BMC fetched, available again, then deleted', async () => {
    await secret('redfish-0-bmc', sushy.username, SUSHY_PASSWORD);
    await hosts.core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'redfish-0-user-data' }, stringData: { userData: USER_DATA } },
    });
    await createHost('redfish-0', {
      online: false,
      bootMACAddress: sushy.systems[0]!.mac,
      bmc: { address: sushyAddress(0), credentialsName: 'redfish-0-bmc' },
      userData: { name: 'redfish-0-user-data' },
    });
    const available = await inState('redfish-0', 'available');
    noteSensitive(sushyAddress(0), available);
    expect(await shownOf('redfish-0')).toEqual(['registering', 'inspecting', 'preparing', 'available']);
    expect(available.status).toMatchObject({ operationalStatus: 'OK', errorCount: 0, goodCredentials: { credentialsVersion: await secretVersion('redfish-0-bmc') } });
    expect(available.status?.errorType).toBeUndefined(); // BMO omits an empty errorType
    expect(available.metadata.finalizers).toContain('baremetalhost.metal3.io');
    expect(available.status?.hardware?.nics?.map((n) => n.mac)).toContain(sushy.systems[0]!.mac);
    const hardwareData = (await hosts.objects.getNamespacedCustomObject({ ...metal3('hardwaredata'), name: 'redfish-0' })) as { spec: { hardware: unknown } };
    expect(hardwareData.spec.hardware).toEqual(available.status?.hardware);

    const iso = images.url('/live.iso');
    await hosts.patchSpec('redfish-0', { online: true, image: { url: iso, format: 'live-iso' } });
    const provisioned = await inState('redfish-0', 'provisioned');
    expect((await shownOf('redfish-0')).slice(-2)).toEqual(['provisioning', 'provisioned']);
    expect(provisioned.status).toMatchObject({ poweredOn: true, provisioning: { image: { url: iso } } });
    expect(images.gets('/live.iso')).toBe(1);
    expect(await redfish(sushy.systems[0]!.path)).toMatchObject({ PowerState: 'On' });
    expect(await redfish(`${sushy.systems[0]!.path}/VirtualMedia/Cd`)).toMatchObject({ Inserted: true, Image: iso });

    await hosts.patchSpec('redfish-0', { image: null });
    await inState('redfish-0', 'available', (h) => h.status?.poweredOn === true);
    expect((await shownOf('redfish-0')).slice(-2)).toEqual(['deprovisioning', 'available']);
    expect(await redfish(`${sushy.systems[0]!.path}/VirtualMedia/Cd`)).toMatchObject({ Inserted: false });

    await hosts.delete('redfish-0');
    await hosts.gone('redfish-0', 90_000);
    expect((await shownOf('redfish-0')).slice(-2)).toEqual(['powering off before delete', 'deleting']);
    expect(await redfish(sushy.systems[0]!.path)).toMatchObject({ PowerState: 'Off' });
    const events = await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=redfish-0' });
    expect(new Set(events.items.map((e) => e.reason))).toEqual(expect.objectContaining({}));
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['Registered', 'InspectionComplete', 'ProvisioningStarted', 'ProvisioningComplete', 'DeprovisioningStarted']));
  });

  it('on ipmi_sim: registers, and follows online to power on and off', async () => {
    const bmc = stack.ipmi[1]!;
    await secret('ipmi-1-bmc', bmc.username, bmc.password);
    const journal = () => readFileSync(`${bmc.stateDir}/journal`, 'utf8').trim().split('\n').filter((l) => /^(power|shutdown)/.test(l));
    const before = journal().length;
    await createHost('ipmi-1', { online: false, bootMACAddress: '52:54:00:aa:bb:01', bmc: { address: bmc.address, credentialsName: 'ipmi-1-bmc' } });
    await inState('ipmi-1', 'available');
    await hosts.patchSpec('ipmi-1', { online: true });
    await inState('ipmi-1', 'available', (h) => h.status?.poweredOn === true);
    await hosts.patchSpec('ipmi-1', { online: false });
    await inState('ipmi-1', 'available', (h) => h.status?.poweredOn === false);
    expect(journal().slice(before)).toEqual(['power 1', 'shutdown 1']);
  });

  it('a wrong password is a registration error naming the cause; fixing the Secret recovers the same object', async () => {
    await secret('redfish-1-bmc', sushy.username, 'wrong-password');
    await createHost('redfish-1', { online: false, bmc: { address: sushyAddress(1), credentialsName: 'redfish-1-bmc' } });
    const failed = await until('redfish-1 registration error', async () => {
      const h = await hosts.get('redfish-1');
      return h.status?.errorType === 'registration error' ? h : undefined;
    });
    expect(failed.status).toMatchObject({ operationalStatus: 'error', provisioning: { state: 'registering' }, errorCount: 1 });
    expect(failed.status?.errorMessage).toMatch(/refused the credentials/);
    // Events go out after the status write, in the background: wait for the warning, do not expect it there yet.
    await until('redfish-1 RegistrationError Event', async () => {
      const warnings = await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=redfish-1,reason=RegistrationError' });
      return warnings.items.length > 0;
    });

    await secret('redfish-1-bmc', sushy.username, SUSHY_PASSWORD);
    const recovered = await inState('redfish-1', 'available');
    expect(recovered.status).toMatchObject({ errorCount: 0, errorMessage: '', operationalStatus: 'OK', goodCredentials: { credentialsVersion: await secretVersion('redfish-1-bmc') } });
    expect(recovered.status?.errorType).toBeUndefined();
    expect(recovered.metadata.uid).toBe(failed.metadata.uid);
  });

  it('pointing credentialsName at a missing Secret is an error; pointing it back recovers', async () => {
    await hosts.patchSpec('redfish-1', { bmc: { address: sushyAddress(1), credentialsName: 'no-such-secret' } });
    const failed = await until('redfish-1 credentials error', async () => {
      const h = await hosts.get('redfish-1');
      return h.status?.errorType === 'registration error' ? h : undefined;
    });
    expect(failed.status?.errorMessage).toContain('no-such-secret');
    await hosts.patchSpec('redfish-1', { bmc: { address: sushyAddress(1), credentialsName: 'redfish-1-bmc' } });
    await inState('redfish-1', 'available', (h) => h.status?.operationalStatus === 'OK');
  });

  it('an unreachable BMC gets a clear error and a backoff, not a tight loop', async () => {
    await secret('dead-bmc', 'admin', 'whatever');
    await createHost('dead', { online: false, bmc: { address: 'redfish+http://127.0.0.1:9/redfish/v1/Systems/1', credentialsName: 'dead-bmc' } });
    const failed = await until('dead registration error', async () => {
      const h = await hosts.get('dead');
      return h.status?.errorType === 'registration error' ? h : undefined;
    });
    expect(failed.status?.errorMessage).toMatch(/127\.0\.0\.1:9/);
    expect(failed.status?.errorMessage).toMatch(/reach|refused|connect/i);
    // Backing off: the workflow waits on a timer (BMO: 2 minutes minus up to half of it as jitter), with
    // nothing running, instead of trying again.
    const backoff = await until('dead backing off', () => waitingOnTimer(hostWorkflow('dead'), 30_000));
    expect(backoff).toBeLessThanOrEqual(120_000);
    const later = await hosts.get('dead');
    expect(later.status?.errorCount).toBe(1);
    // One registration (run in the host workflow, patch inline-bmc-operations): its call's attempts, each after a
    // backoff on a server timer, and no second call starting again at attempt 1.
    const attempts = localActivityCalls(await hostWorkflow('dead').fetchHistory()).filter((c) => c.type === 'registerBmc').map((c) => c.attempt);
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts).toEqual(attempts.map((_, i) => i + 1));
  });

  it('a worker killed (SIGKILL) in the middle of provisioning: a new worker finishes, each side effect happens once', async () => {
    const bmc = sim.bmc('kill-test');
    await secret('sim-bmc', bmc.username, SIM_PASSWORD);
    await createHost('sim-0', { online: false, bmc: { address: bmc.address, credentialsName: 'sim-bmc' } });
    const available = await inState('sim-0', 'available');
    noteSensitive(bmc.address, available);
    bmc.resetCounters();
    images.setDelay(4000); // the BMC's fetch of the ISO takes a while: the insert is in flight
    const iso = images.url('/slow.iso');
    await hosts.patchSpec('sim-0', { online: true, image: { url: iso, format: 'live-iso' } });
    await until('the BMC fetching the ISO', async () => images.gets('/slow.iso') >= 1, 60_000);
    const victim = engine.worker();
    process.kill(-victim.proc.pid, 'SIGKILL');
    await victim.proc.exited;
    images.setDelay(0);
    await engine.startWorker();
    await inState('sim-0', 'provisioned', undefined);
    const counters = bmc.counters();
    expect(counters.mediaInserts).toBe(1);
    expect(counters.powerOn).toBe(1);
    expect(bmc.state().booted).toMatchObject({ image: iso });
  });

  it('rebuilds status deleted by hand, and restores a host from the status annotation after a pivot', async () => {
    await secret('redfish-2-bmc', sushy.username, SUSHY_PASSWORD);
    const iso = images.url('/live.iso');
    await createHost('redfish-2', { online: true, image: { url: iso, format: 'live-iso' }, bmc: { address: sushyAddress(2), credentialsName: 'redfish-2-bmc' } });
    const provisioned = await inState('redfish-2', 'provisioned');
    const isoFetches = images.gets('/live.iso');

    await hosts.objects.patchNamespacedCustomObjectStatus({ ...metal3('baremetalhosts'), name: 'redfish-2', body: [{ op: 'remove', path: '/status' }] }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    const rebuilt = await inState('redfish-2', 'provisioned');
    expect(rebuilt.status).toMatchObject({ poweredOn: true, provisioning: { image: { url: iso } }, goodCredentials: { credentialsVersion: await secretVersion('redfish-2-bmc') } });

    // A pivot: the object reappears elsewhere (here: under a new name) with its status in the annotation.
    const annotation = JSON.stringify(provisioned.status);
    await createHost('redfish-2-moved', { online: true, image: { url: iso, format: 'live-iso' }, bmc: { address: sushyAddress(2), credentialsName: 'redfish-2-bmc' } }, { 'baremetalhost.metal3.io/status': annotation });
    await inState('redfish-2-moved', 'provisioned', (h) => h.status?.operationalStatus === 'OK');
    expect(seen.get('redfish-2-moved')?.[0]).toBe('provisioned');
    // The status is written first, then the consumed annotation is removed (a second write): wait for that.
    await until('redfish-2-moved without its status annotation', async () => {
      const h = await hosts.get('redfish-2-moved');
      return !('baremetalhost.metal3.io/status' in (h.metadata.annotations ?? {}));
    });
    expect(images.gets('/live.iso')).toBe(isoFetches); // restored, not provisioned again
  });

  it('honours reboot annotations (plain and keyed), re-inspection, and detach in the steady state', async () => {
    const bmc = sim.bmc('steady');
    await secret('steady-bmc', bmc.username, SIM_PASSWORD);
    const iso = images.url('/live.iso');
    await createHost('steady', { online: true, image: { url: iso, format: 'live-iso' }, bmc: { address: bmc.address, credentialsName: 'steady-bmc' } });
    await inState('steady', 'provisioned', (h) => h.status?.poweredOn === true);
    const annotate = (annotations: Record<string, string | null>) => hosts.annotate('steady', annotations);
    const annotationsOf = async () => (await hosts.get('steady')).metadata.annotations ?? {};

    // Plain reboot: powered off, the annotation removed, powered on again.
    bmc.resetCounters();
    await annotate({ 'reboot.metal3.io': '' });
    await until('steady rebooted', async () => !('reboot.metal3.io' in (await annotationsOf())) && bmc.counters().powerOn === 1 && bmc.state().power === 'On');
    expect(bmc.counters()).toMatchObject({ powerOff: 1, powerOn: 1 });

    // Keyed (phased) reboot: kept off until its owner removes the annotation; a hard request wins.
    bmc.resetCounters();
    await annotate({ 'reboot.metal3.io/remediation': '{"mode":"hard"}' });
    await inState('steady', 'provisioned', (h) => h.status?.poweredOn === false);
    await settledOn('steady', 'the keyed reboot', (d) => 'reboot.metal3.io/remediation' in d.annotations.reboot);
    expect(bmc.state().power).toBe('Off');
    expect((await annotationsOf())['reboot.metal3.io/remediation']).toBeDefined();
    expect(bmc.counters().resetActions).toMatchObject({ ForceOff: 1 });
    await annotate({ 'reboot.metal3.io/remediation': null });
    await inState('steady', 'provisioned', (h) => h.status?.poweredOn === true);

    // Detached: no power management; deleting a detached host skips deprovisioning and power-off.
    await annotate({ 'baremetalhost.metal3.io/detached': '' });
    await until('steady detached', async () => (await hosts.get('steady')).status?.operationalStatus === 'detached');
    bmc.resetCounters();
    await hosts.patchSpec('steady', { online: false });
    await settledOn('steady', 'online: false while detached', (d) => !d.spec.online && d.annotations.detached !== undefined);
    expect(bmc.state().power).toBe('On');
    await hosts.delete('steady');
    await hosts.gone('steady', 90_000);
    expect(bmc.counters().powerOff).toBe(0);
    expect(await passed('steady')).not.toContain('deprovisioning');
  });

  it('re-inspects an available host on the inspect.metal3.io annotation, then removes it', async () => {
    await secret('redfish-0-bmc', sushy.username, SUSHY_PASSWORD);
    await createHost('reinspect', { online: false, bmc: { address: sushyAddress(0), credentialsName: 'redfish-0-bmc' } });
    const first = await inState('reinspect', 'available');
    expect(first.status?.goodCredentials?.credentialsVersion).toBe(await secretVersion('redfish-0-bmc'));
    await hosts.annotate('reinspect', { 'inspect.metal3.io': '' });
    await until('reinspect inspected again', async () => {
      const h = await hosts.get('reinspect');
      return h.status?.provisioning?.state === 'available' && !(h.metadata.annotations && 'inspect.metal3.io' in h.metadata.annotations) && (await shownOf('reinspect')).filter((s) => s === 'inspecting').length === 2;
    });
    // Events go out after the status writes, in the background: wait for the second, then check there are two.
    const inspections = async () => (await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=reinspect,reason=InspectionStarted' })).items.reduce((n, e) => n + (e.count ?? 1), 0);
    await until('reinspect InspectionStarted Events', async () => (await inspections()) >= 2);
    expect(await inspections()).toBe(2);
  });

  it('a host whose workflow history is lost adopts its object status instead of starting over', async () => {
    // redfish-2-moved is provisioned (previous test). Its history goes (a new Temporal), the bridge restarts.
    const before = await hosts.get('redfish-2-moved');
    expect(before.status?.provisioning?.state).toBe('provisioned');
    const isoFetches = images.gets('/live.iso');
    const lost = await client.workflow.getHandle(`bmh/${NS}/redfish-2-moved`).describe();
    await client.workflow.getHandle(`bmh/${NS}/redfish-2-moved`).terminate('simulating a lost Temporal history');
    const [bridge] = engine.bridges();
    await bridge?.proc.stop();
    await engine.startBridge();
    const adopted = await until('a new run for redfish-2-moved', async () => {
      const description = await client.workflow.getHandle(`bmh/${NS}/redfish-2-moved`).describe();
      return description.status.name === 'RUNNING' && description.runId !== lost.runId ? description : undefined;
    });
    expect(adopted.runId).not.toBe(lost.runId);
    await until('redfish-2-moved registered again', async () => {
      const events = await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=redfish-2-moved,reason=StatusAdopted' });
      return events.items.length > 0;
    });
    const after = await inState('redfish-2-moved', 'provisioned', (h) => h.status?.operationalStatus === 'OK');
    expect(after.status?.provisioning?.image?.url).toBe(before.status?.provisioning?.image?.url);
    expect(images.gets('/live.iso')).toBe(isoFetches); // not provisioned again
    expect(await passed('redfish-2-moved')).not.toContain('registering'); // the new run's
  });

  it('no BMC password in any history (every payload decrypted and decoded) or log line (every level)', async () => {
    const passwords = [SUSHY_PASSWORD, SIM_PASSWORD, 'wrong-password', stack.ipmi[1]!.password];
    const scan = await scanExecutions(client, HOST_EXECUTIONS(), { decode: engineDataConverter(engine) });
    expect(scan.executions).toBeGreaterThan(15);
    expect(scan.payloads).toBeGreaterThan(200);
    expect(findNeedles(scan.texts, passwords)).toEqual([]);
    // The scan reads where a leak would be: the decoded histories do hold what the hosts were driven with.
    expect(findNeedles(scan.texts, [sushyAddress(0), sushy.systems[0]!.mac]).length).toBeGreaterThan(0);
    const logs = logTexts(engine.logFiles());
    expect(logs.length).toBeGreaterThan(1000);
    // The processes ran at LOG_LEVEL=trace: debug lines and up (pino's 20, 30, 40) were all written and scanned.
    expect([...logLevels(logs)]).toEqual(expect.arrayContaining([20, 30, 40]));
    expect(findNeedles(logs, passwords)).toEqual([]);
  });

  it('histories as the server stores them hold no BMC address, MAC or serial in clear, and user data only as its Secret\'s name, encrypted', async () => {
    const needles = [...sensitive];
    // Two BMC addresses, their MACs and at least the simulator's serial number.
    expect(needles.length).toBeGreaterThanOrEqual(4);
    const decoded = await scanExecutions(client, HOST_EXECUTIONS(), { decode: engineDataConverter(engine) });
    // Each of them is in the payloads (so not finding them raw means they are encrypted, not absent)...
    for (const needle of needles) expect(findNeedles(decoded.texts, [needle]).length, needle).toBeGreaterThan(0);
    // ...but none is readable by anyone reading Temporal's data without the keys.
    const raw = await scanExecutions(client, HOST_EXECUTIONS(), 'raw');
    expect(raw.payloads).toBeGreaterThan(200);
    expect(findNeedles(raw.texts, needles)).toEqual([]);
    // User data never enters a history, by design: the host's intent carries the Secret's reference
    // (spec.userData), and the activity that builds a config drive reads the Secret itself. So the reference is
    // in the decoded payloads (encrypted raw, like the addresses), and the content is in neither.
    const reference = 'redfish-0-user-data';
    const content = USER_DATA.split('\n')[1] as string;
    expect(findNeedles(decoded.texts, [reference]).length).toBeGreaterThan(0);
    expect(findNeedles(raw.texts, [reference])).toEqual([]);
    expect(findNeedles(decoded.texts, [content])).toEqual([]);
    expect(findNeedles(raw.texts, [content])).toEqual([]);
  });
});
