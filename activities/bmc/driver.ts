/**
 * The BMC driver boundary: one narrow interface that the activities call, implemented by Redfish and IPMI and
 * chosen by the address scheme (factory.ts). The core is power and boot; what only some protocols can do sits in
 * optional facets (virtual media, inspection, BIOS, firmware, secure boot), absent when the protocol cannot.
 * Every method is safe to repeat: it reads the BMC state first, acts only when needed, and reads it back.
 * Failures are {@link BmcError}s (errors.ts) with a code from domain/errors.ts.
 */
import type { BmcAddress } from '../../domain/bmc-address.ts';

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
  /** The BMC's own firmware version. */
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

/** One firmware component: `bios`, `bmc`, or another FirmwareInventory member. */
export interface FirmwareComponent {
  /** HostFirmwareComponents' component name (`bios`, `bmc`, `nic:<id>`) or the inventory id. */
  component: string;
  id: string;
  name: string;
  version: string;
  updateable: boolean | undefined;
  path: string | undefined;
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

export interface InspectionOps {
  inventory(opts?: CallOptions): Promise<Inventory>;
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

export interface BiosOps {
  get(opts?: CallOptions): Promise<BiosSettings>;
  /** Stages `changes` in the settings object (skipping values already current or pending). */
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

export interface FirmwareOps {
  list(opts?: CallOptions): Promise<FirmwareComponent[]>;
  /** Pull update: the BMC downloads `imageUrl` (SimpleUpdate). */
  simpleUpdate(request: { imageUrl: string; targets?: string[]; forceUpdate?: boolean }, opts?: CallOptions): Promise<TaskRef>;
  /** Push update: uploads the image (MultipartHttpPushUri, else HttpPushUri). */
  push(request: { image: Uint8Array; filename: string; targets?: string[]; applyTime?: string }, opts?: CallOptions): Promise<TaskRef>;
  task(ref: TaskRef, opts?: CallOptions): Promise<TaskStatus>;
  /** Polls the task until it ends or `timeoutMs` passes (Retry-After, else the configured interval). */
  waitTask(ref: TaskRef, opts?: CallOptions & { timeoutMs?: number }): Promise<TaskStatus>;
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
  identify(opts?: CallOptions): Promise<BmcIdentity>;
  getPowerState(opts?: CallOptions): Promise<PowerState>;
  /** Requests `action` unless the host is already there, and waits until the state is reached. */
  setPower(action: PowerAction, opts?: PowerOptions): Promise<PowerResult>;
  setBootOverride(override: BootOverride, opts?: CallOptions): Promise<BootOverrideResult>;
  readonly virtualMedia: VirtualMediaOps | undefined;
  readonly inspection: InspectionOps | undefined;
  readonly bios: BiosOps | undefined;
  readonly firmware: FirmwareOps | undefined;
  readonly secureBoot: SecureBootOps | undefined;
  /**
   * The vendor as far as the driver has seen it, without asking the BMC (Redfish: the ServiceRoot's `Vendor`,
   * once read); undefined before the first call, or when the protocol does not say. For metrics labels.
   */
  readonly knownVendor?: string | undefined;
  /** Ends the session (Redfish DELETE) and closes connections. */
  close(): Promise<void>;
}
