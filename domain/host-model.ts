/**
 * The contract between the bridge and the host workflow. The bridge turns a BareMetalHost (spec,
 * annotations, the version of its credentials Secret, deletion) into a `HostDesired` and signals it; the
 * workflow owns `HostState` and publishes snapshots of it back through the bridge's status activity, which
 * maps them onto `.status` (see bridge/status.ts). Plain JSON only: these travel through Temporal payloads
 * and continue-as-new. No secret ever appears here: credentials are a Secret reference plus its version.
 */
import type { ErrorCode, Metal3ErrorType } from './errors.ts';
import type { OperationalStatus } from './host-state.ts';
import type { SettingSchema } from './firmware-schema.schema.ts';
import type { RolloutDrainState } from './drain.ts';
import type { RolloutStatus } from './firmware-rollout.ts';
import type { NodeJoinState } from './node-join.ts';

export type { OperationalStatus };

/** Identity of a BareMetalHost object. `uid` distinguishes a re-created object of the same name. */
export interface HostRef {
  namespace: string;
  name: string;
  uid: string;
}

/** The subset of `BareMetalHost.spec` the engine acts on, in Metal3's field names. */
export interface HostSpecIntent {
  online: boolean;
  bmc?: { address: string; credentialsName: string; disableCertificateVerification?: boolean };
  bootMACAddress?: string;
  bootMode?: 'UEFI' | 'UEFISecureBoot' | 'legacy';
  image?: ImageIntent;
  customDeploy?: { method: string };
  externallyProvisioned?: boolean;
  automatedCleaningMode?: 'metadata' | 'disabled';
  inspectionMode?: 'disabled' | 'agent' | 'fast';
  rootDeviceHints?: Record<string, unknown>;
  raid?: Record<string, unknown>;
  disablePowerOff?: boolean;
  architecture?: string;
  userData?: { name: string; namespace?: string };
  networkData?: { name: string; namespace?: string };
  metaData?: { name: string; namespace?: string };
  consumerRef?: { apiVersion?: string; kind?: string; name?: string; namespace?: string };
}

export interface ImageIntent {
  url: string;
  checksum?: string;
  checksumType?: 'md5' | 'sha256' | 'sha512' | 'auto';
  format?: 'raw' | 'qcow2' | 'vdi' | 'vmdk' | 'live-iso';
}

/** A reboot request from a `reboot.metal3.io[/key]` annotation. */
export interface RebootRequest {
  mode: 'soft' | 'hard';
  force: boolean;
}

/** The annotations BMO honours, parsed. Invalid values arrive as `invalid` entries, for an event. */
export interface HostAnnotations {
  paused: boolean;
  /** `baremetalhost.metal3.io/detached`, parsed; absent when not detached. */
  detached?: { deleteAction: 'delete' | 'delay'; force: boolean };
  /** Keyed by the annotation key (`reboot.metal3.io` or `reboot.metal3.io/<key>`). */
  reboot: Record<string, RebootRequest>;
  /** `inspect.metal3.io`: '' = re-inspect request, 'disabled' = skip inspection. */
  inspect?: '' | 'disabled';
  /** `inspect.metal3.io/hardwaredetails`, parsed JSON of HardwareDetails. */
  hardwareDetails?: Record<string, unknown>;
  /**
   * Tempered's `cleaning.tempered.dev/full-erase` (beyond Metal3, BMO #2721): automated cleaning erases every
   * byte of every disk (`erase_devices`) instead of only their metadata.
   */
  fullErase?: boolean;
  /**
   * Tempered's `tempered.dev/replace-bmc` (its value, often a reason): the BMC of this machine was replaced, so
   * spec.bmc may change in any state (the webhook allows it) and the host registers with the new one in place.
   */
  replaceBmc?: string;
  invalid: { key: string; message: string }[];
}

/** One firmware update: a component (`bios`, `bmc`, `nic:<id>`) and the image URL (HostFirmwareComponents). */
export interface FirmwareUpdateIntent {
  component: string;
  url: string;
}

