// One test per quirk in sim/quirks.ts: each shows what the simulated BMC does differently, and that the
// quirk is observable (counters().quirks[id]) or, for structural quirks, visible in the served tree. The
// first test fails when a quirk is added to the registry without a test here, or left out of the README.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type BmcSpec, QUIRKS, type QuirkId, type SimulatedBmc, startSimulator } from './index.ts';
import { useSimulatorFixture, type RedfishClient, redfishClient, until } from '../test/sim.ts';
import { sleep } from '../test/wait.ts';

const fixture = useSimulatorFixture();
const { running } = fixture;

async function start(spec: BmcSpec): Promise<{ bmc: SimulatedBmc; client: RedfishClient }> {
  const sim = await startSimulator({ bmcs: [{ quirkWindowMs: 60_000, taskDurationMs: 100, ...spec }] });
  running.push(sim);
  const [bmc] = sim.bmcs;
  if (!bmc) throw new Error('no BMC');
  return { bmc, client: redfishClient(bmc) };
}

function messageId(body: Record<string, unknown> | undefined): unknown {
  const error = body?.['error'] as { '@Message.ExtendedInfo'?: { MessageId?: string }[] } | undefined;
  return error?.['@Message.ExtendedInfo']?.[0]?.MessageId;
}

function hits(bmc: SimulatedBmc, id: QuirkId): number {
  return bmc.counters().quirks[id] ?? 0;
}

function link(value: unknown): string {
  return ((value ?? {}) as { '@odata.id'?: string })['@odata.id'] ?? '';
}

const DELL = '/redfish/v1/Systems/System.Embedded.1';
const DELL_RESET = `${DELL}/Actions/ComputerSystem.Reset`;
const DELL_SLOT1 = `${DELL}/VirtualMedia/1`;
const DELL_SLOT2 = `${DELL}/VirtualMedia/2`;
const DELL_IMPORT = '/redfish/v1/Managers/iDRAC.Embedded.1/Actions/Oem/EID_674_Manager.ImportSystemConfiguration';
/** Dell quirks that would get in the way of a test about another one. */
const DELL_NOISE: QuirkId[] = ['sys518-after-write', 'busy-503-after-power-on', 'power-on-conflict-after-off', 'stale-power-state', 'transient-404-new-task'];
const ILO = '/redfish/v1/Systems/1';
const ILO_RESET = `${ILO}/Actions/ComputerSystem.Reset`;
const SMC = '/redfish/v1/Systems/1';
const DMTF = '/redfish/v1/Systems/437XR1138R2';
const DMTF_CD1 = `${DMTF}/VirtualMedia/CD1`;

function bootOnceXml(device: string): string {
  return [
    '<SystemConfiguration><Component FQDD="iDRAC.Embedded.1">',
    '<Attribute Name="ServerBoot.1#BootOnce">Enabled</Attribute>',
    `<Attribute Name="ServerBoot.1#FirstBootDevice">${device}</Attribute>`,
    '</Component></SystemConfiguration>',
  ].join('');
}

async function dellVirtualBoot(client: RedfishClient, bmc: SimulatedBmc): Promise<void> {
  const imported = await client.post(DELL_IMPORT, { ShareParameters: { Target: ['ALL'] }, ImportBuffer: bootOnceXml('VCD-DVD') });
  expect(imported.status).toBe(202);
  const job = imported.headers.get('location') ?? '';
  expect(job).toMatch(/\/redfish\/v1\/TaskService\/Tasks\/JID_\d+$/);
  await until(async () => (await client.get(job)).json?.['TaskState'] === 'Completed');
  expect(bmc.state().oemBootOnce).toBe('VCD-DVD');
}

