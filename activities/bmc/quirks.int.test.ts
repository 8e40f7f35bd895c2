/**
 * One test per simulator quirk (sim/quirks.ts, from reference/redfish.md): each row gets its own simulated BMC
 * with the quirk on, runs what a host lifecycle does, and checks that the driver copes: the outcome read from
 * the BMC's own state, each side effect counted once, and (where the scenario must provoke it) that the quirk
 * really changed an answer (the simulator's per-quirk counter).
 *
 * Uses a private simulator (one BMC per row); nothing of the shared stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUIRKS, startSimulator, type BmcSpec, type QuirkId, type SimulatedBmc, type Simulator } from '../../sim/index.ts';
import type { BmcDriver } from './driver.ts';
import { createBmcDriver } from './factory.ts';
import { RedfishDriver } from './redfish/driver.ts';
import { SIM_REDFISH, serveIso } from '../../test/bmc-peers.ts';
import { failure } from '../../test/expect-failure.ts';
import { waitFor } from '../../test/wait.ts';

interface Ctx {
  d: RedfishDriver;
  bmc: SimulatedBmc;
  files: Awaited<ReturnType<typeof serveIso>>;
}

interface QuirkCase {
  quirk: QuirkId;
  profile: string;
  /** Quirks added to the profile's defaults for this row. */
  add?: QuirkId[];
  /** The scenario must make the quirk change an answer (counted by the simulator). */
  fires: boolean;
  spec?: Partial<BmcSpec>;
  run: (c: Ctx) => Promise<void>;
}

const media = (bmc: SimulatedBmc) => bmc.state().media.filter((m) => m.inserted);

/** Insert, check the BMC holds it, eject, check it is empty: one insert and one eject counted. */
async function insertEject({ d, bmc, files }: Ctx): Promise<string> {
  const res = await d.virtualMedia.insert(files.url);
  expect(media(bmc).map((m) => m.image)).toEqual([files.url]);
  await d.virtualMedia.eject();
  expect(media(bmc)).toEqual([]);
  expect(bmc.counters()).toMatchObject({ mediaInserts: 1, mediaEjects: 1 });
  return res.slot;
}

async function powerOnOnce({ d, bmc }: Ctx): Promise<void> {
  expect(await d.setPower('on')).toMatchObject({ state: 'on' });
  expect(bmc.state().power).toBe('On');
  expect(bmc.counters().powerOn).toBe(1);
}

/** SimpleUpdate, then wait for the task; returns the task states seen while waiting. */
async function flash({ d, bmc, files }: Ctx, name: string): Promise<string[]> {
  const seen: string[] = [];
  const ref = await d.firmware.simpleUpdate({ imageUrl: files.urlFor(name) });
  const done = await d.firmware.waitTask(ref, { onProgress: (p) => seen.push(p.detail?.split(' ')[0] ?? '') });
  expect(done).toMatchObject({ done: true, ok: true });
  expect(bmc.counters()).toMatchObject({ firmwareUpdates: 1, firmwareFlashes: 1 });
  expect(files.downloads(name)).toBe(1);
  return seen;
}

/** Polls a task until it shows `state` (the driver's readTask, as a resuming workflow would). */
async function waitForState(d: RedfishDriver, uri: string, state: string): Promise<void> {
  await waitFor(`task ${uri} in state ${state}`, async () => (await d.firmware.readTask(uri)).state === state, { timeoutMs: 10_000, intervalMs: 50 });
}