/** A BIOS setting's value as HostFirmwareSettings (IntOrString) or a rollout gives it. */
export type FirmwareSettingIntent = string | number | boolean;

/**
 * What the bridge knows of a host's firmware objects of the same name: HostFirmwareSettings (validated against
 * its FirmwareSchema), HostFirmwareComponents and HostUpdatePolicy. Absent parts: no such object.
 */
export interface FirmwareIntent {
  /** `spec.settings`, converted to the schema's types; `invalid` (the Valid=False message) when it fails it. */
  settings?: { values: Record<string, FirmwareSettingIntent>; invalid?: string };
  /** `spec.updates`; `invalid` when a component name is refused; `applied`: `status.updates` (for adoption). */
  updates?: { spec: FirmwareUpdateIntent[]; invalid?: string; applied?: FirmwareUpdateIntent[] };
  /** HostUpdatePolicy: what a provisioned host applies when it is rebooted (servicing); BMO's default onPreparing. */
  policy?: { firmwareSettings?: 'onPreparing' | 'onReboot'; firmwareUpdates?: 'onPreparing' | 'onReboot' };
}

/** What the bridge knows of the credentials Secret: never its content. */
export interface CredentialsView {
  name: string;
  /** The Secret's resourceVersion; absent when the Secret does not exist. */
  version?: string;
  /** Why the Secret cannot be used (missing, or lacks `username`/`password`), for the error message. */
  problem?: string;
}

/** The user's intent as of one version of the BareMetalHost, sent by the bridge with `syncHost`. */
export interface HostDesired {
  ref: HostRef;
  generation: number;
  resourceVersion: string;
  spec: HostSpecIntent;
  annotations: HostAnnotations;
  credentials?: CredentialsView;
  /** `metadata.deletionTimestamp` is set. */
  deleting: boolean;
  /**
   * The host counts towards the provisioning limit (PROVISIONING_LIMIT; the bridge decides, by its BMC
   * driver): its moves into inspecting, provisioning or deprovisioning claim a slot. Absent: they need none.
   */
  countsTowardProvisioningLimit?: boolean;
  /** The host's HostFirmwareSettings, HostFirmwareComponents and HostUpdatePolicy, when any exists. */
  firmware?: FirmwareIntent;
  /** `.status` of the object is empty (restore, pivot, or deleted by hand): publish it again. */
  statusMissing: boolean;
  /** Parsed `baremetalhost.metal3.io/status` annotation, sent only when `.status` is empty. */
  restoredStatus?: Record<string, unknown>;
  /**
   * The object's current `.status`, sent with the first signal a bridge sends for a host (it may be starting
   * a new workflow for a host whose history was lost): a fresh workflow adopts it instead of starting over.
   */
  adoptStatus?: Record<string, unknown>;
}

export interface CredentialsRecord {
  name: string;
  namespace: string;
  version: string;
}

export interface OperationTimes {
  start?: string;
  end?: string;
}

/**
 * What the host workflow keeps of its firmware: small on purpose (it travels with every publication). The full
 * readings (every setting, the schema, every component) go to the bridge once, in a publication.
 */
export interface FirmwareRecord {
  /** The BMC has BIOS settings and firmware inventory (a Redfish driver); false: nothing is read or applied. */
  supported: boolean;
  /** The FirmwareSchema the settings were last read against (`schema-<hash>`, BMO's name). */
  schemaName?: string;
  /** Current values (as strings) of the settings the user asked for, as last read from the BMC. */
  settings: Record<string, string>;
  /** HostFirmwareComponents `status.updates`: the updates applied last. */
  appliedUpdates?: FirmwareUpdateIntent[];
  /** When the BMC was last read (ISO). */
  readAt: string;
}

/** A firmware rollout's request to one host (workflows/rollout.ts): flash and set these, then reply. */
export interface RolloutRequest {
  rollout: { namespace: string; name: string };
  /** The workflow the host replies to (`firmwareHostReply`). */
  replyTo: string;
  attempt: number;
  updates: FirmwareUpdateIntent[];
  settings: Record<string, FirmwareSettingIntent>;
  /** The request is part of the operation running now. */
  started?: boolean;
  /** The rollout asked to stop after the current flash. */
  stop?: boolean;
}

