/**
 * The BMC driver boundary: one narrow interface that the activities call, implemented by Redfish and IPMI and
 * chosen by the address scheme (factory.ts). The core is power and boot; what only some protocols can do sits in
 * optional facets (virtual media, inspection, BIOS, firmware, secure boot), absent when the protocol cannot.
 * Every method is safe to repeat: it reads the BMC state first, acts only when needed, and reads it back.
 * Failures are {@link BmcError}s (errors.ts) with a code from domain/errors.ts.
 */
import type { BmcAddress } from '../../domain/bmc-address.ts';
import type { HardwareRaidVolume } from '../../domain/baremetalhost.schema.ts';
import type { FirmwareSettingRule } from '../../domain/firmware-schema.ts';
import type { RaidController } from '../../domain/raid.ts';

export interface BmcCredentials {
  username: string;
  password: string;
}

/** Per-call options: cancellation and a heartbeat for long waits (activities pass theirs). */
export interface CallOptions {
  signal?: AbortSignal;
  /** Called while waiting (power polling, task polling) with what is being waited for. */
  onProgress?: (progress: { what: string; elapsedMs: number; detail?: string }) => void;
}

/** What `identify` reads besides the system. */
export interface IdentifyOptions extends CallOptions {
  /**
   * Also the BMC's own firmware version: on Redfish a GET of the Manager more, which registering and the firmware
   * reading do without (the firmware inventory has the BMC's version).
   */
  firmwareVersion?: boolean;
  /** The system may be read from the reads kept in this activity (bmc/reads.ts): a look right after another. */
  shared?: boolean;
}

export type PowerState = 'on' | 'off';
/** `reboot`: hard (off then on, or the BMC's cycle); `soft-*`: through the OS (ACPI). */
export type PowerAction = 'on' | 'off' | 'soft-off' | 'reboot' | 'soft-reboot';

export interface PowerOptions extends CallOptions {
  /** How long to wait for the state to be reached (default: Metal3's 120 s; 600 s for soft power off). */
  timeoutMs?: number;
}

export interface PowerResult {
  action: PowerAction;
  /** The power state read back at the end. */
  state: PowerState;
  /** False when the host already was in the requested state and nothing was sent. */
  changed: boolean;
  /** What was sent, in order: Redfish ResetTypes or ipmitool commands. */
  sent: string[];
  elapsedMs: number;
}

export type BootDevice = 'pxe' | 'cd' | 'disk' | 'bios' | 'uefi-http' | 'usb';
export type BootMode = 'UEFI' | 'Legacy';

export interface BootOverride {
  device: BootDevice;
  /** Continuous instead of once. Where the BMC rejects it, the result says to re-apply before each power on. */
  persistent?: boolean;
  /** Default UEFI (Metal3's default boot mode). */
  mode?: BootMode;
  /** For `uefi-http`: the URL to boot. */
  httpBootUri?: string;
}

export interface BootOverrideResult {
  device: BootDevice;
  /** The vendor value sent (Redfish BootSourceOverrideTarget or the ipmitool bootdev argument). */
  target: string;
  enabled: 'Once' | 'Continuous';
  mode: BootMode | undefined;
  changed: boolean;
  /** The BMC cannot keep it persistently: the caller re-applies it before every power on. */
  reapplyBeforePowerOn: boolean;
}

export interface BmcIdentity {
  protocol: 'redfish' | 'ipmi';
  /** ServiceRoot `Vendor`, else the system's Manufacturer (how Ironic picks vendor workarounds). */
  vendor: string | undefined;
  manufacturer: string | undefined;
  model: string | undefined;
  /** The system's serial number (Redfish `SerialNumber`); undefined when the protocol does not say. */
  serialNumber?: string | undefined;
  /** The BMC's own firmware version (Redfish: only when asked for, `IdentifyOptions.firmwareVersion`). */
  firmwareVersion: string | undefined;
  /** Redfish only: the protocol version, the system and manager paths in use. */
  redfishVersion?: string | undefined;
  systemPath?: string | undefined;
  managerPath?: string | undefined;
  powerState: PowerState;
}

export interface VirtualMediaSlot {
  /** Redfish path of the slot. */
  path: string;
  id: string;
  mediaTypes: string[];
  inserted: boolean;
  image: string | undefined;
  writeProtected: boolean | undefined;
  connectedVia: string | undefined;
  /** How media is put in: the InsertMedia action, or PATCH on the slot (XCC, SD530). */
  method: 'action' | 'patch' | 'none';
}

export interface VirtualMediaResult {
  slot: string;
  image: string | undefined;
  changed: boolean;
}

