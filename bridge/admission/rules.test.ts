import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ADMITTED, ADMITTED_NAMESPACE, bmh, REFUSED, statusOf, type Manifest } from './cases.fixture.ts';
import { formatViolations, RULES, validateHostCreate, validateHostUpdate, type RuleId } from './rules.ts';

const context = { namespace: ADMITTED_NAMESPACE };
const withStatus = (host: Manifest, status: Record<string, unknown>) => ({ ...host, status });

describe('refused BareMetalHosts: one table row or more per rule', () => {
  it('has a refused case for every rule', () => {
    const covered = new Set(REFUSED.map((c) => c.rule));
    const missing = (Object.keys(RULES) as RuleId[]).filter((rule) => !covered.has(rule));
    expect(missing).toEqual([]);
  });

  it.each(REFUSED.filter((c) => !c.before).map((c) => [c.scenario, c] as const))('create: %s', (_, c) => {
    const violations = validateHostCreate(c.host, context);
    // Each row breaks exactly one rule, so the message proves that rule and no other fired.
    expect(new Set(violations.map((x) => x.rule))).toEqual(new Set([c.rule]));
    expect(violations.map((x) => x.message).join('\n')).toContain(c.message);
  });

  it.each(REFUSED.filter((c) => c.before).map((c) => [c.scenario, c] as const))('update: %s', (_, c) => {
    const before = c.before ?? { host: c.host, status: {} };
    // The same host is valid as a create and as an unchanged update: only the change is refused.
    expect(validateHostCreate(c.host, context)).toEqual([]);
    expect(validateHostUpdate(withStatus(before.host, before.status), withStatus(before.host, before.status), context)).toEqual([]);
    const violations = validateHostUpdate(withStatus(before.host, before.status), withStatus(c.host, before.status), context);
    expect(violations.map((x) => x.rule)).toEqual([c.rule]);
    expect(violations[0]?.message).toContain(c.message);
  });
});

describe('admitted BareMetalHosts', () => {
  it.each(ADMITTED.map((c) => [c.scenario, c.host] as const))('%s', (_, host) => {
    expect(validateHostCreate(host, context)).toEqual([]);
  });

  const samples = (file: string) =>
    parseAllDocuments(readFileSync(new URL(`../../test/fixtures/metal3/samples/${file}`, import.meta.url), 'utf8'))
      .map((doc) => doc.toJS() as Record<string, unknown>)
      .filter((obj) => obj.kind === 'BareMetalHost');

  it.each([
    ['example-host.yaml', 'default'],
    ['metal3.io_v1alpha1_baremetalhost.yaml', 'default'],
    // worker-0's userData names openshift-machine-api: the namespace it was written for.
    ['worker-0.yaml', 'openshift-machine-api'],
  ])('upstream sample %s in namespace %s', (file, namespace) => {
    const hosts = samples(file);
    expect(hosts).toHaveLength(1);
    for (const host of hosts) expect(validateHostCreate(host, { namespace })).toEqual([]);
  });

  it('refuses the worker-0 sample outside the namespace its userData names', () => {
    const [host] = samples('worker-0.yaml');
    expect(validateHostCreate(host, { namespace: 'default' }).map((x) => x.message)).toEqual([
      'baremetalhosts.metal3.io "worker-0" is forbidden: userData: cross-namespace Secret references are not allowed',
    ]);
  });

  it('reads the namespace from the object before the request context', () => {
    const host = { ...bmh('ns-in-object', { userData: { name: 'ud', namespace: 'tenant' } }), metadata: { name: 'ns-in-object', namespace: 'tenant' } };
    expect(validateHostCreate(host, { namespace: 'other' })).toEqual([]);
  });

  it('survives objects of any shape', () => {
    for (const junk of [null, 42, 'x', [], {}, { spec: 'x' }, { metadata: [], spec: { bmc: 7, raid: { hardwareRAIDVolumes: 'no' }, networkInterfaces: {} } }]) {
      expect(() => validateHostCreate(junk)).not.toThrow();
    }
    expect(validateHostCreate({ metadata: { name: 'h' }, spec: { bmc: { address: 5 }, rootDeviceHints: 'x', image: 'x' } })).toEqual([]);
  });
});

