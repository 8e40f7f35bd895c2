/**
 * The activities the workers serve on the host task queue, as the workflows see them (workflows import this
 * file's types only). Every BMC activity takes a `BmcTarget`: the BMC address and a reference to the
 * credentials Secret, which the activity resolves itself, so no secret ever enters a workflow payload.
 * Every side effect reads the BMC's state first and is skipped when already done (idempotent on retry).
 */
import type { HardwareRaidVolume } from '../domain/baremetalhost.schema.ts';
import type {
  FirmwareReading,
  FirmwareSettingIntent,
  FirmwareUpdateIntent,
  HostRef,
  ImageIntent,
} from '../domain/host-model.ts';
import type { ResolvedImage } from '../domain/image.ts';

export interface BmcTarget {
  host: HostRef;
  /** The Metal3 BMC address (spec.bmc.address). */
  address: string;
  /** The Secret with `username` and `password` keys, in the host's namespace. */
  credentialsName: string;
  disableCertificateVerification?: boolean;
  /** The Secret's resourceVersion last known to work, so a cached copy is used only if still current. */
  credentialsVersion?: string;
}

export interface RegisterResult {
  poweredOn: boolean;
  /** resourceVersion of the credentials Secret that worked. */
  credentialsVersion: string;
  bmcAddress: string;
  driver: string;
  manufacturer?: string;
  model?: string;
  /** The system's serial number, when the BMC says (a replacement BMC is checked against the inspected one). */
  serialNumber?: string;
}

/** What `registerBmc` returns; with the firmware when it was asked to read it. */
export interface RegisterReading extends RegisterResult {
  firmware?: FirmwareReading;
  /** Why the firmware could not be read (the registration itself succeeded). */
  firmwareError?: string;
}

export interface InspectResult {
  poweredOn: boolean;
  /** Metal3 HardwareDetails (`status.hardware`, HardwareData `spec.hardware`). */
  hardware?: Record<string, unknown>;
  /** Set when the driver has no out-of-band inspection; says why. */
  skipped?: string;
}

/** What `startFirmwareUpdate` found or did (see the driver's `FirmwareOps.startUpdate`). */
export interface FirmwareUpdateStarted {
  /** `started`: sent now; `running`/`completed`: the BMC already has this update's task; `current`: nothing to do. */
  state: 'started' | 'running' | 'completed' | 'current';
  /** The task to follow; undefined when the BMC named none (then the version read back decides). */
  taskUri: string | undefined;
  /** The component's version before the update. */
  previousVersion: string | undefined;
}

/** Where a firmware task stands when `waitFirmwareTask` returns. */
export interface FirmwareTaskOutcome {
  /** `done`: ended well; `held`: the BMC holds it for a host reboot (TaskState Starting, not moving). */
  state: 'done' | 'held';
  taskState: string;
  messages: string[];
}

/** What `applyRaid` did (the driver's `RaidApplyResult`, without the resource paths). */
export interface RaidApplied {
  state: 'unchanged' | 'applied' | 'pending';
  rebootRequired: boolean;
  deleted: number;
  created: number;
}

/**
 * The firmware activities (activities/firmware.ts): BIOS settings, firmware updates and hardware RAID through
 * the driver, each read back. Every call is safe to repeat: settings already current or pending are not sent
 * again, an update the BMC already runs or ran is found by its task, RAID already as asked is left alone.
 */
export interface FirmwareActivities {
  /**
   * Reads the BMC's firmware: current BIOS settings, the attribute registry as FirmwareSchema rules (left out when
   * their name is `knownSchema`: the bridge has them), every firmware component with its version.
   */
  readFirmware(target: BmcTarget, request: { knownSchema?: string }): Promise<FirmwareReading>;
  /** Stages BIOS settings (validated against the BMC's registry first: FirmwareSettingsInvalid names each). */
  applyBiosSettings(target: BmcTarget, request: { settings: Record<string, FirmwareSettingIntent> }): Promise<{ changed: boolean; rebootRequired: boolean }>;
  /** The current and pending values of some BIOS settings, as strings. */
  readBiosSettings(target: BmcTarget, request: { names: string[] }): Promise<{ current: Record<string, string>; pending: Record<string, string> }>;
  /** Applies `spec.raid.hardwareRAIDVolumes` (null: leave as is; []: delete all); call again after each reboot it asks for. */
  applyRaid(target: BmcTarget, request: { volumes: HardwareRaidVolume[] | null }): Promise<RaidApplied>;
  /** Starts a firmware update exactly once (the BMC's own tasks tell whether it already runs or ran since `since`). */
  startFirmwareUpdate(target: BmcTarget, request: { update: FirmwareUpdateIntent; since: string }): Promise<FirmwareUpdateStarted>;
  /**
   * Follows a firmware task by its URI until it ends, or until the BMC holds it for a host reboot; heartbeats each
   * poll, so a worker that dies is replaced and polls the same task. A BMC away rebooting itself is waited out.
   * Fails with BmcTaskFailed when the task ends in failure.
   */
  waitFirmwareTask(target: BmcTarget, request: { taskUri: string }): Promise<FirmwareTaskOutcome>;
  /** One component's version now (`bios`, `bmc`, `nic:<id>`). */
  readFirmwareVersion(target: BmcTarget, request: { component: string }): Promise<{ version: string | undefined }>;
}

