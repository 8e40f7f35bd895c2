/**
 * The decisions, case by case (BMO's behaviour per state, with scenario names), and the outcomes of the
 * operations they start folded back into the state: the lifecycle walked the way the workflow walks it.
 */
import { describe, expect, it } from 'vitest';
import { LIVE_ISO as live, NOW, annotations, hostDesired as desired, hostIn as state } from '../test/fixtures/hosts.ts';
import { claimsSlot, decide, type Step } from './host-decisions.ts';
import {
  DEFAULT_LIFECYCLE_CONFIG,
  applyFailure,
  applySuccess,
  delay,
  errorBackoffMs,
  onDesiredChanged,
  stateFromStatus,
  transition,
} from './host-lifecycle.ts';
import type { HostDesired, HostState } from './host-model.ts';
import type { TransitionTrigger } from './host-state.ts';

type Case = { name: string; state: HostState; desired: HostDesired; expect: Partial<Step> & { kind: Step['kind'] } };

const on = (trigger: TransitionTrigger) => ({ kind: 'transition' as const, trigger });
const registered = { goodCredentials: { name: 'host-0-bmc', namespace: 'metal3', version: '100' }, bmcAddress: desired().spec.bmc!.address };
const uefi = { bootMode: 'UEFI' };
const deleting = { deleting: true };
const detachedAnnotation = (deleteAction: 'delete' | 'delay' = 'delete') => annotations({ detached: { deleteAction, force: false } });
const qcow = { url: 'http://images.example/os.qcow2', checksum: 'abc', format: 'qcow2' as const };