export interface VirtualMediaOps {
  /** The CD/DVD-capable slots. */
  list(opts?: CallOptions): Promise<VirtualMediaSlot[]>;
  /** Inserts an image as a CD (ejecting whatever else is inserted first) and reads it back. */
  insert(imageUrl: string, opts?: CallOptions): Promise<VirtualMediaResult>;
  /** Ejects every inserted CD/DVD; a no-op when none is inserted. */
  eject(opts?: CallOptions): Promise<VirtualMediaResult[]>;
}

/** Metal3's HardwareDetails (HardwareData `spec.hardware`), field names verbatim. */
export interface HardwareDetails {
  systemVendor: { manufacturer: string; productName: string; serialNumber: string };
  firmware: { bios: { date: string; vendor: string; version: string } };
  ramMebibytes: number;
  nics: { name: string; model: string; mac: string; ip: string; speedGbps: number; vlanId: number; pxe: boolean }[];
  storage: {
    name: string;
    rotational: boolean;
    /** Absent when the BMC does not say (Metal3's enum has no "unknown"). */
    type?: 'HDD' | 'SSD' | 'NVME';
    sizeBytes: number;
    vendor: string;
    model: string;
    serialNumber: string;
    wwn?: string;
  }[];
  cpu: { arch: string; model: string; clockMegahertz: number; flags: string[]; count: number };
  hostname: string;
}

/** One firmware component: `bios`, `bmc`, or another FirmwareInventory/SoftwareInventory member. */
export interface FirmwareComponent {
  /** HostFirmwareComponents' component name (`bios`, `bmc`, `nic:<id>`) or the inventory id. */
  component: string;
  id: string;
  name: string;
  /** The version the BMC reports; '' when the member states none. */
  version: string;
  updateable: boolean | undefined;
  path: string | undefined;
  /** Where it was listed: the System/Manager themselves (bios, bmc), or an inventory collection. */
  source?: 'System' | 'Manager' | 'FirmwareInventory' | 'SoftwareInventory';
  /** What the member is, as far as its links and names tell: the host BIOS, the BMC, a NIC, or other. */
  role?: 'bios' | 'bmc' | 'nic' | 'other';
  softwareId?: string | undefined;
  releaseDate?: string | undefined;
  manufacturer?: string | undefined;
  lowestSupportedVersion?: string | undefined;
  /** RelatedItem links (the System, Manager or device the firmware runs on). */
  relatedItems?: string[];
}

/** The firmware inventory: every member of FirmwareInventory and SoftwareInventory, and what could not be read. */
export interface FirmwareInventory {
  components: FirmwareComponent[];
  /** Members a collection lists that did not answer (a component removed or mid-update): path and status. */
  missing: { path: string; status: number }[];
}

export interface ManagerFacts {
  id: string;
  path: string;
  model: string | undefined;
  manufacturer: string | undefined;
  firmwareVersion: string | undefined;
  /** ServiceRoot facts. */
  vendor: string | undefined;
  redfishVersion: string | undefined;
  uuid: string | undefined;
}

export interface Inventory {
  hardware: HardwareDetails;
  firmware: FirmwareComponent[];
  manager: ManagerFacts | undefined;
  system: { path: string; id: string; uuid: string | undefined; powerState: PowerState; sku: string | undefined; bootProgress: string | undefined };
  /** Current BIOS attributes (HostFirmwareSettings' status), when the BMC publishes them. */
  biosAttributes: Record<string, unknown> | undefined;
  /** What could not be read (an unimplemented resource, a 5xx), so callers see a degraded inventory. */
  warnings: string[];
}

/** What an inventory reads. */
export interface InventoryOptions extends CallOptions {
  /**
   * Only what `hardware` is made of: the manager (`manager`, the BMC's firmware component), the BIOS attributes
   * (`biosAttributes`) and the software inventory (more firmware components) are left out, up to three requests
   * fewer on Redfish (inspection keeps only the hardware details).
   */
  hardwareOnly?: boolean;
}

export interface InspectionOps {
  inventory(opts?: InventoryOptions): Promise<Inventory>;
}

export type ApplyTime = 'Immediate' | 'OnReset' | 'AtMaintenanceWindowStart' | 'InMaintenanceWindowOnReset';

export interface BiosSettings {
  attributes: Record<string, unknown>;
  /** Changes waiting for a reboot (only the keys that differ from `attributes`). */
  pending: Record<string, unknown>;
  registry: string | undefined;
  supportedApplyTimes: string[];
  /** Results of the last apply (`@Redfish.Settings.Messages`). */
  messages: { messageId: string; message: string; severity: string | undefined }[];
}

