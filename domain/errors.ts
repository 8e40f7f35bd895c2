/**
 * Error codes: the one list of what can go wrong, whether retrying can help, and which Metal3 `errorType`
 * a failed host shows. Codes are Temporal `ApplicationFailure` types (matched by string, never instanceof),
 * stable across releases because they are recorded in history. Add codes here, in one place.
 */

/** Metal3's `status.errorType` values, verbatim (CRD enum). */
export const METAL3_ERROR_TYPES = [
  'provisioned registration error',
  'registration error',
  'inspection error',
  'preparation error',
  'provisioning error',
  'power management error',
  'servicing error',
] as const;
export type Metal3ErrorType = (typeof METAL3_ERROR_TYPES)[number];

/**
 * Every error code. `retryable: true` means transient: retried by the activity's retry policy.
 * `retryable: false` means permanent: the host records errorType and a message, then waits for a change.
 */
export const ERROR_CODES = {
  // BMC address and credentials (bad input: fixed by the user)
  BmcAddressInvalid: { retryable: false, summary: 'the BMC address cannot be parsed' },
  BmcSchemeUnsupported: { retryable: false, summary: 'the BMC address scheme is unknown or was removed' },
  BmcCredentialsMissing: { retryable: false, summary: 'the BMC credentials Secret or one of its keys is missing' },
  BmcAuthFailed: { retryable: false, summary: 'the BMC refused the credentials' },
  BmcTlsFailed: { retryable: false, summary: "the BMC's TLS certificate could not be verified" },
  BmcNotFound: { retryable: false, summary: 'the BMC has no such resource (system path or endpoint)' },
  BmcUnsupported: { retryable: false, summary: 'the BMC or its driver does not support the operation' },
  BmcBadRequest: { retryable: false, summary: 'the BMC rejected the request as invalid' },
  // BMC transport and state (transient: retried)
  BmcUnreachable: { retryable: true, summary: 'the BMC cannot be reached' },
  BmcTimeout: { retryable: true, summary: 'the BMC did not answer in time' },
  BmcServerError: { retryable: true, summary: 'the BMC answered with a server error' },
  BmcBusy: { retryable: true, summary: 'the BMC is busy or throttling (503/429)' },
  PowerStateNotReached: { retryable: true, summary: 'the host did not reach the requested power state in time' },
  BmcTaskFailed: { retryable: false, summary: 'a BMC task (firmware update, BIOS apply) ended in failure' },
  FirmwareSettingsInvalid: { retryable: false, summary: "a BIOS setting is unknown, read-only or not allowed by the host's schema" },
  RaidConfigInvalid: { retryable: false, summary: 'the RAID configuration cannot be built on this host (level, controller or disks)' },
  BmcIdentityMismatch: {
    retryable: false,
    summary: 'the replacement BMC manages another machine than the one this host was inspected as (serial)',
  },
  // Images
  ImageUrlInvalid: { retryable: false, summary: 'the image URL cannot be parsed' },
  ImageFetchFailed: { retryable: true, summary: 'the image could not be downloaded' },
  ImageChecksumMismatch: { retryable: false, summary: "the image does not match its checksum" },
  ImageFormatUnsupported: { retryable: false, summary: 'the image format is not supported by this deploy method' },
  ImageUrlRefused: { retryable: false, summary: 'the image or checksum file server refused the URL (4xx)' },
  ImageChecksumInvalid: { retryable: false, summary: 'the image checksum is missing, or does not fit checksumType' },
  ImageChecksumFileInvalid: { retryable: false, summary: 'the checksum file is empty or has no checksum in it' },
  ImageChecksumNotListed: { retryable: false, summary: "the checksum file does not list the image's file name" },
  ImageWriteFailed: { retryable: false, summary: 'the image could not be written to the disk (too large, I/O error)' },
  ImageFormatMismatch: { retryable: false, summary: 'the image is not in the format spec.image.format declares' },
  HostConfigDataMissing: { retryable: true, summary: 'a userData, networkData or metaData Secret does not exist yet' },
  HostConfigDataInvalid: {
    retryable: false,
    summary: 'a userData, networkData or metaData Secret lacks its key, or its YAML does not parse',
  },
  DeployIsoInvalid: { retryable: false, summary: 'the deploy ISO is unreadable or has no boot config for the agent' },
  RootDeviceHintsInvalid: { retryable: false, summary: 'the root device hints cannot be parsed' },
  RootDeviceNotFound: { retryable: false, summary: 'no disk matches the root device hints (without: none of 4 GiB)' },
  VirtualMediaFailed: { retryable: false, summary: 'the BMC could not insert the virtual media' },
  // Deploy agent (ironic-python-agent)
  AgentUnreachable: { retryable: true, summary: 'the deploy agent cannot be reached (connection, timeout or server error)' },
  AgentBusy: { retryable: true, summary: 'the deploy agent is still running another command' },
  AgentRejected: { retryable: false, summary: 'the deploy agent refused the request (token, parameters or unknown command)' },
  AgentCommandFailed: { retryable: false, summary: 'a command on the deploy agent failed' },
  AgentCallbackTimeout: { retryable: false, summary: 'the deploy agent did not call back in time' },
  DeployRamdiskUnavailable: { retryable: false, summary: 'no deploy ramdisk ISO is configured or ready for the host' },
  // Operations
  OperationAborted: { retryable: false, summary: 'the operation was aborted by an operator' },
  OperationTimedOut: { retryable: false, summary: 'the operation did not finish within its time limit' },
  // A firmware rollout's drain of a joined host's Node (workload cluster)
  NodeDrainTimedOut: {
    retryable: false,
    summary: "the host's Node was not drained in time (a PodDisruptionBudget refused, pods stuck terminating)",
  },
  NodeNotReadyAfterServicing: { retryable: false, summary: "the host's Node was not Ready again in time after servicing" },
  InternalError: { retryable: false, summary: 'an unexpected failure inside Tempered (a bug: the message names it)' },
  // Spec and Kubernetes
  SpecInvalid: { retryable: false, summary: 'the BareMetalHost spec is invalid' },
  KubernetesConflict: { retryable: true, summary: 'a Kubernetes write conflicted; retried with the latest version' },
  KubernetesUnavailable: { retryable: true, summary: 'the Kubernetes API is unavailable or throttling' },
} as const satisfies Record<string, { retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes whose failures are not retried (for `nonRetryableErrorTypes` in retry policies). */
export const NON_RETRYABLE_CODES: readonly ErrorCode[] = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
  (code) => !ERROR_CODES[code].retryable,
);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The host operations, each of which reports its failures as one Metal3 errorType. */
export type Operation = 'register' | 'inspect' | 'prepare' | 'provision' | 'deprovision' | 'power' | 'servicing' | 'delete';

const OPERATION_ERROR_TYPE: Record<Operation, Metal3ErrorType> = {
  register: 'registration error',
  inspect: 'inspection error',
  prepare: 'preparation error',
  provision: 'provisioning error',
  deprovision: 'provisioning error',
  power: 'power management error',
  servicing: 'servicing error',
  delete: 'power management error',
};

/** The Metal3 errorType a failure of `operation` shows on the host. */
export function errorTypeFor(operation: Operation, options: { provisioned?: boolean } = {}): Metal3ErrorType {
  if (operation === 'register' && options.provisioned) return 'provisioned registration error';
  return OPERATION_ERROR_TYPE[operation];
}