const cases: Case[] = [
  { name: 'new host with BMC details registers', state: state(''), desired: desired(), expect: on('bmcDetailsFound') },
  { name: 'new host without BMC details is unmanaged', state: state(''), desired: desired({ bmc: undefined }), expect: on('bmcDetailsMissing') },
  { name: 'unmanaged host waits for BMC details', state: state('unmanaged'), desired: desired({ bmc: undefined }), expect: { kind: 'wait', why: 'unmanaged' } },
  { name: 'unmanaged host with BMC details registers', state: state('unmanaged'), desired: desired(), expect: on('bmcDetailsFound') },
  { name: 'registering runs the register operation', state: state('registering'), desired: desired(), expect: { kind: 'operation', request: { name: 'register' } } },
  {
    name: 'registering with a missing Secret fails without calling the BMC',
    state: state('registering'),
    desired: desired({}, { credentials: { name: 'host-0-bmc', problem: 'the Secret metal3/host-0-bmc does not exist' } }),
    expect: { kind: 'fail', code: 'BmcCredentialsMissing', operation: 'register' },
  },
  { name: 'registered host goes inspecting', state: state('registering', registered), desired: desired(), expect: on('registered') },
  {
    name: 'registered host with inspection disabled goes preparing',
    state: state('registering', registered),
    desired: desired({ inspectionMode: 'disabled' }),
    expect: on('inspectionDisabled'),
  },
  {
    name: 'registered externally provisioned host skips inspection',
    state: state('registering', registered),
    desired: desired({ externallyProvisioned: true }),
    expect: on('externallyProvisioned'),
  },
  { name: 'inspecting runs inspect', state: state('inspecting'), desired: desired(), expect: { kind: 'operation', request: { name: 'inspect' } } },
  { name: 'match profile is a no-op', state: state('match profile'), desired: desired(), expect: on('legacyMatchProfile') },
  { name: 'preparing runs prepare', state: state('preparing'), desired: desired(), expect: { kind: 'operation', request: { name: 'prepare' } } },
  { name: 'available and off as asked waits', state: state('available', uefi), desired: desired(), expect: { kind: 'wait', why: 'steady' } },
  {
    name: 'available with online:true powers on',
    state: state('available', uefi),
    desired: desired({ online: true }),
    expect: { kind: 'operation', request: { name: 'power', on: true, mode: 'soft', purpose: 'online' } },
  },
  { name: 'available with an image and online provisions', state: state('available', uefi), desired: desired({ online: true, image: live }), expect: on('provisionRequested') },
  { name: 'available with an image but offline does not provision', state: state('available', uefi), desired: desired({ image: live }), expect: { kind: 'wait' } },
  { name: 'deprecated ready behaves as available', state: state('ready', uefi), desired: desired({ online: true, image: live }), expect: on('provisionRequested') },
  {
    name: 'available with changed root device hints prepares again',
    state: state('available', uefi),
    desired: desired({ rootDeviceHints: { deviceName: '/dev/sdb' } }),
    expect: on('settingsChanged'),
  },
  {
    name: 'available with the inspect annotation re-inspects',
    state: state('available', uefi),
    desired: desired({}, { annotations: annotations({ inspect: '' }) }),
    expect: on('inspectionRequested'),
  },
  { name: 'available with externallyProvisioned set', state: state('available', uefi), desired: desired({ externallyProvisioned: true }), expect: on('externallyProvisioned') },
  {
    name: 'provisioning runs provision',
    state: state('provisioning', { lastAttemptedImage: live }),
    desired: desired({ online: true, image: live }),
    expect: { kind: 'operation', request: { name: 'provision', image: live } },
  },
  {
    name: 'a disk image is deployed through the agent',
    state: state('provisioning', { lastAttemptedImage: qcow }),
    desired: desired({ online: true, image: qcow }),
    expect: { kind: 'operation', request: { name: 'provision', image: qcow } },
  },
  {
    name: 'a customDeploy runs its method (never back to available: no flapping)',
    state: state('provisioning'),
    desired: desired({ online: true, customDeploy: { method: 'install_coreos' } }),
    expect: { kind: 'operation', request: { name: 'provision', customDeploy: { method: 'install_coreos' } } },
  },
  {
    name: 'image removed while provisioning deprovisions',
    state: state('provisioning', { lastAttemptedImage: live }),
    desired: desired({ online: true }),
    expect: on('provisioningCancelled'),
  },
  {
    name: 'provisioning without an image, even with none attempted, deprovisions (never back to available)',
    state: state('provisioning'),
    desired: desired({ online: true }),
    expect: on('provisioningCancelled'),
  },
  { name: 'provisioned with image removed deprovisions', state: state('provisioned', { image: live, poweredOn: true }), desired: desired({ online: true }), expect: on('provisioningCancelled') },
  {
    name: 'provisioned with image changed deprovisions',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: { url: 'http://images.example/other.iso', format: 'live-iso' } }),
    expect: on('provisioningCancelled'),
  },
  {
    name: 'provisioned with a customDeploy method changed deprovisions',
    state: state('provisioned', { customDeploy: { method: 'a' }, poweredOn: true }),
    desired: desired({ online: true, customDeploy: { method: 'b' } }),
    expect: on('provisioningCancelled'),
  },
  {
    name: 'provisioned and online powers on',
    state: state('provisioned', { image: live }),
    desired: desired({ online: true, image: live }),
    expect: { kind: 'operation', request: { name: 'power', on: true, mode: 'soft', purpose: 'online' } },
  },
  {
    name: 'provisioned with online:false powers off softly',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ image: live }),
    expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'soft', purpose: 'online' } },
  },
  {
    name: 'online:false with disablePowerOff is never powered off',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ image: live, disablePowerOff: true }),
    expect: { kind: 'wait', why: 'powerOffDisabled' },
  },
  { name: 'deprovisioning runs deprovision', state: state('deprovisioning'), desired: desired(), expect: { kind: 'operation', request: { name: 'deprovision' } } },
  { name: 'externally provisioned flipped off becomes provisioned', state: state('externally provisioned'), desired: desired({ image: live }), expect: on('externallyProvisionedCleared') },
  { name: 'paused host does nothing', state: state('registering'), desired: desired({}, { annotations: annotations({ paused: true }) }), expect: { kind: 'wait', why: 'paused' } },
  { name: 'an unknown state waits', state: state('fast-inspecting'), desired: desired(), expect: { kind: 'wait', why: 'unknownState' } },
  // Deletion
  { name: 'delete an unregistered host', state: state('registering'), desired: desired({}, deleting), expect: on('deleteRequested') },
  { name: 'delete an unmanaged host', state: state('unmanaged'), desired: desired({ bmc: undefined }, deleting), expect: on('deleteRequested') },
  { name: 'delete a provisioned host deprovisions first', state: state('provisioned', { image: live }), desired: desired({}, deleting), expect: on('deleteRequested') },
  { name: 'delete an available host powers off first', state: state('available'), desired: desired({}, deleting), expect: on('deleteRequested') },
  {
    name: 'powering off before delete powers off hard',
    state: state('powering off before delete', { poweredOn: true }),
    desired: desired({}, deleting),
    expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'hard', purpose: 'delete' } },
  },
  { name: 'powered off before delete goes deleting', state: state('powering off before delete'), desired: desired({}, deleting), expect: on('poweredOff') },
  {
    name: 'power-off gives up after 3 attempts',
    state: state('powering off before delete', { poweredOn: true, deleteAttempts: 3 }),
    desired: desired({}, deleting),
    expect: on('powerOffGaveUp'),
  },
  {
    name: 'powering off without usable credentials skips the power-off',
    state: state('powering off before delete', { poweredOn: true }),
    desired: desired({}, { deleting: true, credentials: { name: 'host-0-bmc', problem: 'the Secret is gone' } }),
    expect: on('unregisteredWithoutCredentials'),
  },
  {
    name: 'powering off re-registers first when the credentials changed (BMO registers in this state)',
    state: state('powering off before delete', { poweredOn: true }),
    desired: desired({}, { deleting: true, credentials: { name: 'host-0-bmc', version: '101' } }),
    expect: { kind: 'operation', request: { name: 'register' } },
  },
  {
    name: 'deprovisioning gives up after 3 attempts while deleting',
    state: state('deprovisioning', { deleteAttempts: 3 }),
    desired: desired({}, deleting),
    expect: on('cleanupGaveUp'),
  },
  {
    name: 'deprovisioning while deleting, unregistered and without credentials, deletes at once',
    state: state('deprovisioning', { goodCredentials: undefined }),
    desired: desired({ bmc: undefined }, deleting),
    expect: on('unregisteredWithoutCredentials'),
  },
  {
    name: 'registration keeps failing while deleting: give up and delete',
    state: state('deprovisioning', { errorType: 'registration error', errorCount: 4 }),
    desired: desired({}, deleting),
    expect: on('registrationGaveUp'),
  },
  { name: 'deleting releases the host', state: state('deleting'), desired: desired({}, deleting), expect: { kind: 'release' } },
  // Detach
  {
    name: 'detach a provisioned host',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: live }, { annotations: detachedAnnotation() }),
    expect: { kind: 'detach' },
  },
  {
    name: 'a host in inspecting is not detached without force',
    state: state('inspecting'),
    desired: desired({}, { annotations: detachedAnnotation() }),
    expect: { kind: 'operation', request: { name: 'inspect' } },
  },
  { name: 'a detached host without the annotation is re-attached', state: state('provisioned', { detached: true }), desired: desired(), expect: { kind: 'attach' } },
  {
    name: 'deletion waits while detached with deleteAction delay',
    state: state('provisioned', { detached: true }),
    desired: desired({}, { deleting: true, annotations: detachedAnnotation('delay') }),
    expect: { kind: 'wait', why: 'deleteDelayed' },
  },
  {
    name: 'a detached host is deleted without deprovisioning',
    state: state('provisioned', { detached: true }),
    desired: desired({}, { deleting: true, annotations: detachedAnnotation() }),
    expect: on('deleteRequestedWhileDetached'),
  },
  {
    name: 'a detached host that reached deleting is released (not held as detached)',
    state: state('deleting', { detached: true }),
    desired: desired({}, { deleting: true, annotations: detachedAnnotation() }),
    expect: { kind: 'release' },
  },
  // Re-registration
  {
    name: 'a credentials change re-registers a provisioned host',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: live }, { credentials: { name: 'host-0-bmc', version: '101' } }),
    expect: { kind: 'operation', request: { name: 'register' } },
  },
  {
    name: 'a credentials Secret switch re-registers',
    state: state('available', uefi),
    desired: desired({ bmc: { address: desired().spec.bmc!.address, credentialsName: 'other' } }, { credentials: { name: 'other', version: '5' } }),
    expect: { kind: 'operation', request: { name: 'register' } },
  },
  // Reboot annotations
  {
    name: 'reboot annotation powers a provisioned host off softly',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired({ online: true, image: live }, { annotations: annotations({ reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } } }) }),
    expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'soft', purpose: 'reboot' } },
  },
  {
    name: 'a hard reboot request wins',
    state: state('provisioned', { image: live, poweredOn: true }),
    desired: desired(
      { online: true, image: live },
      { annotations: annotations({ reboot: { 'reboot.metal3.io/a': { mode: 'soft', force: false }, 'reboot.metal3.io/b': { mode: 'hard', force: false } } }) },
    ),
    expect: { kind: 'operation', request: { name: 'power', on: false, mode: 'hard', purpose: 'reboot' } },
  },
  {
    name: 'powered off for a plain reboot: the annotation is consumed',
    state: state('provisioned', { image: live }),
    desired: desired({ online: true, image: live }, { annotations: annotations({ reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } } }) }),
    expect: { kind: 'consume', annotations: ['reboot.metal3.io'] },
  },
  {
    name: 'a keyed reboot keeps the host off',
    state: state('provisioned', { image: live }),
    desired: desired({ online: true, image: live }, { annotations: annotations({ reboot: { 'reboot.metal3.io/remediation': { mode: 'soft', force: false } } }) }),
    expect: { kind: 'wait', why: 'keptOff' },
  },
  {
    name: 'a consumed reboot annotation is not acted on again',
    state: state('provisioned', { image: live, consumedAnnotations: ['reboot.metal3.io'] }),
    desired: desired({ online: true, image: live }, { annotations: annotations({ reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } } }) }),
    expect: { kind: 'operation', request: { name: 'power', on: true, mode: 'soft', purpose: 'online' } },
  },
  {
    name: 'steady state checks power when due',
    state: state('provisioned', { image: live, poweredOn: true, powerCheckedAt: new Date(NOW - 11 * 60_000).toISOString() }),
    desired: desired({ online: true, image: live }),
    expect: { kind: 'checkPower' },
  },
  // The provisioning limit
  {
    name: 'a delayed host waits for its slot',
    state: delay(state('available', uefi), 'provisioning', '2 of 2 slots busy'),
    desired: desired({ online: true, image: live }),
    expect: { kind: 'wait', why: 'delayed' },
  },
  {
    name: 'a delayed host offered a slot moves on',
    state: { ...state('available', uefi), delayed: { state: 'provisioning', reason: 'busy', offered: true } },
    desired: desired({ online: true, image: live }),
    expect: on('provisionRequested'),
  },
  {
    name: 'a delayed host whose image was removed stops waiting',
    state: delay(state('available', uefi), 'provisioning', '2 of 2 slots busy'),
    desired: desired({ online: true }),
    expect: { kind: 'undelay' },
  },
  {
    name: 'a delayed host that is deleted stops waiting for the slot it wanted',
    state: delay(state('available', uefi), 'provisioning', '2 of 2 slots busy'),
    desired: desired({ online: true, image: live }, deleting),
    expect: { kind: 'undelay' },
  },
];

