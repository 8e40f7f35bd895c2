/**
 * The simulated server behind a BMC: power, boot override, the media in each virtual drive, BIOS settings
 * (current and pending), firmware versions, and what the host last booted. It knows nothing of HTTP; the BMC
 * translates Redfish requests into calls here and renders this state into Redfish resources.
 *
 * Power changes take `powerDelayMs` and complete on a timer (unref'd, cleared by `dispose`). A completed
 * power-on "boots": it consumes a one-time boot override, applies pending BIOS settings and staged firmware,
 * and records what it booted from, which later work turns into a ramdisk or a provisioned disk coming up.
 */
import type { Json } from './tree.ts';

/** The power states a host reports. */
export type PowerState = 'On' | 'Off';

/** One-time or persistent boot override, as in ComputerSystem.Boot. */
export interface BootOverride {
  target: string;
  enabled: 'Disabled' | 'Once' | 'Continuous';
  mode: 'UEFI' | 'Legacy';
  uefiTarget: string | null;
  httpBootUri: string | null;
}

/** A virtual drive of the BMC and the media in it. */
export interface MediaSlot {
  /** Canonical URI of the VirtualMedia resource. */
  readonly path: string;
  /** The slot's Id (`CD1`, `1`, `2`, ...). */
  readonly id: string;
  readonly mediaTypes: readonly string[];
  image: string | null;
  inserted: boolean;
  writeProtected: boolean;
  transferProtocolType: string | null;
  /** Bytes of the image read so far (the simulator really streams it). */
  bytesRead: number;
  /** Set when reading the image failed after the insert was accepted. */
  readError: string | null;
  /** When the slot was last ejected (ms since epoch), for the eject-related quirks. */
  ejectedAt: number | null;
  /** The image before the last eject, for `stale-inserted-after-eject`. */
  previousImage: string | null;
}

/** What the host booted from after a power-on. */
export interface BootRecord {
  /** 1 for the first boot of this host, then 2, 3, ... */
  seq: number;
  at: string;
  /** The boot source used: a BootSourceOverrideTarget (`Cd`, `Pxe`, `Hdd`, `UefiHttp`, `UsbCd`) or `Oem:VCD-DVD`. */
  source: string;
  mode: 'UEFI' | 'Legacy';
  /** The image URL booted from virtual media, or the HTTP boot URI; null for disk and PXE boots. */
  image: string | null;
  /** The virtual media slot used, if any. */
  slot: string | null;
  /** Why nothing was booted although media was expected (e.g. `no media in a CD slot`). */
  failure: string | null;
}

/** Rules that decide which virtual media a boot source reaches (vendor quirks). */
export interface BootRules {
  /** Supermicro: only `UsbCd` reaches virtual media; `Cd` is the physical drive. */
  virtualCdTarget: 'Cd' | 'UsbCd';
  /** Dell: only the OEM one-time boot device `VCD-DVD` reaches virtual media. */
  virtualCdNeedsOem: boolean;
  /** Dell iDRAC10: only these slot ids can boot. Null means any. */
  bootableSlots: readonly string[] | null;
}

/** BIOS settings: current values (the mockup's plus applied changes) and pending changes. */
export interface BiosState {
  /** Changes applied on top of the mockup's Attributes. */
  applied: Record<string, Json>;
  /** Pending changes, applied at the next boot when `applyOnReset` is true. */
  pending: Record<string, Json>;
  /** False when the pending changes were sent in a way this BMC never applies (Dell without apply time). */
  applyOnReset: boolean;
  /** When pending settings were last applied. */
  lastApplied: string | null;
  /** A factory reset was requested and happens at the next boot. */
  resetPending: boolean;
}

/** Constructor options of a host. */
export interface HostOptions {
  powerDelayMs: number;
  initialPower: PowerState;
  boot: BootOverride;
  slots: readonly Pick<MediaSlot, 'path' | 'id' | 'mediaTypes'>[];
  /** Read at every boot, so quirks switched at run time take effect. */
  bootRules: () => BootRules;
  now?: () => number;
}

/** Listener for host events (boots and power changes), for the data centre and tests. */
export type HostEvent =
  | { type: 'power'; state: PowerState; at: number }
  | { type: 'boot'; record: BootRecord };

const CD_TYPES = ['CD', 'DVD'];

