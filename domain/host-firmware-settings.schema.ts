/**
 * HostFirmwareSettings (`hfs`): desired BIOS settings of a host (same name as its BareMetalHost) and the
 * current values read from the BMC, validated against a FirmwareSchema.
 */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, conditionList, dateTime, intOrString, type CrdDefinition } from './k8s.schema.ts';

export const HostFirmwareSettingsSpecSchema = z.object({
  settings: z.record(z.string(), intOrString()).describe('Desired settings as name/value pairs (merged).'),
});
export type HostFirmwareSettingsSpec = z.infer<typeof HostFirmwareSettingsSpecSchema>;

/** Which FirmwareSchema describes the settings. */
export const SchemaReferenceSchema = z.object({
  name: z.string(),
  namespace: z.string(),
});

export const HostFirmwareSettingsStatusSchema = z.object({
  conditions: conditionList({ keyed: true }).optional().describe('Valid and ChangeDetected.'),
  lastUpdated: dateTime().optional(),
  schema: SchemaReferenceSchema.optional(),
  settings: z.record(z.string(), z.string()).describe('Current settings read from the host.'),
});
export type HostFirmwareSettingsStatus = z.infer<typeof HostFirmwareSettingsStatusSchema>;

export const HostFirmwareSettingsSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HostFirmwareSettingsSpecSchema.optional(),
    status: HostFirmwareSettingsStatusSchema.optional(),
  })
  .describe('BIOS settings of a BareMetalHost.');
export type HostFirmwareSettings = z.infer<typeof HostFirmwareSettingsSchema>;

export const HostFirmwareSettingsCrd: CrdDefinition = {
  kind: 'HostFirmwareSettings',
  listKind: 'HostFirmwareSettingsList',
  plural: 'hostfirmwaresettings',
  singular: 'hostfirmwaresettings',
  shortNames: ['hfs'],
  scope: 'Namespaced',
  subresources: { status: true },
  schema: HostFirmwareSettingsSchema,
};
