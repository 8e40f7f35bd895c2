/**
 * Condition types and reasons of the Metal3 API (reference §1.4 and §2), verbatim from BMO's constants.
 * BareMetalHost conditions are `metav1.Condition`s in `status.conditions`, keyed by type.
 */

/** BareMetalHost condition types, each with the reasons BMO uses for it. */
export const HOST_CONDITION_REASONS = {
  Manageable: ['Manageable', 'NotManaged', 'Registering', 'RegistrationFailed', 'PowerFailure'],
  Provisioned: ['Provisioned', 'NotProvisioned', 'Provisioning'],
  Ready: ['Provisioned', 'Error', 'Detached', 'Servicing'],
  // "NotManageableReason" is BMO's string, suffix included.
  AvailableForProvisioning: ['Available', 'NotManageableReason', 'NotAvailable', 'Inspecting'],
  Progressing: [
    'Registering',
    'Inspecting',
    'Preparing',
    'Provisioning',
    'Deprovisioning',
    'PoweringOffBeforeDelete',
    'Deleting',
    'NotProgressing',
  ],
  Healthy: ['Healthy', 'Unknown', 'Warning', 'CriticalError'],
} as const;

export type HostConditionType = keyof typeof HOST_CONDITION_REASONS;
export type HostConditionReason<T extends HostConditionType = HostConditionType> = (typeof HOST_CONDITION_REASONS)[T][number];

export const HOST_CONDITION_TYPES = Object.keys(HOST_CONDITION_REASONS) as HostConditionType[];

/** Whether `reason` is one BMO uses for condition `type`. */
export function isHostConditionReason<T extends HostConditionType>(type: T, reason: string): reason is HostConditionReason<T> {
  return (HOST_CONDITION_REASONS[type] as readonly string[]).includes(reason);
}

/** HostFirmwareSettings and HostFirmwareComponents condition types. */
export const FIRMWARE_CONDITION_TYPES = ['ChangeDetected', 'Valid'] as const;
export type FirmwareConditionType = (typeof FIRMWARE_CONDITION_TYPES)[number];

/** PreprovisioningImage condition types. */
export const IMAGE_CONDITION_TYPES = ['Ready', 'Error'] as const;
export type ImageConditionType = (typeof IMAGE_CONDITION_TYPES)[number];

/** HostClaim condition types. */
export const HOST_CLAIM_CONDITION_TYPES = ['Associated', 'Synchronized'] as const;
export type HostClaimConditionType = (typeof HOST_CLAIM_CONDITION_TYPES)[number];