/** The simulated server. */
export class SimHost {
  power: PowerState;
  /** The power state being reached, while a change is in progress. */
  transition: { to: PowerState; startedAt: number } | null = null;
  /** When the power state last changed, and what it was before. */
  lastPowerChange: { at: number; from: PowerState } | null = null;
  /** When the last power-on completed (the host is in POST for a while after it). */
  lastPoweredOnAt: number | null = null;
  /** When the last power-off completed. */
  lastPoweredOffAt: number | null = null;
  boot: BootOverride;
  /** Dell OEM one-time boot device set through ImportSystemConfiguration (`VCD-DVD`, `VFDD`), or null. */
  oemBootOnce: string | null = null;
  readonly slots: MediaSlot[];
  booted: BootRecord | null = null;
  bootCount = 0;
  readonly bios: BiosState = { applied: {}, pending: {}, applyOnReset: true, lastApplied: null, resetPending: false };
  /** Firmware versions changed by flashes, by FirmwareInventory URI. */
  readonly firmware = new Map<string, string>();
  /** Flashes that take effect at the next boot (iLO BIOS staging). */
  readonly stagedFirmware = new Map<string, string>();
  /** BIOS applies performed at boot (read by the BMC's counters). */
  biosApplies = 0;

  private readonly delayMs: number;
  private readonly rules: () => BootRules;
  private readonly now: () => number;
  private timers = new Set<NodeJS.Timeout>();
  private listeners = new Set<(event: HostEvent) => void>();

  constructor(options: HostOptions) {
    this.delayMs = options.powerDelayMs;
    this.power = options.initialPower;
    this.boot = { ...options.boot };
    this.rules = options.bootRules;
    this.now = options.now ?? Date.now;
    this.slots = options.slots.map((slot) => ({
      ...slot,
      image: null,
      inserted: false,
      writeProtected: true,
      transferProtocolType: null,
      bytesRead: 0,
      readError: null,
      ejectedAt: null,
      previousImage: null,
    }));
  }

  /** Subscribes to power and boot events; returns the unsubscribe function. */
  on(listener: (event: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True while a power change is in progress. */
  get busy(): boolean {
    return this.transition !== null;
  }

  /** True when the host is on and has booted something since it was powered on. */
  get osRunning(): boolean {
    return this.power === 'On' && this.transition === null && this.booted !== null && this.lastPoweredOnAt !== null;
  }

  /**
   * Starts the power change a ResetType asks for. Returns `changed` when the host will change state, `noop` when
   * it is already where the reset would take it (or the reset has no power effect, such as Nmi).
   */
  reset(resetType: string): 'changed' | 'noop' {
    const current = this.transition?.to ?? this.power;
    switch (resetType) {
      case 'On':
      case 'ForceOn':
        if (current === 'On') return 'noop';
        // Powering off from On: the power is already being cut, so the off completes and the host then starts
        // (a boot), rather than the On cancelling the off and leaving the old OS running without a boot.
        return this.schedule(this.power === 'On' ? ['Off', 'On'] : ['On']);
      case 'ForceOff':
      case 'GracefulShutdown':
        return current === 'Off' ? 'noop' : this.schedule(['Off']);
      case 'PushPowerButton':
        return this.schedule([current === 'On' ? 'Off' : 'On']);
      case 'ForceRestart':
      case 'GracefulRestart':
      case 'PowerCycle':
      case 'FullPowerCycle':
        return this.schedule(current === 'On' ? ['Off', 'On'] : ['On']);
      default:
        return 'noop';
    }
  }

  private schedule(steps: PowerState[]): 'changed' {
    this.cancelTimers();
    const run = (index: number): void => {
      const to = steps[index];
      if (!to) return;
      this.transition = { to, startedAt: this.now() };
      const finish = (): void => {
        const last = index === steps.length - 1;
        // The last step clears the transition before its event, so listeners see the final state.
        if (last) this.transition = null;
        this.setPower(to);
        if (!last) run(index + 1);
      };
      if (this.delayMs <= 0) {
        finish();
      } else {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          finish();
        }, this.delayMs);
        timer.unref();
        this.timers.add(timer);
      }
    };
    run(0);
    return 'changed';
  }

