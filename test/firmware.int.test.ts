/**
 * Firmware, BIOS and RAID on one host, as a Metal3 user drives them, end to end: BareMetalHosts and their
 * HostFirmwareSettings, FirmwareSchema, HostFirmwareComponents and HostUpdatePolicy on the real apiserver,
 * Tempered's real worker and bridge processes, the real Temporal server, and simulated Redfish BMCs serving
 * vendor trees (a captured iLO 5 BIOS registry of 339 attributes, DMTF's, Lenovo and Dell RAID controllers).
 *
 * Proves, from the issue: (1) per profile with a registry, FirmwareSchema and HostFirmwareSettings appear, a valid
 * change applies in preparing and reads back, an unknown name and an out-of-range value are refused naming them;
 * (2) a component update on an available host, and through servicing on a provisioned host with a
 * HostUpdatePolicy, the new version in status.components; (3) a hardware RAID-1 volume, and an impossible level
 * as a clear preparation error that the next good spec recovers from; (5, one host) a worker SIGKILLed at a
 * random moment of a flash: the flash resumes and happens once (the simulator's counters).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFirmwareTiming, startSimulator, type SimulatedBmc, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { bmhClient } from './bmh.ts';
import { startTestEngine } from './engine-fixture.ts';
import { condition, createFirmwareHost, firmwareClient, settingChange } from './firmware-objects.ts';
import { randomMoment, waitFor } from './wait.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = Date.now().toString(36);
const NS = `fw-${RUN}`;
const PASSWORD = `Fw-${RUN}-pw`;
/** A BIOS flash of 420 s takes 10.5 s: long enough to kill the worker in the middle of it. */
const KILL_COMPRESSION = 40;

const hosts = bmhClient(stack.kube.kubeconfig, NS);
const fw = firmwareClient(stack.kube.kubeconfig, NS);

let sim: Simulator;
let files: ImageServer;
let engine: Engine;
let stopWatch: (() => void) | undefined;
/** Every operationalStatus each host showed, in order (from a watch, so a short servicing is not missed). */
const statuses = new Map<string, string[]>();

const IMAGES = ['bios-3.1.4.bin', 'bmc-2.5.bin', 'bios-4.0.1.bin', 'bios-5.0.2.bin'];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-fw-'));
  process.stderr.write(`[firmware.int] kill test: ${describeFirmwareTiming(KILL_COMPRESSION)}\n`);
  const fast = { password: PASSWORD, uniqueIdentity: true, quirkWindowMs: 200, taskDurationMs: 400 };
  sim = await startSimulator({
    bmcs: [
      { profile: 'ilo5', id: 'ilo5', ...fast },
      { profile: 'dmtf', id: 'dmtf', password: PASSWORD, uniqueIdentity: true, taskDurationMs: 400 },
      { profile: 'xcc', id: 'served', ...fast, bmcRebootMs: 1500 },
      { profile: 'xcc', id: 'xcc', password: PASSWORD, uniqueIdentity: true, quirkWindowMs: 200 },
      { profile: 'idrac', id: 'idrac', password: PASSWORD, uniqueIdentity: true, quirkWindowMs: 200 },
      { profile: 'dmtf', id: 'kill', password: PASSWORD, uniqueIdentity: true, firmwareCompression: KILL_COMPRESSION },
    ],
  });
  files = await startImageServer(Object.fromEntries(IMAGES.map((name) => [`/${name}`, Buffer.alloc(64 * 1024, 7)])));
  await hosts.createNamespace();
  stopWatch = await hosts.recordChanges(statuses, (h) => h.status?.operationalStatus || undefined);
  const env = { TEMPERED_FIRMWARE_TASK_POLL_MS: '250', TEMPERED_FIRMWARE_HELD_AFTER_MS: '1500' };
  engine = await startTestEngine(stack, dir, RUN, NS, env);
});

afterAll(async () => {
  stopWatch?.();
  await engine?.stop();
  await files?.stop();
  await sim?.stop();
});

/** A host on a simulated BMC with no inspection and no cleaning (see createFirmwareHost). */
const createHost = (name: string, bmc: SimulatedBmc, spec: Record<string, unknown> = {}) =>
  createFirmwareHost(hosts, name, bmc, PASSWORD, spec);

