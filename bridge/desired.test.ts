import { describe, expect, it } from 'vitest';
import { computeDesired, credentialsView, hasStatus, stableJson } from './desired.ts';
import type { HostObject, SecretView } from './objects.ts';

const secret: SecretView = { namespace: 'ns', name: 'bmc', resourceVersion: '41', hasUsername: true, hasPassword: true };
const secrets = (s: SecretView | undefined) => (namespace: string, name: string) => (s && s.namespace === namespace && s.name === name ? s : undefined);

function host(overrides: { spec?: Record<string, unknown>; metadata?: Partial<HostObject['metadata']>; status?: Record<string, unknown> } = {}): HostObject {
  return {
    apiVersion: 'metal3.io/v1alpha1',
    kind: 'BareMetalHost',
    metadata: { name: 'h0', namespace: 'ns', uid: 'uid-0', generation: 3, resourceVersion: '100', ...overrides.metadata },
    spec: { online: true, bmc: { address: 'redfish+http://10.0.0.1/redfish/v1/Systems/1', credentialsName: 'bmc' }, ...overrides.spec },
    ...(overrides.status ? { status: overrides.status } : {}),
  };
}

function ok(result: ReturnType<typeof computeDesired>) {
  if (!result.ok) throw new Error(result.problem);
  return result;
}

describe('computeDesired', () => {
  it('carries identity, intent, credentials version and flags', () => {
    const { desired } = ok(
      computeDesired({
        host: host({
          spec: {
            image: { url: 'http://img/live.iso', format: 'live-iso', ociAuthSecretName: 'pull' },
            bootMACAddress: '00:11:22:33:44:55',
            consumerRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine', name: 'm0', namespace: 'ns' },
            userData: { name: 'ud' },
            description: 'not part of the intent',
          },
          metadata: { annotations: { 'reboot.metal3.io': '' } },
        }),
        secret: secrets(secret),
        adopt: false,
      }),
    );
    expect(desired).toEqual({
      ref: { namespace: 'ns', name: 'h0', uid: 'uid-0' },
      generation: 3,
      resourceVersion: '100',
      spec: {
        online: true,
        bmc: { address: 'redfish+http://10.0.0.1/redfish/v1/Systems/1', credentialsName: 'bmc' },
        bootMACAddress: '00:11:22:33:44:55',
        image: { url: 'http://img/live.iso', format: 'live-iso' },
        automatedCleaningMode: 'metadata',
        userData: { name: 'ud' },
        consumerRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine', name: 'm0', namespace: 'ns' },
      },
      annotations: { paused: false, reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } }, invalid: [] },
      credentials: { name: 'bmc', version: '41' },
      deleting: false,
      statusMissing: true,
    });
  });

  it('has no credentials when the spec names no Secret', () => {
    const { desired } = ok(computeDesired({ host: host({ spec: { bmc: undefined } }), secret: secrets(secret), adopt: false }));
    expect(desired.credentials).toBeUndefined();
    expect(desired.spec.bmc).toBeUndefined();
  });

  it('marks deletion', () => {
    const { desired } = ok(computeDesired({ host: host({ metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } }), secret: secrets(secret), adopt: false }));
    expect(desired.deleting).toBe(true);
  });

  it('tells the workflow whether its host counts towards the provisioning limit (and a change is a new intent)', () => {
    const counted = ok(computeDesired({ host: host(), secret: secrets(secret), adopt: false, countsTowardLimit: () => true }));
    const exempt = ok(computeDesired({ host: host(), secret: secrets(secret), adopt: false, countsTowardLimit: () => false }));
    expect(counted.desired.countsTowardProvisioningLimit).toBe(true);
    expect(exempt.desired).not.toHaveProperty('countsTowardProvisioningLimit');
    expect(counted.intent).not.toBe(exempt.intent);
  });

  it('restores from the status annotation only while the status is empty', () => {
    const annotations = { 'baremetalhost.metal3.io/status': '{"operationalStatus":"OK","provisioning":{"state":"provisioned","ID":"old"}}' };
    const empty = ok(computeDesired({ host: host({ metadata: { annotations } }), secret: secrets(secret), adopt: true }));
    expect(empty.desired.statusMissing).toBe(true);
    expect(empty.desired.restoredStatus).toEqual({ operationalStatus: 'OK', provisioning: { state: 'provisioned', ID: 'old' } });
    expect(empty.desired.adoptStatus).toBeUndefined();
    const present = ok(computeDesired({ host: host({ metadata: { annotations }, status: { lastUpdated: '2026-01-01T00:00:00Z', operationalStatus: 'OK' } }), secret: secrets(secret), adopt: false }));
    expect(present.desired.statusMissing).toBe(false);
    expect(present.desired.restoredStatus).toBeUndefined();
  });

  it('reports an invalid status annotation instead of restoring from it', () => {
    const { desired } = ok(computeDesired({ host: host({ metadata: { annotations: { 'baremetalhost.metal3.io/status': 'oops' } } }), secret: secrets(secret), adopt: false }));
    expect(desired.restoredStatus).toBeUndefined();
    expect(desired.annotations.invalid).toEqual([{ key: 'baremetalhost.metal3.io/status', message: expect.stringContaining('not a JSON object') }]);
  });

  it('sends the current status to adopt with the first signal only', () => {
    const status = { lastUpdated: '2026-01-01T00:00:00Z', operationalStatus: 'OK', provisioning: { state: 'available', ID: 'x' } };
    expect(ok(computeDesired({ host: host({ status }), secret: secrets(secret), adopt: true })).desired.adoptStatus).toEqual(status);
    expect(ok(computeDesired({ host: host({ status }), secret: secrets(secret), adopt: false })).desired.adoptStatus).toBeUndefined();
  });

  it('refuses a spec that does not match the schema, naming the field', () => {
    const result = computeDesired({ host: host({ spec: { online: 'yes' } }), secret: secrets(secret), adopt: false });
    expect(result).toEqual({ ok: false, problem: expect.stringContaining('online') });
  });

  describe('fingerprints', () => {
    const base = ok(computeDesired({ host: host(), secret: secrets(secret), adopt: false }));
    const changes: [scenario: string, input: Parameters<typeof computeDesired>[0], changesIntent: boolean][] = [
      ['a new resourceVersion alone (status write, finalizer)', { host: host({ metadata: { resourceVersion: '101', finalizers: ['baremetalhost.metal3.io'] } }), secret: secrets(secret), adopt: false }, false],
      ['the status appearing', { host: host({ status: { lastUpdated: '2026-01-01T00:00:00Z' } }), secret: secrets(secret), adopt: false }, false],
      ['adoption of the status', { host: host({ status: { lastUpdated: '2026-01-01T00:00:00Z' } }), secret: secrets(secret), adopt: true }, false],
      ['an unrelated annotation', { host: host({ metadata: { annotations: { 'example.com/note': 'x' } } }), secret: secrets(secret), adopt: false }, false],
      ['a spec change', { host: host({ spec: { online: false }, metadata: { generation: 4 } }), secret: secrets(secret), adopt: false }, true],
      ['a generation change (description edited)', { host: host({ metadata: { generation: 4 } }), secret: secrets(secret), adopt: false }, true],
      ['an annotation BMO honours', { host: host({ metadata: { annotations: { 'inspect.metal3.io': '' } } }), secret: secrets(secret), adopt: false }, true],
      ['a new Secret version', { host: host(), secret: secrets({ ...secret, resourceVersion: '42' }), adopt: false }, true],
      ['the Secret deleted', { host: host(), secret: secrets(undefined), adopt: false }, true],
      ['deletion', { host: host({ metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } }), secret: secrets(secret), adopt: false }, true],
      ['a re-created object (new uid)', { host: host({ metadata: { uid: 'uid-1' } }), secret: secrets(secret), adopt: false }, true],
    ];
    it.each(changes)('%s', (_scenario, input, changesIntent) => {
      expect(ok(computeDesired(input)).intent !== base.intent).toBe(changesIntent);
    });

    it('tells a missing status from a present one, and what the annotation restores', () => {
      const present = ok(computeDesired({ host: host({ status: { lastUpdated: '2026-01-01T00:00:00Z' } }), secret: secrets(secret), adopt: false }));
      expect(present.missingStatus).toBeUndefined();
      expect(base.missingStatus).toBeDefined();
      const restored = ok(computeDesired({ host: host({ metadata: { annotations: { 'baremetalhost.metal3.io/status': '{"operationalStatus":"OK"}' } } }), secret: secrets(secret), adopt: false }));
      expect(restored.missingStatus).not.toBe(base.missingStatus);
    });
  });
});

