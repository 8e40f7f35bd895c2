import { describe, expect, it } from 'vitest';
import { NOW, hostDesired, hostIn } from '../test/fixtures/hosts.ts';
import { decide } from './host-decisions.ts';
import {
  firmwareWork,
  hasFirmwareWork,
  recordFirmwareReading,
  rolloutRefusal,
  settingsToApply,
  updatesDifference,
  updatesToApply,
  withRolloutRequest,
} from './host-firmware.ts';
import { applyFailure, applySuccess, beginFirmwareOperation, operationalStatusOf } from './host-lifecycle.ts';
import type { FirmwareIntent, FirmwareRecord, HostState, RolloutRequest } from './host-model.ts';

const record = (extra: Partial<FirmwareRecord> = {}): FirmwareRecord => ({
  supported: true,
  settings: { ProcVirtualization: 'Disabled', BootRetries: '3' },
  readAt: new Date(NOW).toISOString(),
  ...extra,
});
const withFirmware = (intent: FirmwareIntent) => hostDesired({}, { firmware: intent });
const BIOS = { component: 'bios', url: 'http://fw.example/bios-2.0.0.bin' };
const BMC = { component: 'bmc', url: 'http://fw.example/bmc-3.1.bin' };
const request = (extra: Partial<RolloutRequest> = {}): RolloutRequest => ({
  rollout: { namespace: 'metal3', name: 'r1' },
  replyTo: 'rollout/metal3/r1/host/metal3/host-0/1',
  attempt: 1,
  updates: [BMC],
  settings: { BootRetries: 5 },
  ...extra,
});

describe('which firmware work a host has', () => {
  it.each<{ name: string; values: Record<string, string | number>; want: Record<string, string | number> }>([
    { name: 'a setting that differs', values: { ProcVirtualization: 'Enabled' }, want: { ProcVirtualization: 'Enabled' } },
    { name: 'a setting already current (integers compared as text)', values: { BootRetries: 3 }, want: {} },
    { name: 'a setting never read: applied (the BMC skips what is current)', values: { SriovGlobalEnable: 'Enabled' }, want: { SriovGlobalEnable: 'Enabled' } },
  ])('$name', ({ values, want }) => {
    expect(settingsToApply(hostIn('available', { firmware: record() }), withFirmware({ settings: { values } }))).toEqual(want);
  });

  it('an invalid HostFirmwareSettings is not acted on (its Valid condition says why)', () => {
    const desired = withFirmware({ settings: { values: {}, invalid: 'Setting Foo is invalid, it is not in the associated schema' } });
    expect(settingsToApply(hostIn('available', { firmware: record() }), desired)).toEqual({});
  });

  it('nothing before the BMC was read, nothing on a BMC without firmware', () => {
    const desired = withFirmware({ settings: { values: { ProcVirtualization: 'Enabled' } }, updates: { spec: [BIOS] } });
    for (const firmware of [undefined, record({ supported: false })]) {
      const state = hostIn('available', firmware ? { firmware } : {});
      expect(hasFirmwareWork(firmwareWork(state, desired, 'preparing'))).toBe(false);
    }
  });

  it("updates: BMO's difference of spec and applied (by component and URL)", () => {
    expect(updatesDifference([BIOS, BMC], [BIOS])).toEqual([BMC]);
    expect(updatesDifference([BIOS], [{ ...BIOS, url: 'http://fw.example/bios-1.bin' }])).toEqual([BIOS]);
    expect(updatesDifference([BIOS], undefined)).toEqual([BIOS]);
    // The workflow's own record wins over the status it was sent (it may lag behind a flash).
    const desired = withFirmware({ updates: { spec: [BIOS], applied: [] } });
    expect(updatesToApply(hostIn('available', { firmware: record({ appliedUpdates: [BIOS] }) }), desired)).toEqual([]);
    expect(updatesToApply(hostIn('available', { firmware: record() }), desired)).toEqual([BIOS]);
  });

  it('servicing takes only what the HostUpdatePolicy allows on reboot', () => {
    const state = hostIn('provisioned', { firmware: record() });
    const changes = { settings: { values: { ProcVirtualization: 'Enabled' } }, updates: { spec: [BIOS] } };
    expect(hasFirmwareWork(firmwareWork(state, withFirmware(changes), 'servicing'))).toBe(false);
    const settingsOnly = firmwareWork(state, withFirmware({ ...changes, policy: { firmwareSettings: 'onReboot' } }), 'servicing');
    expect(settingsOnly).toMatchObject({ settings: { ProcVirtualization: 'Enabled' }, updates: [] });
    const both = firmwareWork(state, withFirmware({ ...changes, policy: { firmwareSettings: 'onReboot', firmwareUpdates: 'onReboot' } }), 'servicing');
    expect(both).toMatchObject({ updates: [BIOS], componentUpdates: [BIOS] });
  });

  it("a rollout's request adds its work (its settings win), whatever the policy", () => {
    const state = withRolloutRequest(hostIn('provisioned', { firmware: record() }), request());
    const work = firmwareWork(state, withFirmware({ settings: { values: { BootRetries: 7, ProcVirtualization: 'Enabled' } } }), 'servicing');
    expect(work).toMatchObject({ rollout: true, updates: [BMC], componentUpdates: [], settings: { BootRetries: 5 } });
  });
});

