import { afterEach, describe, expect, it } from 'vitest';
import { parseBmcAddress, type RedfishBmcAddress } from '../../../domain/bmc-address.ts';
import { basicResources, startFakeRedfish, type FakeRedfish, type FakeRedfishOptions, type Json } from '../../../test/fakes/redfish-server.ts';
import { withSharedReads } from '../reads.ts';
import { RedfishDriver } from './driver.ts';
import { failure } from '../../../test/expect-failure.ts';

const SYS = '/redfish/v1/Systems/1';
const RESET = `${SYS}/Actions/ComputerSystem.Reset`;
const CD = `${SYS}/VirtualMedia/CD1`;

let fakes: FakeRedfish[] = [];
let drivers: RedfishDriver[] = [];

afterEach(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await Promise.all(fakes.map((f) => f.close()));
  fakes = [];
  drivers = [];
});

async function fake(options: Partial<FakeRedfishOptions> & { system?: Json; root?: Json } = {}): Promise<FakeRedfish> {
  const f = await startFakeRedfish({ resources: basicResources({ system: options.system, root: options.root }), ...options });
  fakes.push(f);
  return f;
}

function driver(f: FakeRedfish, extra: { password?: string; path?: string; auth?: 'auto' | 'session' | 'basic'; scheme?: string } = {}): RedfishDriver {
  const address = parseBmcAddress(`${extra.scheme ?? 'redfish'}+http://127.0.0.1:${f.port}${extra.path ?? SYS}`) as RedfishBmcAddress;
  const d = new RedfishDriver({
    address,
    credentials: { username: 'admin', password: extra.password ?? 'secret' },
    client: { retryDelayMs: 10, maxInlineRetryAfterMs: 2000, auth: extra.auth ?? 'auto' },
    timings: { powerPollInitialMs: 0, powerPollIntervalMs: 20, powerTimeoutMs: 1000, retryDelayMs: 10, attempts: 4, maxRetryDelayMs: 2000, taskPollIntervalMs: 10 },
  });
  drivers.push(d);
  return d;
}

/** A reset handler that applies the power change on the spot. */
function powerActions(f?: { onReset?: (type: string) => void }): FakeRedfishOptions['actions'] {
  return {
    [RESET]: (body, fk) => {
      const type = String(body.ResetType);
      f?.onReset?.(type);
      const sys = fk.resources[SYS] as Json;
      if (['On', 'ForceOn', 'ForceRestart', 'GracefulRestart', 'PowerCycle'].includes(type)) sys.PowerState = 'On';
      if (['ForceOff', 'GracefulShutdown'].includes(type)) sys.PowerState = 'Off';
      return { status: 204 };
    },
  };
}

const posts = (f: FakeRedfish, path: string) => f.requests.filter((r) => r.method === 'POST' && r.path === path);

describe('Redfish auth', () => {
  it('logs in with a session, sends X-Auth-Token, and DELETEs the session on close', async () => {
    const f = await fake({ sessions: true });
    const d = driver(f);
    expect(await d.getPowerState()).toBe('off');
    const authed = f.requests.filter((r) => r.path.startsWith(SYS));
    expect(authed.every((r) => r.auth === 'session')).toBe(true);
    expect(posts(f, '/redfish/v1/SessionService/Sessions')).toHaveLength(1);
    const sessionPost = posts(f, '/redfish/v1/SessionService/Sessions')[0];
    expect(sessionPost?.headers.authorization).toBeUndefined();
    await d.close();
    expect(f.deletedSessions).toEqual(['/redfish/v1/SessionService/Sessions/1']);
  });

  it('logs in again once when the session expired (401), then carries on', async () => {
    const f = await fake({ sessions: true });
    const d = driver(f);
    await d.getPowerState();
    f.tokens.clear(); // the BMC forgot the session
    expect(await d.getPowerState()).toBe('off');
    expect(posts(f, '/redfish/v1/SessionService/Sessions')).toHaveLength(2);
  });

  it('fails with BmcAuthFailed, without looping, when the re-login is refused too', async () => {
    const f = await fake({ sessions: true });
    const d = driver(f);
    await d.getPowerState();
    f.tokens.clear();
    let logins = 0;
    const fk = await fake({
      sessions: true,
      intercept: (req) => (req.method === 'POST' && req.path.endsWith('/Sessions') && ++logins > 1 ? { status: 401, body: { error: { code: 'Base.1.8.NoValidSession', message: 'nope' } } } : undefined),
    });
    const d2 = driver(fk);
    await d2.getPowerState();
    fk.tokens.clear();
    const err = await failure(d2.getPowerState());
    expect(err.code).toBe('BmcAuthFailed');
    expect(logins).toBe(2);
  });

  it('falls back to basic auth when the service has no SessionService (sushy-tools)', async () => {
    const f = await fake();
    const d = driver(f);
    await d.getPowerState();
    expect(f.requests.filter((r) => r.path.startsWith(SYS)).every((r) => r.auth === 'basic')).toBe(true);
    expect(f.requests.some((r) => r.path.includes('Sessions'))).toBe(false);
  });

  it('refuses a wrong password with BmcAuthFailed, a message without the password, and no retry storm', async () => {
    const f = await fake({ sessions: true });
    const d = driver(f, { password: 'hunter2-wrong' });
    const err = await failure(d.getPowerState());
    expect(err.code).toBe('BmcAuthFailed');
    expect(err.disposition).toBe('permanent');
    expect(err.message).toContain("user 'admin'");
    expect(err.message).not.toContain('hunter2');
    // root, the session POST (401), then basic auth once (401): no loop.
    expect(f.requests.length).toBeLessThanOrEqual(4);
  });
});

