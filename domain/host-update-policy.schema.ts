/**
 * HostUpdatePolicy: opts a provisioned host (same name) in to live updates ("servicing") of its firmware
 * settings and firmware on reboot.
 */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, type CrdDefinition } from './k8s.schema.ts';

export const UPDATE_POLICY_MODES = ['onPreparing', 'onReboot'] as const;
export type UpdatePolicyMode = (typeof UPDATE_POLICY_MODES)[number];

export const HostUpdatePolicySpecSchema = z.object({
  firmwareSettings: z.enum(UPDATE_POLICY_MODES).optional(),
  firmwareUpdates: z.enum(UPDATE_POLICY_MODES).optional(),
});
export type HostUpdatePolicySpec = z.infer<typeof HostUpdatePolicySpecSchema>;

/** Always empty: the CRD declares an object without properties. */
export const HostUpdatePolicyStatusSchema = z.object({});

export const HostUpdatePolicySchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HostUpdatePolicySpecSchema.optional(),
    status: HostUpdatePolicyStatusSchema.optional(),
  })
  .describe('When a provisioned host may apply firmware settings and updates.');
export type HostUpdatePolicy = z.infer<typeof HostUpdatePolicySchema>;

export const HostUpdatePolicyCrd: CrdDefinition = {
  kind: 'HostUpdatePolicy',
  listKind: 'HostUpdatePolicyList',
  plural: 'hostupdatepolicies',
  singular: 'hostupdatepolicy',
  scope: 'Namespaced',
  schema: HostUpdatePolicySchema,
};
