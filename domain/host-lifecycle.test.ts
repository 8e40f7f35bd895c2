import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIFECYCLE_CONFIG,
  applyFailure,
  applySuccess,
  applyTransition,
  errorBackoffMs,
  initialHostState,
  nextStep,
  onDesiredChanged,
  stateFromStatus,
  type Step,
} from './host-lifecycle.ts';
import type { HostDesired, HostSpecIntent, HostState } from './host-model.ts';
import { canTransition, parseProvisioningState } from './host-state.ts';

const NOW = Date.parse('2026-11-24T10:00:00Z');
const ISO = 'http://images.example/live.iso';

function desired(spec: Partial<HostSpecIntent> = {}, extra: Partial<HostDesired> = {}): HostDesired {
  return {
    ref: { namespace: 'metal3', name: 'host-0', uid: 'uid-0' },
    generation: 1,
    resourceVersion: '1',
    spec: { online: false, bmc: { address: 'redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/1', credentialsName: 'host-0-bmc' }, ...spec },
    annotations: { paused: false, reboot: {}, invalid: [] },
    credentials: { name: 'host-0-bmc', version: '100' },
    deleting: false,
    statusMissing: false,
    ...extra,
  };
}

function state(ps: string, extra: Partial<HostState> = {}): HostState {
  const registered = ps !== '' && ps !== 'unmanaged' && ps !== 'registering';
  return {
    ...initialHostState('uid-0'),
    provisioningState: ps,
    operationalStatus: 'OK',
    powerCheckedAt: new Date(NOW).toISOString(),
    ...(registered ? { goodCredentials: { name: 'host-0-bmc', namespace: 'metal3', version: '100' }, bmcAddress: 'redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/1' } : {}),
    ...extra,
  };
}

type Case = { name: string; state: HostState; desired: HostDesired; expect: Partial<Step> & { kind: Step['kind'] } };

const live = { url: ISO, format: 'live-iso' as const };

