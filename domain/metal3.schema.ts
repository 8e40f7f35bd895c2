/** The Metal3 API Tempered serves: every kind of `metal3.io/v1alpha1` (BMO v0.13.2), in one list. */
import { BareMetalHostCrd } from './baremetalhost.schema.ts';
import { BmcEventSubscriptionCrd } from './bmc-event-subscription.schema.ts';
import { DataImageCrd } from './data-image.schema.ts';
import { FirmwareSchemaCrd } from './firmware-schema.schema.ts';
import { HardwareDataCrd } from './hardware-data.schema.ts';
import { HostClaimCrd } from './host-claim.schema.ts';
import { HostDeployPolicyCrd } from './host-deploy-policy.schema.ts';
import { HostFirmwareComponentsCrd } from './host-firmware-components.schema.ts';
import { HostFirmwareSettingsCrd } from './host-firmware-settings.schema.ts';
import { HostUpdatePolicyCrd } from './host-update-policy.schema.ts';
import type { CrdDefinition } from './k8s.schema.ts';
import { PreprovisioningImageCrd } from './preprovisioning-image.schema.ts';

export const METAL3_CRDS: readonly CrdDefinition[] = [
  BareMetalHostCrd,
  BmcEventSubscriptionCrd,
  DataImageCrd,
  FirmwareSchemaCrd,
  HardwareDataCrd,
  HostClaimCrd,
  HostDeployPolicyCrd,
  HostFirmwareComponentsCrd,
  HostFirmwareSettingsCrd,
  HostUpdatePolicyCrd,
  PreprovisioningImageCrd,
];