describe('decide', () => {
  it.each(cases)('$name', ({ state: s, desired: d, expect: e }) => {
    expect(decide(s, d, NOW)).toMatchObject(e);
  });
});

describe('claimsSlot', () => {
  it.each([
    { from: 'registering', trigger: 'registered', claims: true },
    { from: 'available', trigger: 'inspectionRequested', claims: true },
    { from: 'available', trigger: 'provisionRequested', claims: true },
    { from: 'provisioned', trigger: 'provisioningCancelled', claims: true },
    { from: 'provisioned', trigger: 'deleteRequested', claims: true },
    { from: 'provisioning', trigger: 'provisioningCancelled', claims: false },
    { from: 'provisioning', trigger: 'deleteRequested', claims: false },
    { from: 'available', trigger: 'deleteRequested', claims: false },
    { from: 'inspecting', trigger: 'inspected', claims: false },
  ] as const)('$from on $trigger: $claims', ({ from, trigger, claims }) => {
    expect(claimsSlot(state(from), trigger)).toBe(claims);
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
    expect(decide(failed.state, d, NOW + 1000)).toMatchObject({ kind: 'wait', why: 'backoff', until: NOW + 120_000 });
    expect(decide(failed.state, d, NOW + 120_001)).toMatchObject({ kind: 'operation', request: { name: 'register' } });
  });

  it('retries at once when the user fixes the Secret (a new version), without recreating anything', () => {
    const failed = applyFailure(state('registering'), 'register', { code: 'BmcAuthFailed', message: 'refused' }, desired(), NOW, 0).state;
    const fixed = desired({}, { credentials: { name: 'host-0-bmc', version: '101' } });
    const recovered = onDesiredChanged(failed, fixed);
    expect(decide(recovered, fixed, NOW + 1000)).toMatchObject({ kind: 'operation', request: { name: 'register' } });
    const result = { poweredOn: false, credentialsVersion: '101', bmcAddress: fixed.spec.bmc!.address };
    const ok = applySuccess(recovered, { name: 'register' }, result, fixed, NOW + 2000);
    expect(ok.state).toMatchObject({ errorType: '', errorCount: 0, operationalStatus: 'OK', goodCredentials: { version: '101' } });
    expect(decide(ok.state, fixed, NOW + 3000)).toMatchObject(on('registered'));
  });

  it('does not repeat a decided failure for the same intent', () => {
    const d = desired({}, { credentials: { name: 'host-0-bmc', problem: 'missing' } });
    const failed = applyFailure(state('registering'), 'register', { code: 'BmcCredentialsMissing', message: 'missing' }, d, NOW, 0).state;
    expect(decide(failed, d, NOW + 10 * 60 * 60_000)).toMatchObject({ kind: 'wait', why: 'failed' });
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
      const failed = applyFailure(s, 'provision', { code: 'VirtualMediaFailed', message: 'insert failed' }, d, NOW, 0);
      s = failed.state;
      expect(s.provisioningState).toBe('deprovisioning');
      expect(s.provisioningFailCount).toBe(attempt);
      expect(failed.events.map((e) => e.reason)).toEqual(['ProvisioningError', 'DeprovisioningStarted']);
      s = applySuccess(s, { name: 'deprovision' }, { poweredOn: false }, d, NOW).state;
      expect(s).toMatchObject({ provisioningState: 'available', errorType: 'provisioning error' });
      s = { ...s, retryAfter: undefined };
      if (attempt < DEFAULT_LIFECYCLE_CONFIG.maxProvisioningRetries) {
        const step = decide(s, d, NOW);
        expect(step).toMatchObject(on('provisionRequested'));
        s = transition(s, (step as Extract<Step, { kind: 'transition' }>).trigger, d, NOW).state;
      }
    }
    expect(decide(s, d, NOW)).toMatchObject({ kind: 'fail', message: expect.stringContaining('retry limit reached') });
  });
});

