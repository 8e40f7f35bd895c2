/** BMCEventSubscription (`bes`, `bmcevent`): a Redfish event subscription on a host's BMC. */
import { z } from 'zod';
import { AGE_COLUMN, RESOURCE_META_SHAPE, SecretReferenceSchema, type CrdDefinition } from './k8s.schema.ts';

export const BmcEventSubscriptionSpecSchema = z.object({
  context: z.string().optional().describe('Arbitrary text sent back with each event.'),
  destination: z.string().optional().describe('The webhook URL events are sent to.'),
  hostName: z.string().optional().describe('The BareMetalHost whose BMC sends the events.'),
  httpHeadersRef: SecretReferenceSchema.optional().describe('Secret with HTTP headers to send with each event.'),
});
export type BmcEventSubscriptionSpec = z.infer<typeof BmcEventSubscriptionSpecSchema>;

export const BmcEventSubscriptionStatusSchema = z.object({
  error: z.string().optional(),
  subscriptionID: z.string().optional(),
});
export type BmcEventSubscriptionStatus = z.infer<typeof BmcEventSubscriptionStatusSchema>;

export const BmcEventSubscriptionSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: BmcEventSubscriptionSpecSchema.optional(),
    status: BmcEventSubscriptionStatusSchema.optional(),
  })
  .describe('A subscription to the events of a BMC.');
export type BmcEventSubscription = z.infer<typeof BmcEventSubscriptionSchema>;

export const BmcEventSubscriptionCrd: CrdDefinition = {
  kind: 'BMCEventSubscription',
  listKind: 'BMCEventSubscriptionList',
  plural: 'bmceventsubscriptions',
  singular: 'bmceventsubscription',
  shortNames: ['bes', 'bmcevent'],
  scope: 'Namespaced',
  printerColumns: [{ name: 'Error', type: 'string', jsonPath: '.status.error', description: 'The last error' }, AGE_COLUMN],
  subresources: { status: true },
  schema: BmcEventSubscriptionSchema,
};