const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000) =>
  waitFor(what, probe, {
    timeoutMs,
    intervalMs: 250,
    detail: () => hosts.get(what.split(' ')[0] ?? '').then((h) => JSON.stringify(h.status), () => 'no host'),
  });

describe('(1) FirmwareSchema and HostFirmwareSettings from the BMC, changes validated and applied', () => {
  it.each([
    { profile: 'ilo5', attributes: 300 },
    { profile: 'dmtf', attributes: 10 },
  ])('$profile: schema, settings, a valid change applied in preparing, an invalid name and value refused', async ({ profile, attributes }) => {
    const name = `bios-${profile}`;
    await createHost(name, sim.bmc(profile));
    await hosts.inState(name, 'available');
    const hfs = await until(`${name} HostFirmwareSettings read`, async () => {
      const o = await fw.hfs(name);
      return o?.status?.schema && Object.keys(o.status.settings ?? {}).length > 0 ? o : undefined;
    });
    expect(hfs.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'BareMetalHost', name })]);
    // The bridge adds a schema's owners apart from the publication that wrote the settings: wait for this one's.
    const schemaName = hfs.status?.schema?.name ?? '';
    const ownedSchema = async () => {
      const found = await fw.schema(schemaName);
      return found?.metadata.ownerReferences?.some((o) => o.kind === 'HostFirmwareSettings' && o.name === name) ? found : undefined;
    };
    const owned = await until(`${name} FirmwareSchema owned by its HostFirmwareSettings`, ownedSchema);
    // An owner removed by hand comes back: the bridge keeps what the settings name, not what it once wrote.
    await fw.setSchemaOwners(schemaName, (owned.metadata.ownerReferences ?? []).filter((o) => o.name !== name));
    const schema = await until(`${name} FirmwareSchema owned again after its owner was removed`, ownedSchema);
    expect(schema.metadata.name).toMatch(/^schema-[0-9a-f]{8}$/);
    expect(Object.keys(schema.spec?.schema ?? {}).length).toBeGreaterThanOrEqual(attributes);
    expect(schema.spec?.hardwareVendor).toBeTruthy();
    const owner = expect.objectContaining({ kind: 'HostFirmwareSettings', name });
    expect(schema.metadata.ownerReferences).toEqual(expect.arrayContaining([owner]));
    expect(Object.keys(hfs.status?.settings ?? {}).some((k) => k.includes('Password'))).toBe(false);

    // A valid change: an enumeration set to another allowed value.
    const { name: enumName, value: wanted } = settingChange(schema, hfs.status?.settings ?? {}) ?? { name: '', value: '' };
    await fw.setSettings(name, { [enumName]: wanted });
    await until(`${name} applied ${enumName}=${wanted}`, async () => {
      const o = await fw.hfs(name);
      const settled = condition(o?.status?.conditions, 'ChangeDetected')?.status === 'False';
      return o?.status?.settings?.[enumName] === wanted && settled ? o : undefined;
    });
    const h = await hosts.inState(name, 'available', (x) => x.status?.operationalStatus === 'OK');
    expect(h.status?.errorType).toBeUndefined();
    expect(sim.bmc(profile).state().bios.current[enumName]).toBe(wanted);

    // An unknown name and an out-of-range value: Valid False, naming both, an Event each, nothing applied.
    const [intName, intRule] =
      Object.entries(schema.spec?.schema ?? {}).find(
        ([, r]) => r.attribute_type === 'Integer' && !r.read_only && r.upper_bound !== undefined,
      ) ?? ['', {}];
    const tooBig = (intRule.upper_bound ?? 0) + 1;
    const patches = sim.bmc(profile).counters().biosPatches;
    await fw.setSettings(name, { NoSuchSetting: 'x', ...(intName ? { [intName]: tooBig } : {}) });
    const refused = await until(`${name} refused`, async () => {
      const o = await fw.hfs(name);
      return condition(o?.status?.conditions, 'Valid')?.status === 'False' ? o : undefined;
    });
    const message = condition(refused.status?.conditions, 'Valid')?.message ?? '';
    expect(message).toContain('Setting NoSuchSetting is invalid, it is not in the Status field');
    if (intName) {
      const above = `integer ${tooBig} is above maximum value ${intRule.upper_bound}`;
      expect(message).toContain(`Setting ${intName} is invalid, ${above}`);
    }
    const events = await until(`${name} ValidationFailed events`, async () => {
      const list = (await fw.events('HostFirmwareSettings', name)).filter((e) => e.reason === 'ValidationFailed');
      return list.length >= (intName ? 2 : 1) ? list : undefined;
    });
    expect(events.map((e) => e.message).join('\n')).toContain('NoSuchSetting');
    expect((await hosts.get(name)).status?.provisioning?.state).toBe('available');
    expect(sim.bmc(profile).counters().biosPatches).toBe(patches);

    // The next good spec: Valid again.
    await fw.setSettings(name, { NoSuchSetting: null, ...(intName ? { [intName]: null } : {}) });
    const valid = async () => condition((await fw.hfs(name))?.status?.conditions, 'Valid')?.status === 'True';
    await until(`${name} valid again`, valid);
  }, 300_000);
});

