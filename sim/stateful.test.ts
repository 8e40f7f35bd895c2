// The simulator's stateful behaviour over real HTTP on loopback, on the DMTF reference profile (no vendor
// quirks in the way): auth and sessions, power, boot override, ETags, virtual media that is really fetched,
// booting from it, BIOS pending/apply, firmware tasks, and Redfish error answers.
import { describe, expect, it } from 'vitest';
import { startSimulator } from './index.ts';
import { useSimulatorFixture, redfishClient, until } from '../test/sim.ts';
import { sleep } from '../test/wait.ts';

const SYSTEM = '/redfish/v1/Systems/437XR1138R2';
const RESET = `${SYSTEM}/Actions/ComputerSystem.Reset`;
const CD1 = `${SYSTEM}/VirtualMedia/CD1`;
const INSERT = `${CD1}/Actions/VirtualMedia.InsertMedia`;
const EJECT = `${CD1}/Actions/VirtualMedia.EjectMedia`;

const fixture = useSimulatorFixture();
const { running } = fixture;

async function dmtf(extra: Parameters<typeof startSimulator>[0] extends infer O ? Partial<O> & { bmc?: Record<string, unknown> } : never = {}) {
  const { bmc, ...options } = extra;
  const sim = await startSimulator({ bmcs: [{ profile: 'dmtf', quirkWindowMs: 0, taskDurationMs: 100, ...bmc }], ...options });
  running.push(sim);
  const [first] = sim.bmcs;
  if (!first) throw new Error('no BMC');
  return { sim, bmc: first, client: redfishClient(first) };
}

function messageId(body: Record<string, unknown> | undefined): unknown {
  const error = body?.['error'] as { '@Message.ExtendedInfo'?: { MessageId?: string }[] } | undefined;
  return error?.['@Message.ExtendedInfo']?.[0]?.MessageId;
}

