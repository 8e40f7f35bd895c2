/** HostDeployPolicy: which namespaces' HostClaims may bind the BareMetalHosts of this namespace. */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, type CrdDefinition } from './k8s.schema.ts';

export const NamespaceLabelSchema = z.object({
  name: z.string(),
  value: z.string().optional(),
});

export const HostDeployPolicySpecSchema = z.object({
  hostClaimNamespaces: z
    .object({
      hasLabels: z.array(NamespaceLabelSchema).optional().describe('Namespaces with all these labels.'),
      nameMatches: z.string().optional().describe('Namespaces whose name matches this regular expression.'),
      names: z.array(z.string()).optional(),
    })
    .optional(),
});
export type HostDeployPolicySpec = z.infer<typeof HostDeployPolicySpecSchema>;

/** Always empty: the CRD declares an object without properties. */
export const HostDeployPolicyStatusSchema = z.object({});

export const HostDeployPolicySchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HostDeployPolicySpecSchema.optional(),
    status: HostDeployPolicyStatusSchema.optional(),
  })
  .describe('Which namespaces may claim the hosts of this namespace.');
export type HostDeployPolicy = z.infer<typeof HostDeployPolicySchema>;

export const HostDeployPolicyCrd: CrdDefinition = {
  kind: 'HostDeployPolicy',
  listKind: 'HostDeployPolicyList',
  plural: 'hostdeploypolicies',
  singular: 'hostdeploypolicy',
  scope: 'Namespaced',
  subresources: { status: true },
  schema: HostDeployPolicySchema,
};