const cases: Case[] = [
  { name: 'new host with BMC details registers', state: state(''), desired: desired(), expect: { kind: 'transition', to: 'registering' } },
  { name: 'new host without BMC details is unmanaged', state: state(''), desired: desired({ bmc: undefined }), expect: { kind: 'transition', to: 'unmanaged' } },
  { name: 'unmanaged host waits for BMC details', state: state('unmanaged'), desired: desired({ bmc: undefined }), expect: { kind: 'wait' } },
  { name: 'unmanaged host with BMC details registers', state: state('unmanaged'), desired: desired(), expect: { kind: 'transition', to: 'registering' } },
  { name: 'registering runs the register operation', state: state('registering'), desired: desired(), expect: { kind: 'operation', request: { name: 'register' } } },
  {
    name: 'registering with a missing Secret fails without calling the BMC',
    state: state('registering'),
    desired: desired({}, { credentials: { name: 'host-0-bmc', problem: 'the Secret metal3/host-0-bmc does not exist' } }),
    expect: { kind: 'fail', code: 'BmcCredentialsMissing', operation: 'register' },
  },
  { name: 'registered host goes inspecting', state: state('registering', { goodCredentials: { name: 'host-0-bmc', namespace: 'metal3', version: '100' }, bmcAddress: desired().spec.bmc!.address }), desired: desired(), expect: { kind: 'transition', to: 'inspecting' } },
  {
    name: 'registered host with inspection disabled goes preparing',
    state: state('registering', { goodCredentials: { name: 'host-0-bmc', namespace: 'metal3', version: '100' }, bmcAddress: desired().spec.bmc!.address }),
    desired: desired({ inspectionMode: 'disabled' }),
    expect: { kind: 'transition', to: 'preparing' },
  },
  {
    name: 'registered externally provisioned host skips inspection',
    state: state('registering', { goodCredentials: { name: 'host-0-bmc', namespace: 'metal3', version: '100' }, bmcAddress: desired().spec.bmc!.address }),
    desired: desired({ externallyProvisioned: true }),
    expect: { kind: 'transition', to: 'externally provisioned' },
  },
  { name: 'inspecting runs inspect', state: state('inspecting'), desired: desired(), expect: { kind: 'operation', request: { name: 'inspect' } } },
  { name: 'match profile is a no-op', state: state('match profile'), desired: desired(), expect: { kind: 'transition', to: 'preparing' } },
  { name: 'preparing runs prepare', state: state('preparing'), desired: desired(), expect: { kind: 'operation', request: { name: 'prepare' } } },
  { name: 'available and off as asked waits', state: state('available', { bootMode: 'UEFI' }), desired: desired(), expect: { kind: 'wait' } },
  { name: 'available with online:true powers on', state: state('available', { bootMode: 'UEFI' }), desired: desired({ online: true }), expect: { kind: 'operation', request: { name: 'power', on: true, mode: 'soft', purpose: 'online' } } },
  { name: 'available with an image and online provisions', state: state('available', { bootMode: 'UEFI' }), desired: desired({ online: true, image: live }), expect: { kind: 'transition', to: 'provisioning' } },
  { name: 'available with an image but offline does not provision', state: state('available', { bootMode: 'UEFI' }), desired: desired({ image: live }), expect: { kind: 'wait' } },
  { name: 'deprecated ready behaves as available', state: state('ready', { bootMode: 'UEFI' }), desired: desired({ online: true, image: live }), expect: { kind: 'transition', to: 'provisioning' } },
  { name: 'available with changed root device hints prepares again', state: state('available', { bootMode: 'UEFI' }), desired: desired({ rootDeviceHints: { deviceName: '/dev/sdb' } }), expect: { kind: 'transition', to: 'preparing' } },
  {
    name: 'available with the inspect annotation re-inspects',
    state: state('available', { bootMode: 'UEFI' }),
    desired: desired({}, { annotations: { paused: false, reboot: {}, invalid: [], inspect: '' } }),
    expect: { kind: 'transition', to: 'inspecting' },
  },
  { name: 'available with externallyProvisioned set', state: state('available', { bootMode: 'UEFI' }), desired: desired({ externallyProvisioned: true }), expect: { kind: 'transition', to: 'externally provisioned' } },
  { name: 'provisioning runs provision', state: state('provisioning', { lastAttemptedImage: live }), desired: desired({ online: true, image: live }), expect: { kind: 'operation', request: { name: 'provision', image: live } } },
  { name: 'image removed while provisioning deprovisions', state: state('provisioning', { lastAttemptedImage: live }), desired: desired({ online: true }), expect: { kind: 'transition', to: 'deprovisioning' } },
  { name: 'provisioned with image removed deprovisions', state: state('provisioned', { image: live, poweredOn: true }), desired: desired({ online: true }), expect: { kind: 'transition', to: 'deprovisioning' } },
  { name: 'provisioned with image changed deprovisions', state: state('provisioned', { image: live, poweredOn: true }), desired: desired({ online: true, image: { url: 'http://images.example/other.iso', format: 'live-iso' } }), expect: { kind: 'transition', to: 'deprovisioning' } },
  { name: 'provisioned and online powers on', state: state('provisioned', { image: live }), desired: desired({ online: true, image: live }), expect: { kind: 'operation', request: { name: 'power', on: true, mode: 'soft', purpose: 'online' } } },
  { name: 'provisioned with online:false powers off softly', state: state('provisioned', { image: live, poweredOn: true }), desired: desired({ image: live }), expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'soft', purpose: 'online' } } },
  { name: 'deprovisioning runs deprovision', state: state('deprovisioning'), desired: desired(), expect: { kind: 'operation', request: { name: 'deprovision' } } },
  { name: 'externally provisioned flipped off becomes provisioned', state: state('externally provisioned'), desired: desired({ image: live }), expect: { kind: 'transition', to: 'provisioned' } },
  { name: 'paused host does nothing', state: state('registering'), desired: desired({}, { annotations: { paused: true, reboot: {}, invalid: [] } }), expect: { kind: 'wait' } },
  // Deletion
  { name: 'delete an unregistered host', state: state('registering'), desired: desired({}, { deleting: true }), expect: { kind: 'transition', to: 'deleting' } },
  { name: 'delete an unmanaged host', state: state('unmanaged'), desired: desired({ bmc: undefined }, { deleting: true }), expect: { kind: 'transition', to: 'deleting' } },
  { name: 'delete a provisioned host deprovisions first', state: state('provisioned', { image: live }), desired: desired({}, { deleting: true }), expect: { kind: 'transition', to: 'deprovisioning' } },
  { name: 'delete an available host powers off first', state: state('available'), desired: desired({}, { deleting: true }), expect: { kind: 'transition', to: 'powering off before delete' } },
  { name: 'powering off before delete powers off hard', state: state('powering off before delete', { poweredOn: true }), desired: desired({}, { deleting: true }), expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'hard', purpose: 'delete' } } },
  { name: 'powered off before delete goes deleting', state: state('powering off before delete'), desired: desired({}, { deleting: true }), expect: { kind: 'transition', to: 'deleting' } },
  { name: 'power-off gives up after 3 attempts', state: state('powering off before delete', { poweredOn: true, deleteAttempts: 3 }), desired: desired({}, { deleting: true }), expect: { kind: 'transition', to: 'deleting' } },
  { name: 'deprovisioning gives up after 3 attempts while deleting', state: state('deprovisioning', { deleteAttempts: 3 }), desired: desired({}, { deleting: true }), expect: { kind: 'transition', to: 'powering off before delete' } },
  { name: 'deleting releases the host', state: state('deleting'), desired: desired({}, { deleting: true }), expect: { kind: 'release' } },
  // Detach
  {
    name: 'detach a provisioned host',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: live }, { annotations: { paused: false, reboot: {}, invalid: [], detached: { deleteAction: 'delete', force: false } } }),
    expect: { kind: 'transition', to: 'provisioned', reason: 'detached' },
  },
  {
    name: 'a host in inspecting is not detached without force',
    state: state('inspecting'),
    desired: desired({}, { annotations: { paused: false, reboot: {}, invalid: [], detached: { deleteAction: 'delete', force: false } } }),
    expect: { kind: 'operation', request: { name: 'inspect' } },
  },
  {
    name: 'deletion waits while detached with deleteAction delay',
    state: state('provisioned', { detached: true }),
    desired: desired({}, { deleting: true, annotations: { paused: false, reboot: {}, invalid: [], detached: { deleteAction: 'delay', force: false } } }),
    expect: { kind: 'wait' },
  },
  {
    name: 'a detached host is deleted without deprovisioning',
    state: state('provisioned', { detached: true }),
    desired: desired({}, { deleting: true, annotations: { paused: false, reboot: {}, invalid: [], detached: { deleteAction: 'delete', force: false } } }),
    expect: { kind: 'transition', to: 'deleting' },
  },
  // Re-registration
  { name: 'a credentials change re-registers a provisioned host', state: state('provisioned', { image: live, poweredOn: true }), desired: desired({ online: true, image: live }, { credentials: { name: 'host-0-bmc', version: '101' } }), expect: { kind: 'operation', request: { name: 'register' } } },
  { name: 'a credentials Secret switch re-registers', state: state('available', { bootMode: 'UEFI' }), desired: desired({ bmc: { address: desired().spec.bmc!.address, credentialsName: 'other' } }, { credentials: { name: 'other', version: '5' } }), expect: { kind: 'operation', request: { name: 'register' } } },
  // Reboot annotations
  {
    name: 'reboot annotation powers a provisioned host off softly',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: live }, { annotations: { paused: false, reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } }, invalid: [] } }),
    expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'soft', purpose: 'reboot' } },
  },
  {
    name: 'a hard reboot request wins',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: live }, { annotations: { paused: false, reboot: { 'reboot.metal3.io/a': { mode: 'soft', force: false }, 'reboot.metal3.io/b': { mode: 'hard', force: false } }, invalid: [] } }),
    expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'hard', purpose: 'reboot' } },
  },
  {
    name: 'powered off for a plain reboot: the annotation is consumed',
    state: state('provisioned', { image: live }),
    desired: desired({ online: true, image: live }, { annotations: { paused: false, reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } }, invalid: [] } }),
    expect: { kind: 'consume', annotations: ['reboot.metal3.io'] },
  },
  {
    name: 'a keyed reboot keeps the host off',
    state: state('provisioned', { image: live }),
    desired: desired({ online: true, image: live }, { annotations: { paused: false, reboot: { 'reboot.metal3.io/remediation': { mode: 'soft', force: false } }, invalid: [] } }),
    expect: { kind: 'wait' },
  },
  {
    name: 'a consumed reboot annotation is not acted on again',
    state: state('provisioned', { image: live, consumedAnnotations: ['reboot.metal3.io'] }),
    desired: desired({ online: true, image: live }, { annotations: { paused: false, reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } }, invalid: [] } }),
    expect: { kind: 'operation', request: { name: 'power', on: true, mode: 'soft', purpose: 'online' } },
  },
  { name: 'steady state checks power when due', state: state('provisioned', { image: live, poweredOn: true, powerCheckedAt: new Date(NOW - 11 * 60_000).toISOString() }), desired: desired({ online: true, image: live }), expect: { kind: 'checkPower' } },
];

