/**
 * The activities the workers serve on the host task queue, as the workflows see them (workflows import this
 * file's types only). Every BMC activity takes a `BmcTarget`: the BMC address and a reference to the
 * credentials Secret, which the activity resolves itself, so no secret ever enters a workflow payload.
 * Every side effect reads the BMC's state first and is skipped when already done (idempotent on retry).
 */
import type { HostRef, ImageIntent } from '../domain/host-model.ts';
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
}

export interface InspectResult {
  poweredOn: boolean;
  /** Metal3 HardwareDetails (`status.hardware`, HardwareData `spec.hardware`). */
  hardware?: Record<string, unknown>;
  /** Set when the driver has no out-of-band inspection; says why. */
  skipped?: string;
}

export interface HostActivities {
  /** Connects, authenticates, reads the system and its power state. */
  registerBmc(target: BmcTarget): Promise<RegisterResult>;
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
}