  private setPower(state: PowerState): void {
    // A change cancelled half-way (On, then ForceOff before it completed) leaves the power where it was.
    if (this.power === state) return;
    this.lastPowerChange = { at: this.now(), from: this.power };
    this.power = state;
    if (state === 'Off') {
      this.lastPoweredOffAt = this.now();
    } else {
      this.lastPoweredOnAt = this.now();
    }
    this.emit({ type: 'power', state, at: this.now() });
    if (state === 'On') this.bootNow();
  }

  /** What happens when the firmware starts: settings apply, then the boot source is chosen and recorded. */
  private bootNow(): void {
    for (const [path, version] of this.stagedFirmware) this.firmware.set(path, version);
    this.stagedFirmware.clear();
    if (this.bios.resetPending) {
      this.bios.applied = {};
      this.bios.pending = {};
      this.bios.resetPending = false;
      this.bios.lastApplied = new Date(this.now()).toISOString();
    }
    if (Object.keys(this.bios.pending).length > 0 && this.bios.applyOnReset) {
      Object.assign(this.bios.applied, this.bios.pending);
      this.bios.pending = {};
      this.bios.lastApplied = new Date(this.now()).toISOString();
      this.biosApplies += 1;
    }

    let source = 'Hdd';
    if (this.oemBootOnce) {
      source = `Oem:${this.oemBootOnce}`;
      this.oemBootOnce = null;
    } else if (this.boot.enabled !== 'Disabled' && this.boot.target !== 'None') {
      source = this.boot.target;
      if (this.boot.enabled === 'Once') this.boot = { ...this.boot, enabled: 'Disabled' };
    }
    this.bootCount += 1;
    const record: BootRecord = {
      seq: this.bootCount,
      at: new Date(this.now()).toISOString(),
      source,
      mode: this.boot.mode,
      image: null,
      slot: null,
      failure: null,
    };
    const rules = this.rules();
    const virtualCd = source === 'Oem:VCD-DVD' || (!rules.virtualCdNeedsOem && source === rules.virtualCdTarget);
    if (virtualCd) {
      const slot = this.slots.find((candidate) => candidate.inserted && candidate.mediaTypes.some((type) => CD_TYPES.includes(type)));
      if (!slot) {
        record.failure = 'no media in a CD/DVD slot';
      } else if (rules.bootableSlots && !rules.bootableSlots.includes(slot.id)) {
        record.failure = `virtual media slot ${slot.id} cannot boot on this BMC`;
      } else {
        record.image = slot.image;
        record.slot = slot.path;
      }
    } else if (source === 'Cd' || source === 'UsbCd') {
      record.failure = 'booted the physical optical drive, which is empty';
    } else if (source === 'UefiHttp') {
      record.image = this.boot.httpBootUri;
    } else if (source === 'Usb' || source === 'Floppy') {
      const slot = this.slots.find((candidate) => candidate.inserted && candidate.mediaTypes.some((type) => ['USBStick', 'Floppy'].includes(type)));
      record.image = slot?.image ?? null;
      record.slot = slot?.path ?? null;
      if (!slot) record.failure = 'no media in a USB/floppy slot';
    }
    this.booted = record;
    this.emit({ type: 'boot', record });
  }

  /** Sets the override fields given (the BMC has already validated them). */
  setBoot(patch: Partial<BootOverride>): void {
    this.boot = { ...this.boot, ...patch };
  }

  /** Finds a slot by canonical URI. */
  slot(path: string): MediaSlot | undefined {
    return this.slots.find((slot) => slot.path === path);
  }

  /** Inserts media into a slot (the BMC has already checked the URL). */
  insert(slot: MediaSlot, image: string, writeProtected: boolean, transferProtocolType: string | null): void {
    slot.image = image;
    slot.inserted = true;
    slot.writeProtected = writeProtected;
    slot.transferProtocolType = transferProtocolType;
    slot.bytesRead = 0;
    slot.readError = null;
  }

  /** Ejects the media of a slot; returns false when it was empty. */
  eject(slot: MediaSlot): boolean {
    const had = slot.inserted;
    slot.previousImage = slot.image;
    slot.image = null;
    slot.inserted = false;
    slot.transferProtocolType = null;
    slot.ejectedAt = this.now();
    return had;
  }

  /** Stops pending power changes (the simulator is shutting down). */
  dispose(): void {
    this.cancelTimers();
    this.listeners.clear();
  }

  private cancelTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private emit(event: HostEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