describe('Redfish ETags', () => {
  it('sends If-Match with the ETag of the GET on PATCH', async () => {
    const f = await fake({ requireIfMatch: true });
    const d = driver(f);
    const res = await d.setBootOverride({ device: 'pxe' });
    expect(res).toMatchObject({ target: 'Pxe', enabled: 'Once', mode: 'UEFI', changed: true });
    const patch = f.requests.find((r) => r.method === 'PATCH');
    expect(patch?.headers['if-match']).toMatch(/^"[0-9a-f]{8}"$/);
  });

  it('retries a weak ETag in its strong form, then without If-Match (sushy ladder)', async () => {
    const seen: (string | undefined)[] = [];
    const f = await fake({
      weakEtags: true,
      intercept: (req) => {
        if (req.method !== 'PATCH') return undefined;
        const m = req.headers['if-match'];
        seen.push(typeof m === 'string' ? m : undefined);
        return m ? { status: 412, body: { error: { code: 'Base.1.8.PreconditionFailed', message: 'no' } } } : undefined;
      },
    });
    const d = driver(f);
    await d.setBootOverride({ device: 'disk' });
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatch(/^W\/"/);
    expect(seen[1]).toBe(seen[0]?.slice(2));
    expect(seen[2]).toBeUndefined();
    expect((f.resources[SYS]?.Boot as Json).BootSourceOverrideTarget).toBe('Hdd');
  });
});

describe('Redfish 503 and Retry-After', () => {
  it('waits Retry-After on 503 and then succeeds', async () => {
    let busy = 1;
    const f = await fake({ intercept: (req) => (req.path === SYS && busy-- > 0 ? { status: 503, headers: { 'retry-after': '1' } } : undefined) });
    const d = driver(f);
    const started = Date.now();
    expect(await d.getPowerState()).toBe('off');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('surfaces a long Retry-After as BmcBusy with retryAfterMs, without waiting it out', async () => {
    const f = await fake({ intercept: (req) => (req.path === SYS ? { status: 503, headers: { 'retry-after': '120' } } : undefined) });
    const d = driver(f);
    const started = Date.now();
    const err = await failure(d.getPowerState());
    expect(err.code).toBe('BmcBusy');
    expect(err.retryAfterMs).toBe(120_000);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('Redfish power', () => {
  it('sends nothing when the host is already in the requested state', async () => {
    const f = await fake({ system: { PowerState: 'On' }, actions: powerActions() });
    const res = await driver(f).setPower('on');
    expect(res).toMatchObject({ state: 'on', changed: false, sent: [] });
    expect(posts(f, RESET)).toHaveLength(0);
  });

  it('uses the inline AllowableValues: ForceOn when On is not offered', async () => {
    const f = await fake({
      system: { Actions: { '#ComputerSystem.Reset': { target: RESET, 'ResetType@Redfish.AllowableValues': ['ForceOn', 'ForceOff', 'GracefulShutdown'] } } },
      actions: powerActions(),
    });
    const res = await driver(f).setPower('on');
    expect(res.sent).toEqual(['ForceOn']);
    expect(res.state).toBe('on');
  });

  it('reads the ActionInfo when there are no inline values, once per connection', async () => {
    const info = `${SYS}/ResetActionInfo`;
    const f = await fake({
      system: { Actions: { '#ComputerSystem.Reset': { target: RESET, '@Redfish.ActionInfo': info } } },
      actions: powerActions(),
    });
    f.resources[info] = { Parameters: [{ Name: 'ResetType', AllowableValues: ['ForceOn', 'ForceOff', 'PowerCycle'] }] };
    const d = driver(f);
    expect((await d.setPower('on')).sent).toEqual(['ForceOn']);
    expect((await d.setPower('off')).sent).toEqual(['ForceOff']);
    expect(f.requests.filter((r) => r.path === info)).toHaveLength(1);
  });

  it('distrusts an inline list with values outside the enum and reads the ActionInfo (Supermicro X12)', async () => {
    const info = `${SYS}/ResetActionInfo`;
    const f = await fake({
      system: { PowerState: 'On', Actions: { '#ComputerSystem.Reset': { target: RESET, 'ResetType@Redfish.AllowableValues': ['On', 'ForceOff', 'GracefulShutdownGracefulRestart'], '@Redfish.ActionInfo': info } } },
      actions: powerActions(),
    });
    f.resources[info] = { Parameters: [{ Name: 'ResetType', AllowableValues: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart'] }] };
    expect((await driver(f).setPower('soft-off')).sent).toEqual(['GracefulShutdown']);
  });

  it('assumes the standard enum when neither is published', async () => {
    const f = await fake({ actions: powerActions() });
    expect((await driver(f).setPower('on')).sent).toEqual(['On']);
  });

  it('refuses an action the BMC does not offer with BmcUnsupported, before sending anything', async () => {
    const f = await fake({
      system: { PowerState: 'On', Actions: { '#ComputerSystem.Reset': { target: RESET, 'ResetType@Redfish.AllowableValues': ['On', 'ForceOff'] } } },
      actions: powerActions(),
    });
    const err = await failure(driver(f).setPower('soft-off'));
    expect(err.code).toBe('BmcUnsupported');
    expect(posts(f, RESET)).toHaveLength(0);
  });

  it('polls at a fixed interval until the state is reached', async () => {
    let polls = 0;
    const f = await fake({
      actions: { [RESET]: () => ({ status: 204 }) },
      intercept: (req, fk) => {
        if (req.method === 'GET' && req.path === SYS && posts(fk, RESET).length > 0 && ++polls === 4) (fk.resources[SYS] as Json).PowerState = 'On';
        return undefined;
      },
    });
    const started = Date.now();
    const res = await driver(f).setPower('on');
    expect(res.state).toBe('on');
    expect(polls).toBe(4);
    // Three gaps of the 20 ms interval (loose bound for loaded CI machines).
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('lets a host that is powering off reach Off before sending On (an On then could cancel the off unbooted)', async () => {
    let polls = 0;
    const f = await fake({
      system: { PowerState: 'PoweringOff' },
      actions: powerActions(),
      intercept: (req, fk) => {
        const sys = fk.resources[SYS] as Json;
        if (req.method === 'GET' && req.path === SYS && sys.PowerState === 'PoweringOff' && ++polls === 3) sys.PowerState = 'Off';
        return undefined;
      },
    });
    const res = await driver(f).setPower('on');
    expect(res).toMatchObject({ state: 'on', sent: ['On'] });
    // The On went out only after a GET had shown Off.
    const firstPost = f.requests.findIndex((r) => r.method === 'POST' && r.path === RESET);
    expect(polls).toBe(3);
    expect(f.requests.slice(0, firstPost).filter((r) => r.method === 'GET' && r.path === SYS).length).toBeGreaterThanOrEqual(3);
  });

  it('gives up with PowerStateNotReached (transient) at the deadline', async () => {
    const f = await fake({ actions: { [RESET]: () => ({ status: 204 }) } });
    const d = driver(f);
    const started = Date.now();
    const err = await failure(d.setPower('on', { timeoutMs: 300 }));
    expect(err.code).toBe('PowerStateNotReached');
    expect(err.disposition).toBe('transient');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(posts(f, RESET)).toHaveLength(1);
  });

  it('treats "already on" (409) as success when the state reads back on', async () => {
    const f = await fake({
      actions: {
        [RESET]: (_b, fk) => {
          (fk.resources[SYS] as Json).PowerState = 'On';
          return { status: 409, body: { error: { code: 'Base.1.8.GeneralError', message: 'Server is already powered ON.' } } };
        },
      },
    });
    expect((await driver(f).setPower('on')).state).toBe('on');
  });

  it("retries iDRAC10's 409 ActionParameterValueConflict on On until it is accepted", async () => {
    let refusals = 2;
    const f = await fake({
      actions: {
        [RESET]: (_b, fk) => {
          if (refusals-- > 0) return { status: 409, body: { error: { '@Message.ExtendedInfo': [{ MessageId: 'Base.1.12.ActionParameterValueConflict', Message: 'conflict' }] } }, headers: { 'retry-after': '0' } };
          (fk.resources[SYS] as Json).PowerState = 'On';
          return { status: 204 };
        },
      },
    });
    const res = await driver(f).setPower('on');
    expect(res.state).toBe('on');
    expect(posts(f, RESET)).toHaveLength(3);
  });

  it('reboots a running host as ForceOff then On (Ironic), and a stopped one with On only', async () => {
    const types: string[] = [];
    const f = await fake({ system: { PowerState: 'On' }, actions: powerActions({ onReset: (t) => types.push(t) }) });
    const d = driver(f);
    expect((await d.setPower('reboot')).sent).toEqual(['ForceOff', 'On']);
    await d.setPower('off');
    types.length = 0;
    expect((await d.setPower('reboot')).sent).toEqual(['On']);
    expect(types).toEqual(['On']);
  });
});

describe('Redfish boot override', () => {
  it('writes Boot keys to the settings object when the BMC keeps them there (iDRAC10, SE450)', async () => {
    const pending = `${SYS}/Settings`;
    const f = await fake({ system: { '@Redfish.Settings': { SettingsObject: { '@odata.id': pending } } }, requireIfMatch: true });
    f.resources[pending] = { Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideMode: 'UEFI', 'BootSourceOverrideTarget@Redfish.AllowableValues': ['Pxe', 'Cd', 'Hdd'] } };
    const res = await driver(f).setBootOverride({ device: 'cd' });
    expect(res.changed).toBe(true);
    const patches = f.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => p.path)).toEqual([pending]);
    expect((f.resources[pending]?.Boot as Json).BootSourceOverrideTarget).toBe('Cd');
  });

  it('sends nothing when the override is already set', async () => {
    const f = await fake({ system: { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } } });
    expect((await driver(f).setBootOverride({ device: 'cd' })).changed).toBe(false);
    expect(f.requests.some((r) => r.method === 'PATCH')).toBe(false);
  });

  it('falls back to Once (re-applied before power on) where Continuous is not allowed', async () => {
    const f = await fake({ system: { Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled', 'BootSourceOverrideEnabled@Redfish.AllowableValues': ['Disabled', 'Once'] } } });
    const res = await driver(f).setBootOverride({ device: 'disk', persistent: true });
    expect(res).toMatchObject({ enabled: 'Once', reapplyBeforePowerOn: true, mode: undefined });
    const body = f.requests.find((r) => r.method === 'PATCH')?.body as Json;
    expect(body).toEqual({ Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Once' } });
  });

  it('uses UsbCd for virtual media on Supermicro', async () => {
    const f = await fake({
      root: { Vendor: 'Supermicro' },
      system: { Manufacturer: 'Supermicro', Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideMode: 'UEFI', 'BootSourceOverrideTarget@Redfish.AllowableValues': ['Pxe', 'Hdd', 'Cd', 'UsbCd'] } },
    });
    expect((await driver(f).setBootOverride({ device: 'cd' })).target).toBe('UsbCd');
  });

  it('boots the virtual CD of an idrac-virtualmedia host through the OEM ImportSystemConfiguration job', async () => {
    const importTarget = '/redfish/v1/Managers/BMC/Actions/Oem/EID_674_Manager.ImportSystemConfiguration';
    const job = '/redfish/v1/TaskService/Tasks/JID_000000000007';
    const f = await fake({
      root: { Vendor: 'Dell' },
      actions: { [importTarget]: () => ({ status: 202, headers: { location: job } }) },
    });
    (f.resources['/redfish/v1/Managers/BMC'] as Json).Actions = { Oem: { 'OemManager.v1_0_0#OemManager.ImportSystemConfiguration': { target: importTarget } } };
    f.resources[job] = { '@odata.id': job, TaskState: 'Completed', TaskStatus: 'OK' };
    const res = await driver(f, { scheme: 'idrac-virtualmedia' }).setBootOverride({ device: 'cd' });
    expect(res).toMatchObject({ target: 'VCD-DVD', enabled: 'Once', changed: true });
    const body = posts(f, importTarget)[0]?.body as Json;
    expect(body.ShareParameters).toEqual({ Target: ['ALL'] });
    expect(String(body.ImportBuffer)).toMatch(/ServerBoot\.1#BootOnce">Enabled<.*ServerBoot\.1#FirstBootDevice">VCD-DVD</);
    expect(f.requests.some((r) => r.method === 'PATCH')).toBe(false);
    // The same BMC under plain redfish-virtualmedia uses the standard override.
    const std = await driver(f, { scheme: 'redfish-virtualmedia' }).setBootOverride({ device: 'cd' });
    expect(std.target).toBe('Cd');
  });

  it('reports a BMC that accepts the PATCH but does not apply it', async () => {
    const f = await fake({ intercept: (req) => (req.method === 'PATCH' ? { status: 204 } : undefined) });
    const err = await failure(driver(f).setBootOverride({ device: 'pxe' }));
    expect(err.code).toBe('BmcServerError');
    expect(err.message).toMatch(/reads back None/);
  });
});

describe('Redfish virtual media', () => {
  it('inserts through the action, reads it back, and keeps an identical insert as a no-op', async () => {
    const f = await fake({
      actions: {
        [`${CD}/Actions/VirtualMedia.InsertMedia`]: (b, fk) => {
          Object.assign(fk.resources[CD] as Json, { Image: b.Image, Inserted: true });
          return { status: 204 };
        },
      },
    });
    const d = driver(f);
    expect(await d.virtualMedia.insert('http://images/x.iso')).toEqual({ slot: CD, image: 'http://images/x.iso', changed: true });
    expect(await d.virtualMedia.insert('http://images/x.iso')).toMatchObject({ changed: false });
    expect(posts(f, `${CD}/Actions/VirtualMedia.InsertMedia`)).toHaveLength(1);
  });

  it('ejects other media before inserting, retrying EjectMedia with {} on 400 (iLO)', async () => {
    const eject = `${CD}/Actions/VirtualMedia.EjectMedia`;
    const f = await fake({
      actions: {
        [eject]: (b, fk) => {
          if (b === undefined || Object.keys(b).length === 0) {
            if (posts(fk, eject).filter((r) => r.body === undefined).length === 1 && posts(fk, eject).length === 1) return { status: 400, body: { error: { code: 'Base.1.8.MalformedJSON', message: 'body required' } } };
          }
          Object.assign(fk.resources[CD] as Json, { Image: null, Inserted: false });
          return { status: 204 };
        },
        [`${CD}/Actions/VirtualMedia.InsertMedia`]: (b, fk) => {
          Object.assign(fk.resources[CD] as Json, { Image: b.Image, Inserted: true });
          return { status: 204 };
        },
      },
    });
    Object.assign(f.resources[CD] as Json, { Image: 'http://old/y.iso', Inserted: true });
    const res = await driver(f).virtualMedia.insert('http://images/x.iso');
    expect(res.changed).toBe(true);
    const ejects = posts(f, eject);
    expect(ejects.map((r) => r.body)).toEqual([undefined, {}]);
  });

  it('PATCHes the slot on a Manager when there is no action and Allow lists PATCH (XCC)', async () => {
    const mgr = '/redfish/v1/Managers/BMC';
    const slot = `${mgr}/VirtualMedia/CD`;
    const f = await fake({ system: { VirtualMedia: undefined }, requireIfMatch: true, headers: { [slot]: { allow: 'GET, PATCH' } } });
    (f.resources[mgr] as Json).VirtualMedia = { '@odata.id': `${mgr}/VirtualMedia` };
    f.resources[`${mgr}/VirtualMedia`] = { Members: [{ '@odata.id': slot }] };
    f.resources[slot] = { Id: 'CD', MediaTypes: ['CD', 'DVD'], Inserted: false, Image: null };
    const d = driver(f);
    expect(await d.virtualMedia.insert('http://images/x.iso')).toMatchObject({ slot, changed: true });
    expect(f.requests.find((r) => r.method === 'PATCH')?.body).toEqual({ Image: 'http://images/x.iso', Inserted: true, WriteProtected: true });
    await d.virtualMedia.eject();
    expect(f.requests.filter((r) => r.method === 'PATCH')[1]?.body).toEqual({ Image: null, Inserted: false });
    expect((f.resources[slot] as Json).Inserted).toBe(false);
  });

  it('adds TransferProtocolType when InsertMedia says it is missing (Nokia)', async () => {
    const f = await fake({
      actions: {
        [`${CD}/Actions/VirtualMedia.InsertMedia`]: (b, fk) => {
          if (!b.TransferProtocolType) return { status: 400, body: { error: { '@Message.ExtendedInfo': [{ MessageId: 'Base.1.8.ActionParameterMissing', Message: 'The action requires the parameter TransferProtocolType.' }] } } };
          Object.assign(fk.resources[CD] as Json, { Image: b.Image, Inserted: true });
          return { status: 204 };
        },
      },
    });
    await driver(f).virtualMedia.insert('https://images/x.iso');
    expect(posts(f, `${CD}/Actions/VirtualMedia.InsertMedia`).map((r) => (r.body as Json).TransferProtocolType)).toEqual([undefined, 'HTTPS']);
  });

  it('fails with VirtualMediaFailed when the BMC cannot fetch the image (400)', async () => {
    const f = await fake({ actions: { [`${CD}/Actions/VirtualMedia.InsertMedia`]: () => ({ status: 400, body: { error: { message: 'Image http://x/404.iso not found' } } }) } });
    const err = await failure(driver(f).virtualMedia.insert('http://x/404.iso'));
    expect(err.code).toBe('VirtualMediaFailed');
    expect(err.disposition).toBe('permanent');
  });

  it('waits for a slot that still shows Inserted right after an eject (Dell), ejecting once', async () => {
    const eject = `${CD}/Actions/VirtualMedia.EjectMedia`;
    let staleReads = 0;
    const f = await fake({
      root: { Vendor: 'Dell' },
      actions: {
        [eject]: () => {
          staleReads = 3;
          return { status: 204 };
        },
      },
      intercept: (req, fk) => {
        if (req.method === 'GET' && req.path === CD && posts(fk, eject).length > 0) {
          if (staleReads-- > 0) return { status: 200, body: { ...fk.resources[CD], Inserted: true, Image: 'http://old/y.iso' } };
          Object.assign(fk.resources[CD] as Json, { Inserted: false, Image: null });
        }
        return undefined;
      },
    });
    Object.assign(f.resources[CD] as Json, { Image: 'http://old/y.iso', Inserted: true });
    const res = await driver(f).virtualMedia.eject();
    expect(res).toEqual([{ slot: CD, image: 'http://old/y.iso', changed: true }]);
    expect(posts(f, eject)).toHaveLength(1);
  });

  it('ejecting with nothing inserted sends nothing', async () => {
    const f = await fake();
    expect(await driver(f).virtualMedia.eject()).toEqual([]);
    expect(f.requests.some((r) => r.method === 'POST' || r.method === 'PATCH')).toBe(false);
  });
});

describe('per-BMC concurrency of one', () => {
  it('never has two requests in flight to one BMC, even when operations are started together', async () => {
    const f = await fake({ latencyMs: 15, actions: powerActions() });
    const d = driver(f);
    await Promise.all([d.setPower('on'), d.getPowerState(), d.setBootOverride({ device: 'pxe' }), d.virtualMedia.list(), d.identify()]);
    expect(f.maxInFlight).toBe(1);
  });

  /** A second system on the fake's endpoint, managed by `manager` (the first system's is Managers/BMC). */
  function secondSystem(f: FakeRedfish, manager: string): string {
    const path = '/redfish/v1/Systems/2';
    f.resources[path] = { ...(f.resources[SYS] as Json), '@odata.id': path, Id: '2', Links: { ManagedBy: [{ '@odata.id': manager }] } };
    f.resources[manager] ??= { '@odata.id': manager, Id: manager.split('/').pop() };
    (f.resources['/redfish/v1/Systems'] as Json).Members = [{ '@odata.id': SYS }, { '@odata.id': path }];
    return path;
  }

  /** Both drivers' first calls (discovery), then several power reads each, all started together. */
  async function readTogether(a: RedfishDriver, b: RedfishDriver): Promise<void> {
    await Promise.all([a.getPowerState(), b.getPowerState()]);
    await Promise.all([a, b, a, b, a, b].map((d) => d.getPowerState()));
  }

  it('holds across the systems of one BMC: two systems naming the same Manager never overlap', async () => {
    const f = await fake({ latencyMs: 15 });
    const other = secondSystem(f, '/redfish/v1/Managers/BMC');
    await readTogether(driver(f), driver(f, { path: other }));
    expect(f.requests.filter((r) => r.path === other).length).toBeGreaterThan(3);
    expect(f.maxInFlight).toBe(1);
  });

  it('lets the BMCs of one endpoint (each system with a Manager of its own, as sushy-tools) run side by side', async () => {
    const f = await fake({ latencyMs: 15 });
    const other = secondSystem(f, '/redfish/v1/Managers/BMC2');
    const a = driver(f);
    const b = driver(f, { path: other });
    await readTogether(a, b);
    expect(f.maxInFlight).toBe(2);
    // Until a connection has read its system's Manager, it has the endpoint to itself.
    const c = driver(f);
    f.maxInFlight = 0;
    await Promise.all([c.getPowerState(), b.getPowerState(), b.getPowerState()]);
    expect(f.maxInFlight).toBe(1);
  });

  it('reuses the connection and the discovery: a second power read costs one request', async () => {
    const f = await fake({ sessions: true });
    const d = driver(f);
    await d.getPowerState();
    const before = f.requests.length;
    await d.getPowerState();
    expect(f.requests.length - before).toBe(1);
  });
});

describe('system selection', () => {
  it('uses the only system when the address names none', async () => {
    const f = await fake();
    expect(await driver(f, { path: '' }).getPowerState()).toBe('off');
  });

  it('asks for a system path when there are several systems', async () => {
    const f = await fake();
    (f.resources['/redfish/v1/Systems'] as Json).Members = [{ '@odata.id': SYS }, { '@odata.id': '/redfish/v1/Systems/2' }];
    const err = await failure(driver(f, { path: '' }).getPowerState());
    expect(err.code).toBe('BmcAddressInvalid');
    expect(err.message).toMatch(/2 systems.*\/redfish\/v1\/Systems\/1/);
  });

  it('names the system path when it does not exist', async () => {
    const f = await fake();
    const err = await failure(driver(f, { path: '/redfish/v1/Systems/nope' }).getPowerState());
    expect(err.code).toBe('BmcNotFound');
    expect(err.message).toContain('/redfish/v1/Systems/nope');
  });
});

describe('BIOS settings', () => {
  it('stages changes in the settings object with OnReset, skips what is already pending', async () => {
    const bios = `${SYS}/Bios`;
    const settings = `${bios}/Settings`;
    const f = await fake({ system: { Bios: { '@odata.id': bios } } });
    f.resources[bios] = {
      Attributes: { BootMode: 'Uefi', ProcVirtualization: 'Disabled', HyperThreading: 'Enabled' },
      AttributeRegistry: 'BiosAttributeRegistry.v1_0',
      '@Redfish.Settings': { SettingsObject: { '@odata.id': settings }, SupportedApplyTimes: ['OnReset', 'Immediate'] },
    };
    f.resources[settings] = { Attributes: {} };
    const d = driver(f);
    const first = await d.bios.apply({ ProcVirtualization: 'Enabled', BootMode: 'Uefi' });
    expect(first).toMatchObject({ changed: true, applyTime: 'OnReset', rebootRequired: true, pending: { ProcVirtualization: 'Enabled' } });
    const patch = f.requests.find((r) => r.method === 'PATCH');
    expect(patch?.path).toBe(settings);
    expect(patch?.body).toEqual({ Attributes: { ProcVirtualization: 'Enabled' }, '@Redfish.SettingsApplyTime': { ApplyTime: 'OnReset' } });
    const again = await d.bios.apply({ ProcVirtualization: 'Enabled' });
    expect(again.changed).toBe(false);
    expect(f.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
    expect((await d.bios.get()).pending).toEqual({ ProcVirtualization: 'Enabled' });
  });

  it('refuses an attribute the BIOS does not have', async () => {
    const bios = `${SYS}/Bios`;
    const f = await fake({ system: { Bios: { '@odata.id': bios } } });
    f.resources[bios] = { Attributes: { BootMode: 'Uefi' }, '@Redfish.Settings': { SettingsObject: { '@odata.id': `${bios}/Settings` } } };
    f.resources[`${bios}/Settings`] = { Attributes: {} };
    const err = await failure(driver(f).bios.apply({ Nope: 1 }));
    expect(err).toMatchObject({ code: 'FirmwareSettingsInvalid', disposition: 'permanent' });
    expect(err.message).toContain('has no attribute Nope');
  });
});

describe('firmware update tasks', () => {
  const update = '/redfish/v1/UpdateService';
  const simple = `${update}/Actions/UpdateService.SimpleUpdate`;

  async function firmwareFake(taskStates: string[], opts: { ilo?: boolean } = {}) {
    let polls = 0;
    const task = '/redfish/v1/TaskService/Tasks/7';
    const f = await fake({
      root: { UpdateService: { '@odata.id': update } },
      actions: {
        [simple]: () => ({
          status: 202,
          headers: opts.ilo ? {} : ({ location: `${task}/Monitor` } as Record<string, string>),
          body: opts.ilo ? { '@odata.id': task, '@odata.type': '#Task.v1_4_3.Task', TaskState: 'New' } : undefined,
        }),
      },
      intercept: (req) => {
        if (req.method !== 'GET' || !req.path.startsWith(task)) return undefined;
        const state = taskStates[Math.min(polls++, taskStates.length - 1)] ?? 'Completed';
        return { status: 200, body: { '@odata.id': task, TaskState: state, TaskStatus: state === 'Exception' ? 'Critical' : 'OK', PercentComplete: 50, Messages: [{ Message: `step ${polls}` }] } };
      },
    });
    f.resources[update] = { Actions: { '#UpdateService.SimpleUpdate': { target: simple, 'TransferProtocol@Redfish.AllowableValues': ['HTTP', 'HTTPS'] } } };
    return f;
  }

  it('posts SimpleUpdate with TransferProtocol and follows the monitor until Completed', async () => {
    const f = await firmwareFake(['New', 'Running', 'Completed']);
    const d = driver(f);
    const ref = await d.firmware.simpleUpdate({ imageUrl: 'http://fw/bios.bin' });
    expect(ref.monitor).toBe('/redfish/v1/TaskService/Tasks/7/Monitor');
    expect(posts(f, simple)[0]?.body).toEqual({ ImageURI: 'http://fw/bios.bin', TransferProtocol: 'HTTP' });
    const status = await d.firmware.waitTask(ref);
    expect(status).toMatchObject({ state: 'Completed', ok: true, done: true });
  });

  it('prefers the Task named in the body when Location is missing (iLO 5)', async () => {
    const f = await firmwareFake(['Running', 'Completed'], { ilo: true });
    const d = driver(f);
    const ref = await d.firmware.simpleUpdate({ imageUrl: 'https://fw/ilo.bin' });
    expect(ref).toEqual({ monitor: undefined, task: '/redfish/v1/TaskService/Tasks/7' });
    expect((await d.firmware.waitTask(ref)).ok).toBe(true);
  });

  it('keeps polling a task that answers 404 right after it was created (Dell)', async () => {
    const task = '/redfish/v1/TaskService/Tasks/JID_000000000001';
    let notFound = 2;
    const f = await fake({
      root: { UpdateService: { '@odata.id': update } },
      actions: { [simple]: () => ({ status: 202, headers: { location: task } }) },
      intercept: (req) => {
        if (req.method !== 'GET' || req.path !== task) return undefined;
        return notFound-- > 0 ? { status: 404 } : { status: 200, body: { '@odata.id': task, TaskState: 'Completed', TaskStatus: 'OK' } };
      },
    });
    f.resources[update] = { Actions: { '#UpdateService.SimpleUpdate': { target: simple } } };
    const d = driver(f);
    const ref = await d.firmware.simpleUpdate({ imageUrl: 'http://fw/bios.bin' });
    expect(await d.firmware.waitTask(ref)).toMatchObject({ state: 'Completed', ok: true, vanished: false });
    expect(f.requests.filter((r) => r.path === task)).toHaveLength(3);
  });

  it('fails with BmcTaskFailed when the task ends in Exception', async () => {
    const f = await firmwareFake(['Running', 'Exception']);
    const d = driver(f);
    const ref = await d.firmware.simpleUpdate({ imageUrl: 'http://fw/bad.bin' });
    const err = await failure(d.firmware.waitTask(ref));
    expect(err.code).toBe('BmcTaskFailed');
  });
});

describe('BIOS reset', () => {
  it('retries #Bios.ResetBios with {} when the BMC wants a body (Dell R630)', async () => {
    const bios = `${SYS}/Bios`;
    const target = `${bios}/Actions/Bios.ResetBios`;
    const f = await fake({
      system: { Bios: { '@odata.id': bios } },
      intercept: (req) => (req.method === 'POST' && req.path === target ? (req.body === undefined ? { status: 400, body: { error: { message: 'body required' } } } : { status: 204 }) : undefined),
    });
    f.resources[bios] = { Attributes: {}, Actions: { '#Bios.ResetBios': { target } } };
    await driver(f).bios.resetToDefaults();
    expect(posts(f, target).map((r) => r.body)).toEqual([undefined, {}]);
  });
});

describe('secure boot', () => {
  it('sets SecureBootEnable with If-Match and reads it back; a second call changes nothing', async () => {
    const sb = `${SYS}/SecureBoot`;
    const f = await fake({ system: { SecureBoot: { '@odata.id': sb } }, requireIfMatch: true });
    f.resources[sb] = { SecureBootEnable: false, SecureBootCurrentBoot: 'Disabled', SecureBootMode: 'UserMode' };
    const d = driver(f);
    expect(await d.secureBoot.set(true)).toMatchObject({ enabled: true, changed: true });
    expect(await d.secureBoot.set(true)).toMatchObject({ changed: false });
    expect(f.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });
});

const INSERT = `${CD}/Actions/VirtualMedia.InsertMedia`;

/** A BMC whose reset is accepted at once and shows On only at the `pollsToOn`-th read of the system after it. */
function slowToPowerOn(pollsToOn: number): Promise<FakeRedfish> {
  let polls = 0;
  return fake({
    actions: {
      [RESET]: () => ({ status: 204 }),
      [INSERT]: (b, fk) => {
        Object.assign(fk.resources[CD] as Json, { Image: b.Image, Inserted: true });
        return { status: 204 };
      },
    },
    intercept: (req, fk) => {
      if (req.method === 'GET' && req.path === SYS && posts(fk, RESET).length > 0 && ++polls === pollsToOn) (fk.resources[SYS] as Json).PowerState = 'On';
      return undefined;
    },
  });
}

const systemGets = (f: FakeRedfish) => f.requests.filter((r) => r.method === 'GET' && r.path === SYS).length;
const order = (f: FakeRedfish) => f.requests.filter((r) => r.path !== '/redfish/v1/').map((r) => `${r.method} ${r.path}`);

describe('Redfish reads shared within one activity (bmc/reads.ts)', () => {
  it("lets a power change start from the activity's last read of the system, and still polls the BMC until it is on", async () => {
    const shared = await slowToPowerOn(3);
    const d = driver(shared);
    await withSharedReads(async () => {
      expect(await d.getPowerState()).toBe('off');
      expect(await d.setPower('on')).toMatchObject({ state: 'on', changed: true, sent: ['On'] });
    });
    // One look before the change, then three polls after it: the power change's own look was the kept read.
    expect(systemGets(shared)).toBe(1 + 3);

    const alone = await slowToPowerOn(3);
    const a = driver(alone);
    expect(await a.getPowerState()).toBe('off');
    await a.setPower('on');
    // Outside a scope nothing is kept: the power change looks again.
    expect(systemGets(alone)).toBe(1 + 1 + 3);
  });

  it('forgets what it kept when a request changes the BMC: the next look after an insert reads the system again', async () => {
    const f = await slowToPowerOn(1);
    const d = driver(f);
    await withSharedReads(async () => {
      await d.getPowerState();
      await d.virtualMedia!.insert('http://images/live.iso');
      await d.setPower('on');
    });
    const seen = order(f);
    const inserted = seen.indexOf(`POST ${INSERT}`);
    const reset = seen.indexOf(`POST ${RESET}`);
    expect(inserted).toBeGreaterThan(-1);
    expect(reset).toBeGreaterThan(inserted);
    // Between the insert and the reset: the insert's read-back of the slot, and a fresh look at the system.
    expect(seen.slice(inserted + 1, reset)).toEqual([`GET ${CD}`, `GET ${SYS}`]);
  });

  it("keeps an insert's read-back for the next insert of the same image, which then sends nothing", async () => {
    const f = await slowToPowerOn(1);
    const d = driver(f);
    await withSharedReads(async () => {
      expect(await d.virtualMedia!.insert('http://images/live.iso')).toMatchObject({ changed: true });
      const before = f.requests.length;
      expect(await d.virtualMedia!.insert('http://images/live.iso')).toMatchObject({ changed: false });
      expect(f.requests.length).toBe(before);
    });
  });
});

describe('firmware inventory links', () => {
  const update = '/redfish/v1/UpdateService';
  const inventory = `${update}/FirmwareInventory`;

  it('reads UpdateService once per connection for where the inventories are, and again after it failed', async () => {
    let failUpdateService = true;
    const f = await fake({
      root: { UpdateService: { '@odata.id': update } },
      intercept: (req) => (req.method === 'GET' && req.path === update && failUpdateService ? { status: 404 } : undefined),
    });
    f.resources[update] = { '@odata.id': update, FirmwareInventory: { '@odata.id': inventory } };
    f.resources[inventory] = { Members: [{ '@odata.id': `${inventory}/BIOS` }] };
    f.resources[`${inventory}/BIOS`] = { '@odata.id': `${inventory}/BIOS`, Id: 'BIOS', Name: 'System BIOS', Version: '1.2' };
    const d = driver(f);
    const updateServiceGets = () => f.requests.filter((r) => r.method === 'GET' && r.path === update).length;

    // Not there this time: a warning, and nothing remembered.
    expect((await d.inspection.inventory()).warnings).toContain(`update service: HTTP 404 on ${update}`);
    expect(updateServiceGets()).toBe(1);
    failUpdateService = false;
    expect((await d.inspection.inventory()).firmware.map((c) => c.id)).toContain('BIOS');
    expect(updateServiceGets()).toBe(2);
    // From now on the links are known: the firmware reading and the next inspection read the inventory only.
    expect((await d.firmware.inventory()).components.map((c) => c.id)).toContain('BIOS');
    expect((await d.inspection.inventory({ hardwareOnly: true })).hardware.firmware.bios.version).toBe('1.2');
    expect(updateServiceGets()).toBe(2);
  });
});

describe('inspection for the hardware details only', () => {
  it('reads neither the manager, the BIOS attributes nor the software inventory, and gives the same hardware', async () => {
    const update = '/redfish/v1/UpdateService';
    const f = await fake({ root: { UpdateService: { '@odata.id': update } }, system: { Bios: { '@odata.id': `${SYS}/Bios` }, BiosVersion: '1.2' } });
    f.resources[`${SYS}/Bios`] = { '@odata.id': `${SYS}/Bios`, Attributes: { BootMode: 'Uefi' } };
    f.resources[update] = { '@odata.id': update, FirmwareInventory: { '@odata.id': `${update}/FirmwareInventory` }, SoftwareInventory: { '@odata.id': `${update}/SoftwareInventory` } };
    f.resources[`${update}/FirmwareInventory`] = { Members: [{ '@odata.id': `${update}/FirmwareInventory/BIOS` }] };
    f.resources[`${update}/FirmwareInventory/BIOS`] = { Id: 'BIOS', Name: 'System BIOS', Version: '1.2', ReleaseDate: '2024-01-02T00:00:00Z', Manufacturer: 'Contoso' };
    f.resources[`${update}/SoftwareInventory`] = { Members: [] };
    const d = driver(f);
    const full = await d.inspection.inventory();
    const before = f.requests.length;
    const hardware = await d.inspection.inventory({ hardwareOnly: true });
    const paths = f.requests.slice(before).map((r) => r.path);
    expect(paths.filter((p) => p.includes('/Managers/') || p.endsWith('/Bios') || p.includes('SoftwareInventory'))).toEqual([]);
    expect(hardware.hardware).toEqual(full.hardware);
    expect(hardware.hardware.firmware.bios).toEqual({ version: '1.2', date: '2024-01-02T00:00:00Z', vendor: 'Contoso' });
    expect(full.manager?.firmwareVersion).toBe('2.1');
    expect(full.biosAttributes).toEqual({ BootMode: 'Uefi' });
  });
});

describe('inventory memory', () => {
  it('reads the DIMMs only when the system does not give its total memory', async () => {
    const memory = `${SYS}/Memory`;
    const withTotal = await fake({ system: { Memory: { '@odata.id': memory }, MemorySummary: { TotalSystemMemoryGiB: 64 } } });
    withTotal.resources[memory] = { Members: [] };
    expect((await driver(withTotal).inspection.inventory()).hardware.ramMebibytes).toBe(65536);
    expect(withTotal.requests.filter((r) => r.path.startsWith(memory))).toEqual([]);

    const dimms = await fake({ system: { Memory: { '@odata.id': memory } } });
    dimms.resources[memory] = { Members: [{ '@odata.id': `${memory}/1` }, { '@odata.id': `${memory}/2` }] };
    dimms.resources[`${memory}/1`] = { CapacityMiB: 16384 };
    dimms.resources[`${memory}/2`] = { CapacityMiB: 16384 };
    expect((await driver(dimms).inspection.inventory()).hardware.ramMebibytes).toBe(32768);
  });
});

describe('an inventory collection the BMC does not have', () => {
  it('is not asked for again by an inspection right after a firmware reading got 404, but always by the firmware reading', async () => {
    const update = '/redfish/v1/UpdateService';
    const inventory = `${update}/FirmwareInventory`;
    let missing = true;
    const f = await fake({
      root: { UpdateService: { '@odata.id': update } },
      intercept: (req) => (req.method === 'GET' && req.path === inventory && missing ? { status: 404 } : undefined),
    });
    f.resources[update] = { '@odata.id': update, FirmwareInventory: { '@odata.id': inventory } };
    f.resources[inventory] = { Members: [{ '@odata.id': `${inventory}/BIOS` }] };
    f.resources[`${inventory}/BIOS`] = { '@odata.id': `${inventory}/BIOS`, Id: 'BIOS', Name: 'System BIOS', Version: '1.2', ReleaseDate: '2024-01-02' };
    const d = driver(f);
    const inventoryGets = () => f.requests.filter((r) => r.method === 'GET' && r.path === inventory).length;

    expect((await d.firmware.inventory()).components.filter((c) => c.id === 'BIOS')).toEqual([]);
    expect(inventoryGets()).toBe(1);
    const hardware = await d.inspection.inventory({ hardwareOnly: true });
    expect(inventoryGets()).toBe(1);
    expect(hardware.warnings.join('\n')).toMatch(/firmware inventory: not there/);
    // A full inventory and the firmware reading ask again; once it answers, the inspection reads it too.
    missing = false;
    expect((await d.firmware.inventory()).components.map((c) => c.id)).toContain('BIOS');
    expect(inventoryGets()).toBe(2);
    expect((await d.inspection.inventory({ hardwareOnly: true })).hardware.firmware.bios.date).toBe('2024-01-02');
    expect(inventoryGets()).toBe(3);
  });
});