describe('(2) firmware component updates', () => {
  it('an available host: HostFirmwareComponents update applied in preparing, the new version in status.components', async () => {
    const name = 'update-available';
    const bmc = sim.bmc('dmtf');
    await createHost(name, bmc);
    await hosts.inState(name, 'available');
    const before = await until(`${name} components`, async () => (await fw.hfc(name))?.status?.components);
    const bios = before.find((c) => c.component === 'bios');
    expect(bios?.currentVersion).toBeTruthy();
    expect(before.length).toBeGreaterThan(2); // bios, bmc and every FirmwareInventory member
    const update = { component: 'bios', url: files.url('/bios-3.1.4.bin') };
    await fw.setUpdates(name, [update]);
    const after = await until(`${name} flashed`, async () => {
      const o = await fw.hfc(name);
      const bios = o?.status?.components?.find((c) => c.component === 'bios');
      return bios?.currentVersion === '3.1.4' && o?.status?.updates?.length === 1 ? o : undefined;
    });
    expect(after.status?.components?.find((c) => c.component === 'bios')).toMatchObject({
      initialVersion: bios?.initialVersion,
      currentVersion: '3.1.4',
      lastVersionFlashed: '3.1.4',
    });
    expect(after.status?.updates).toEqual([update]);
    const changed = async () => condition((await fw.hfc(name))?.status?.conditions, 'ChangeDetected')?.status;
    await until(`${name} no change left`, async () => (await changed()) === 'False');
    await hosts.inState(name, 'available', (h) => h.status?.operationalStatus === 'OK');
    expect(bmc.counters().firmwareUpdatesByImage).toEqual({ 'bios-3.1.4.bin': 1 });
  }, 300_000);

  it('a provisioned host with a HostUpdatePolicy: the update is applied in servicing when it is rebooted', async () => {
    const name = 'update-serviced';
    const bmc = sim.bmc('served');
    const iso = files.url('/bios-3.1.4.bin'); // any file boots as a live ISO in the simulator
    await createHost(name, bmc, { online: true, image: { url: iso, format: 'live-iso' } });
    await hosts.inState(name, 'provisioned', (h) => h.status?.poweredOn === true);
    await until(`${name} components`, async () => (await fw.hfc(name))?.status?.components);
    await fw.createUpdatePolicy(name, { firmwareUpdates: 'onReboot' });
    const update = { component: 'bmc', url: files.url('/bmc-2.5.bin') };
    await fw.setUpdates(name, [update]);
    // Nothing happens without a reboot (BMO services a provisioned host on its reboot).
    const changed = async () => condition((await fw.hfc(name))?.status?.conditions, 'ChangeDetected')?.status;
    await until(`${name} change detected`, async () => (await changed()) === 'True');
    expect(bmc.counters().firmwareUpdates).toBe(0);
    await hosts.annotate(name, { 'reboot.metal3.io': '' });
    await until(`${name} serviced`, async () => {
      const o = await fw.hfc(name);
      return o?.status?.components?.find((c) => c.component === 'bmc')?.currentVersion === '2.5' ? o : undefined;
    });
    await hosts.inState(name, 'provisioned', (h) => h.status?.operationalStatus === 'OK' && h.status.poweredOn === true);
    // The watch behind `statuses` can trail the read above by a moment: wait for it to show OK too.
    await until(`${name} watched back to OK`, async () => statuses.get(name)?.at(-1) === 'OK');
    expect(statuses.get(name)).toEqual(expect.arrayContaining(['servicing']));
    expect(bmc.counters().firmwareUpdatesByImage).toEqual({ 'bmc-2.5.bin': 1 });
    // The BMC rebooted itself after flashing; the update waited it out.
    expect(bmc.counters().bmcReboots).toBe(1);
  }, 300_000);
});