const CASES: QuirkCase[] = [
  // Structural: facts of the vendor trees.
  { quirk: 'vmedia-on-manager', profile: 'ilo5', fires: false, run: async (c) => expect(await insertEject(c)).toMatch(/^\/redfish\/v1\/Managers\//) },
  { quirk: 'reset-actioninfo-only', profile: 'ami', fires: false, run: async (c) => {
    await powerOnOnce(c);
    expect(c.bmc.counters().resetActions).toEqual({ On: 1 });
  } },
  { quirk: 'reset-no-force-on', profile: 'ilo5', fires: false, run: async (c) => {
    expect((await c.d.setPower('on')).sent).toEqual(['On']);
    expect(c.bmc.counters().resetActions).toEqual({ On: 1 });
  } },
  { quirk: 'case-insensitive-uris', profile: 'ilo5', fires: false, run: async ({ d }) => {
    const bios = await d.bios.get();
    expect(Object.keys(bios.attributes).length).toBeGreaterThan(100);
  } },
  { quirk: 'simpleupdate-actioninfo', profile: 'ami', fires: false, run: async (c) => void (await flash(c, 'bios-9.99.1.bin')) },
  { quirk: 'service-tag-in-sku', profile: 'idrac', fires: false, run: async ({ d }) => {
    const inv = await d.inspection.inventory();
    expect(inv.hardware.systemVendor.serialNumber).toBe(inv.system.sku);
    expect(inv.system.sku).toBeTruthy();
  } },
  { quirk: 'multipart-push-update', profile: 'xcc', fires: false, run: async ({ d, bmc }) => {
    const ref = await d.firmware.push({ image: new Uint8Array(4096).fill(7), filename: 'lnvgy_fw_xcc_tee999m-9.99.uxz' });
    expect(await d.firmware.waitTask(ref)).toMatchObject({ ok: true });
    expect(bmc.counters()).toMatchObject({ firmwareUpdates: 1, firmwareBytesRead: 4096 });
  } },

  // ETags, sessions, errors.
  { quirk: 'if-match-required', profile: 'xcc', fires: false, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'pxe' });
    expect(bmc.state().boot).toMatchObject({ target: 'Pxe', enabled: 'Once' });
    expect(bmc.counters().bootOverrides).toBe(1);
  } },
  { quirk: 'weak-etag-strict-if-match', profile: 'ilo5', fires: true, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'disk' });
    expect(bmc.state().boot.target).toBe('Hdd');
    expect(bmc.counters().bootOverrides).toBe(1);
  } },
  { quirk: 'registries-406-identity', profile: 'ilo5', fires: true, run: async ({ d }) => {
    // The DL325 capture keeps its registries under RegistryStore (the root's Registries link was not captured).
    const registry = await d.client.get('/redfish/v1/RegistryStore/registries/en/Base.json');
    expect(registry.status).toBe(200);
    expect(registry.body.RegistryPrefix).toBe('Base');
  } },
  { quirk: 'sys518-after-write', profile: 'idrac', fires: true, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'pxe' });
    expect(await d.getPowerState()).toBe('off');
    await d.setBootOverride({ device: 'disk' });
    expect(bmc.state().boot.target).toBe('Hdd');
    expect(bmc.counters().bootOverrides).toBe(2);
  } },
  { quirk: 'busy-503-after-power-on', profile: 'idrac', fires: true, run: async (c) => {
    await powerOnOnce(c);
    expect(await c.d.getPowerState()).toBe('on');
  } },

  // Power.
  { quirk: 'stale-power-state', profile: 'xcc', fires: true, spec: { powerDelayMs: 200 }, run: async (c) => {
    await powerOnOnce(c);
    expect(await c.d.setPower('off')).toMatchObject({ state: 'off' });
    expect(c.bmc.counters()).toMatchObject({ powerOff: 1, resetActions: { On: 1, ForceOff: 1 } });
  } },
  // iDRAC's own stale PowerState outlasts the conflict window; shown alone on the reference tree with a longer window.
  { quirk: 'power-on-conflict-after-off', profile: 'dmtf', add: ['power-on-conflict-after-off'], fires: true, spec: { quirkWindowMs: 1000 }, run: async ({ d, bmc }) => {
    await d.setPower('on');
    await d.setPower('off');
    await d.setPower('on');
    expect(bmc.state().power).toBe('On');
    expect(bmc.counters()).toMatchObject({ powerOn: 2, powerOff: 1, resetActions: { On: 2, ForceOff: 1 } });
  } },
  { quirk: 'already-in-state-409', profile: 'dmtf', add: ['already-in-state-409'], fires: true, run: async ({ d, bmc }) => {
    // Two clients (two workers, or an operator in the BMC UI) both see Off and both ask for On: the second
    // gets 409, re-reads the state, finds On, and reports success.
    // A second worker process: in one process the drivers of a BMC share its lock and could not race.
    const other = createBmcDriver({ address: bmc.address, credentials: { username: bmc.username, password: bmc.password }, redfish: { ...SIM_REDFISH, lockScope: 'another worker' } });
    try {
      await other.getPowerState();
      await d.getPowerState();
      const results = await Promise.all([d.setPower('on'), other.setPower('on')]);
      expect(results.map((r) => r.state)).toEqual(['on', 'on']);
    } finally {
      await other.close();
    }
    expect(bmc.state().power).toBe('On');
    expect(bmc.counters().powerOn).toBe(1);
  } },
  { quirk: 'power-change-too-fast', profile: 'ilo5', fires: true, run: async ({ d, bmc }) => {
    await d.setPower('on');
    expect((await d.setPower('reboot')).sent).toEqual(['ForceOff', 'On']);
    expect(bmc.counters()).toMatchObject({ powerOn: 2, powerOff: 1, resetActions: { On: 2, ForceOff: 1 } });
  } },
  { quirk: 'reset-202-task', profile: 'ami', fires: true, spec: { powerDelayMs: 200 }, run: powerOnOnce },

  // Boot override.
  { quirk: 'patch-during-post', profile: 'ilo5', fires: true, run: async ({ d, bmc }) => {
    await d.setPower('on');
    await d.setBootOverride({ device: 'pxe' });
    expect(bmc.state().boot.target).toBe('Pxe');
    expect(bmc.counters().bootOverrides).toBe(1);
  } },
  { quirk: 'full-boot-payload-required', profile: 'ami', fires: false, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'pxe' });
    expect(bmc.state().boot).toMatchObject({ target: 'Pxe', enabled: 'Once', mode: 'UEFI' });
  } },
  { quirk: 'override-enabled-reverts', profile: 'supermicro', fires: false, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'disk', persistent: true });
    expect(bmc.state().boot).toMatchObject({ target: 'Hdd', enabled: 'Continuous' });
  } },
  { quirk: 'boot-mode-resets-legacy', profile: 'supermicro', fires: false, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'pxe' });
    expect(bmc.state().boot).toMatchObject({ target: 'Pxe', mode: 'UEFI' });
  } },
  { quirk: 'continuous-override-rejected', profile: 'dmtf', add: ['continuous-override-rejected'], fires: true, run: async ({ d, bmc }) => {
    expect(await d.setBootOverride({ device: 'disk', persistent: true })).toMatchObject({ enabled: 'Once', reapplyBeforePowerOn: true });
    expect(bmc.state().boot).toMatchObject({ target: 'Hdd', enabled: 'Once' });
    expect(bmc.counters().bootOverrides).toBe(1);
  } },
  { quirk: 'boot-settings-object', profile: 'dmtf', add: ['boot-settings-object'], fires: false, run: async ({ d, bmc }) => {
    await d.setBootOverride({ device: 'cd' });
    expect(bmc.state().boot.target).toBe('Cd');
    expect(bmc.counters().bootOverrides).toBe(1);
  } },
  { quirk: 'managed-by-missing', profile: 'dmtf', add: ['managed-by-missing'], fires: false, run: async ({ d }) => {
    expect((await d.identify()).managerPath).toMatch(/^\/redfish\/v1\/Managers\//);
    expect((await d.inspection.inventory()).manager?.firmwareVersion).toBeTruthy();
  } },

  // Virtual media.
  { quirk: 'vmedia-patch-only', profile: 'xcc', fires: false, run: async (c) => {
    await insertEject(c);
  } },
  { quirk: 'eject-before-insert', profile: 'idrac', fires: false, run: async ({ d, bmc, files }) => {
    await d.virtualMedia.insert(files.urlFor('first.iso'));
    await d.virtualMedia.insert(files.url);
    expect(media(bmc).map((m) => m.image)).toEqual([files.url]);
    expect(bmc.counters()).toMatchObject({ mediaInserts: 2, mediaEjects: 1 });
  } },
  // Alone on the reference tree: on iDRAC the stale Inserted window makes the driver wait past this one.
  { quirk: 'insert-after-eject-5xx', profile: 'dmtf', add: ['insert-after-eject-5xx'], fires: true, run: async ({ d, bmc, files }) => {
    await d.virtualMedia.insert(files.urlFor('first.iso'));
    await d.virtualMedia.insert(files.url);
    expect(media(bmc).map((m) => m.image)).toEqual([files.url]);
    expect(bmc.counters()).toMatchObject({ mediaInserts: 2, mediaEjects: 1 });
  } },
  { quirk: 'stale-inserted-after-eject', profile: 'idrac', fires: true, run: async (c) => {
    await insertEject(c);
  } },
  { quirk: 'vmedia-slot1-only', profile: 'idrac', fires: false, run: async ({ d, bmc, files }) => {
    expect((await d.virtualMedia.insert(files.url)).slot).toMatch(/\/VirtualMedia\/1$/);
    await d.setBootOverride({ device: 'cd' });
    await d.setPower('on');
    expect(bmc.state().booted).toMatchObject({ image: files.url, failure: null });
  } },
  { quirk: 'vmedia-boot-needs-oem', profile: 'idrac', fires: false, run: async ({ d, bmc, files }) => {
    await d.virtualMedia.insert(files.url);
    expect(await d.setBootOverride({ device: 'cd' })).toMatchObject({ target: 'VCD-DVD' });
    await d.setPower('on');
    expect(bmc.state().booted).toMatchObject({ source: 'Oem:VCD-DVD', image: files.url, failure: null });
  } },
  { quirk: 'eject-needs-body', profile: 'ilo5', fires: true, run: async (c) => {
    await insertEject(c);
  } },
  { quirk: 'vmedia-boot-usbcd', profile: 'supermicro', fires: false, run: async ({ d, bmc, files }) => {
    await d.virtualMedia.insert(files.url);
    expect(await d.setBootOverride({ device: 'cd' })).toMatchObject({ target: 'UsbCd' });
    await d.setPower('on');
    expect(bmc.state().booted).toMatchObject({ image: files.url, failure: null });
  } },
  { quirk: 'insert-rejects-default-flags', profile: 'supermicro', fires: false, run: async (c) => {
    await insertEject(c);
  } },
  { quirk: 'transfer-protocol-required', profile: 'dmtf', add: ['transfer-protocol-required'], fires: true, run: async (c) => {
    await insertEject(c);
  } },
  { quirk: 'vmedia-dvd-only', profile: 'dmtf', add: ['vmedia-dvd-only'], fires: false, run: async (c) => {
    await insertEject(c);
  } },
  { quirk: 'image-url-no-query', profile: 'dmtf', add: ['image-url-no-query'], fires: true, run: async ({ d, bmc, files }) => {
    const err = await failure(d.virtualMedia.insert(`${files.url}?token=abc`));
    expect(err.code).toBe('VirtualMediaFailed');
    expect(err.disposition).toBe('permanent');
    expect(bmc.counters().mediaInserts).toBe(0);
  } },

  // BIOS.
  { quirk: 'bios-apply-time-required', profile: 'idrac', fires: false, run: async ({ d, bmc }) => {
    const { attributes } = await d.bios.get();
    const [name, value] = Object.entries(attributes).find(([, v]) => v === 'Enabled' || v === 'Disabled') ?? [];
    if (!name) throw new Error('no Enabled/Disabled attribute');
    const next = value === 'Enabled' ? 'Disabled' : 'Enabled';
    expect(await d.bios.apply({ [name]: next })).toMatchObject({ changed: true, applyTime: 'OnReset', rebootRequired: true });
    await d.setPower('on'); // a boot applies pending settings
    expect((await d.bios.get()).attributes[name]).toBe(next);
    expect(bmc.counters()).toMatchObject({ biosPatches: 1, biosApplies: 1 });
  } },
  { quirk: 'reset-bios-needs-body', profile: 'idrac', fires: true, run: async ({ d, bmc }) => {
    await d.bios.resetToDefaults();
    expect(bmc.counters().biosResets).toBe(1);
  } },
  { quirk: 'secureboot-license-required', profile: 'supermicro', fires: true, run: async ({ d }) => {
    expect(await d.secureBoot.get()).toEqual({ enabled: undefined, currentBoot: undefined, mode: undefined });
  } },

  // Firmware and tasks.
  // Not counted by the simulator (it is a task state): the driver is shown to have seen New and kept waiting.
  { quirk: 'task-starts-new', profile: 'dmtf', add: ['task-starts-new'], fires: false, spec: { taskDurationMs: 1500 }, run: async (c) => {
    expect(await flash(c, 'BIOS_9.99.1.exe')).toContain('New');
  } },
  // A BIOS update on iDRAC also waits for a host reboot (its own row below); these rows are about the task.
  { quirk: 'task-location-is-task', profile: 'idrac', fires: true, spec: { quirks: { remove: ['bios-update-waits-for-reboot'] } }, run: async (c) => void (await flash(c, 'BIOS_9.99.2.exe')) },
  { quirk: 'transient-404-new-task', profile: 'idrac', fires: true, spec: { quirks: { remove: ['bios-update-waits-for-reboot'] } }, run: async (c) => void (await flash(c, 'BIOS_9.99.3.exe')) },
  { quirk: 'update-202-no-location', profile: 'ilo5', fires: true, run: async (c) => void (await flash(c, 'U46_9.99_01_01_2030.fwpkg')) },
  { quirk: 'bios-firmware-staged', profile: 'ilo5', fires: true, run: async (c) => {
    const before = await c.d.firmware.list();
    await flash(c, 'bios-9.99.4.fwpkg');
    expect(Object.values(c.bmc.state().stagedFirmware)).toContain('9.99.4');
    await c.d.setPower('on'); // the flash happens at the next boot
    const after = await c.d.firmware.list();
    expect(after.map((f) => f.version)).toContain('9.99.4');
    expect(before.map((f) => f.version)).not.toContain('9.99.4');
  } },
  { quirk: 'update-service-busy', profile: 'xcc', fires: true, spec: { taskDurationMs: 1500 }, run: async ({ d, bmc, files }) => {
    const image = new Uint8Array(1024).fill(1);
    const first = await d.firmware.push({ image, filename: 'lnvgy_fw_uefi_9.99.1.uxz' });
    // A push reads HttpPushUriTargetsBusy first and stops before sending anything.
    const posts = bmc.counters().requests.POST ?? 0;
    const err = await failure(d.firmware.push({ image, filename: 'lnvgy_fw_uefi_9.99.2.uxz' }));
    expect(err).toMatchObject({ code: 'BmcBusy', disposition: 'transient' });
    expect(bmc.counters().requests.POST ?? 0).toBe(posts);
    // A SimpleUpdate meanwhile is refused by the BMC with 503 + Retry-After; the client waits it out and the
    // BMC accepts it once the first update is done: two updates, no more.
    const started = Date.now();
    const second = await d.firmware.simpleUpdate({ imageUrl: files.urlFor('lnvgy_fw_uefi_9.99.3.uxz') });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await d.firmware.waitTask(first)).toMatchObject({ ok: true });
    expect(await d.firmware.waitTask(second)).toMatchObject({ ok: true });
    expect(bmc.counters().firmwareUpdates).toBe(2);
  } },
  { quirk: 'bmc-reboots-after-update', profile: 'ilo5', fires: true, spec: { bmcRebootMs: 600 }, run: async ({ d, bmc, files }) => {
    // The BMC drops every connection while it reboots and forgets the session: the poll keeps going and logs in again.
    const started = await d.firmware.startUpdate({ imageUrl: files.urlFor('ilo5_9.99.bin') });
    expect(started.state).toBe('started');
    expect(await d.firmware.waitTask(started.ref)).toMatchObject({ ok: true });
    expect(bmc.counters()).toMatchObject({ bmcReboots: 1, firmwareUpdates: 1, firmwareFlashes: 1 });
    expect(bmc.counters().requestsWhileRebooting).toBeGreaterThan(0);
    expect((await d.firmware.list()).find((f) => f.component === 'bmc')?.version).toBe('9.99');
  } },
  { quirk: 'bios-update-waits-for-reboot', profile: 'idrac', fires: true, run: async ({ d, bmc, files }) => {
    const started = await d.firmware.startUpdate({ imageUrl: files.urlFor('BIOS_9.99.5.exe') });
    const uri = started.taskUri ?? '';
    await waitForState(d, uri, 'Starting');
    expect((await d.firmware.list()).find((f) => f.component === 'bios')?.version).toBe('2.2.4');
    // What the firmware workflow does for a BIOS update (as Ironic): reboot the host, then wait for the task.
    await d.setPower('on');
    expect(await d.firmware.waitTask(started.ref)).toMatchObject({ ok: true });
    expect((await d.firmware.list()).find((f) => f.component === 'bios')?.version).toBe('9.99.5');
    expect(bmc.counters()).toMatchObject({ firmwareUpdates: 1, firmwareFlashes: 1, boots: 1 });
  } },
  { quirk: 'firmware-id-carries-version', profile: 'idrac', fires: true, spec: { quirks: { remove: ['bmc-reboots-after-update'] } }, run: async ({ d, files }) => {
    const before = await d.firmware.list();
    expect(before.map((f) => f.id)).toContain('Installed-25227-1.20.50.52');
    const started = await d.firmware.startUpdate({ imageUrl: files.urlFor('iDRAC-with-Lifecycle-Controller_Firmware_9.99.6.exe') });
    await d.firmware.waitTask(started.ref);
    const after = await d.firmware.list();
    expect(after.filter((f) => f.source === 'FirmwareInventory').map((f) => [f.id, f.version, f.role])).toEqual(
      expect.arrayContaining([
        ['Installed-25227-9.99.6', '9.99.6', 'bmc'],
        ['Previous-25227-1.20.50.52', '1.20.50.52', 'bmc'],
      ]),
    );
    expect(after.find((f) => f.component === 'bmc')?.version).toBe('9.99.6');
  } },
  { quirk: 'firmware-inventory-dangling-member', profile: 'dmtf', add: ['firmware-inventory-dangling-member'], fires: true, run: async ({ d }) => {
    const { components, missing } = await d.firmware.inventory();
    expect(missing).toEqual([{ path: '/redfish/v1/UpdateService/FirmwareInventory/Removed-Component', status: 404 }]);
    expect(components.filter((f) => f.source === 'FirmwareInventory').map((f) => f.id)).toEqual(['BMC', 'SS', 'BIOS']);
    expect((await d.inspection.inventory()).warnings).toContain('firmware inventory: HTTP 404 on /redfish/v1/UpdateService/FirmwareInventory/Removed-Component');
  } },

  // Inventory.
  { quirk: 'network-adapters-400-os-down', profile: 'ilo5', fires: false, run: async ({ d }) => {
    const inv = await d.inspection.inventory();
    expect(inv.hardware.nics.length).toBeGreaterThan(0);
    expect(inv.hardware.cpu.count).toBeGreaterThan(0);
  } },
];