describe('nextStep', () => {
  it.each(cases)('$name', ({ state: s, desired: d, expect: e }) => {
    expect(nextStep(s, d, NOW)).toMatchObject(e);
  });
});

describe('errors and backoff', () => {
  it('follows BMO: 2^n minutes minus up to 50% jitter, capped at 2^9', () => {
    expect(errorBackoffMs(1, 0)).toBe(120_000);
    expect(errorBackoffMs(1, 0.999)).toBeGreaterThan(60_000);
    expect(errorBackoffMs(3, 0)).toBe(8 * 60_000);
    expect(errorBackoffMs(20, 0)).toBe(512 * 60_000);
  });

  it('records a registration error with backoff, then waits instead of retrying at once', () => {
    const d = desired();
    const failed = applyFailure(state('registering'), 'register', { code: 'BmcAuthFailed', message: 'the BMC refused the credentials' }, d, NOW, 0);
    expect(failed.state).toMatchObject({ errorType: 'registration error', operationalStatus: 'error', errorCount: 1, errorCode: 'BmcAuthFailed' });
    expect(failed.events[0]).toMatchObject({ type: 'Warning', reason: 'RegistrationError' });
    const step = nextStep(failed.state, d, NOW + 1000);
    expect(step).toMatchObject({ kind: 'wait', until: NOW + 120_000 });
    expect(nextStep(failed.state, d, NOW + 120_001)).toMatchObject({ kind: 'operation', request: { name: 'register' } });
  });

  it('retries at once when the user fixes the Secret (a new version), without recreating anything', () => {
    const failed = applyFailure(state('registering'), 'register', { code: 'BmcAuthFailed', message: 'refused' }, desired(), NOW, 0).state;
    const fixed = desired({}, { credentials: { name: 'host-0-bmc', version: '101' } });
    const recovered = onDesiredChanged(failed, fixed);
    expect(nextStep(recovered, fixed, NOW + 1000)).toMatchObject({ kind: 'operation', request: { name: 'register' } });
    const ok = applySuccess(recovered, { name: 'register' }, { poweredOn: false, credentialsVersion: '101', bmcAddress: fixed.spec.bmc!.address }, fixed, NOW + 2000);
    expect(ok.state).toMatchObject({ errorType: '', errorCount: 0, operationalStatus: 'OK', goodCredentials: { version: '101' } });
    expect(nextStep(ok.state, fixed, NOW + 3000)).toMatchObject({ kind: 'transition', to: 'inspecting' });
  });

  it('does not repeat a decided failure for the same intent', () => {
    const d = desired({}, { credentials: { name: 'host-0-bmc', problem: 'missing' } });
    const failed = applyFailure(state('registering'), 'register', { code: 'BmcCredentialsMissing', message: 'missing' }, d, NOW, 0).state;
    expect(nextStep(failed, d, NOW + 10 * 60 * 60_000)).toMatchObject({ kind: 'wait' });
  });

  it('a registration failure of a provisioned host is a provisioned registration error', () => {
    const failed = applyFailure(state('provisioned', { image: live }), 'register', { code: 'BmcUnreachable', message: 'down' }, desired(), NOW, 0);
    expect(failed.state.errorType).toBe('provisioned registration error');
    expect(failed.state.provisioningState).toBe('provisioned');
  });

  it('a failed deploy is cleaned up, keeps its error through deprovisioning, and stops at the retry limit', () => {
    const d = desired({ online: true, image: live });
    let s = state('provisioning', { lastAttemptedImage: live });
    for (let attempt = 1; attempt <= DEFAULT_LIFECYCLE_CONFIG.maxProvisioningRetries; attempt++) {
      s = applyFailure(s, 'provision', { code: 'VirtualMediaFailed', message: 'insert failed' }, d, NOW, 0).state;
      expect(s.provisioningState).toBe('deprovisioning');
      expect(s.provisioningFailCount).toBe(attempt);
      s = applySuccess(s, { name: 'deprovision' }, { poweredOn: false }, d, NOW).state;
      expect(s).toMatchObject({ provisioningState: 'available', errorType: 'provisioning error' });
      s = { ...s, retryAfter: undefined };
      if (attempt < DEFAULT_LIFECYCLE_CONFIG.maxProvisioningRetries) {
        const step = nextStep(s, d, NOW);
        expect(step).toMatchObject({ kind: 'transition', to: 'provisioning' });
        s = applyTransition(s, step as Extract<Step, { kind: 'transition' }>, d, NOW).state;
      }
    }
    expect(nextStep(s, d, NOW)).toMatchObject({ kind: 'fail', message: expect.stringContaining('retry limit reached') });
  });
});