export interface BiosApplyResult {
  changed: boolean;
  /** The pending changes read back after the PATCH. */
  pending: Record<string, unknown>;
  applyTime: ApplyTime | undefined;
  /** The changes take effect at the next reboot (the caller reboots, then verifies with get()). */
  rebootRequired: boolean;
}

/**
 * The BMC's BIOS attribute registry, as FirmwareSchema rules: what the schema of a HostFirmwareSettings is
 * built from. `schema` keys are attribute names; rules carry FirmwareSchema's snake_case fields plus the
 * registry's `value_expression`, `scalar_increment` and `reset_required` (drop those three when writing a
 * FirmwareSchema object: its CRD has no such fields).
 */
export interface BiosRegistry {
  /** The registry's Id, e.g. `BiosAttributeRegistryA43.v1_2_52` (what the Bios resource names). */
  id: string;
  /** `OwningEntity` (the vendor) and the systems it applies to, when the registry says. */
  owningEntity: string | undefined;
  supportedSystems: { productName: string | undefined; systemId: string | undefined; firmwareVersion: string | undefined }[];
  schema: Record<string, FirmwareSettingRule>;
}

export interface BiosOps {
  get(opts?: CallOptions): Promise<BiosSettings>;
  /**
   * The attribute registry the Bios resource names, found through the service's Registries collection;
   * undefined when the BMC publishes none (then only names and types can be checked).
   */
  registry(opts?: CallOptions): Promise<BiosRegistry | undefined>;
  /**
   * Stages `changes` in the settings object (skipping values already current or pending). The changes are
   * validated against the registry first (FirmwareSettingsInvalid, naming each setting and rule, with
   * nothing sent) and converted to the types the registry gives (`"5"` for an Integer is sent as 5).
   */
  apply(changes: Record<string, string | number | boolean>, opts?: CallOptions & { applyTime?: ApplyTime }): Promise<BiosApplyResult>;
  /** Requests a reset of the BIOS to factory defaults (`#Bios.ResetBios`); takes effect at the next reboot. */
  resetToDefaults(opts?: CallOptions): Promise<void>;
}

/** A running BMC task: the monitor URI from Location and the Task resource, whichever the BMC gave. */
export interface TaskRef {
  monitor: string | undefined;
  task: string | undefined;
}

export interface TaskStatus {
  state: string;
  status: string | undefined;
  percent: number | undefined;
  messages: string[];
  done: boolean;
  ok: boolean;
  /** The task disappeared (purged) before it was seen finished: check the component's version. */
  vanished: boolean;
}

/** What `startUpdate` found or did. */
export interface FirmwareUpdateStart {
  /** `started`: this call sent the update; `running`/`completed`: the BMC already has a task for this image
   * (nothing was sent); `current`: the component already has the expected version (nothing was sent). */
  state: 'started' | 'running' | 'completed' | 'current';
  /** The task to poll with `readTask` (undefined for `current`, or when the BMC named no task). */
  taskUri: string | undefined;
  ref: TaskRef;
}

/** An update to start: pulled by the BMC from `imageUrl`, or pushed (the image's bytes). */
export interface FirmwareUpdateRequest {
  /** The image URL (the BMC fetches it), or, with `push`, the name it is known by (its last segment is the file name). */
  imageUrl: string;
  /** Push the bytes (MultipartHttpPushUri, else HttpPushUri) instead of a SimpleUpdate pull. */
  push?: { image: Uint8Array; filename: string; applyTime?: string };
  targets?: string[];
  forceUpdate?: boolean;
  /**
   * Only tasks started at or after this time (ISO 8601; the operation's start, from the workflow) count as this
   * update's own: an older task for the same image was another update.
   */
  since?: string;
  /** When given with `version`: nothing is sent if this component (`bios`, `bmc` or an inventory id) has it. */
  component?: string;
  version?: string;
}