describe('operation outcomes', () => {
  it('walks registration to available, recording history and hardware', () => {
    const d = desired();
    let s = transition(state(''), 'bmcDetailsFound', d, NOW).state;
    expect(s.operationHistory.register.start).toBeDefined();
    s = applySuccess(s, { name: 'register' }, { poweredOn: false, credentialsVersion: '100', bmcAddress: d.spec.bmc!.address }, d, NOW).state;
    expect(s.operationHistory.register.end).toBeDefined();
    s = transition(s, 'registered', d, NOW).state;
    s = applySuccess(s, { name: 'inspect' }, { poweredOn: false, hardware: { ramMebibytes: 4096 } }, d, NOW).state;
    expect(s).toMatchObject({ provisioningState: 'preparing', hardware: { ramMebibytes: 4096 } });
    s = applySuccess(s, { name: 'prepare' }, { poweredOn: false }, d, NOW).state;
    expect(s).toMatchObject({ provisioningState: 'available', bootMode: 'UEFI' });
    expect(decide(s, d, NOW)).toMatchObject({ kind: 'wait', why: 'steady' });
  });

  it('consumes the inspect annotation when re-inspection starts, and forgets it once removed', () => {
    const d = desired({}, { annotations: annotations({ inspect: '' }) });
    const t = transition(state('available'), 'inspectionRequested', d, NOW);
    expect(t.consume).toEqual(['inspect.metal3.io']);
    const consumed = { ...t.state, consumedAnnotations: t.consume };
    expect(onDesiredChanged(consumed, desired()).consumedAnnotations).toEqual([]);
  });

  it('rebuilds state from a status annotation', () => {
    const s = stateFromStatus({ provisioning: { state: 'provisioned', image: live, ID: 'x' }, poweredOn: true, hardware: { ramMebibytes: 1 } }, 'uid-9');
    expect(s).toMatchObject({ provisioningState: 'provisioned', poweredOn: true, image: live, provisioningId: 'uid-9' });
    // It must register with the BMC again before anything else.
    expect(decide(s, desired({ online: true, image: live }), NOW)).toMatchObject({ kind: 'operation', request: { name: 'register' } });
  });
});