describe('transitions and results', () => {
  it('walks registration to available, recording history and hardware', () => {
    const d = desired();
    let s = applyTransition(state(''), { kind: 'transition', to: 'registering', reason: 'BMC details set' }, d, NOW).state;
    expect(s.operationHistory.register.start).toBeDefined();
    s = applySuccess(s, { name: 'register' }, { poweredOn: false, credentialsVersion: '100', bmcAddress: d.spec.bmc!.address }, d, NOW).state;
    expect(s.operationHistory.register.end).toBeDefined();
    s = applyTransition(s, { kind: 'transition', to: 'inspecting', reason: 'registered' }, d, NOW).state;
    s = applySuccess(s, { name: 'inspect' }, { poweredOn: false, hardware: { ramMebibytes: 4096 } }, d, NOW).state;
    expect(s).toMatchObject({ provisioningState: 'preparing', hardware: { ramMebibytes: 4096 } });
    s = applySuccess(s, { name: 'prepare' }, { poweredOn: false }, d, NOW).state;
    expect(s).toMatchObject({ provisioningState: 'available', bootMode: 'UEFI' });
    expect(nextStep(s, d, NOW)).toMatchObject({ kind: 'wait' });
  });

  it('consumes the inspect annotation when re-inspection starts, and forgets it once removed', () => {
    const d = desired({}, { annotations: { paused: false, reboot: {}, invalid: [], inspect: '' } });
    const t = applyTransition(state('available'), { kind: 'transition', to: 'inspecting', reason: 're-inspect' }, d, NOW);
    expect(t.consume).toEqual(['inspect.metal3.io']);
    const consumed = { ...t.state, consumedAnnotations: t.consume };
    expect(onDesiredChanged(consumed, desired()).consumedAnnotations).toEqual([]);
  });

  it('rebuilds state from a status annotation', () => {
    const s = stateFromStatus({ provisioning: { state: 'provisioned', image: live, ID: 'x' }, poweredOn: true, hardware: { ramMebibytes: 1 } }, 'uid-9');
    expect(s).toMatchObject({ provisioningState: 'provisioned', poweredOn: true, image: live, provisioningId: 'uid-9' });
    // It must register with the BMC again before anything else.
    expect(nextStep(s, desired({ online: true, image: live }), NOW)).toMatchObject({ kind: 'operation', request: { name: 'register' } });
  });
});

