/**
 * FirmwareSchema: the BIOS settings a vendor and model support (names, types, bounds), shared by the
 * HostFirmwareSettings of hosts of that model.
 */
import { z } from 'zod';
import { RESOURCE_META_SHAPE, integer, type CrdDefinition } from './k8s.schema.ts';

export const SETTING_ATTRIBUTE_TYPES = ['Enumeration', 'String', 'Integer', 'Boolean', 'Password'] as const;
export type SettingAttributeType = (typeof SETTING_ATTRIBUTE_TYPES)[number];

/** One setting's description (snake_case keys, as Ironic reports them). */
export const SettingSchemaSchema = z.object({
  allowable_values: z.array(z.string()).optional(),
  attribute_type: z.enum(SETTING_ATTRIBUTE_TYPES).optional(),
  lower_bound: integer().optional(),
  max_length: integer().optional(),
  min_length: integer().optional(),
  read_only: z.boolean().optional(),
  unique: z.boolean().optional(),
  upper_bound: integer().optional(),
});
export type SettingSchema = z.infer<typeof SettingSchemaSchema>;

export const FirmwareSchemaSpecSchema = z.object({
  hardwareModel: z.string().optional(),
  hardwareVendor: z.string().optional(),
  schema: z.record(z.string(), SettingSchemaSchema).describe('Settings by name.'),
});
export type FirmwareSchemaSpec = z.infer<typeof FirmwareSchemaSpecSchema>;

export const FirmwareSchemaSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: FirmwareSchemaSpecSchema.optional(),
  })
  .describe('The BIOS settings a hardware model supports.');
export type FirmwareSchema = z.infer<typeof FirmwareSchemaSchema>;

export const FirmwareSchemaCrd: CrdDefinition = {
  kind: 'FirmwareSchema',
  listKind: 'FirmwareSchemaList',
  plural: 'firmwareschemas',
  singular: 'firmwareschema',
  scope: 'Namespaced',
  schema: FirmwareSchemaSchema,
};
