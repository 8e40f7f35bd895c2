/** DataImage: an ISO to attach as virtual media to a host (same name as its BareMetalHost). */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, dateTime, integer, type CrdDefinition } from './k8s.schema.ts';

export const DataImageSpecSchema = z.object({
  url: z.string().describe('URL of the ISO to attach.'),
});
export type DataImageSpec = z.infer<typeof DataImageSpecSchema>;

export const DataImageStatusSchema = z.object({
  attachedImage: z.object({ url: z.string() }).optional().describe('The image currently attached.'),
  error: z.object({ count: integer(), message: z.string() }).optional(),
  lastReconciled: dateTime().optional(),
});
export type DataImageStatus = z.infer<typeof DataImageStatusSchema>;

export const DataImageSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: DataImageSpecSchema.optional(),
    status: DataImageStatusSchema.optional(),
  })
  .describe('Virtual media to attach to a BareMetalHost.');
export type DataImage = z.infer<typeof DataImageSchema>;

export const DataImageCrd: CrdDefinition = {
  kind: 'DataImage',
  listKind: 'DataImageList',
  plural: 'dataimages',
  singular: 'dataimage',
  scope: 'Namespaced',
  subresources: { status: true },
  schema: DataImageSchema,
};
