import { describe, expect, it } from 'vitest';
import type { HostState } from '../domain/host-model.ts';
import { computeConditions, mergeConditions, mergeDiff, metaTime, projectStatus, statusPatch, type ConditionCore } from './status.ts';

function state(overrides: Partial<HostState> = {}): HostState {
  return {
    provisioningState: 'available',
    operationalStatus: 'OK',
    errorType: '',
    errorMessage: '',
    errorCount: 0,
    poweredOn: false,
    provisioningId: 'uid-1',
    operationHistory: { register: {}, inspect: {}, provision: {}, deprovision: {} },
    provisioningFailCount: 0,
    consumedAnnotations: [],
    deleteAttempts: 0,
    detached: false,
    ...overrides,
  };
}

/** Conditions as `Type=Status/Reason`, in the fixed order the bridge writes them. */
function summary(conditions: ConditionCore[]): string {
  return conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');
}

describe('computeConditions (BMO v0.13 computeConditions)', () => {
  const M = 'Manageable';
  const A = 'AvailableForProvisioning';
  const P = 'Provisioned';
  const R = 'Ready';
  const G = 'Progressing';
  const progressing = (reason: string) => `${M}=True/Manageable ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=False/NotAvailable ${G}=True/${reason}`;
  const table: [scenario: string, overrides: Partial<HostState>, expected: string][] = [
    ['none', { provisioningState: '' }, `${M}=False/NotManaged ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['unmanaged', { provisioningState: 'unmanaged', operationalStatus: 'discovered' }, `${M}=False/NotManaged ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['registering', { provisioningState: 'registering' }, `${M}=False/Registering ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=False/NotAvailable ${G}=True/Registering`],
    ['registering with an error', { provisioningState: 'registering', operationalStatus: 'error', errorType: 'registration error', errorMessage: 'bad password' }, `${M}=False/RegistrationFailed ${P}=False/NotProvisioned ${R}=False/Error ${A}=False/NotAvailable ${G}=True/Registering`],
    ['inspecting', { provisioningState: 'inspecting' }, progressing('Inspecting')],
    ['match profile (legacy)', { provisioningState: 'match profile' }, progressing('Inspecting')],
    ['preparing', { provisioningState: 'preparing' }, progressing('Preparing')],
    ['available', { provisioningState: 'available' }, `${M}=True/Manageable ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=True/Available ${G}=False/NotProgressing`],
    ['ready (deprecated alias)', { provisioningState: 'ready' }, `${M}=True/Manageable ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=True/Available ${G}=False/NotProgressing`],
    ['available but delayed', { provisioningState: 'available', operationalStatus: 'delayed' }, `${M}=True/Manageable ${P}=False/NotProvisioned ${R}=False/NotProvisioned ${A}=True/Available ${G}=False/NotProgressing`],
    ['provisioning', { provisioningState: 'provisioning' }, progressing('Provisioning')],
    ['provisioned', { provisioningState: 'provisioned', poweredOn: true }, `${M}=True/Manageable ${P}=True/Provisioned ${R}=True/Provisioned ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['externally provisioned', { provisioningState: 'externally provisioned' }, `${M}=True/Manageable ${P}=True/Provisioned ${R}=True/Provisioned ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['provisioned and servicing', { provisioningState: 'provisioned', operationalStatus: 'servicing' }, `${M}=True/Manageable ${P}=True/Provisioned ${R}=False/Servicing ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['provisioned and detached', { provisioningState: 'provisioned', operationalStatus: 'detached', detached: true }, `${M}=True/Manageable ${P}=True/Provisioned ${R}=False/Detached ${A}=False/NotAvailable ${G}=False/Detached`],
    ['provisioned with a provisioning error', { provisioningState: 'provisioned', operationalStatus: 'error', errorType: 'provisioning error', errorMessage: 'x' }, `${M}=True/Manageable ${P}=True/Provisioned ${R}=False/Error ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['provisioned with a power failure', { provisioningState: 'provisioned', operationalStatus: 'error', errorType: 'power management error', errorMessage: 'x' }, `${M}=False/PowerFailure ${P}=True/Provisioned ${R}=False/Error ${A}=False/NotAvailable ${G}=False/NotProgressing`],
    ['registering with a power error is not a power failure', { provisioningState: 'registering', operationalStatus: 'error', errorType: 'power management error', errorMessage: 'x' }, `${M}=False/RegistrationFailed ${P}=False/NotProvisioned ${R}=False/Error ${A}=False/NotAvailable ${G}=True/Registering`],
    ['deprovisioning', { provisioningState: 'deprovisioning' }, progressing('Deprovisioning')],
    ['powering off before delete', { provisioningState: 'powering off before delete' }, progressing('PoweringOffBeforeDelete')],
    ['deleting', { provisioningState: 'deleting' }, progressing('Deleting')],
    ['deleting with a power error is not a power failure', { provisioningState: 'deleting', operationalStatus: 'error', errorType: 'power management error', errorMessage: 'x' }, `${M}=True/Manageable ${P}=False/NotProvisioned ${R}=False/Error ${A}=False/NotAvailable ${G}=True/Deleting`],
  ];
  it.each(table)('%s', (_scenario, overrides, expected) => {
    expect(summary(computeConditions(state(overrides)))).toBe(expected);
  });

  it('explains progress and errors in messages', () => {
    const inspecting = computeConditions(state({ provisioningState: 'inspecting', operation: { name: 'inspect', workflowId: 'w', startedAt: '2026-01-01T00:00:00Z', summary: 'inspect via Redfish' } }));
    expect(inspecting.find((c) => c.type === 'Progressing')?.message).toBe('inspect via Redfish');
    const waiting = computeConditions(state({ provisioningState: 'provisioning', waitingReason: 'disk images come with a later release' }));
    expect(waiting.find((c) => c.type === 'Progressing')?.message).toBe('disk images come with a later release');
    const failed = computeConditions(state({ operationalStatus: 'error', errorType: 'inspection error', errorMessage: 'the BMC refused' }));
    expect(failed.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Error', message: 'the BMC refused' });
  });
});

describe('mergeConditions', () => {
  const computed: ConditionCore[] = [
    { type: 'Manageable', status: 'True', reason: 'Manageable', message: '' },
    { type: 'Progressing', status: 'False', reason: 'NotProgressing', message: '' },
  ];
  it('keeps lastTransitionTime when the status did not change, even if the reason did', () => {
    const current = [
      { type: 'Manageable', status: 'True', reason: 'Manageable', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 },
      { type: 'Progressing', status: 'True', reason: 'Inspecting', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 },
    ];
    const merged = mergeConditions(computed, current, '2026-02-02T00:00:00Z', 3);
    expect(merged).toEqual([
      { type: 'Manageable', status: 'True', reason: 'Manageable', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3 },
      { type: 'Progressing', status: 'False', reason: 'NotProgressing', message: '', lastTransitionTime: '2026-02-02T00:00:00Z', observedGeneration: 3 },
    ]);
  });
  it('keeps conditions of other types as they are, after ours', () => {
    const healthy = { type: 'Healthy', status: 'True', reason: 'Healthy', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' };
    const merged = mergeConditions(computed, [healthy], '2026-02-02T00:00:00Z', 1);
    expect(merged.map((c) => c.type)).toEqual(['Manageable', 'Progressing', 'Healthy']);
    expect(merged[2]).toEqual(healthy);
  });
  it('stamps new conditions with now', () => {
    expect(mergeConditions(computed, undefined, '2026-02-02T00:00:00Z', 1).every((c) => c.lastTransitionTime === '2026-02-02T00:00:00Z')).toBe(true);
  });
});

describe('projectStatus', () => {
  const context = { now: '2026-03-01T10:00:00Z', generation: 2, current: undefined };
  it('maps every owned field with Metal3 names', () => {
    const projected = projectStatus(
      state({
        provisioningState: 'provisioned',
        poweredOn: true,
        image: { url: 'http://images/live.iso', format: 'live-iso' },
        bootMode: 'UEFI',
        rootDeviceHints: { deviceName: '/dev/sda' },
        customDeploy: { method: 'install_coreos' },
        goodCredentials: { name: 'bmc', namespace: 'ns', version: '41' },
        triedCredentials: { name: 'bmc', namespace: 'ns', version: '42' },
        operationHistory: { register: { start: '2026-03-01T09:00:00.123Z', end: '2026-03-01T09:01:00.999Z' }, inspect: {}, provision: { start: '2026-03-01T09:30:00Z' }, deprovision: {} },
        hardware: { ramMebibytes: 4096, cpu: { arch: 'x86_64', count: 2 }, unknownField: 'pruned' },
      }),
      context,
    );
    expect(projected.problems).toEqual([]);
    const { conditions, ...rest } = projected.status;
    expect(rest).toEqual({
      operationalStatus: 'OK',
      errorMessage: '',
      errorCount: 0,
      poweredOn: true,
      provisioning: { state: 'provisioned', ID: 'uid-1', image: { url: 'http://images/live.iso', format: 'live-iso' }, rootDeviceHints: { deviceName: '/dev/sda' }, bootMode: 'UEFI', customDeploy: { method: 'install_coreos' } },
      goodCredentials: { credentials: { name: 'bmc', namespace: 'ns' }, credentialsVersion: '41' },
      triedCredentials: { credentials: { name: 'bmc', namespace: 'ns' }, credentialsVersion: '42' },
      operationHistory: { register: { start: '2026-03-01T09:00:00Z', end: '2026-03-01T09:01:00Z' }, inspect: {}, provision: { start: '2026-03-01T09:30:00Z' }, deprovision: {} },
      hardware: { ramMebibytes: 4096, cpu: { arch: 'x86_64', count: 2 } },
    });
    expect(conditions).toHaveLength(5);
    expect((conditions as { observedGeneration: number }[]).every((c) => c.observedGeneration === 2)).toBe(true);
  });

  it('writes errorType only while there is one, and no fields the CRD lacks', () => {
    const ok = projectStatus(state({ lastAttemptedImage: { url: 'http://x' }, provisioningFailCount: 3 }), context);
    expect(ok.status).not.toHaveProperty('errorType');
    // The CRD (v0.13.2 schema) has neither provisioningFailCount nor lastAttemptedImage.
    expect(ok.status).not.toHaveProperty('provisioningFailCount');
    expect(ok.status).not.toHaveProperty('lastAttemptedImage');
    expect(ok.problems).toEqual([]);
    const failed = projectStatus(state({ operationalStatus: 'error', errorType: 'registration error', errorMessage: 'no', errorCount: 2 }), context);
    expect(failed.status).toMatchObject({ errorType: 'registration error', errorMessage: 'no', errorCount: 2 });
  });

  it('keeps the current value of a field that does not fit the schema, writes the rest, and names the field', () => {
    const current = { provisioning: { state: 'available', ID: 'uid-1', bootMode: 'UEFI' }, hardware: { ramMebibytes: 1024, nics: [{ name: 'eth0' }] } };
    const bad = projectStatus(
      state({ provisioningState: 'provisioning', bootMode: 'BIOS', hardware: { ramMebibytes: 2048, nics: [{ name: 'eth0', mac: 'not-a-mac' }], storage: [{ name: '/dev/sda', type: 'Tape' }] } }),
      { ...context, current },
    );
    expect(bad.status['provisioning']).toEqual({ state: 'provisioning', ID: 'uid-1', bootMode: 'UEFI' });
    // Within hardware, each part stands alone: the new RAM size is written, the bad NICs keep the old ones,
    // the bad storage list (not there before) is left out.
    expect(bad.status['hardware']).toEqual({ ramMebibytes: 2048, nics: [{ name: 'eth0' }] });
    expect(bad.problems).toEqual([
      expect.stringMatching(/^status\.provisioning\.bootMode: /),
      expect.stringMatching(/^status\.hardware\.nics\.0\.mac: /),
      expect.stringMatching(/^status\.hardware\.storage\.0\.type: /),
    ]);
    expect(bad.problems.join()).not.toContain('not-a-mac');
  });
});

describe('the tempered.dev/NodeJoined condition', () => {
  const context = { now: '2026-12-02T10:00:00Z', generation: 3, current: undefined };
  const joined = { key: 'k', status: 'joined' as const, reason: 'NodeReady', message: 'Node n1 is Ready', since: '2026-12-02T09:00:00.000Z', node: 'n1' };
  const conditionOf = (s: HostState, current?: Record<string, unknown>) =>
    ((projectStatus(s, { ...context, current }).status.conditions ?? []) as { type: string; status: string; reason: string; message: string }[]).find(
      (c) => c.type === 'tempered.dev/NodeJoined',
    );

  it('shows a joined host as True with the Node, a warning as False with what was seen', () => {
    expect(conditionOf(state({ provisioningState: 'provisioned', nodeJoin: joined }))).toMatchObject({ status: 'True', reason: 'NodeReady', message: 'Node n1 is Ready' });
    const warning = { ...joined, status: 'warning' as const, reason: 'NodeNotReady', message: 'Node n1 is not Ready' };
    expect(conditionOf(state({ provisioningState: 'provisioned', nodeJoin: warning }))).toMatchObject({ status: 'False', reason: 'NodeNotReady' });
  });

  it('is removed from the object once the host has no join record, and other foreign conditions stay', () => {
    const current = {
      conditions: [
        { type: 'tempered.dev/NodeJoined', status: 'True', reason: 'NodeReady', message: '', lastTransitionTime: '2026-12-02T09:00:00Z' },
        { type: 'example.com/Other', status: 'True', reason: 'X', message: '', lastTransitionTime: '2026-12-02T09:00:00Z' },
      ],
    };
    const projected = projectStatus(state({ provisioningState: 'deprovisioning' }), { ...context, current });
    const types = (projected.status.conditions as { type: string }[]).map((c) => c.type);
    expect(types).not.toContain('tempered.dev/NodeJoined');
    expect(types).toContain('example.com/Other');
  });
});

describe('statusPatch', () => {
  const context = { now: '2026-03-01T10:00:00Z', generation: 1, current: undefined };
  const projected = (s: HostState, current?: Record<string, unknown>) => {
    const p = projectStatus(s, { ...context, current });
    if (p.problems.length > 0) throw new Error(p.problems.join('; '));
    return p.status;
  };

  it('is empty when nothing owned changed, ignoring lastUpdated and fields we do not own', () => {
    const status = projected(state());
    const current = { ...status, lastUpdated: '2026-01-01T00:00:00Z', hardwareProfile: 'libvirt' };
    expect(statusPatch(current, projected(state(), current))).toBeUndefined();
  });

  it('patches only what changed and deletes what is gone with null', () => {
    const before = projected(state({ provisioningState: 'provisioned', image: { url: 'http://a', format: 'live-iso' }, operationalStatus: 'error', errorType: 'power management error', errorMessage: 'x' }));
    const current = { ...before, lastUpdated: '2026-01-01T00:00:00Z', hardwareProfile: 'libvirt', provisioning: { ...(before['provisioning'] as object), firmware: {} } };
    const patch = statusPatch(current, projected(state({ provisioningState: 'deprovisioning' }), current));
    expect(patch).toMatchObject({
      operationalStatus: 'OK',
      errorType: null,
      errorMessage: '',
      provisioning: { state: 'deprovisioning', image: null },
    });
    expect(patch).not.toHaveProperty('hardwareProfile');
    expect(patch).not.toHaveProperty('lastUpdated');
    expect(patch?.['provisioning']).not.toHaveProperty('firmware');
    expect(patch?.['provisioning']).not.toHaveProperty('ID');
  });

  it('writes a whole status to an object that has none', () => {
    const patch = statusPatch(undefined, projected(state()));
    expect(patch).toMatchObject({ operationalStatus: 'OK', poweredOn: false, provisioning: { state: 'available', ID: 'uid-1' } });
  });
});

describe('mergeDiff (RFC 7386)', () => {
  it.each([
    ['equal scalars', 1, 1, undefined],
    ['changed scalar', 1, 2, 2],
    ['removed key', { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ['nested change', { a: { b: 1, c: 2 } }, { a: { b: 1, c: 3 } }, { a: { c: 3 } }],
    ['arrays are replaced whole', { a: [1, 2] }, { a: [1, 3] }, { a: [1, 3] }],
    ['equal arrays', { a: [{ x: 1 }] }, { a: [{ x: 1 }] }, undefined],
    ['value to undefined', 5, undefined, null],
  ])('%s', (_s, current, desired, expected) => {
    expect(mergeDiff(current, desired)).toEqual(expected);
  });
});

describe('metaTime', () => {
  it('writes whole seconds in UTC like metav1.Time', () => {
    expect(metaTime('2026-03-01T10:00:00.999+02:00')).toBe('2026-03-01T08:00:00Z');
    expect(metaTime('not a time')).toBeUndefined();
  });
});