export interface BootVirtualMediaRequest {
  /** The ISO to boot. */
  url: string;
  /** The one-time boot's mode. */
  mode: 'UEFI' | 'Legacy';
  /** Check that this image's URL answers before the BMC is asked to fetch it (a user's live ISO). */
  check?: ImageIntent;
  /** Read power and media back at the end: VirtualMediaFailed unless the host is on with `url` inserted. */
  verify?: boolean;
}

export interface BootVirtualMediaResult {
  poweredOn: boolean;
  /** What was done, in order (empty: the host had already booted this ISO). */
  steps: string[];
}

export interface HostActivities extends FirmwareActivities {
  /**
   * Connects, authenticates, reads the system and its power state; with `firmware`, also reads the firmware as
   * `readFirmware` does, in the same call (BMO reads it at registration) and sharing its reads. A firmware read
   * that fails does not fail the registration: once the retry policy has no attempt left, its message is returned.
   */
  registerBmc(target: BmcTarget, request?: { firmware?: { knownSchema?: string } }): Promise<RegisterReading>;
  readPower(target: BmcTarget): Promise<{ poweredOn: boolean }>;
  /** Sets power and waits until the BMC reports it (soft falls back to hard on timeout). */
  setPower(target: BmcTarget, request: { on: boolean; mode: 'soft' | 'hard' }): Promise<{ poweredOn: boolean; changed: boolean }>;
  /**
   * Waits, reading the BMC, until the host reaches `on` by itself (an agent powering it off) or `timeoutMs`
   * passes; returns the last state read, without acting.
   */
  waitForPower(target: BmcTarget, request: { on: boolean; timeoutMs: number }): Promise<{ poweredOn: boolean; reached: boolean }>;
  /** Out-of-band inventory, normalised to Metal3 HardwareDetails. */
  inspectHardware(target: BmcTarget): Promise<InspectResult>;
  /** Checks that a live ISO's URL parses and answers (a 1-byte ranged GET), before a BMC is asked to fetch it. */
  checkImage(image: ImageIntent): Promise<{ sizeBytes?: number }>;
  /**
   * Resolves an image the deploy agent will write, before a ramdisk boots: the checksum (a checksum URL fetched
   * and matched by file name), the URL answering a ranged GET, the format of its first bytes against
   * `image.format`. Fails with a precise image error code (activities/images/resolve.ts).
   */
  resolveImage(image: ImageIntent): Promise<ResolvedImage>;
  /** Inserts a virtual CD (ejecting anything else first); no-op when that URL is already inserted. */
  insertVirtualMedia(target: BmcTarget, request: { url: string }): Promise<{ changed: boolean }>;
  ejectVirtualMedia(target: BmcTarget): Promise<{ changed: boolean }>;
  /** Sets the boot device override; no-op when already set. */
  setBootDevice(target: BmcTarget, request: { device: 'Cd' | 'Pxe' | 'Hdd'; once: boolean; mode?: 'UEFI' | 'Legacy' }): Promise<{ changed: boolean }>;
  /**
   * Turns UEFI secure boot on or off (takes effect at the next boot) and reads it back; BmcUnsupported when the
   * BMC has no secure boot, so `UEFISecureBoot` never silently becomes plain UEFI.
   */
  setSecureBoot(target: BmcTarget, request: { enabled: boolean }): Promise<{ enabled: boolean; changed: boolean }>;
  /** Reads back what the host booted: power, inserted media, boot override. */
  readBootState(target: BmcTarget): Promise<{ poweredOn: boolean; mediaUrl?: string; mediaInserted: boolean }>;
  /**
   * Boots an ISO from the virtual CD, deciding from the BMC's state what is left to do (activities/boot-media.ts):
   * at most one power-off, one insert, one power-on, whatever crash came before.
   */
  bootVirtualMedia(target: BmcTarget, request: BootVirtualMediaRequest): Promise<BootVirtualMediaResult>;
}
