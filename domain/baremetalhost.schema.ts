/**
 * BareMetalHost (`metal3.io/v1alpha1`), spec and status, field for field as Metal3 BMO v0.13.2 defines it,
 * plus the CRD metadata (names, columns) the generator turns into `deploy/crds/metal3.io_baremetalhosts.yaml`.
 */
import { z } from 'zod';
import { METAL3_ERROR_TYPES } from './errors.ts';
import { HardwareDetailsSchema, MAC_ADDRESS_PATTERN } from './hardware-data.schema.ts';
import { OPERATIONAL_STATUSES } from './host-state.ts';
import {
  AGE_COLUMN,
  ObjectReferenceSchema,
  RESOURCE_META_SHAPE,
  SecretReferenceSchema,
  conditionList,
  crd,
  dateTime,
  integer,
  limitedString,
  type CrdDefinition,
} from './k8s.schema.ts';

export const BOOT_MODES = ['UEFI', 'UEFISecureBoot', 'legacy'] as const;
export type BootMode = (typeof BOOT_MODES)[number];

export const CHECKSUM_TYPES = ['md5', 'sha256', 'sha512', 'auto'] as const;
export type ChecksumType = (typeof CHECKSUM_TYPES)[number];

export const IMAGE_FORMATS = ['raw', 'qcow2', 'vdi', 'vmdk', 'live-iso'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const AUTOMATED_CLEANING_MODES = ['metadata', 'disabled'] as const;
export type AutomatedCleaningMode = (typeof AUTOMATED_CLEANING_MODES)[number];

/** v0.13.2 knows `disabled` and `agent`; `fast` arrives in v0.14. */
export const INSPECTION_MODES = ['disabled', 'agent'] as const;
export type InspectionMode = (typeof INSPECTION_MODES)[number];

export const HARDWARE_RAID_LEVELS = ['0', '1', '2', '5', '6', '1+0', '5+0', '6+0'] as const;
export const SOFTWARE_RAID_LEVELS = ['0', '1', '1+0'] as const;

export const BmcDetailsSchema = z.object({
  address: z.string().describe('BMC URL; its scheme picks the driver (ipmi://, redfish-virtualmedia://, ...).'),
  credentialsName: z.string().describe('Secret in the same namespace with keys username and password.'),
  disableCertificateVerification: z.boolean().optional(),
});
export type BmcDetails = z.infer<typeof BmcDetailsSchema>;

export const ImageSchema = z.object({
  checksum: z.string().optional().describe('Checksum of the image, or the URL of a checksum file.'),
  checksumType: z.enum(CHECKSUM_TYPES).optional(),
  format: z.enum(IMAGE_FORMATS).optional(),
  ociAuthSecretName: z.string().optional().describe('Pull secret for oci:// images.'),
  url: z.string().describe('Where to fetch the image (http(s):// or oci://).'),
});
export type Image = z.infer<typeof ImageSchema>;

export const CustomDeploySchema = z.object({
  method: z.string().describe('Deploy step provided by a custom deploy ramdisk.'),
});
export type CustomDeploy = z.infer<typeof CustomDeploySchema>;

export const RootDeviceHintsSchema = z.object({
  deviceName: z.string().optional().describe('/dev/... or /dev/disk/by-path/...; exact match.'),
  hctl: z.string().optional(),
  minSizeGigabytes: integer({ minimum: 0 }).optional(),
  model: z.string().optional(),
  rotational: z.boolean().optional(),
  serialNumber: z.string().optional(),
  vendor: z.string().optional(),
  wwn: z.string().optional(),
  wwnVendorExtension: z.string().optional(),
  wwnWithExtension: z.string().optional(),
});
export type RootDeviceHints = z.infer<typeof RootDeviceHintsSchema>;

export const HardwareRaidVolumeSchema = z.object({
  controller: z.string().optional(),
  level: z.enum(HARDWARE_RAID_LEVELS),
  name: limitedString({ maxLength: 64 }).optional(),
  numberOfPhysicalDisks: integer({ minimum: 1 }).optional(),
  physicalDisks: z.array(z.string()).optional(),
  rotational: z.boolean().optional(),
  sizeGibibytes: integer({ minimum: 0 }).optional().describe('0 or unset means the largest size possible.'),
});
export type HardwareRaidVolume = z.infer<typeof HardwareRaidVolumeSchema>;

export const SoftwareRaidVolumeSchema = z.object({
  level: z.enum(SOFTWARE_RAID_LEVELS),
  physicalDisks: z.array(RootDeviceHintsSchema).min(2).optional(),
  sizeGibibytes: integer({ minimum: 0 }).optional(),
});
export type SoftwareRaidVolume = z.infer<typeof SoftwareRaidVolumeSchema>;

export const RaidConfigSchema = z.object({
  hardwareRAIDVolumes: z.array(HardwareRaidVolumeSchema).nullable().optional().describe('[] deletes all hardware volumes.'),
  softwareRAIDVolumes: z.array(SoftwareRaidVolumeSchema).max(2).nullable().optional(),
});
export type RaidConfig = z.infer<typeof RaidConfigSchema>;

/** The deprecated `spec.firmware` switches (booleans restricted to true/false, as upstream declares them). */
export const FirmwareConfigSchema = z.object({
  simultaneousMultithreadingEnabled: z.literal([true, false]).optional(),
  sriovEnabled: z.literal([true, false]).optional(),
  virtualizationEnabled: z.literal([true, false]).optional(),
});
export type FirmwareConfig = z.infer<typeof FirmwareConfigSchema>;

export const TaintSchema = z.object({
  effect: z.string(),
  key: z.string(),
  timeAdded: dateTime().optional(),
  value: z.string().optional(),
});

export const HostSpecSchema = z
  .object({
    architecture: z.string().optional(),
    automatedCleaningMode: z.enum(AUTOMATED_CLEANING_MODES).default('metadata'),
    bmc: BmcDetailsSchema.optional(),
    bootMACAddress: z.string().regex(MAC_ADDRESS_PATTERN).optional().describe('MAC of the provisioning NIC.'),
    bootMode: z.enum(BOOT_MODES).optional(),
    consumerRef: ObjectReferenceSchema.optional().describe('The object using this host (CAPM3 sets its Metal3Machine).'),
    customDeploy: CustomDeploySchema.optional(),
    description: z.string().optional(),
    disablePowerOff: z.boolean().optional(),
    externallyProvisioned: z.boolean().optional(),
    firmware: FirmwareConfigSchema.optional().describe('Deprecated: use HostFirmwareSettings.'),
    hardwareProfile: z.string().optional().describe('Deprecated.'),
    image: ImageSchema.optional(),
    inspectionMode: z.enum(INSPECTION_MODES).optional(),
    metaData: SecretReferenceSchema.optional(),
    networkData: SecretReferenceSchema.optional(),
    online: z.boolean().describe('Desired power state.'),
    preprovisioningNetworkDataName: z.string().optional(),
    raid: RaidConfigSchema.optional(),
    rootDeviceHints: RootDeviceHintsSchema.optional(),
    taints: z.array(TaintSchema).optional().describe('Deprecated: never implemented.'),
    userData: SecretReferenceSchema.optional(),
  })
  .describe('The desired state of a bare-metal host.');
export type HostSpec = z.infer<typeof HostSpecSchema>;

/** Start and end of one phase, for `status.operationHistory`. */
export const OperationMetricSchema = z.object({
  end: dateTime().nullable().optional(),
  start: dateTime().nullable().optional(),
});
export type OperationMetric = z.infer<typeof OperationMetricSchema>;

export const OperationHistorySchema = z.object({
  deprovision: OperationMetricSchema.optional(),
  inspect: OperationMetricSchema.optional(),
  provision: OperationMetricSchema.optional(),
  register: OperationMetricSchema.optional(),
});
export type OperationHistory = z.infer<typeof OperationHistorySchema>;

export const CredentialsStatusSchema = z.object({
  credentials: SecretReferenceSchema.optional(),
  credentialsVersion: z.string().optional().describe('resourceVersion of the Secret.'),
});
export type CredentialsStatus = z.infer<typeof CredentialsStatusSchema>;

export const ProvisionStatusSchema = z.object({
  ID: z.string().describe('The provisioner ID of the host.'),
  bootMode: z.enum(BOOT_MODES).optional(),
  customDeploy: CustomDeploySchema.optional(),
  firmware: FirmwareConfigSchema.optional(),
  image: ImageSchema.optional().describe('The image last provisioned successfully.'),
  raid: RaidConfigSchema.optional(),
  rootDeviceHints: RootDeviceHintsSchema.optional(),
  // A plain string in the CRD: see host-state.ts for the states and parseProvisioningState().
  state: z.string().describe('The provisioning state.'),
});
export type ProvisionStatus = z.infer<typeof ProvisionStatusSchema>;

export const HostStatusSchema = z
  .object({
    conditions: conditionList({ keyed: true, maxItems: 32 }).optional(),
    errorCount: crd(integer().default(0), { required: true }).describe('Errors since the last success; drives backoff.'),
    errorMessage: z.string(),
    errorType: z.enum(METAL3_ERROR_TYPES).optional(),
    goodCredentials: CredentialsStatusSchema.optional(),
    hardware: HardwareDetailsSchema.optional().describe('Deprecated: see HardwareData.'),
    hardwareProfile: z.string().optional(),
    lastUpdated: dateTime().optional(),
    operationHistory: OperationHistorySchema.optional(),
    operationalStatus: z.enum(OPERATIONAL_STATUSES),
    poweredOn: z.boolean(),
    provisioning: ProvisionStatusSchema,
    triedCredentials: CredentialsStatusSchema.optional(),
  })
  .describe('The observed state of a bare-metal host.');
export type HostStatus = z.infer<typeof HostStatusSchema>;

export const BareMetalHostSchema = z
  .object({
    ...RESOURCE_META_SHAPE,
    spec: HostSpecSchema.optional(),
    status: HostStatusSchema.optional(),
  })
  .describe('A physical server managed through its BMC.');
export type BareMetalHost = z.infer<typeof BareMetalHostSchema>;
/** A BareMetalHost as written by a user (defaults not yet applied). */
export type BareMetalHostInput = z.input<typeof BareMetalHostSchema>;

export const BareMetalHostCrd: CrdDefinition = {
  kind: 'BareMetalHost',
  listKind: 'BareMetalHostList',
  plural: 'baremetalhosts',
  singular: 'baremetalhost',
  shortNames: ['bmh', 'bmhost'],
  scope: 'Namespaced',
  printerColumns: [
    { name: 'Status', type: 'string', jsonPath: '.status.operationalStatus', priority: 1, description: 'Health of the host (OK, error, ...)' },
    { name: 'State', type: 'string', jsonPath: '.status.provisioning.state', description: 'Provisioning state' },
    { name: 'Consumer', type: 'string', jsonPath: '.spec.consumerRef.name', description: 'Object using the host' },
    { name: 'BMC', type: 'string', jsonPath: '.spec.bmc.address', priority: 1, description: 'BMC address' },
    { name: 'Online', type: 'string', jsonPath: '.spec.online', description: 'Desired power state' },
    { name: 'Error', type: 'string', jsonPath: '.status.errorType', description: 'Class of the last error' },
    AGE_COLUMN,
  ],
  subresources: { status: true },
  schema: BareMetalHostSchema,
};