/** What a host reports back to a rollout. */
export interface RolloutReply {
  host: { namespace: string; name: string };
  attempt: number;
  outcome: 'updated' | 'failed' | 'skipped' | 'aborted';
  message: string;
  /** The versions of the components flashed, as read back after the flash. */
  versions?: { component: string; version: string }[];
}

/** The host as the workflow knows it; the source of truth that `.status` projects. */
export interface HostState {
  provisioningState: string;
  operationalStatus: OperationalStatus;
  errorType: Metal3ErrorType | '';
  errorMessage: string;
  errorCount: number;
  /** Tempered's precise error code behind `errorType`. */
  errorCode?: ErrorCode;
  poweredOn: boolean;
  /** `status.provisioning.ID`: the host's identity in the engine (the BareMetalHost UID). */
  provisioningId: string;
  /** The image last provisioned successfully (`status.provisioning.image`). */
  image?: ImageIntent;
  bootMode?: string;
  rootDeviceHints?: Record<string, unknown>;
  raid?: Record<string, unknown>;
  customDeploy?: { method: string };
  goodCredentials?: CredentialsRecord;
  triedCredentials?: CredentialsRecord;
  operationHistory: { register: OperationTimes; inspect: OperationTimes; provision: OperationTimes; deprovision: OperationTimes };
  hardware?: Record<string, unknown>;
  lastAttemptedImage?: ImageIntent;
  provisioningFailCount: number;
  /** The operation running now, for the UI and the Progressing condition. */
  operation?: { name: string; workflowId: string; startedAt: string; summary: string };
  /** A human note on why the host waits (shown in the Progressing condition), e.g. an unsupported deploy. */
  waitingReason?: string;
  /** The step the running operation is in and since when (shown in the Progressing condition). */
  operationStep?: { step: string; since: string };
  /** When automated cleaning last completed (first provisioning cleans only when it never did). */
  cleanedAt?: string;
  /**
   * Refused a slot under the provisioning limit (operationalStatus `delayed`): the state the host waits to
   * enter and why. The host stays where it is until the bridge offers a slot (`offerSlot`, then `offered`).
   */
  delayed?: { state: string; reason: string; offered?: boolean };
  /** The BMC address the host was last registered with. */
  bmcAddress?: string;
  /** After an error: no new attempt before this time (ISO), unless the user changes something. */
  retryAfter?: string;
  /** Fingerprint of the user's intent when the last error happened; a different intent retries at once. */
  errorIntent?: string;
  /** Annotation keys acted on and handed to the bridge for removal; ignored until they are gone. */
  consumedAnnotations: string[];
  /** Failed attempts at a deletion step (deprovision, power off); BMO gives up after 3. */
  deleteAttempts: number;
  /** The host is detached (`baremetalhost.metal3.io/detached` honoured): no power enforcement. */
  detached: boolean;
  /** When power was last read from the BMC (ISO), for the steady-state drift check. */
  powerCheckedAt?: string;
  /** Firmware read from the BMC and applied (HostFirmwareSettings, HostFirmwareComponents). */
  firmware?: FirmwareRecord;
  /** Servicing of a provisioned host is under way (operationalStatus `servicing`), since this time (ISO). */
  servicingSince?: string;
  /** A firmware rollout's request, waiting or running. */
  rollout?: RolloutRequest;
  /** Whether a host CAPM3 provisioned became a Ready Node of its workload cluster (domain/node-join.ts). */
  nodeJoin?: NodeJoinState;
  /** A rollout's drain of the host's Node, until the Node is released after servicing (domain/drain.ts). */
  rolloutDrain?: RolloutDrainState;
}

