/**
 * HostFirmwareComponents: firmware updates to flash on a host (bios, bmc, nic:<id>; same name as its
 * BareMetalHost) and the versions found before and after.
 */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, conditionList, dateTime, type CrdDefinition } from './k8s.schema.ts';

export const FirmwareUpdateSchema = z.object({
  component: z.string().describe('bios, bmc or nic:<id>.'),
  url: z.string().describe('Where to fetch the firmware image.'),
});
export type FirmwareUpdate = z.infer<typeof FirmwareUpdateSchema>;

export const FirmwareComponentStatusSchema = z.object({
  component: z.string(),
  currentVersion: z.string().optional(),
  initialVersion: z.string(),
  lastVersionFlashed: z.string().optional(),
  updatedAt: dateTime().optional(),
});
export type FirmwareComponentStatus = z.infer<typeof FirmwareComponentStatusSchema>;

export const HostFirmwareComponentsSpecSchema = z.object({
  updates: z.array(FirmwareUpdateSchema),
});
export type HostFirmwareComponentsSpec = z.infer<typeof HostFirmwareComponentsSpecSchema>;

export const HostFirmwareComponentsStatusSchema = z.object({
  components: z.array(FirmwareComponentStatusSchema).optional(),
  conditions: conditionList({ keyed: true }).optional().describe('Valid and ChangeDetected.'),
  lastUpdated: dateTime().optional(),
  updates: z.array(FirmwareUpdateSchema).optional().describe('The updates last applied.'),
});
export type HostFirmwareComponentsStatus = z.infer<typeof HostFirmwareComponentsStatusSchema>;

export const HostFirmwareComponentsSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HostFirmwareComponentsSpecSchema.optional(),
    status: HostFirmwareComponentsStatusSchema.optional(),
  })
  .describe('Firmware components of a BareMetalHost and the updates to apply.');
export type HostFirmwareComponents = z.infer<typeof HostFirmwareComponentsSchema>;

export const HostFirmwareComponentsCrd: CrdDefinition = {
  kind: 'HostFirmwareComponents',
  listKind: 'HostFirmwareComponentsList',
  plural: 'hostfirmwarecomponents',
  singular: 'hostfirmwarecomponents',
  scope: 'Namespaced',
  subresources: { status: true },
  schema: HostFirmwareComponentsSchema,
};
