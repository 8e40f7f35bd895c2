/**
 * PreprovisioningImage (`ppimg`): a per-host deploy ramdisk or ISO (same name as its BareMetalHost), built
 * by an image builder that fills the status.
 */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, conditionList, type CrdDefinition } from './k8s.schema.ts';

export const PREPROVISIONING_IMAGE_FORMATS = ['iso', 'initrd'] as const;
export type PreprovisioningImageFormat = (typeof PREPROVISIONING_IMAGE_FORMATS)[number];

export const PreprovisioningImageSpecSchema = z.object({
  acceptFormats: z.array(z.enum(PREPROVISIONING_IMAGE_FORMATS)).optional().describe('Formats the host can boot.'),
  architecture: z.string().optional(),
  networkDataName: z.string().optional().describe('Secret with network data to build in to the image.'),
});
export type PreprovisioningImageSpec = z.infer<typeof PreprovisioningImageSpecSchema>;

export const SecretStatusSchema = z.object({
  name: z.string().optional(),
  version: z.string().optional(),
});

export const PreprovisioningImageStatusSchema = z.object({
  architecture: z.string().optional(),
  conditions: conditionList({ keyed: true }).optional().describe('Ready and Error.'),
  extraKernelParams: z.string().optional(),
  format: z.enum(PREPROVISIONING_IMAGE_FORMATS).optional(),
  imageUrl: z.string().optional(),
  kernelUrl: z.string().optional(),
  networkData: SecretStatusSchema.optional().describe('The network data Secret version built in.'),
});
export type PreprovisioningImageStatus = z.infer<typeof PreprovisioningImageStatusSchema>;

export const PreprovisioningImageSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: PreprovisioningImageSpecSchema.optional(),
    status: PreprovisioningImageStatusSchema.optional(),
  })
  .describe('A deploy image built for one host.');
export type PreprovisioningImage = z.infer<typeof PreprovisioningImageSchema>;

export const PreprovisioningImageCrd: CrdDefinition = {
  kind: 'PreprovisioningImage',
  listKind: 'PreprovisioningImageList',
  plural: 'preprovisioningimages',
  singular: 'preprovisioningimage',
  shortNames: ['ppimg'],
  scope: 'Namespaced',
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status", description: 'Whether the image is built' },
    { name: 'Reason', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].reason", description: 'Why it is (not) ready' },
  ],
  subresources: { status: true },
  schema: PreprovisioningImageSchema,
};