describe('the firmware record after a reading', () => {
  it('keeps only the settings asked for, the schema name, and what was applied', () => {
    const state = withRolloutRequest(hostIn('preparing', { firmware: record() }), request());
    const desired = withFirmware({ settings: { values: { ProcVirtualization: 'Enabled' } }, updates: { spec: [BIOS] } });
    const reading = { settings: { ProcVirtualization: 'Enabled', BootRetries: '5', Other: 'x' }, schemaName: 'schema-1', components: [{ component: 'bios', version: '2.0.0' }] };
    const next = recordFirmwareReading(state, desired, reading, 't', { flashed: [{ ...BIOS, version: '2.0.0', at: 't' }], componentUpdates: [BIOS] });
    expect(next).toEqual({ supported: true, settings: { ProcVirtualization: 'Enabled', BootRetries: '5' }, schemaName: 'schema-1', appliedUpdates: [BIOS], readAt: 't' });
  });

  it('a BMC with neither BIOS settings nor components is recorded unsupported', () => {
    expect(recordFirmwareReading(hostIn('registering'), hostDesired(), { components: [] }, 't')?.supported).toBe(false);
  });
});

describe('decisions', () => {
  const available = (extra: Partial<HostState> = {}) => hostIn('available', { firmware: record(), ...extra });

  it('available: a change of HostFirmwareSettings, HostFirmwareComponents or a rollout request moves to preparing', () => {
    for (const desired of [withFirmware({ settings: { values: { ProcVirtualization: 'Enabled' } } }), withFirmware({ updates: { spec: [BIOS] } })]) {
      expect(decide(available(), desired, NOW)).toMatchObject({ kind: 'transition', trigger: 'settingsChanged' });
    }
    expect(decide(withRolloutRequest(available(), request()), hostDesired(), NOW)).toMatchObject({ kind: 'transition', trigger: 'settingsChanged' });
    expect(decide(available(), withFirmware({ settings: { values: { ProcVirtualization: 'Disabled' } } }), NOW)).toMatchObject({ kind: 'wait' });
  });

  const provisioned = (extra: Partial<HostState> = {}) =>
    hostIn('provisioned', { firmware: record(), image: { url: 'http://i/x.iso', format: 'live-iso' }, poweredOn: true, ...extra });
  const online = (intent: FirmwareIntent) => hostDesired({ online: true, image: { url: 'http://i/x.iso', format: 'live-iso' } }, { firmware: intent });
  const allowed: FirmwareIntent = { settings: { values: { ProcVirtualization: 'Enabled' } }, policy: { firmwareSettings: 'onReboot' } };

  it('provisioned: HostFirmware changes allowed on reboot wait for the reboot, then service the host while it is off', () => {
    expect(decide(provisioned(), online(allowed), NOW)).toMatchObject({ kind: 'wait', why: 'steady' });
    expect(decide(provisioned({ poweredOn: false }), online(allowed), NOW)).toMatchObject({ kind: 'operation', request: { name: 'servicing' } });
    // Without the policy the steady state powers the host back on.
    expect(decide(provisioned({ poweredOn: false }), online({ settings: allowed.settings }), NOW)).toMatchObject({ kind: 'operation', request: { name: 'power', on: true } });
  });

  it('provisioned: a rollout powers the host off for servicing, then services it', () => {
    const state = withRolloutRequest(provisioned(), request());
    expect(decide(state, online({}), NOW)).toMatchObject({ kind: 'operation', request: { name: 'power', on: false, purpose: 'servicing' } });
    expect(decide({ ...state, poweredOn: false }, online({}), NOW)).toMatchObject({ kind: 'operation', request: { name: 'servicing' } });
  });

  it('a servicing error is retried after the backoff while asked for, and ended at once when not', () => {
    const failed = provisioned({ poweredOn: false, errorType: 'servicing error', errorMessage: 'boom', errorCount: 1, retryAfter: new Date(NOW + 60_000).toISOString() });
    expect(decide(failed, online(allowed), NOW)).toMatchObject({ kind: 'wait', why: 'backoff' });
    expect(decide(failed, online({}), NOW)).toMatchObject({ kind: 'operation', request: { name: 'servicing' } });
  });
});