describe('(3) hardware RAID', () => {
  it.each([
    { profile: 'xcc', applyTime: 'Immediate' },
    { profile: 'idrac', applyTime: 'OnReset' },
  ])('$profile ($applyTime): a RAID-1 volume on the HDDs; an impossible level is a clear preparation error, then recovered', async ({ profile }) => {
    const name = `raid-${profile}`;
    const bmc = sim.bmc(profile);
    await createHost(name, bmc, { raid: { hardwareRAIDVolumes: [{ level: '1', name: 'os', rotational: true }] } });
    const host = await hosts.inState(name, 'available', (h) => h.status?.operationalStatus === 'OK', 180_000);
    const applied = (host.status as { provisioning?: { raid?: unknown } }).provisioning?.raid;
    expect(applied).toEqual({ hardwareRAIDVolumes: [{ level: '1', name: 'os', rotational: true }] });
    const volumes = bmc.storage().volumes;
    expect(volumes).toHaveLength(1);
    expect(volumes[0]).toMatchObject({ raidType: 'RAID1', name: 'os' });

    await hosts.patchSpec(name, { raid: { hardwareRAIDVolumes: [{ level: '5+0' }] } });
    const failed = await hosts.inState(name, 'preparing', (h) => h.status?.errorType === 'preparation error');
    expect(failed.status?.errorMessage).toMatch(/RAID 5\+0|5\+0/);
    expect(failed.status?.errorMessage).toMatch(/disk|drive/i);
    await until(`${name} PreparationError event`, async () => {
      const fieldSelector = `involvedObject.name=${name},reason=PreparationError`;
      const events = await hosts.core.listNamespacedEvent({ namespace: NS, fieldSelector });
      return events.items.length > 0;
    });

    const scratch = { level: '0', name: 'scratch', rotational: false };
    await hosts.patchSpec(name, { raid: { hardwareRAIDVolumes: [scratch] } });
    await hosts.inState(name, 'available', (h) => h.status?.operationalStatus === 'OK' && !h.status.errorType, 180_000);
    expect(bmc.storage().volumes.map((v) => v.raidType)).toEqual(['RAID0']);
  }, 300_000);
});

describe('(5) a worker killed in the middle of a flash', () => {
  it('the flash resumes on another worker, polling the same BMC task: one flash', async () => {
    const name = 'killed';
    const bmc = sim.bmc('kill');
    await createHost(name, bmc);
    await hosts.inState(name, 'available');
    await until(`${name} components`, async () => (await fw.hfc(name))?.status?.components);
    await fw.setUpdates(name, [{ component: 'bios', url: files.url('/bios-4.0.1.bin') }]);
    const running = () => bmc.state().flashes.some((f) => f.outcome === 'running');
    await waitFor('the flash to start', running, { timeoutMs: 120_000, intervalMs: 50 });
    // A kill test's random moment (deliberate): somewhere in the first 80% of the flash (10.5 s at this compression).
    await randomMoment(8000);
    const victim = engine.worker();
    process.kill(-victim.proc.pid, 'SIGKILL');
    await victim.proc.exited;
    await engine.startWorker();
    const bios = async () => (await fw.hfc(name))?.status?.components?.find((c) => c.component === 'bios');
    await until(`${name} flashed`, async () => (await bios())?.currentVersion === '4.0.1', 180_000);
    await hosts.inState(name, 'available', (h) => h.status?.operationalStatus === 'OK');
    expect(bmc.counters().firmwareUpdatesByImage).toEqual({ 'bios-4.0.1.bin': 1 });
    expect(bmc.state().flashes.map((f) => f.outcome)).toEqual(['completed']);
  }, 300_000);
});