/** A Kubernetes Event the bridge emits for the host (BMO's reasons). */
export interface HostEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** One status publication: the state to project, events since the last one, annotations now consumed. */
/** One state of a host as a publication shows it: the state, its Events, consumed annotations, HardwareData. */
export type StatusSnapshot = Pick<StatusPublication, 'state' | 'events' | 'removeAnnotations' | 'hardwareData' | 'firmware'>;

export interface StatusPublication {
  ref: HostRef;
  state: HostState;
  events: HostEvent[];
  /** Annotation keys the workflow has acted on and the bridge must remove (inspect, reboot, hardwaredetails, status). */
  removeAnnotations: string[];
  /** HardwareData to create or update (same name as the host), when inspection produced new data. */
  hardwareData?: Record<string, unknown>;
  /** Firmware read from the BMC: for FirmwareSchema, HostFirmwareSettings and HostFirmwareComponents. */
  firmware?: FirmwarePublication;
  /**
   * Snapshots to write before this one, in order, each its own status write: states the host passed through
   * while the previous publication was in flight, sent together (one activity instead of one each). Never
   * with a `claim`.
   */
  earlier?: StatusSnapshot[];
  /**
   * This publication moves the host into a provisioning-heavy state and claims a slot under the provisioning
   * limit. When the bridge refuses, it shows `fallback` instead (the state before the move, made `delayed`
   * with the bridge's reason: domain/host-lifecycle.ts `delay`) and answers `delayed`.
   */
  claim?: { fallback: { state: HostState; events: HostEvent[]; removeAnnotations: string[] } };
}

/** One firmware component as read from the BMC (`bios`, `bmc`, then every inventory member by its Id). */
export interface FirmwareComponentReading {
  component: string;
  version: string;
}

/** A firmware component flashed by this engine: the version read back after the flash. */
export interface FirmwareFlash {
  component: string;
  url: string;
  version: string;
  /** ISO time the flash was read back. */
  at: string;
}

/** Everything read from the BMC's firmware at once: what the bridge writes to the firmware objects. */
export interface FirmwareReading {
  /** Every current BIOS setting, as a string (Password settings left out); undefined: the BMC has no BIOS resource. */
  settings?: Record<string, string>;
  /** The FirmwareSchema's name (`schema-<hash>` of the rules, BMO's) and, when it is new to the host, its rules. */
  schemaName?: string;
  schema?: Record<string, SettingSchema>;
  /** The system's vendor and model (FirmwareSchema `hardwareVendor`, `hardwareModel`). */
  vendor?: string;
  model?: string;
  /** Every component with its version; empty when the BMC lists none. */
  components: FirmwareComponentReading[];
}

/** The firmware part of a status publication. */
export interface FirmwarePublication {
  reading: FirmwareReading;
  /** Components flashed since the last publication. */
  flashed: FirmwareFlash[];
  /** HostFirmwareComponents `status.updates` after this operation. */
  appliedUpdates?: FirmwareUpdateIntent[];
}

/** What the bridge did with a publication. */
export interface PublishResult {
  written: boolean;
  /** The FirmwareSchema named by the publication does not exist and its rules were not sent: send them next time. */
  firmwareSchemaMissing?: boolean;
  /** The publication's slot claim was refused, for this reason: the host is `delayed` until offered a slot. */
  delayed?: string;
}

/** The activities the bridge process serves on its own task queue (BRIDGE_TASK_QUEUE). */
export interface BridgeActivities {
  /** Merge-patches `.status` (only our fields, only when changed), emits events, removes consumed annotations. */
  publishStatus(publication: StatusPublication): Promise<PublishResult>;
  /** The host is deleted: removes the finalizer (and HardwareData's), so Kubernetes can delete the object. */
  releaseHost(ref: HostRef): Promise<void>;
  /**
   * Writes a FirmwareRollout's `.status` (only when changed) and, when the failure budget paused the rollout,
   * sets its `spec.paused` (once per such pause). `gone`: the object no longer exists.
   */
  publishRolloutStatus(publication: { ref: HostRef; status: RolloutStatus }): Promise<{ gone: boolean }>;
}