let sim: Simulator;
let files: Awaited<ReturnType<typeof serveIso>>;
const drivers: BmcDriver[] = [];

beforeAll(async () => {
  files = await serveIso();
  sim = await startSimulator({
    bmcs: CASES.map((c, i) => ({
      id: `q${i}`,
      profile: c.profile,
      quirkWindowMs: 300,
      taskDurationMs: 300,
      ...(c.add ? { quirks: { add: c.add } } : {}),
      ...c.spec,
    })),
  });
});

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await sim?.stop();
  await files?.close();
});

describe('every simulator quirk has a row here', () => {
  it('covers the registry', () => {
    expect(new Set(CASES.map((c) => c.quirk))).toEqual(new Set(QUIRKS.map((q) => q.id)));
  });
});

describe('the driver copes with each vendor quirk', () => {
  it.each(CASES.map((c, i) => [c.quirk, c.profile, i] as const))('%s (%s)', async (quirk, _profile, i) => {
    const row = CASES[i];
    const bmc = sim.bmc(`q${i}`);
    if (!row) throw new Error('no row');
    expect(bmc.quirks()).toContain(quirk);
    const d = createBmcDriver({ address: bmc.address, credentials: { username: bmc.username, password: bmc.password }, redfish: SIM_REDFISH });
    drivers.push(d);
    if (!(d instanceof RedfishDriver)) throw new Error('expected a Redfish driver');
    await row.run({ d, bmc, files });
    if (row.fires) expect(bmc.counters().quirks[quirk] ?? 0).toBeGreaterThan(0);
  });
});
