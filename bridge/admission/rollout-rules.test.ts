import { describe, expect, it } from 'vitest';
import { reviewAdmission } from './review.ts';
import { ROLLOUT_RULES, validateRolloutCreate, validateRolloutUpdate, type RolloutRuleId } from './rollout-rules.ts';

const good = {
  selector: { matchLabels: { fleet: 'edge' } },
  updates: [{ component: 'bios', url: 'http://fw.example/bios-2.0.bin' }],
  strategy: { canary: 1, waves: [25, 50, 100], maxUnavailable: 2, failureBudget: 1 },
};
const rollout = (spec: Record<string, unknown>) => ({ apiVersion: 'tempered.dev/v1alpha1', kind: 'FirmwareRollout', metadata: { name: 'r', namespace: 'ns' }, spec });

const CREATE: { rule: RolloutRuleId; spec: Record<string, unknown> }[] = [
  { rule: 'rollout-spec', spec: { ...good, updates: [{ component: 'bios' }] } },
  { rule: 'rollout-work', spec: { ...good, updates: [], settings: {} } },
  { rule: 'rollout-selector', spec: { ...good, selector: {} } },
  { rule: 'rollout-selector-values', spec: { ...good, selector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } },
  { rule: 'rollout-component', spec: { ...good, updates: [{ component: 'gpu', url: 'http://x/y' }] } },
  { rule: 'rollout-url', spec: { ...good, updates: [{ component: 'bmc', url: 'ftp://x/y' }] } },
  { rule: 'rollout-waves', spec: { ...good, strategy: { waves: [50, 25] } } },
];

describe('FirmwareRollout admission', () => {
  it('admits a good rollout', () => {
    expect(validateRolloutCreate(rollout(good))).toEqual([]);
    expect(validateRolloutCreate(rollout({ selector: { matchExpressions: [{ key: 'rack', operator: 'Exists' }] }, settings: { BootMode: 'Uefi' } }))).toEqual([]);
  });

  it.each(CREATE)('refuses on create: $rule', ({ rule, spec }) => {
    expect(validateRolloutCreate(rollout(spec)).map((v) => v.rule)).toContain(rule);
  });

  it('on update only paused and abort change, and an abort is final', () => {
    expect(validateRolloutUpdate(rollout(good), rollout({ ...good, paused: true }))).toEqual([]);
    expect(validateRolloutUpdate(rollout(good), rollout({ ...good, abort: true }))).toEqual([]);
    expect(validateRolloutUpdate(rollout(good), rollout({ ...good, updates: [{ component: 'bmc', url: 'http://x/b' }] })).map((v) => v.rule)).toEqual(['rollout-immutable']);
    expect(validateRolloutUpdate(rollout({ ...good, abort: true }), rollout({ ...good, abort: false })).map((v) => v.rule)).toEqual(['rollout-abort-final']);
  });

  it('every rule is proven by a refused object', () => {
    const proven = new Set<string>([...CREATE.map((c) => c.rule), 'rollout-immutable', 'rollout-abort-final']);
    expect([...proven].sort()).toEqual(Object.keys(ROLLOUT_RULES).sort());
  });

  it('the review dispatches FirmwareRollouts to these rules', () => {
    const review = (object: unknown) =>
      reviewAdmission({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: 'u1', operation: 'CREATE', namespace: 'ns', name: 'r', kind: { group: 'tempered.dev', version: 'v1alpha1', kind: 'FirmwareRollout' }, object },
      }).review.response;
    expect(review(rollout(good))).toEqual({ uid: 'u1', allowed: true });
    expect(review(rollout({ ...good, selector: {} }))).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringMatching(/spec.selector is empty/) } });
  });
});