describe('credentialsView', () => {
  it.each([
    ['usable', secret, { name: 'bmc', version: '41' }],
    ['missing', undefined, { name: 'bmc', problem: 'the BMC credentials Secret ns/bmc does not exist' }],
    ['without a password', { ...secret, hasPassword: false }, { name: 'bmc', version: '41', problem: 'the BMC credentials Secret ns/bmc has no usable "password" key' }],
    ['without both keys', { ...secret, hasUsername: false, hasPassword: false }, { name: 'bmc', version: '41', problem: 'the BMC credentials Secret ns/bmc has no usable "username" or "password" key' }],
  ])('%s', (_s, view, expected) => {
    expect(credentialsView('ns', 'bmc', view)).toEqual(expected);
  });
});

describe('helpers', () => {
  it('hasStatus follows BMO: a status was written when lastUpdated is set', () => {
    expect(hasStatus(host())).toBe(false);
    expect(hasStatus(host({ status: { operationalStatus: 'OK' } }))).toBe(false);
    expect(hasStatus(host({ status: { lastUpdated: '2026-01-01T00:00:00Z' } }))).toBe(true);
  });
  it('stableJson ignores key order and undefined members', () => {
    expect(stableJson({ b: 1, a: { d: undefined, c: [2, { z: 1, y: 2 }] } })).toBe('{"a":{"c":[2,{"y":2,"z":1}]},"b":1}');
  });
});
