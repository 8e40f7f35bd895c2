/**
 * HardwareData: the inventory inspection found on a host (same name as its BareMetalHost), and the
 * HardwareDetails structure it shares with the deprecated `BareMetalHost.status.hardware`.
 */
import { z } from 'zod';
import { AGE_COLUMN, RESOURCE_META_SHAPE, integer, number, type CrdDefinition } from './k8s.schema.ts';

/** A MAC address as the CRD matches it (unanchored, like upstream's pattern). */
export const MAC_ADDRESS_PATTERN = /[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}/;

/** The storage device types inspection reports. */
export const DISK_TYPES = ['HDD', 'SSD', 'NVME'] as const;

export const HardwareSystemVendorSchema = z.object({
  manufacturer: z.string().optional(),
  productName: z.string().optional(),
  serialNumber: z.string().optional(),
});

export const BiosSchema = z.object({
  date: z.string().optional().describe('Release date of the BIOS.'),
  vendor: z.string().optional(),
  version: z.string().optional(),
});

export const HardwareFirmwareSchema = z.object({ bios: BiosSchema.optional() });

export const VlanSchema = z.object({
  id: integer({ format: 'int32', minimum: 0, maximum: 4094 }).optional(),
  name: z.string().optional(),
});

export const LldpSchema = z.object({
  portID: z.string().optional(),
  switchID: z.string().optional(),
  switchSystemName: z.string().optional(),
});

export const NicSchema = z.object({
  ip: z.string().optional().describe('IP address of the interface (IPv4 or IPv6).'),
  lldp: LldpSchema.optional().describe('LLDP data seen on the interface.'),
  mac: z.string().regex(MAC_ADDRESS_PATTERN).optional(),
  model: z.string().optional(),
  name: z.string().optional(),
  pciAddress: z.string().optional(),
  pxe: z.boolean().optional().describe('Whether the host PXE-booted from this interface.'),
  speedGbps: integer().optional(),
  vlanId: integer({ format: 'int32', minimum: 0, maximum: 4094 }).optional().describe('The untagged VLAN ID.'),
  vlans: z.array(VlanSchema).optional(),
});
export type Nic = z.infer<typeof NicSchema>;

export const StorageSchema = z.object({
  alternateNames: z.array(z.string()).optional(),
  hctl: z.string().optional(),
  model: z.string().optional(),
  name: z.string().optional().describe('A Linux device name, e.g. /dev/sda.'),
  rotational: z.boolean().optional(),
  serialNumber: z.string().optional(),
  sizeBytes: integer({ format: 'int64' }).optional(),
  type: z.enum(DISK_TYPES).optional(),
  vendor: z.string().optional(),
  wwn: z.string().optional(),
  wwnVendorExtension: z.string().optional(),
  wwnWithExtension: z.string().optional(),
});
export type Storage = z.infer<typeof StorageSchema>;

export const CpuSchema = z.object({
  arch: z.string().optional(),
  clockMegahertz: number({ format: 'double' }).optional(),
  count: integer().optional(),
  flags: z.array(z.string()).optional(),
  model: z.string().optional(),
});

/** What inspection learned about a host's hardware. */
export const HardwareDetailsSchema = z.object({
  cpu: CpuSchema.optional(),
  firmware: HardwareFirmwareSchema.optional(),
  hostname: z.string().optional(),
  nics: z.array(NicSchema).optional(),
  ramMebibytes: integer().optional(),
  storage: z.array(StorageSchema).optional(),
  systemVendor: HardwareSystemVendorSchema.optional(),
});
export type HardwareDetails = z.infer<typeof HardwareDetailsSchema>;

export const HardwareDataSpecSchema = z.object({
  hardware: HardwareDetailsSchema.optional().describe('The hardware inspection found.'),
});
export type HardwareDataSpec = z.infer<typeof HardwareDataSpecSchema>;

export const HardwareDataSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HardwareDataSpecSchema.optional(),
  })
  .describe('The hardware inventory of a BareMetalHost, kept across re-creation and pivot.');
export type HardwareData = z.infer<typeof HardwareDataSchema>;

export const HardwareDataCrd: CrdDefinition = {
  kind: 'HardwareData',
  listKind: 'HardwareDataList',
  plural: 'hardwaredata',
  singular: 'hardwaredata',
  shortNames: ['hd'],
  scope: 'Namespaced',
  printerColumns: [AGE_COLUMN],
  subresources: {},
  schema: HardwareDataSchema,
};
