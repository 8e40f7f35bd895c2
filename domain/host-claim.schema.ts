/**
 * HostClaim: a tenant's request for a host, bound by the operator to a BareMetalHost possibly in another
 * namespace (allowed by a HostDeployPolicy there).
 */
import { z } from 'zod';
import { CustomDeploySchema, ImageSchema } from './baremetalhost.schema.ts';
import {
  ObjectReferenceSchema,
  RESOURCE_META_SHAPE,
  SecretReferenceSchema,
  conditionList,
  dateTime,
  type CrdDefinition,
} from './k8s.schema.ts';

export const HostSelectorRequirementSchema = z.object({
  key: z.string(),
  operator: z.string().describe('In, NotIn, Exists or DoesNotExist.'),
  values: z.array(z.string()),
});

export const HostSelectorSchema = z.object({
  inNamespace: z.string().optional().describe('Namespace of the hosts to choose from.'),
  matchExpressions: z.array(HostSelectorRequirementSchema).optional(),
  matchLabels: z.record(z.string(), z.string()).optional(),
});
export type HostSelector = z.infer<typeof HostSelectorSchema>;

export const HostClaimSpecSchema = z.object({
  consumerRef: ObjectReferenceSchema.optional(),
  customDeploy: CustomDeploySchema.optional(),
  failureDomain: z.string().optional(),
  hostSelector: HostSelectorSchema.optional(),
  image: ImageSchema.optional(),
  metaData: SecretReferenceSchema.optional(),
  networkData: SecretReferenceSchema.optional(),
  poweredOn: z.boolean(),
  userData: SecretReferenceSchema.optional(),
});
export type HostClaimSpec = z.infer<typeof HostClaimSpecSchema>;

/** A namespaced name, both parts required. */
export const NamespacedNameSchema = z.object({
  name: z.string(),
  namespace: z.string(),
});

export const HostClaimStatusSchema = z.object({
  bareMetalHost: NamespacedNameSchema.optional().describe('The host bound to the claim.'),
  // Upstream does not key these conditions by type.
  conditions: conditionList({ keyed: false }).optional().describe('Associated and Synchronized.'),
  hardwareData: NamespacedNameSchema.optional(),
  lastUpdated: dateTime().optional(),
  poweredOn: z.boolean().optional(),
});
export type HostClaimStatus = z.infer<typeof HostClaimStatusSchema>;

export const HostClaimSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HostClaimSpecSchema.optional(),
    status: HostClaimStatusSchema.optional(),
  })
  .describe('A request for a bare-metal host.');
export type HostClaim = z.infer<typeof HostClaimSchema>;

export const HostClaimCrd: CrdDefinition = {
  kind: 'HostClaim',
  listKind: 'HostClaimList',
  plural: 'hostclaims',
  singular: 'hostclaim',
  scope: 'Namespaced',
  subresources: { status: true },
  schema: HostClaimSchema,
};