const cases: Record<QuirkId, () => Promise<void>> = {
  // ---------------------------------------------------------------- structural
  'vmedia-on-manager': async () => {
    for (const profile of ['ilo5', 'ami', 'xcc', 'supermicro']) {
      const { bmc, client } = await start({ profile });
      const system = (await client.get(bmc.systemPath)).json ?? {};
      const manager = link((system['Links'] as { ManagedBy: unknown[] }).ManagedBy[0]);
      const collection = link((await client.get(manager)).json?.['VirtualMedia']);
      expect(collection.startsWith(`${manager}/VirtualMedia`)).toBe(true);
      const own = link(system['VirtualMedia']);
      expect(own === '' || own.startsWith(manager)).toBe(true);
      const members = ((await client.get(collection)).json?.['Members'] as unknown[]).map(link);
      expect(members.length).toBeGreaterThan(0);
      expect(bmc.state().media.map((slot) => slot.slot)).toEqual(expect.arrayContaining(members));
    }
  },
  'reset-actioninfo-only': async () => {
    const { bmc, client } = await start({ profile: 'ami' });
    const reset = ((await client.get(bmc.systemPath)).json?.['Actions'] as Record<string, Record<string, unknown>>)['#ComputerSystem.Reset'] ?? {};
    expect(reset['ResetType@Redfish.AllowableValues']).toBeUndefined();
    const info = await client.get(String(reset['@Redfish.ActionInfo']));
    expect((info.json?.['Parameters'] as { AllowableValues: string[] }[])[0]?.AllowableValues).toEqual(['GracefulShutdown', 'ForceRestart', 'ForceOff', 'On']);
    const refused = await client.post(String(reset['target']), { ResetType: 'PushPowerButton' });
    expect(refused.status).toBe(400);
    expect(messageId(refused.json)).toBe('Base.1.5.ActionParameterValueNotInList');
    expect(hits(bmc, 'reset-actioninfo-only')).toBe(1);
    expect(bmc.state().power).toBe('Off');
  },
  'reset-no-force-on': async () => {
    const { bmc, client } = await start({ profile: 'ilo5' });
    const reset = ((await client.get(ILO)).json?.['Actions'] as Record<string, Record<string, unknown>>)['#ComputerSystem.Reset'] ?? {};
    expect(reset['ResetType@Redfish.AllowableValues']).not.toContain('ForceOn');
    const refused = await client.post(ILO_RESET, { ResetType: 'ForceOn' });
    expect(messageId(refused.json)).toBe('Base.1.5.ActionParameterValueNotInList');
    expect(hits(bmc, 'reset-no-force-on')).toBe(1);
    expect((await client.post(ILO_RESET, { ResetType: 'On' })).status).toBe(204);
  },
  'case-insensitive-uris': async () => {
    const { client } = await start({ profile: 'ilo5' });
    const biosLink = link((await client.get(ILO)).json?.['Bios']);
    expect(biosLink).toBe('/redfish/v1/systems/1/bios');
    const viaLink = await client.get(biosLink);
    expect(viaLink.status).toBe(200);
    expect((await client.get('/redfish/v1/SYSTEMS/1/BIOS')).json).toEqual(viaLink.json);
    const settingsLink = link((viaLink.json?.['@Redfish.Settings'] as { SettingsObject: unknown }).SettingsObject);
    expect(settingsLink).toBe('/redfish/v1/systems/1/bios/settings/');
    expect((await client.get(settingsLink)).json?.['Name']).toBe('BIOS Pending Settings');
    const strict = await start({ profile: 'ilo5', quirks: { remove: ['case-insensitive-uris'] } });
    expect((await strict.client.get(biosLink)).status).toBe(404);
  },
  'simpleupdate-actioninfo': async () => {
    const { bmc, client } = await start({ profile: 'dmtf' });
    const action = ((await client.get('/redfish/v1/UpdateService')).json?.['Actions'] as Record<string, Record<string, unknown>>)['#UpdateService.SimpleUpdate'] ?? {};
    expect(action['TransferProtocol@Redfish.AllowableValues']).toBeUndefined();
    const info = await client.get(String(action['@Redfish.ActionInfo']));
    const protocol = (info.json?.['Parameters'] as { Name: string; AllowableValues?: string[] }[]).find((parameter) => parameter.Name === 'TransferProtocol');
    expect(protocol?.AllowableValues).not.toContain('NFS');
    const refused = await client.post(String(action['target']), { ImageURI: fixture.files.add('/fw/a-1.bin', 1), TransferProtocol: 'NFS' });
    expect(messageId(refused.json)).toBe('Base.1.5.ActionParameterValueNotInList');
    expect(bmc.counters().firmwareUpdates).toBe(0);
  },
  'service-tag-in-sku': async () => {
    const { client } = await start({ profile: 'idrac' });
    const system = (await client.get(DELL)).json ?? {};
    const dell = (system['Oem'] as { Dell: { DellSystem: { ChassisServiceTag: string } } }).Dell.DellSystem;
    expect(system['SKU']).toBe(dell.ChassisServiceTag);
    expect(system['SerialNumber']).not.toBe(system['SKU']);
  },
  'multipart-push-update': async () => {
    const { bmc, client } = await start({ profile: 'xcc' });
    const service = (await client.get('/redfish/v1/UpdateService')).json ?? {};
    expect(service['MultipartHttpPushUri']).toBe('/mfwupdate');
    const form = new FormData();
    form.append('UpdateParameters', new Blob([JSON.stringify({ Targets: ['/redfish/v1/UpdateService/FirmwareInventory/BMC-Primary'], '@Redfish.OperationApplyTime': 'OnStartUpdateRequest' })], { type: 'application/json' }));
    form.append('UpdateFile', new Blob([new Uint8Array(1000)]), 'lnvgy_fw_xcc_tei-3.10.uxz');
    const pushed = await client.request('POST', '/mfwupdate', { raw: form, headers: { 'if-match': '*' } });
    expect(pushed.status).toBe(202);
    // The task's flash time (100 ms) passes, the point where an image applied at once would have flashed.
    const task = pushed.headers.get('location') ?? '';
    await until(async () => (await client.get(task)).json?.['PercentComplete'] === 99);
    expect(bmc.counters().firmwareFlashes).toBe(0);
    expect((await client.post('/redfish/v1/UpdateService/Actions/UpdateService.StartUpdate', {})).status).toBe(204);
    await until(() => bmc.counters().firmwareFlashes === 1);
    expect((await client.get('/redfish/v1/UpdateService/FirmwareInventory/BMC-Primary')).json?.['Version']).toBe('3.10');
    expect((await client.get('/redfish/v1/Managers/1')).json?.['FirmwareVersion']).toBe('3.10');
    expect(bmc.counters().firmwareBytesRead).toBe(1000);
  },

  // ---------------------------------------------------------------- ETags, errors
  'if-match-required': async () => {
    const { bmc, client } = await start({ profile: 'xcc' });
    const body = { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } };
    const refused = await client.patch('/redfish/v1/Systems/1', body);
    expect(refused.status).toBe(428);
    expect(hits(bmc, 'if-match-required')).toBe(1);
    expect((await client.patchWithEtag('/redfish/v1/Systems/1', body)).status).toBe(204);
    const relaxed = await start({ profile: 'xcc', quirks: { remove: ['if-match-required'] } });
    expect((await relaxed.client.patch('/redfish/v1/Systems/1', body)).status).toBe(204);
  },
  'weak-etag-strict-if-match': async () => {
    const { bmc, client } = await start({ profile: 'ilo5' });
    const system = await client.get(ILO);
    const tag = system.headers.get('etag') ?? '';
    expect(tag).toMatch(/^W\/"[0-9a-f]+"$/);
    expect(system.json?.['@odata.etag']).toBe(tag);
    const body = { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } };
    expect((await client.patch(ILO, body, { 'if-match': tag })).status).toBe(412);
    expect(hits(bmc, 'weak-etag-strict-if-match')).toBe(1);
    expect((await client.patch(ILO, body, { 'if-match': tag.slice(2) })).status).toBe(204);
  },
  'registries-406-identity': async () => {
    const { bmc, client } = await start({ profile: 'ilo5' });
    const registry = '/redfish/v1/RegistryStore/registries/en/Base.json';
    const refused = await client.get(registry, { 'accept-encoding': 'identity' });
    expect(refused.status).toBe(406);
    expect(hits(bmc, 'registries-406-identity')).toBe(1);
    expect((await client.get(registry, { 'accept-encoding': 'gzip' })).status).toBe(200);
    expect((await client.get(ILO, { 'accept-encoding': 'identity' })).status).toBe(200);
  },
  'sys518-after-write': async () => {
    const { bmc, client } = await start({ profile: 'idrac' });
    expect((await client.patch(DELL, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } })).status).toBe(204);
    const busy = await client.get(DELL);
    expect(busy.status).toBe(500);
    expect(messageId(busy.json)).toBe('IDRAC.2.8.SYS518');
    expect((await client.get(DELL)).status).toBe(200);
    expect(hits(bmc, 'sys518-after-write')).toBe(1);
  },
  'busy-503-after-power-on': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirkWindowMs: 500, quirks: { remove: ['sys518-after-write'] } });
    expect((await client.post(DELL_RESET, { ResetType: 'On' })).status).toBe(204);
    const busy = await client.get(DELL);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(hits(bmc, 'busy-503-after-power-on')).toBeGreaterThan(0);
    await until(async () => (await client.get(DELL)).status === 200);
  },

  // ---------------------------------------------------------------- power
  'stale-power-state': async () => {
    const { bmc, client } = await start({ profile: 'xcc', powerDelayMs: 300, quirkWindowMs: 500 });
    await client.post('/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', { ResetType: 'On' });
    expect((await client.get('/redfish/v1/Systems/1')).json?.['PowerState']).toBe('Off');
    await until(() => bmc.state().power === 'On');
    expect((await client.get('/redfish/v1/Systems/1')).json?.['PowerState']).toBe('Off');
    expect(hits(bmc, 'stale-power-state')).toBeGreaterThanOrEqual(2);
    await until(async () => (await client.get('/redfish/v1/Systems/1')).json?.['PowerState'] === 'On', 2000);
  },
  'power-on-conflict-after-off': async () => {
    const { bmc, client } = await start({ profile: 'idrac', initialPowerState: 'On', quirkWindowMs: 500, quirks: { remove: ['sys518-after-write'] } });
    expect((await client.post(DELL_RESET, { ResetType: 'ForceOff' })).status).toBe(204);
    const conflict = await client.post(DELL_RESET, { ResetType: 'On' });
    expect(conflict.status).toBe(409);
    expect(messageId(conflict.json)).toBe('Base.1.12.ActionParameterValueConflict');
    expect(hits(bmc, 'power-on-conflict-after-off')).toBe(1);
    await until(async () => (await client.post(DELL_RESET, { ResetType: 'On' })).status === 204);
    expect(bmc.counters().resetActions).toEqual({ ForceOff: 1, On: 1 });
  },
  'already-in-state-409': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: ['sys518-after-write'] } });
    const refused = await client.post(DELL_RESET, { ResetType: 'ForceOff' });
    expect(refused.status).toBe(409);
    expect(hits(bmc, 'already-in-state-409')).toBe(1);
    const plain = await start({ profile: 'dmtf' });
    expect((await plain.client.post(`${DMTF}/Actions/ComputerSystem.Reset`, { ResetType: 'ForceOff' })).status).toBe(204);
  },
  'power-change-too-fast': async () => {
    const { bmc, client } = await start({ profile: 'ilo5', quirkWindowMs: 500 });
    expect((await client.post(ILO_RESET, { ResetType: 'On' })).status).toBe(204);
    const refused = await client.post(ILO_RESET, { ResetType: 'ForceOff' });
    expect(refused.status).toBe(400);
    expect(messageId(refused.json)).toBe('iLO.2.14.InvalidOperationForSystemState');
    expect(hits(bmc, 'power-change-too-fast')).toBe(1);
    expect(bmc.state().power).toBe('On');
    await until(async () => (await client.post(ILO_RESET, { ResetType: 'ForceOff' })).status === 204);
    expect(bmc.state().power).toBe('Off');
  },
  'reset-202-task': async () => {
    const { bmc, client } = await start({ profile: 'ami', powerDelayMs: 150 });
    const accepted = await client.post('/redfish/v1/Systems/Self/Actions/ComputerSystem.Reset', { ResetType: 'On' });
    expect(accepted.status).toBe(202);
    const monitor = accepted.headers.get('location') ?? '';
    expect((await client.get(monitor)).status).toBe(202);
    await until(async () => (await client.get(monitor)).status === 200);
    expect((await client.get(monitor)).json?.['TaskState']).toBe('Completed');
    expect(bmc.state().power).toBe('On');
    expect(hits(bmc, 'reset-202-task')).toBe(1);
  },

  // ---------------------------------------------------------------- boot override
  'patch-during-post': async () => {
    const { bmc, client } = await start({ profile: 'ilo5', quirks: { remove: ['power-change-too-fast'] } });
    await client.post(ILO_RESET, { ResetType: 'On' });
    const refused = await client.patchWithEtag(ILO, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } }, true);
    expect(refused.status).toBe(400);
    expect(messageId(refused.json)).toBe('iLO.2.14.UnableToModifyDuringSystemPOST');
    expect(hits(bmc, 'patch-during-post')).toBe(1);
    const settled = await start({ profile: 'ilo5', quirkWindowMs: 0 });
    await settled.client.post(ILO_RESET, { ResetType: 'On' });
    expect((await settled.client.patchWithEtag(ILO, { Boot: { BootSourceOverrideTarget: 'Pxe' } }, true)).status).toBe(204);
  },
  'full-boot-payload-required': async () => {
    const { bmc, client } = await start({ profile: 'ami' });
    const path = '/redfish/v1/Systems/Self';
    const partial = await client.patch(path, { Boot: { BootSourceOverrideTarget: 'Cd' } });
    expect(partial.status).toBe(400);
    expect(messageId(partial.json)).toBe('Base.1.5.PropertyMissing');
    expect(hits(bmc, 'full-boot-payload-required')).toBe(1);
    const full = await client.patch(path, { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    expect(full.status).toBe(204);
    expect(bmc.state().boot).toMatchObject({ target: 'Cd', enabled: 'Once', mode: 'UEFI' });
  },
  'override-enabled-reverts': async () => {
    const { bmc, client } = await start({ profile: 'supermicro' });
    await client.patch(SMC, { Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideMode: 'UEFI' } });
    await client.patch(SMC, { Boot: { BootSourceOverrideTarget: 'Pxe' } });
    expect((await client.get(SMC)).json?.['Boot']).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' });
    expect(hits(bmc, 'override-enabled-reverts')).toBe(1);
  },
  'boot-mode-resets-legacy': async () => {
    const { bmc, client } = await start({ profile: 'supermicro' });
    await client.patch(SMC, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } });
    expect((await client.get(SMC)).json?.['Boot']).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideMode: 'Legacy' });
    expect(hits(bmc, 'boot-mode-resets-legacy')).toBe(1);
    await client.patch(SMC, { Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    expect(bmc.state().boot.mode).toBe('UEFI');
  },
  'continuous-override-rejected': async () => {
    const { bmc, client } = await start({ profile: 'dmtf', quirks: { add: ['continuous-override-rejected'] } });
    const refused = await client.patch(DMTF, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Continuous' } });
    expect(messageId(refused.json)).toBe('Base.1.5.PropertyValueNotInList');
    expect(hits(bmc, 'continuous-override-rejected')).toBe(1);
    const plain = await start({ profile: 'dmtf' });
    expect((await plain.client.patch(DMTF, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Continuous' } })).status).toBe(204);
  },
  'boot-settings-object': async () => {
    const { bmc, client } = await start({ profile: 'dmtf', quirks: { add: ['boot-settings-object'] } });
    const system = (await client.get(DMTF)).json ?? {};
    const pending = link((system['@Redfish.Settings'] as { SettingsObject: unknown }).SettingsObject);
    expect(pending).toBe(`${DMTF}/Pending`);
    expect(system['Boot']).not.toHaveProperty('BootSourceOverrideTarget');
    const body = { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } };
    expect(messageId((await client.patch(DMTF, body)).json)).toBe('Base.1.5.PropertyNotWritable');
    expect(hits(bmc, 'boot-settings-object')).toBe(1);
    expect((await client.patchWithEtag(pending, body)).status).toBe(204);
    expect((await client.get(pending)).json?.['Boot']).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' });
    await client.post(`${DMTF}/Actions/ComputerSystem.Reset`, { ResetType: 'On' });
    expect(bmc.state().booted?.source).toBe('Pxe');
  },
  'managed-by-missing': async () => {
    const { client } = await start({ profile: 'dmtf', quirks: { add: ['managed-by-missing'] } });
    const links = (await client.get(DMTF)).json?.['Links'] as Record<string, unknown>;
    expect(links).not.toHaveProperty('ManagedBy');
    expect(links['Managers']).toEqual([{ '@odata.id': '/redfish/v1/Managers/BMC' }]);
  },

  // ---------------------------------------------------------------- virtual media
  'vmedia-patch-only': async () => {
    const { bmc, client } = await start({ profile: 'xcc' });
    const slot = '/redfish/v1/Managers/1/VirtualMedia/CD';
    const view = await client.get(slot);
    expect(view.json).not.toHaveProperty('Actions');
    expect(view.headers.get('allow')).toContain('PATCH');
    const url = fixture.files.add('/media/xcc.iso', 4096);
    expect((await client.patchWithEtag(slot, { Image: url })).status).toBe(400);
    expect(hits(bmc, 'vmedia-patch-only')).toBe(1);
    expect((await client.post(`${slot}/Actions/VirtualMedia.InsertMedia`, { Image: url })).status).toBe(501);
    expect((await client.patchWithEtag(slot, { Image: url, Inserted: true, WriteProtected: true })).status).toBe(204);
    expect((await client.get(slot)).json).toMatchObject({ Inserted: true, Image: url });
    expect((await client.patchWithEtag(slot, { Image: null, Inserted: false })).status).toBe(204);
    expect((await client.get(slot)).json?.['Inserted']).toBe(false);
    expect(bmc.counters()).toMatchObject({ mediaInserts: 1, mediaEjects: 1 });
  },
  'eject-before-insert': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: DELL_NOISE } });
    const insert = `${DELL_SLOT1}/Actions/VirtualMedia.InsertMedia`;
    expect((await client.post(insert, { Image: fixture.files.add('/media/d1.iso', 10) })).status).toBe(204);
    const again = await client.post(insert, { Image: fixture.files.add('/media/d2.iso', 10) });
    expect(again.status).toBe(400);
    expect(messageId(again.json)).toBe('IDRAC.2.8.VRM0012');
    expect(hits(bmc, 'eject-before-insert')).toBe(1);
    expect(bmc.counters().mediaInserts).toBe(1);
  },
  'insert-after-eject-5xx': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirkWindowMs: 500, quirks: { remove: DELL_NOISE } });
    const insert = `${DELL_SLOT1}/Actions/VirtualMedia.InsertMedia`;
    const url = fixture.files.add('/media/d3.iso', 10);
    await client.post(insert, { Image: url });
    await client.post(`${DELL_SLOT1}/Actions/VirtualMedia.EjectMedia`, {});
    const busy = await client.post(insert, { Image: url });
    expect(busy.status).toBe(500);
    expect(hits(bmc, 'insert-after-eject-5xx')).toBe(1);
    await until(async () => (await client.post(insert, { Image: url })).status === 204);
    expect(bmc.counters().mediaInserts).toBe(2);
  },
  'stale-inserted-after-eject': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirkWindowMs: 500, quirks: { remove: DELL_NOISE } });
    const url = fixture.files.add('/media/d4.iso', 10);
    await client.post(`${DELL_SLOT1}/Actions/VirtualMedia.InsertMedia`, { Image: url });
    await client.post(`${DELL_SLOT1}/Actions/VirtualMedia.EjectMedia`, {});
    expect((await client.get(DELL_SLOT1)).json).toMatchObject({ Inserted: true, Image: url });
    expect(bmc.state().media.find((slot) => slot.id === '1')?.inserted).toBe(false);
    expect(hits(bmc, 'stale-inserted-after-eject')).toBe(1);
    await until(async () => (await client.get(DELL_SLOT1)).json?.['Inserted'] === false);
  },
  'vmedia-slot1-only': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: DELL_NOISE } });
    const url = fixture.files.add('/media/d5.iso', 10);
    await client.post(`${DELL_SLOT2}/Actions/VirtualMedia.InsertMedia`, { Image: url });
    await dellVirtualBoot(client, bmc);
    await client.post(DELL_RESET, { ResetType: 'On' });
    expect(bmc.state().booted).toMatchObject({ source: 'Oem:VCD-DVD', image: null, failure: 'virtual media slot 2 cannot boot on this BMC' });
    await client.post(`${DELL_SLOT2}/Actions/VirtualMedia.EjectMedia`, {});
    await client.post(`${DELL_SLOT1}/Actions/VirtualMedia.InsertMedia`, { Image: url });
    await dellVirtualBoot(client, bmc);
    await client.post(DELL_RESET, { ResetType: 'ForceRestart' });
    expect(bmc.state().booted).toMatchObject({ source: 'Oem:VCD-DVD', image: url, slot: DELL_SLOT1 });
  },
  'vmedia-boot-needs-oem': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: DELL_NOISE } });
    const url = fixture.files.add('/media/d6.iso', 10);
    await client.post(`${DELL_SLOT1}/Actions/VirtualMedia.InsertMedia`, { Image: url });
    await client.patch(DELL, { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' } });
    await client.post(DELL_RESET, { ResetType: 'On' });
    expect(bmc.state().booted).toMatchObject({ source: 'Cd', image: null, failure: 'booted the physical optical drive, which is empty' });
    await dellVirtualBoot(client, bmc);
    await client.post(DELL_RESET, { ResetType: 'ForceRestart' });
    expect(bmc.state().booted).toMatchObject({ source: 'Oem:VCD-DVD', image: url });
    expect(bmc.counters().bootOverrides).toBe(2);
  },
  'eject-needs-body': async () => {
    const { bmc, client } = await start({ profile: 'ilo5' });
    const slot = '/redfish/v1/Managers/1/VirtualMedia/2';
    await client.post(`${slot}/Actions/VirtualMedia.InsertMedia`, { Image: fixture.files.add('/media/h1.iso', 10) });
    expect((await client.request('POST', `${slot}/Actions/VirtualMedia.EjectMedia`)).status).toBe(415);
    expect(hits(bmc, 'eject-needs-body')).toBe(1);
    expect((await client.post(`${slot}/Actions/VirtualMedia.EjectMedia`, {})).status).toBe(204);
    expect(bmc.counters().mediaEjects).toBe(1);
  },
  'vmedia-boot-usbcd': async () => {
    const { bmc, client } = await start({ profile: 'supermicro' });
    const url = fixture.files.add('/media/s1.iso', 10);
    await client.post('/redfish/v1/Managers/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia', { Image: url });
    const boot = (target: string) => ({ Boot: { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    await client.patch(SMC, boot('Cd'));
    await client.post(`${SMC}/Actions/ComputerSystem.Reset`, { ResetType: 'On' });
    expect(bmc.state().booted).toMatchObject({ source: 'Cd', image: null });
    await client.patch(SMC, boot('UsbCd'));
    await client.post(`${SMC}/Actions/ComputerSystem.Reset`, { ResetType: 'ForceRestart' });
    expect(bmc.state().booted).toMatchObject({ source: 'UsbCd', image: url });
  },
  'insert-rejects-default-flags': async () => {
    const { bmc, client } = await start({ profile: 'supermicro' });
    const insert = '/redfish/v1/Managers/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia';
    const url = fixture.files.add('/media/s2.iso', 10);
    const refused = await client.post(insert, { Image: url, Inserted: true, WriteProtected: true });
    expect(messageId(refused.json)).toBe('Base.1.5.ActionParameterNotSupported');
    expect(hits(bmc, 'insert-rejects-default-flags')).toBe(1);
    expect((await client.post(insert, { Image: url })).status).toBe(204);
  },
  'transfer-protocol-required': async () => {
    const { bmc, client } = await start({ profile: 'dmtf', quirks: { add: ['transfer-protocol-required'] } });
    const insert = `${DMTF_CD1}/Actions/VirtualMedia.InsertMedia`;
    const url = fixture.files.add('/media/n1.iso', 10);
    expect(messageId((await client.post(insert, { Image: url })).json)).toBe('Base.1.5.ActionParameterMissing');
    expect(hits(bmc, 'transfer-protocol-required')).toBe(1);
    expect((await client.post(insert, { Image: url, TransferProtocolType: 'HTTP' })).status).toBe(204);
  },
  'vmedia-dvd-only': async () => {
    const { client } = await start({ profile: 'dmtf', quirks: { add: ['vmedia-dvd-only'] } });
    expect((await client.get(DMTF_CD1)).json?.['MediaTypes']).toEqual(['DVD']);
  },
  'image-url-no-query': async () => {
    const { bmc, client } = await start({ profile: 'dmtf', quirks: { add: ['image-url-no-query'] } });
    const url = fixture.files.add('/media/q.iso', 10);
    const refused = await client.post(`${DMTF_CD1}/Actions/VirtualMedia.InsertMedia`, { Image: `${url}?token=1&x=2` });
    expect(refused.status).toBe(400);
    expect(hits(bmc, 'image-url-no-query')).toBe(1);
    expect(fixture.files.hits.get('/media/q.iso')).toBeUndefined();
  },

  // ---------------------------------------------------------------- BIOS
  'bios-apply-time-required': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: DELL_NOISE } });
    const settings = `${DELL}/Bios/Settings`;
    expect((await client.patch(settings, { Attributes: { SysMfrContactInfo: 'ops@example.com' } })).status).toBe(204);
    expect((await client.get(settings)).json?.['Attributes']).toEqual({ SysMfrContactInfo: 'ops@example.com' });
    const second = await client.patch(settings, { Attributes: { SetBootOrderDis: 'x' } });
    expect(messageId(second.json)).toBe('IDRAC.2.8.SYS011');
    await client.post(DELL_RESET, { ResetType: 'On' });
    expect(bmc.state().bios.pending).toEqual({ SysMfrContactInfo: 'ops@example.com' });
    expect(bmc.state().bios.current['SysMfrContactInfo']).toBe('www.dell.com');
    expect(hits(bmc, 'bios-apply-time-required')).toBe(2);

    const proper = await start({ profile: 'idrac', quirks: { remove: DELL_NOISE } });
    await proper.client.patch(settings, { Attributes: { SysMfrContactInfo: 'ops@example.com' }, '@Redfish.SettingsApplyTime': { ApplyTime: 'OnReset' } });
    await proper.client.post(DELL_RESET, { ResetType: 'On' });
    expect(proper.bmc.state().bios.current['SysMfrContactInfo']).toBe('ops@example.com');
  },
  'reset-bios-needs-body': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: DELL_NOISE } });
    const action = `${DELL}/Bios/Actions/Bios.ResetBios`;
    expect((await client.request('POST', action)).status).toBe(400);
    expect(hits(bmc, 'reset-bios-needs-body')).toBe(1);
    expect((await client.post(action, {})).status).toBe(204);
    expect(bmc.counters().biosResets).toBe(1);
  },
  'secureboot-license-required': async () => {
    const { bmc, client } = await start({ profile: 'supermicro' });
    const refused = await client.get(`${SMC}/SecureBoot`);
    expect(refused.status).toBe(400);
    expect(messageId(refused.json)).toBe('SMC.1.0.OemLicenseNotPassed');
    expect(hits(bmc, 'secureboot-license-required')).toBe(1);
    const licensed = await start({ profile: 'supermicro', quirks: { remove: ['secureboot-license-required'] } });
    expect((await licensed.client.get(`${SMC}/SecureBoot`)).json?.['SecureBootEnable']).toBe(false);
  },

  // ---------------------------------------------------------------- firmware and tasks
  'task-starts-new': async () => {
    const { bmc, client } = await start({ profile: 'idrac', taskDurationMs: 600, quirks: { remove: [...DELL_NOISE, 'bios-update-waits-for-reboot'] } });
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/bios-2.3.0.bin', 10) });
    const task = accepted.headers.get('location') ?? '';
    expect((await client.get(task)).json?.['TaskState']).toBe('New');
    await until(async () => (await client.get(task)).json?.['TaskState'] === 'Running');
    await until(async () => (await client.get(task)).json?.['TaskState'] === 'Completed', 3000);
    expect(bmc.state().firmware['/redfish/v1/UpdateService/FirmwareInventory/Installed-159-2.2.4']).toBe('2.3.0');
  },
  'task-location-is-task': async () => {
    const { bmc, client } = await start({ profile: 'idrac', taskDurationMs: 400, quirks: { remove: DELL_NOISE } });
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/bios-2.4.0.bin', 10) });
    const location = accepted.headers.get('location') ?? '';
    expect(location).toMatch(/^\/redfish\/v1\/TaskService\/Tasks\/JID_\d{12}$/);
    const running = await client.get(location);
    expect(running.status).toBe(200);
    expect(running.json?.['TaskState']).not.toBe('Completed');
    expect(hits(bmc, 'task-location-is-task')).toBe(1);
  },
  'transient-404-new-task': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirkWindowMs: 500, quirks: { remove: ['sys518-after-write'] } });
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/bios-2.5.0.bin', 10) });
    const task = accepted.headers.get('location') ?? '';
    expect((await client.get(task)).status).toBe(404);
    expect(hits(bmc, 'transient-404-new-task')).toBe(1);
    await until(async () => (await client.get(task)).status === 200);
  },
  'update-202-no-location': async () => {
    const { bmc, client } = await start({ profile: 'ilo5', quirks: { remove: ['bmc-reboots-after-update'] } });
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/ilo5_2.47.bin', 10), TransferProtocol: 'HTTP' });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toBeNull();
    const task = String(accepted.json?.['@odata.id']);
    expect(task).toMatch(/^\/redfish\/v1\/TaskService\/Tasks\/\d+$/);
    await until(async () => (await client.get(task)).json?.['TaskState'] === 'Completed');
    expect(hits(bmc, 'update-202-no-location')).toBe(1);
    expect((await client.get('/redfish/v1/UpdateService/FirmwareInventory/1')).json?.['Version']).toBe('2.47');
    expect((await client.get('/redfish/v1/Managers/1')).json?.['FirmwareVersion']).toBe('2.47');
  },
  'bios-firmware-staged': async () => {
    const { bmc, client } = await start({ profile: 'ilo5', quirkWindowMs: 0 });
    const rom = '/redfish/v1/UpdateService/FirmwareInventory/2';
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/U46_2.90.fwpkg', 10), Targets: [rom] });
    const task = String(accepted.json?.['@odata.id']);
    await until(async () => (await client.get(task)).json?.['TaskState'] === 'Completed');
    expect((await client.get(rom)).json?.['Version']).toBe('A43 v2.52 (10/29/2021)');
    expect(bmc.state().stagedFirmware).toEqual({ [rom]: '2.90' });
    expect(hits(bmc, 'bios-firmware-staged')).toBe(1);
    await client.post(ILO_RESET, { ResetType: 'On' });
    expect((await client.get(rom)).json?.['Version']).toBe('2.90');
    expect((await client.get(ILO)).json?.['BiosVersion']).toBe('2.90');
  },
  'update-service-busy': async () => {
    const { bmc, client } = await start({ profile: 'xcc', taskDurationMs: 400 });
    const first = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/uefi-3.1.bin', 10) });
    expect(first.status).toBe(202);
    expect((await client.get('/redfish/v1/UpdateService')).json?.['HttpPushUriTargetsBusy']).toBe(true);
    const second = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/uefi-3.2.bin', 10) });
    expect(second.status).toBe(503);
    expect(hits(bmc, 'update-service-busy')).toBe(1);
    await until(() => bmc.counters().firmwareFlashes === 1);
    expect((await client.get('/redfish/v1/UpdateService')).json?.['HttpPushUriTargetsBusy']).toBe(false);
  },
  'bmc-reboots-after-update': async () => {
    const { bmc, client } = await start({ profile: 'dmtf', quirks: { add: ['bmc-reboots-after-update'] }, bmcRebootMs: 500 });
    await client.login();
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', {
      ImageURI: fixture.files.add('/fw/bmc-1.50.bin', 10),
      Targets: ['/redfish/v1/Managers/BMC'],
    });
    expect(accepted.status).toBe(202);
    await until(() => bmc.state().bmcRebooting);
    await expect(client.get('/redfish/v1/Managers/BMC')).rejects.toThrow();
    expect(bmc.counters().requestsWhileRebooting).toBeGreaterThan(0);
    await until(() => !bmc.state().bmcRebooting && bmc.state().flashes[0]?.outcome === 'completed');
    expect(hits(bmc, 'bmc-reboots-after-update')).toBe(1);
    expect(bmc.counters()).toMatchObject({ bmcReboots: 1, firmwareFlashes: 1 });
    // The reboot dropped every session; Basic auth works again at once.
    expect((await client.get('/redfish/v1/Managers/BMC')).status).toBe(401);
    const basic = redfishClient(bmc);
    expect((await basic.get('/redfish/v1/Managers/BMC')).json?.['FirmwareVersion']).toBe('1.50');
  },
  'bios-update-waits-for-reboot': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: [...DELL_NOISE, 'task-starts-new'] } });
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/BIOS_9.9.9.exe', 10) });
    const task = accepted.headers.get('location') ?? '';
    await until(async () => (await client.get(task)).json?.['TaskState'] === 'Starting');
    // Time is the thing tested: nothing but a reboot moves this task on (no state to wait for); 2.5x its
    // flash time (100 ms) later it must still be waiting.
    await sleep(250);
    expect((await client.get(task)).json).toMatchObject({ TaskState: 'Starting', PercentComplete: 0 });
    expect((await client.get(DELL)).json?.['BiosVersion']).toBe('2.2.4');
    expect(hits(bmc, 'bios-update-waits-for-reboot')).toBe(1);
    await client.post(DELL_RESET, { ResetType: 'On' });
    await until(async () => (await client.get(task)).json?.['TaskState'] === 'Completed');
    expect((await client.get(DELL)).json?.['BiosVersion']).toBe('9.9.9');
    expect(bmc.counters().firmwareFlashes).toBe(1);
  },
  'firmware-id-carries-version': async () => {
    const { bmc, client } = await start({ profile: 'idrac', quirks: { remove: [...DELL_NOISE, 'bmc-reboots-after-update'] } });
    const inventory = '/redfish/v1/UpdateService/FirmwareInventory';
    const before = ((await client.get(inventory)).json?.['Members'] as unknown[]).map(link);
    expect(before).toContain(`${inventory}/Installed-25227-1.20.50.52`);
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', {
      ImageURI: fixture.files.add('/fw/iDRAC-with-Lifecycle-Controller_Firmware_7.00.00.00.exe', 10),
    });
    await until(async () => (await client.get(accepted.headers.get('location') ?? '')).json?.['TaskState'] === 'Completed');
    const after = ((await client.get(inventory)).json?.['Members'] as unknown[]).map(link);
    expect(after).toEqual(expect.arrayContaining([`${inventory}/Installed-25227-7.00.00.00`, `${inventory}/Previous-25227-1.20.50.52`]));
    expect(after).not.toContain(`${inventory}/Installed-25227-1.20.50.52`);
    expect((await client.get(`${inventory}/Installed-25227-1.20.50.52`)).status).toBe(404);
    expect((await client.get(`${inventory}/Installed-25227-7.00.00.00`)).json).toMatchObject({ Id: 'Installed-25227-7.00.00.00', Version: '7.00.00.00' });
    expect((await client.get(`${inventory}/Previous-25227-1.20.50.52`)).json).toMatchObject({ Version: '1.20.50.52', Updateable: false });
    expect(hits(bmc, 'firmware-id-carries-version')).toBeGreaterThan(0);
  },
  'firmware-inventory-dangling-member': async () => {
    const { bmc, client } = await start({ profile: 'dmtf', quirks: { add: ['firmware-inventory-dangling-member'] } });
    const inventory = '/redfish/v1/UpdateService/FirmwareInventory';
    const listed = (await client.get(inventory)).json;
    const members = (listed?.['Members'] as unknown[]).map(link);
    expect(listed?.['Members@odata.count']).toBe(members.length);
    const statuses = await Promise.all(members.map(async (member) => (await client.get(member)).status));
    expect(statuses.filter((status) => status === 404)).toHaveLength(1);
    expect(statuses.filter((status) => status === 200)).toHaveLength(members.length - 1);
    expect(hits(bmc, 'firmware-inventory-dangling-member')).toBe(1);
  },

  // ---------------------------------------------------------------- inventory
  'network-adapters-400-os-down': async () => {
    const { bmc, client } = await start({ profile: 'ilo5' });
    const adapters = '/redfish/v1/Chassis/1/NetworkAdapters';
    expect((await client.get(adapters)).status).toBe(400);
    expect(hits(bmc, 'network-adapters-400-os-down')).toBe(1);
    await client.post(ILO_RESET, { ResetType: 'On' });
    expect((await client.get(adapters)).status).toBe(200);
  },
};

describe('quirk registry', () => {
  it('has a test here and a row in sim/README.md for every quirk', () => {
    expect(Object.keys(cases).sort()).toEqual(QUIRKS.map((entry) => entry.id).sort());
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    for (const entry of QUIRKS) expect(readme).toContain(`\`${entry.id}\``);
    expect(QUIRKS.length).toBeGreaterThanOrEqual(15);
  });
});

describe('quirks', () => {
  for (const entry of QUIRKS) {
    it(`${entry.id}: ${entry.description}`, async () => {
      await cases[entry.id as QuirkId]();
    });
  }
});