describe('authentication and sessions', () => {
  it('serves the service root, /redfish and $metadata without credentials and refuses the rest with 401', async () => {
    const { bmc } = await dmtf();
    const anonymous = redfishClient(bmc, { username: 'nobody', password: 'x' });
    const root = await fetch(`${bmc.url}`);
    expect(root.status).toBe(200);
    expect(((await root.json()) as { Systems: unknown }).Systems).toEqual({ '@odata.id': '/redfish/v1/Systems' });
    expect((await fetch(`http://127.0.0.1:${bmc.port}/redfish`)).status).toBe(200);
    const metadata = await fetch(`${bmc.url}/$metadata`);
    expect(metadata.headers.get('content-type')).toContain('xml');
    expect(await metadata.text()).toContain('<edmx:Edmx');

    const bare = await fetch(`http://127.0.0.1:${bmc.port}${SYSTEM}`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const wrong = await anonymous.get(SYSTEM);
    expect(wrong.status).toBe(401);
    expect(messageId(wrong.json)).toBe('Base.1.5.NoValidSession');
    expect(bmc.counters().authFailures).toBe(2);
  });

  it('creates, lists, uses and deletes a session (X-Auth-Token, Location)', async () => {
    const { bmc, client } = await dmtf();
    const location = await client.login();
    expect(location).toMatch(/^\/redfish\/v1\/SessionService\/Sessions\/[0-9a-f]+$/);
    const listed = await client.get('/redfish/v1/SessionService/Sessions');
    expect(listed.json?.['Members']).toEqual([{ '@odata.id': location }]);
    expect((await client.get(SYSTEM)).status).toBe(200);
    expect((await client.delete(location)).status).toBe(204);
    expect((await client.get(SYSTEM)).status).toBe(401);
    expect(bmc.counters()).toMatchObject({ sessionsCreated: 1, sessionsDeleted: 1 });
  });

  it('expires idle sessions after SessionTimeout', async () => {
    const { bmc, client } = await dmtf({ sessionTimeoutSec: 1 });
    await client.login();
    const service = await client.get('/redfish/v1/SessionService');
    expect(service.json?.['SessionTimeout']).toBe(1);
    // Time is the thing tested: a session expires after SessionTimeout idle, and polling with it would keep it alive.
    await sleep(1200);
    expect((await client.get(SYSTEM)).status).toBe(401);
    expect(bmc.counters().sessionsExpired).toBe(1);
  });

  it('limits concurrent sessions', async () => {
    const { bmc } = await dmtf({ maxSessions: 2 });
    await redfishClient(bmc).login();
    await redfishClient(bmc).login();
    const third = await redfishClient(bmc).post('/redfish/v1/SessionService/Sessions', { UserName: 'admin', Password: 'password' });
    expect(third.status).toBe(503);
    expect(messageId(third.json)).toBe('Base.1.5.SessionLimitExceeded');
    expect(bmc.counters().sessionsCreated).toBe(2);
  });

  it('refuses a login with a wrong password', async () => {
    const { bmc } = await dmtf();
    const response = await redfishClient(bmc).post('/redfish/v1/SessionService/Sessions', { UserName: 'admin', Password: 'nope' });
    expect(response.status).toBe(401);
    expect(bmc.counters().sessionsCreated).toBe(0);
  });
});

describe('power', () => {
  it('takes powerDelayMs, shows PoweringOn meanwhile, boots once per power-on', async () => {
    const { bmc, client } = await dmtf({ bmc: { powerDelayMs: 150 } });
    expect((await client.get(SYSTEM)).json?.['PowerState']).toBe('Off');
    expect((await client.post(RESET, { ResetType: 'On' })).status).toBe(204);
    expect((await client.get(SYSTEM)).json?.['PowerState']).toBe('PoweringOn');
    await until(async () => (await client.get(SYSTEM)).json?.['PowerState'] === 'On');
    expect((await client.post(RESET, { ResetType: 'On' })).status).toBe(204);
    expect(bmc.counters()).toMatchObject({ resetActions: { On: 2 }, powerOn: 1, boots: 1 });

    await client.post(RESET, { ResetType: 'ForceRestart' });
    await until(() => bmc.state().power === 'On' && bmc.state().transition === null);
    expect(bmc.counters()).toMatchObject({ powerOff: 1, powerOn: 2, boots: 2, resetActions: { On: 2, ForceRestart: 1 } });
    await client.post(RESET, { ResetType: 'ForceOff' });
    expect((await client.get(SYSTEM)).json?.['PowerState']).toBe('PoweringOff');
    await until(() => bmc.state().power === 'Off');
  });

  it('cancels a power change overtaken by the opposite one, without counting a transition', async () => {
    const { bmc, client } = await dmtf({ bmc: { powerDelayMs: 200 } });
    await client.post(RESET, { ResetType: 'On' });
    await client.post(RESET, { ResetType: 'ForceOff' });
    // The ForceOff's change, started after the On's with the same delay, ends after the On's would have.
    await until(() => bmc.state().transition === null);
    expect(bmc.state()).toMatchObject({ power: 'Off', transition: null, bootCount: 0 });
    expect(bmc.counters()).toMatchObject({ powerOn: 0, powerOff: 0, resetActions: { On: 1, ForceOff: 1 } });
  });

  it('finishes a power-off that an On overtakes, then powers on and boots', async () => {
    const { bmc, client } = await dmtf({ bmc: { powerDelayMs: 200 } });
    await client.post(RESET, { ResetType: 'On' });
    await until(() => bmc.state().power === 'On' && bmc.state().transition === null);
    await client.post(RESET, { ResetType: 'ForceOff' });
    expect((await client.get(SYSTEM)).json?.['PowerState']).toBe('PoweringOff');
    await client.post(RESET, { ResetType: 'On' });
    await until(() => bmc.state().power === 'On' && bmc.state().transition === null && bmc.state().bootCount === 2);
    expect(bmc.counters()).toMatchObject({ powerOn: 2, powerOff: 1, boots: 2, resetActions: { On: 2, ForceOff: 1 } });
  });

  it('refuses ResetTypes outside the published list and a missing ResetType', async () => {
    const { bmc, client } = await dmtf();
    const bad = await client.post(RESET, { ResetType: 'Hibernate' });
    expect(bad.status).toBe(400);
    expect(messageId(bad.json)).toBe('Base.1.5.ActionParameterValueNotInList');
    const missing = await client.post(RESET, {});
    expect(messageId(missing.json)).toBe('Base.1.5.ActionParameterMissing');
    expect(bmc.state().power).toBe('Off');
    expect(bmc.counters().resetActions).toEqual({});
  });
});

describe('boot override and ETags', () => {
  it('stores Target/Enabled/Mode, checks them against AllowableValues, and consumes Once at boot', async () => {
    const { bmc, client } = await dmtf();
    const patched = await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    expect(patched.status).toBe(204);
    expect((await client.get(SYSTEM)).json?.['Boot']).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' });
    const bad = await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Floppy' } });
    expect(bad.status).toBe(400);
    expect(messageId(bad.json)).toBe('Base.1.5.PropertyValueNotInList');
    const readOnly = await client.patch(SYSTEM, { SKU: 'x' });
    expect(messageId(readOnly.json)).toBe('Base.1.5.PropertyNotWritable');
    await client.post(RESET, { ResetType: 'On' });
    expect(bmc.state().booted).toMatchObject({ seq: 1, source: 'Pxe', image: null });
    expect((await client.get(SYSTEM)).json?.['Boot']).toMatchObject({ BootSourceOverrideEnabled: 'Disabled' });
    expect(bmc.counters().bootOverrides).toBe(1);
  });

  it('answers 412 for a stale If-Match and accepts the current ETag or *', async () => {
    const { client } = await dmtf();
    const first = await client.get(SYSTEM);
    const tag = first.headers.get('etag') ?? '';
    expect(tag).toMatch(/^"[0-9a-f]{16}"$/);
    expect((await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Hdd' } }, { 'if-match': tag })).status).toBe(204);
    const stale = await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Cd' } }, { 'if-match': tag });
    expect(stale.status).toBe(412);
    expect((await client.get(SYSTEM)).json?.['Boot']).toMatchObject({ BootSourceOverrideTarget: 'Hdd' });
    expect((await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Cd' } }, { 'if-match': '*' })).status).toBe(204);
    expect((await client.get(SYSTEM)).headers.get('etag')).not.toBe(tag);
  });
});

describe('virtual media', () => {
  it('really fetches the image, counts its bytes, and shows it inserted', async () => {
    const { bmc, client } = await dmtf();
    const url = fixture.files.add('/media/ramdisk.iso', 300_000);
    expect((await client.post(INSERT, { Image: url })).status).toBe(204);
    await until(() => bmc.state().media.find((slot) => slot.id === 'CD1')?.bytesRead === 300_000);
    expect(fixture.files.hits.get('/media/ramdisk.iso')).toBe(1);
    const slot = await client.get(CD1);
    expect(slot.json).toMatchObject({ Inserted: true, Image: url, ConnectedVia: 'URI', ImageName: 'ramdisk.iso' });
    expect(bmc.counters()).toMatchObject({ mediaInserts: 1, mediaBytesRead: 300_000 });
  });

  it('fails the insert like a BMC when the URL is 404 or unreachable, and leaves the slot empty', async () => {
    const { bmc, client } = await dmtf();
    const missing = await client.post(INSERT, { Image: `${fixture.files.origin}/media/nope.iso` });
    expect(missing.status).toBe(400);
    expect(messageId(missing.json)).toBe('Base.1.5.ResourceAtUriUnauthorized');
    const unreachable = await client.post(INSERT, { Image: 'http://127.0.0.1:1/x.iso' });
    expect(unreachable.status).toBe(400);
    expect(messageId(unreachable.json)).toBe('Base.1.5.CouldNotEstablishConnection');
    expect((await client.get(CD1)).json?.['Inserted']).toBe(false);
    expect(bmc.counters()).toMatchObject({ mediaInserts: 0, mediaReadFailures: 2 });
  });

  it('ejects, and a second eject changes nothing', async () => {
    const { bmc, client } = await dmtf();
    await client.post(INSERT, { Image: fixture.files.add('/media/a.iso', 10) });
    expect((await client.post(EJECT, {})).status).toBe(204);
    expect((await client.post(EJECT)).status).toBe(204);
    expect((await client.get(CD1)).json).toMatchObject({ Inserted: false, ConnectedVia: 'NotConnected' });
    expect(bmc.counters()).toMatchObject({ mediaInserts: 1, mediaEjects: 1 });
  });

  it('boots the inserted ISO after a power-on with a one-time Cd override', async () => {
    const { bmc, client } = await dmtf();
    const url = fixture.files.add('/media/boot.iso', 2048);
    await client.post(INSERT, { Image: url });
    await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    await client.post(RESET, { ResetType: 'On' });
    expect(bmc.state().booted).toMatchObject({ source: 'Cd', image: url, slot: CD1, mode: 'UEFI', failure: null });
    await client.post(RESET, { ResetType: 'ForceRestart' });
    expect(bmc.state().booted).toMatchObject({ seq: 2, source: 'Hdd', image: null });
  });

  it('records a failed CD boot when no media is inserted', async () => {
    const { bmc, client } = await dmtf();
    await client.patch(SYSTEM, { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' } });
    await client.post(RESET, { ResetType: 'On' });
    expect(bmc.state().booted).toMatchObject({ source: 'Cd', image: null, failure: 'no media in a CD/DVD slot' });
  });
});

describe('BIOS settings', () => {
  it('keeps changes pending in the settings object and applies them at the next boot', async () => {
    const { bmc, client } = await dmtf();
    const bios = await client.get(`${SYSTEM}/Bios`);
    const settings = bios.json?.['@Redfish.Settings'] as { SettingsObject: { '@odata.id': string }; ETag: string };
    expect(settings.SettingsObject['@odata.id']).toBe(`${SYSTEM}/Bios/Settings`);
    const settingsEtag = (await client.get(`${SYSTEM}/Bios/Settings`)).headers.get('etag');
    expect(settings.ETag).toBe(settingsEtag);
    const patched = await client.patchWithEtag(`${SYSTEM}/Bios/Settings`, { Attributes: { ProcTurboMode: 'Disabled', ProcCoreDisable: 2 } });
    expect(patched.status).toBe(204);
    expect((await client.get(`${SYSTEM}/Bios/Settings`)).json?.['Attributes']).toMatchObject({ ProcTurboMode: 'Disabled', ProcCoreDisable: 2 });
    expect((await client.get(`${SYSTEM}/Bios`)).json?.['Attributes']).toMatchObject({ ProcTurboMode: 'Enabled', ProcCoreDisable: 0 });
    await client.post(RESET, { ResetType: 'On' });
    const after = await client.get(`${SYSTEM}/Bios`);
    expect(after.json?.['Attributes']).toMatchObject({ ProcTurboMode: 'Disabled', ProcCoreDisable: 2 });
    expect(after.json?.['@Redfish.Settings']).toMatchObject({ Messages: [{ MessageId: 'Base.1.5.Success' }] });
    expect(bmc.state().bios.pending).toEqual({});
    expect(bmc.counters()).toMatchObject({ biosPatches: 1, biosApplies: 1 });
  });

  it('refuses unknown attributes and wrong types, and PATCH on Bios itself', async () => {
    const { client } = await dmtf();
    const unknown = await client.patch(`${SYSTEM}/Bios/Settings`, { Attributes: { NoSuchThing: 1 } });
    expect(messageId(unknown.json)).toBe('Base.1.5.PropertyUnknown');
    const type = await client.patch(`${SYSTEM}/Bios/Settings`, { Attributes: { ProcCoreDisable: 'two' } });
    expect(messageId(type.json)).toBe('Base.1.5.PropertyValueTypeError');
    const direct = await client.patch(`${SYSTEM}/Bios`, { Attributes: { ProcTurboMode: 'Disabled' } });
    expect(direct.status).toBe(405);
    expect(direct.headers.get('allow')).toBe('GET, HEAD');
  });

  it('resets BIOS settings to the defaults at the next boot', async () => {
    const { bmc, client } = await dmtf();
    await client.patch(`${SYSTEM}/Bios/Settings`, { Attributes: { ProcTurboMode: 'Disabled' } });
    await client.post(RESET, { ResetType: 'On' });
    expect(bmc.state().bios.current['ProcTurboMode']).toBe('Disabled');
    expect((await client.post(`${SYSTEM}/Bios/Actions/Bios.ResetBios`)).status).toBe(204);
    await client.post(RESET, { ResetType: 'ForceRestart' });
    expect(bmc.state().bios.current['ProcTurboMode']).toBe('Enabled');
    expect(bmc.counters().biosResets).toBe(1);
  });
});

describe('firmware updates', () => {
  it('SimpleUpdate fetches the image and a Task changes the BIOS version once', async () => {
    const { bmc, client } = await dmtf();
    const url = fixture.files.add('/fw/bios-P79-v2.10.bin', 4096);
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: url, TransferProtocol: 'HTTP' });
    expect(accepted.status).toBe(202);
    const monitor = accepted.headers.get('location') ?? '';
    expect(monitor).toMatch(/^\/redfish\/v1\/TaskService\/TaskMonitors\/\d+$/);
    const running = await client.get(monitor);
    expect(running.status).toBe(202);
    expect(running.json?.['TaskState']).toBe('Running');
    await until(async () => (await client.get(monitor)).status === 200);
    const done = await client.get(monitor);
    expect(done.json).toMatchObject({ TaskState: 'Completed', TaskStatus: 'OK', PercentComplete: 100 });
    expect((await client.get('/redfish/v1/UpdateService/FirmwareInventory/BIOS')).json?.['Version']).toBe('2.10');
    expect((await client.get(SYSTEM)).json?.['BiosVersion']).toBe('2.10');
    expect(fixture.files.hits.get('/fw/bios-P79-v2.10.bin')).toBe(1);
    expect(bmc.counters()).toMatchObject({ firmwareUpdates: 1, firmwareFlashes: 1, firmwareBytesRead: 4096 });
    const tasks = await client.get('/redfish/v1/TaskService/Tasks');
    expect(tasks.json?.['Members']).toContainEqual({ '@odata.id': `/redfish/v1/TaskService/Tasks/${monitor.split('/').pop()}` });
  });

  it('ends the Task in Exception when the image cannot be fetched, leaving the version alone', async () => {
    const { bmc, client } = await dmtf();
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: `${fixture.files.origin}/fw/missing-1.2.bin` });
    const monitor = accepted.headers.get('location') ?? '';
    await until(async () => (await client.get(monitor)).status === 200);
    expect((await client.get(monitor)).json).toMatchObject({ TaskState: 'Exception', TaskStatus: 'Critical' });
    expect((await client.get('/redfish/v1/UpdateService/FirmwareInventory/BIOS')).json?.['Version']).toBe('P79 v1.45');
    expect(bmc.counters().firmwareFlashes).toBe(0);
  });

  it('takes a raw image pushed to HttpPushUri and honours Targets', async () => {
    const { bmc, client } = await dmtf();
    const pushed = await client.request('POST', '/FWUpdate', {
      raw: new Uint8Array(2048),
      headers: { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="bmc-1.47.0.bin"' },
    });
    expect(pushed.status).toBe(202);
    await until(() => bmc.counters().firmwareFlashes === 1);
    expect(bmc.state().firmware['/redfish/v1/UpdateService/FirmwareInventory/BMC']).toBe('1.47.0');
    const bad = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: `${fixture.files.origin}/x-1.bin`, Targets: ['/redfish/v1/Chassis/1U'] });
    expect(messageId(bad.json)).toBe('Base.1.5.ActionParameterValueNotInList');
  });

  it('cancels a running task with DELETE on its monitor', async () => {
    const { bmc, client } = await dmtf({ bmc: { taskDurationMs: 2000 } });
    const accepted = await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/bios-3.0.bin', 10) });
    const monitor = accepted.headers.get('location') ?? '';
    expect((await client.delete(monitor)).status).toBe(204);
    expect((await client.get(monitor)).json?.['TaskState']).toBe('Cancelled');
    // A second update with the same flash time, started after the cancelled one, completes: by then the
    // cancelled one would have flashed too.
    await client.post('/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate', { ImageURI: fixture.files.add('/fw/bios-3.1.bin', 10) });
    await until(() => bmc.counters().firmwareFlashes === 1, 10_000);
    expect(bmc.state().flashes.map((flash) => [flash.version, flash.outcome])).toEqual([
      ['3.0', 'cancelled'],
      ['3.1', 'completed'],
    ]);
  });
});

describe('queries', () => {
  it('expands collection members one level with $expand', async () => {
    const { client } = await dmtf();
    const expanded = await client.get(`${SYSTEM}/EthernetInterfaces?$expand=.($levels=1)`);
    const members = expanded.json?.['Members'] as { Id?: string; MACAddress?: string }[];
    expect(members.length).toBe(4);
    expect(members.find((member) => member.Id === '12446A3B0411')?.MACAddress).toBe('12:44:6A:3B:04:11');
    const plain = await client.get(`${SYSTEM}/EthernetInterfaces`);
    expect(plain.json?.['Members']).toContainEqual({ '@odata.id': `${SYSTEM}/EthernetInterfaces/12446A3B0411` });
  });
});

describe('errors like a real BMC', () => {
  it('answers 404, 405 with Allow, 501 for unsupported actions, and HEAD without a body', async () => {
    const { client } = await dmtf();
    const missing = await client.get('/redfish/v1/Systems/nope');
    expect(missing.status).toBe(404);
    expect(messageId(missing.json)).toBe('Base.1.5.ResourceMissingAtURI');
    const chassis = await client.patch('/redfish/v1/Chassis/1U', { AssetTag: 'x' });
    expect(chassis.status).toBe(405);
    expect(chassis.headers.get('allow')).toContain('GET');
    expect((await client.delete(SYSTEM)).status).toBe(405);
    expect((await client.post('/redfish/v1/Systems', {})).status).toBe(405);
    const oem = await client.post(`${SYSTEM}/Oem/Contoso/Actions/Contoso.Reset`, {});
    expect(oem.status).toBe(501);
    expect(messageId(oem.json)).toBe('Base.1.5.ActionNotSupported');
    const head = await client.request('HEAD', SYSTEM);
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('etag')).toBe((await client.get(SYSTEM)).headers.get('etag'));
    const malformed = await client.request('PATCH', SYSTEM, { raw: '{not json', headers: { 'content-type': 'application/json' } });
    expect(messageId(malformed.json)).toBe('Base.1.5.MalformedJSON');
  });
});