describe('agreement with the transition table (domain/host-state.ts)', () => {
  const moves = cases.filter((c) => c.expect.kind === 'transition' && (c.expect as { to: string }).to !== c.state.provisioningState);
  it.each(moves)('$name is an edge of the table', ({ state: s, expect: e }) => {
    const from = parseProvisioningState(s.provisioningState);
    const to = parseProvisioningState((e as { to: string }).to);
    expect(from !== undefined && to !== undefined && canTransition(from, to)).toBe(true);
  });

  it('state changes made by operation results are edges of the table', () => {
    const d = desired({ online: true, image: live });
    const pairs: [string, string][] = [
      ['inspecting', applySuccess(state('inspecting'), { name: 'inspect' }, { poweredOn: false }, d, NOW).state.provisioningState],
      ['preparing', applySuccess(state('preparing'), { name: 'prepare' }, { poweredOn: false }, d, NOW).state.provisioningState],
      ['provisioning', applySuccess(state('provisioning'), { name: 'provision', image: live }, { poweredOn: true }, d, NOW).state.provisioningState],
      ['deprovisioning', applySuccess(state('deprovisioning'), { name: 'deprovision' }, { poweredOn: false }, d, NOW).state.provisioningState],
      ['deprovisioning', applySuccess(state('deprovisioning'), { name: 'deprovision' }, { poweredOn: false }, { ...d, deleting: true }, NOW).state.provisioningState],
      ['provisioning', applyFailure(state('provisioning'), 'provision', { code: 'VirtualMediaFailed', message: 'x' }, d, NOW, 0).state.provisioningState],
    ];
    for (const [from, to] of pairs) expect(canTransition(from as never, to as never), `${from} -> ${to}`).toBe(true);
  });
});