describe('servicing in the lifecycle', () => {
  it('shows operationalStatus servicing while it runs, OK after, error (servicing error) when it fails', () => {
    const state = hostIn('provisioned', { firmware: record() });
    const running = beginFirmwareOperation(state, 'servicing', false, NOW);
    expect(operationalStatusOf(running)).toBe('servicing');
    const done = applySuccess(running, { name: 'servicing' }, { poweredOn: false }, hostDesired(), NOW);
    expect(done.state).toMatchObject({ operationalStatus: 'OK', provisioningState: 'provisioned' });
    const failed = applyFailure(running, 'servicing', { code: 'BmcTaskFailed', message: 'flash failed' }, hostDesired(), NOW, 0.5);
    expect(failed.state).toMatchObject({ operationalStatus: 'error', errorType: 'servicing error', servicingSince: undefined });
    expect(failed.events).toEqual([{ type: 'Warning', reason: 'ServicingError', message: 'flash failed' }]);
  });

  it("a started rollout request ends with the operation (its answer goes with the outcome); a waiting one stays", () => {
    const state = withRolloutRequest(hostIn('preparing', { firmware: record() }), request());
    const started = beginFirmwareOperation(state, 'prepare', true, NOW);
    expect(started.rollout?.started).toBe(true);
    expect(applySuccess(started, { name: 'prepare' }, { poweredOn: false }, hostDesired(), NOW).state.rollout).toBeUndefined();
    expect(applyFailure(started, 'prepare', { code: 'BmcTaskFailed', message: 'x' }, hostDesired(), NOW, 0.5).state.rollout).toBeUndefined();
    const notPart = beginFirmwareOperation(state, 'prepare', false, NOW);
    expect(applySuccess(notPart, { name: 'prepare' }, { poweredOn: false }, hostDesired(), NOW).state.rollout).toBeDefined();
  });
});

describe('which hosts take a rollout request', () => {
  it.each([
    { name: 'available', state: hostIn('available'), desired: hostDesired(), refused: undefined },
    { name: 'provisioned', state: hostIn('provisioned'), desired: hostDesired(), refused: undefined },
    { name: 'deprovisioning', state: hostIn('deprovisioning'), desired: hostDesired(), refused: 'the host is deprovisioning' },
    { name: 'detached', state: hostIn('available', { detached: true }), desired: hostDesired(), refused: 'the host is detached' },
    { name: 'IPMI', state: hostIn('available', { firmware: record({ supported: false }) }), desired: hostDesired(), refused: /no firmware update/ },
    { name: 'deleting', state: hostIn('available'), desired: hostDesired({}, { deleting: true }), refused: 'the host is being deleted' },
  ])('$name', ({ state, desired, refused }) => {
    const answer = rolloutRefusal(state, desired);
    if (refused === undefined) expect(answer).toBeUndefined();
    else expect(answer).toMatch(refused);
  });
});
