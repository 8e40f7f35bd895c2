import { describe, expect, it } from 'vitest';
import {
  FIRMWARE_CONDITION_TYPES,
  HOST_CLAIM_CONDITION_TYPES,
  HOST_CONDITION_REASONS,
  HOST_CONDITION_TYPES,
  IMAGE_CONDITION_TYPES,
  isHostConditionReason,
} from './conditions.ts';
import { ConditionSchema } from './k8s.schema.ts';

describe('condition types and reasons', () => {
  it("are BMO's BareMetalHost condition types", () => {
    expect(HOST_CONDITION_TYPES).toEqual(['Manageable', 'Provisioned', 'Ready', 'AvailableForProvisioning', 'Progressing', 'Healthy']);
  });

  it.each([
    { type: 'Manageable', reason: 'RegistrationFailed', ok: true },
    { type: 'AvailableForProvisioning', reason: 'NotManageableReason', ok: true },
    { type: 'Progressing', reason: 'PoweringOffBeforeDelete', ok: true },
    { type: 'Healthy', reason: 'CriticalError', ok: true },
    { type: 'Ready', reason: 'Provisioned', ok: true },
    { type: 'Ready', reason: 'Inspecting', ok: false },
    { type: 'Provisioned', reason: 'provisioned', ok: false },
  ] as const)('$type/$reason is a BMO pairing: $ok', ({ type, reason, ok }) => {
    expect(isHostConditionReason(type, reason)).toBe(ok);
  });

  it('every type and reason is valid in a metav1.Condition', () => {
    const pairs = [
      ...Object.entries(HOST_CONDITION_REASONS).flatMap(([type, reasons]) => reasons.map((reason) => ({ type, reason }))),
      ...[...FIRMWARE_CONDITION_TYPES, ...IMAGE_CONDITION_TYPES, ...HOST_CLAIM_CONDITION_TYPES].map((type) => ({ type, reason: 'Any' })),
    ];
    for (const { type, reason } of pairs) {
      const result = ConditionSchema.safeParse({ type, reason, status: 'True', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' });
      expect(result.success, `${type}/${reason}`).toBe(true);
    }
  });
});
