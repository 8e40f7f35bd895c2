import { describe, expect, it } from 'vitest';
import type { HostAnnotations } from '../domain/host-model.ts';
import { parseHostAnnotations, parseStatusAnnotation } from './annotations.ts';

describe('parseHostAnnotations', () => {
  const none: HostAnnotations = { paused: false, reboot: {}, invalid: [] };
  const table: [scenario: string, annotations: Record<string, string> | undefined, expected: Partial<HostAnnotations>][] = [
    ['no annotations', undefined, {}],
    ['unrelated keys are ignored', { 'capm3.metal3.io/unhealthy': '', 'clusterctl.cluster.x-k8s.io/block-move': 'true' }, {}],
    ['paused with any value', { 'baremetalhost.metal3.io/paused': 'metal3.io/capm3' }, { paused: true }],
    ['paused with an empty value', { 'baremetalhost.metal3.io/paused': '' }, { paused: true }],
    ['detached, empty', { 'baremetalhost.metal3.io/detached': '' }, { detached: { deleteAction: 'delete', force: false } }],
    ['detached, delay and force', { 'baremetalhost.metal3.io/detached': '{"deleteAction":"delay","force":true}' }, { detached: { deleteAction: 'delay', force: true } }],
    ['detached, partial JSON', { 'baremetalhost.metal3.io/detached': '{"force":true}' }, { detached: { deleteAction: 'delete', force: true } }],
    ['reboot, empty is soft', { 'reboot.metal3.io': '' }, { reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } } }],
    ['reboot, hard', { 'reboot.metal3.io': '{"mode":"hard"}' }, { reboot: { 'reboot.metal3.io': { mode: 'hard', force: false } } }],
    [
      'phased reboots by key',
      { 'reboot.metal3.io/metal3-remediation-abc': '{"mode":"soft","force":true}', 'reboot.metal3.io/other': '' },
      { reboot: { 'reboot.metal3.io/metal3-remediation-abc': { mode: 'soft', force: true }, 'reboot.metal3.io/other': { mode: 'soft', force: false } } },
    ],
    ['a look-alike key is not a reboot', { 'reboot.metal3.iox': '' }, {}],
    ['inspect, re-inspect', { 'inspect.metal3.io': '' }, { inspect: '' }],
    ['inspect, disabled', { 'inspect.metal3.io': 'disabled' }, { inspect: 'disabled' }],
    ['full erase, empty', { 'cleaning.tempered.dev/full-erase': '' }, { fullErase: true }],
    ['full erase, true', { 'cleaning.tempered.dev/full-erase': 'true' }, { fullErase: true }],
    ['full erase, false', { 'cleaning.tempered.dev/full-erase': 'false' }, {}],
    [
      'hardware details',
      { 'inspect.metal3.io/hardwaredetails': '{"cpu":{"arch":"x86_64","count":4},"ramMebibytes":8192,"nics":[{"mac":"00:11:22:33:44:55","name":"eth0"}]}' },
      { hardwareDetails: { cpu: { arch: 'x86_64', count: 4 }, ramMebibytes: 8192, nics: [{ mac: '00:11:22:33:44:55', name: 'eth0' }] } },
    ],
  ];
  it.each(table)('%s', (_scenario, annotations, expected) => {
    expect(parseHostAnnotations(annotations)).toEqual({ ...none, ...expected });
  });

  const invalid: [scenario: string, annotations: Record<string, string>, expected: Partial<HostAnnotations>, message: RegExp][] = [
    ['reboot, invalid JSON falls back to soft (BMO)', { 'reboot.metal3.io': 'now please' }, { reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } } }, /invalid json, assuming soft-reboot/],
    ['reboot, unknown mode', { 'reboot.metal3.io/x': '{"mode":"medium"}' }, { reboot: { 'reboot.metal3.io/x': { mode: 'soft', force: false } } }, /mode must be "hard" or "soft"/],
    ['reboot, force not a boolean', { 'reboot.metal3.io': '{"mode":"hard","force":"yes"}' }, { reboot: { 'reboot.metal3.io': { mode: 'hard', force: false } } }, /force must be true or false/],
    ['reboot, a JSON array', { 'reboot.metal3.io': '[]' }, { reboot: { 'reboot.metal3.io': { mode: 'soft', force: false } } }, /invalid json/],
    ['detached, invalid JSON', { 'baremetalhost.metal3.io/detached': '{' }, { detached: { deleteAction: 'delete', force: false } }, /invalid json/],
    ['detached, unknown deleteAction', { 'baremetalhost.metal3.io/detached': '{"deleteAction":"never"}' }, { detached: { deleteAction: 'delete', force: false } }, /deleteAction must be "delete" or "delay"/],
    ['inspect, unknown value', { 'inspect.metal3.io': 'enabled' }, {}, /must be "" \(re-inspect\) or "disabled"/],
    ['full erase, unknown value', { 'cleaning.tempered.dev/full-erase': 'yes' }, {}, /full-erase annotation must be "", "true" or "false"/],
    ['hardware details, not JSON', { 'inspect.metal3.io/hardwaredetails': 'lots of RAM' }, {}, /not valid HardwareDetails JSON; ignored/],
    ['hardware details, wrong types', { 'inspect.metal3.io/hardwaredetails': '{"ramMebibytes":"8G"}' }, {}, /ramMebibytes/],
  ];
  it.each(invalid)('%s', (_scenario, annotations, expected, message) => {
    const parsed = parseHostAnnotations(annotations);
    const { invalid: entries, ...rest } = parsed;
    expect(rest).toEqual({ paused: false, reboot: {}, ...expected });
    expect(entries).toHaveLength(1);
    expect(entries[0]?.key).toBe(Object.keys(annotations)[0]);
    expect(entries[0]?.message).toMatch(message);
  });

  it('does not depend on the order of keys', () => {
    const a = parseHostAnnotations({ 'reboot.metal3.io/b': '', 'reboot.metal3.io/a': '{"mode":"hard"}' });
    const b = parseHostAnnotations({ 'reboot.metal3.io/a': '{"mode":"hard"}', 'reboot.metal3.io/b': '' });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});

describe('parseStatusAnnotation', () => {
  it('accepts a full or partial status', () => {
    expect(parseStatusAnnotation('{"operationalStatus":"OK","provisioning":{"state":"provisioned","ID":"x"}}')).toEqual({ status: { operationalStatus: 'OK', provisioning: { state: 'provisioned', ID: 'x' } } });
    expect(parseStatusAnnotation('{"provisioning":{"state":"available"}}').status).toBeDefined();
  });
  it("accepts BMO's 'detach error' on read", () => {
    expect(parseStatusAnnotation('{"operationalStatus":"error","errorType":"detach error"}').status).toBeDefined();
  });
  it.each([
    ['not JSON', 'status', /not a JSON object/],
    ['a JSON string', '"OK"', /not a JSON object/],
    ['an unknown operational status', '{"operationalStatus":"great"}', /invalid operationalStatus "great"/],
    ['an unknown error type', '{"errorType":"oops"}', /invalid errorType "oops"/],
  ])('refuses %s', (_s, value, message) => {
    const parsed = parseStatusAnnotation(value);
    expect(parsed.status).toBeUndefined();
    expect(parsed.invalid?.key).toBe('baremetalhost.metal3.io/status');
    expect(parsed.invalid?.message).toMatch(message);
  });
});