export interface FirmwareOps {
  list(opts?: CallOptions): Promise<FirmwareComponent[]>;
  /** Every inventory member, with the ones that did not answer. */
  inventory(opts?: CallOptions): Promise<FirmwareInventory>;
  /** One component's version (`bios`, `bmc` or an inventory id), read with as few requests as it takes. */
  version(component: string, opts?: CallOptions): Promise<string | undefined>;
  /**
   * Starts an update exactly once: when the BMC already has a task for this image (found by the request it
   * echoes, Task.Payload) that is running or completed since `since`, or the component already has `version`,
   * nothing is sent and that task is returned. A restarted worker calls it again and gets the same task.
   */
  startUpdate(request: FirmwareUpdateRequest, opts?: CallOptions): Promise<FirmwareUpdateStart>;
  /** Reads a task by its URI (Task resource or task monitor). */
  readTask(uri: string, opts?: CallOptions): Promise<TaskStatus>;
  /** Pull update: the BMC downloads `imageUrl` (SimpleUpdate). */
  simpleUpdate(request: { imageUrl: string; targets?: string[]; forceUpdate?: boolean }, opts?: CallOptions): Promise<TaskRef>;
  /** Push update: uploads the image (MultipartHttpPushUri, else HttpPushUri). */
  push(request: { image: Uint8Array; filename: string; targets?: string[]; applyTime?: string }, opts?: CallOptions): Promise<TaskRef>;
  task(ref: TaskRef, opts?: CallOptions): Promise<TaskStatus>;
  /** Polls the task until it ends or `timeoutMs` passes (Retry-After, else the configured interval). */
  waitTask(ref: TaskRef, opts?: CallOptions & { timeoutMs?: number }): Promise<TaskStatus>;
}

/** The host's storage controllers and volumes, and the RAID changes the BMC holds for the next reboot. */
export interface RaidReadout {
  controllers: RaidController[];
  /** What the controllers hold, in the shape of BareMetalHost `status.raid.hardwareRAIDVolumes`. */
  status: HardwareRaidVolume[];
  /** Unfinished RAID tasks (URIs) and volumes with a pending Delete. */
  pending: { tasks: string[]; volumes: string[] };
}

/** What `applyRaid` did. */
export interface RaidApplyResult {
  /** `unchanged`: the host has that configuration (nothing sent); `applied`: done now; `pending`: the BMC holds
   * changes for the next reboot (reboot, then call again). */
  state: 'unchanged' | 'applied' | 'pending';
  rebootRequired: boolean;
  /** Volumes deleted and created (paths), and tasks of changes held for the reboot. */
  deleted: string[];
  created: string[];
  tasks: string[];
}

export interface RaidOps {
  /** Controllers, drives and volumes; `status` is `status.raid.hardwareRAIDVolumes`. */
  read(opts?: CallOptions): Promise<RaidReadout>;
  /**
   * Applies Metal3's `hardwareRAIDVolumes` (null/undefined: leave as is, []: delete all), planned with
   * domain/raid.ts: RaidConfigInvalid (nothing sent) when the host cannot have it. Call again after each reboot
   * while `rebootRequired`; a host that has the configuration answers `unchanged`.
   */
  apply(volumes: readonly HardwareRaidVolume[] | null | undefined, opts?: CallOptions): Promise<RaidApplyResult>;
}

export interface SecureBootState {
  /** Undefined when the BMC cannot tell (Supermicro without the licence). */
  enabled: boolean | undefined;
  currentBoot: string | undefined;
  mode: string | undefined;
}

export interface SecureBootOps {
  get(opts?: CallOptions): Promise<SecureBootState>;
  /** Sets SecureBootEnable (takes effect at the next boot) and reads it back. */
  set(enabled: boolean, opts?: CallOptions): Promise<SecureBootState & { changed: boolean }>;
}

/** One BMC, one in-flight operation at a time. */
export interface BmcDriver {
  readonly address: BmcAddress;
  /** Checks that the BMC answers and accepts the credentials; what it is. */
  identify(opts?: IdentifyOptions): Promise<BmcIdentity>;
  getPowerState(opts?: CallOptions): Promise<PowerState>;
  /** Requests `action` unless the host is already there, and waits until the state is reached. */
  setPower(action: PowerAction, opts?: PowerOptions): Promise<PowerResult>;
  setBootOverride(override: BootOverride, opts?: CallOptions): Promise<BootOverrideResult>;
  readonly virtualMedia: VirtualMediaOps | undefined;
  readonly inspection: InspectionOps | undefined;
  readonly bios: BiosOps | undefined;
  readonly firmware: FirmwareOps | undefined;
  readonly secureBoot: SecureBootOps | undefined;
  /** Hardware RAID through the BMC (Redfish Storage/Volumes); software RAID goes through the deploy agent. */
  readonly raid: RaidOps | undefined;
  /**
   * The vendor as far as the driver has seen it, without asking the BMC (Redfish: the ServiceRoot's `Vendor`,
   * once read); undefined before the first call, or when the protocol does not say. For metrics labels.
   */
  readonly knownVendor?: string | undefined;
  /** Ends the session (Redfish DELETE) and closes connections. */
  close(): Promise<void>;
}