describe('updates', () => {
  const moved = bmh('h', { bmc: { address: 'redfish-virtualmedia://192.0.2.99/redfish/v1/Systems/1', credentialsName: 'c' } });
  const update = (before: Manifest, beforeStatus: Record<string, unknown>, after: Manifest) =>
    validateHostUpdate(withStatus(before, beforeStatus), withStatus(after, beforeStatus), context).map((x) => x.rule);

  it.each([
    ['registering', statusOf('registering')],
    ['detached', statusOf('provisioned', 'detached')],
    ['never had an address', statusOf('unmanaged', 'discovered')],
  ])('allows a BMC address change while %s', (state, status) => {
    const before = state === 'never had an address' ? { ...bmh('h'), spec: { online: true } } : bmh('h');
    expect(update(before, status, moved)).toEqual([]);
  });

  it('allows a BMC address change in any state with tempered.dev/replace-bmc on the new object (BMO #1458)', () => {
    const replaced = { ...moved, metadata: { ...moved.metadata, annotations: { 'tempered.dev/replace-bmc': 'BMC board swapped' } } };
    expect(update(bmh('h'), statusOf('provisioned'), replaced)).toEqual([]);
    // On the old object only, it does not count: the change itself must say so.
    const before = { ...bmh('h'), metadata: { ...bmh('h').metadata, annotations: { 'tempered.dev/replace-bmc': '' } } };
    expect(update(before, statusOf('provisioned'), moved)).toEqual(['update-bmc-address']);
  });

  it('refuses a BMC address change when the host has no status yet', () => {
    expect(update(bmh('h'), {}, moved)).toEqual(['update-bmc-address']);
  });

  it('allows externallyProvisioned from available (and its deprecated alias ready), and switching it off', () => {
    const on = bmh('h', { externallyProvisioned: true });
    expect(update(bmh('h'), statusOf('available'), on)).toEqual([]);
    expect(update(bmh('h'), statusOf('ready'), on)).toEqual([]);
    expect(update(on, statusOf('externally provisioned'), bmh('h'))).toEqual([]);
    expect(validateHostCreate(on, context)).toEqual([]);
  });

  it('refuses externallyProvisioned from the empty state, naming it', () => {
    const violations = validateHostUpdate(bmh('h'), bmh('h', { externallyProvisioned: true }), context);
    expect(violations.map((x) => x.message)).toEqual(['externallyProvisioned can only be enabled when in Available state, currently in ""']);
  });

  it('treats bootMACAddress case-insensitively and allows setting it the first time', () => {
    expect(update(bmh('h', { bootMACAddress: '00:1a:74:74:e5:cb' }), statusOf('provisioned'), bmh('h', { bootMACAddress: '00:1A:74:74:E5:CB' }))).toEqual([]);
    expect(update(bmh('h'), statusOf('provisioned'), bmh('h', { bootMACAddress: '00:1a:74:74:e5:cb' }))).toEqual([]);
    expect(update(bmh('h', { bootMACAddress: '00:1a:74:74:e5:cb' }), statusOf('provisioned'), bmh('h'))).toEqual(['update-boot-mac']);
  });

  it('ratchets: a problem the old object had does not block an unrelated update, a new one does', () => {
    const legacy = bmh('h', { bmc: { address: 'irmc://192.0.2.30', credentialsName: 'c' }, image: { url: 'test1' } });
    const withFinalizer = { ...legacy, metadata: { ...legacy.metadata, finalizers: ['baremetalhost.metal3.io'] } };
    expect(validateHostUpdate(legacy, withFinalizer, context)).toEqual([]);
    const worse = bmh('h', { bmc: { address: 'irmc://192.0.2.30', credentialsName: 'c' }, image: { url: 'test2' } });
    expect(validateHostUpdate(legacy, worse, context).map((x) => x.message)).toEqual(['image URL test2 is invalid: parse "test2": invalid URI for request']);
  });
});

describe('formatViolations', () => {
  it("joins messages like Kubernetes' error aggregate", () => {
    expect(formatViolations([{ rule: 'name-uuid', message: 'a' }])).toBe('a');
    expect(formatViolations([{ rule: 'name-uuid', message: 'a' }, { rule: 'image-url', message: 'b' }])).toBe('[a, b]');
  });

  it('reports every broken rule of one object, in BMO order', () => {
    const host = bmh('07564256-96ae-4315-ab03-8d34ece60fbb', { bmc: { address: 'ipmi://192.0.2.20', credentialsName: 'c' }, bootMode: 'UEFISecureBoot', online: false, disablePowerOff: true });
    expect(validateHostCreate(host, context).map((x) => x.rule)).toEqual(['driver-secure-boot', 'name-uuid', 'power-off-disabled']);
  });
});
