/**
 * One simulated BMC: its host, quirks, fault switches, side-effect counters, and how its resources look
 * (the shared mockup resource with this BMC's state laid over it). Writes are in `bmc-writes.ts`; HTTP,
 * authentication and routing are in `endpoint.ts`.
 */
import type { SimDisk } from './agent/runner.ts';
import { type DiskOverride, driveOverlay, hostDisks, mockupDrives } from './disks.ts';
import { type BootOverride, type BootRecord, type PowerState, SimHost } from './host.ts';
import { errors, etagOf, mapStrings } from './http.ts';
import { type FlashRecord, renderFirmwareInventory } from './firmware.ts';
import { controllers, logicalDisks, renderStorage, storageAllow } from './storage.ts';
import type { OpenedImage } from './image-fetch.ts';
import type { VendorProfile } from './profiles.ts';
import { type QuirkId } from './quirks.ts';
import { type PrefixPair, Rewriter, uniqueMac, uniqueSerial, uniqueUuid } from './rewrite.ts';
import { asObject, type ServiceModel } from './service-model.ts';
import type { TaskStore } from './tasks.ts';
import type { Json, JsonObject } from './tree.ts';

/** Side effects and traffic of one BMC, for tests and benchmarks to prove nothing happened twice. */
export interface BmcCounters {
  /** Requests by HTTP method. */
  requests: Record<string, number>;
  /** Responses by status code. */
  responses: Record<string, number>;
  /** Accepted Reset actions by ResetType. */
  resetActions: Record<string, number>;
  /** Completed power transitions of the host. */
  powerOn: number;
  powerOff: number;
  /** Times the host booted (each completed power-on). */
  boots: number;
  /** Accepted boot override changes (Boot PATCHes and Dell OEM one-time boot imports). */
  bootOverrides: number;
  mediaInserts: number;
  mediaEjects: number;
  /** Bytes of inserted images read by the BMC. */
  mediaBytesRead: number;
  /** Inserts refused because the image URL could not be read. */
  mediaReadFailures: number;
  /** Accepted PATCHes of the BIOS settings object. */
  biosPatches: number;
  /** PATCHes of the BIOS settings object refused for their values (registry, names, types). */
  biosRefusals: number;
  /** Pending BIOS settings applied at boot. */
  biosApplies: number;
  /** Accepted #Bios.ResetBios actions. */
  biosResets: number;
  /** Accepted firmware update requests (SimpleUpdate, pushes): every flash started. */
  firmwareUpdates: number;
  /** Accepted firmware update requests by image file name (`bios-2.3.4.bin`). */
  firmwareUpdatesByImage: Record<string, number>;
  /** Times the BMC rebooted itself (after flashing its own firmware). */
  bmcReboots: number;
  /** Requests that found the BMC rebooting (their connection was dropped). */
  requestsWhileRebooting: number;
  /** Requests being answered now, and the most ever at once (the driver allows one per BMC). */
  inFlight: number;
  maxInFlight: number;
  /** Completed flashes (a FirmwareInventory version changed or was staged). */
  firmwareFlashes: number;
  /** Accepted volume creations and deletions (immediate or held for the next boot), refused ones, and held changes applied at boot. */
  volumeCreates: number;
  volumeDeletes: number;
  volumeRefusals: number;
  volumeChangesApplied: number;
  firmwareBytesRead: number;
  sessionsCreated: number;
  sessionsDeleted: number;
  sessionsExpired: number;
  /** Requests refused with 401. */
  authFailures: number;
  /** Faults injected, by kind. */
  faults: { errors: number; resets: number; lostResponses: number; burst503: number; delayed: number; auth: number };
  /** Times each quirk changed an answer. */
  quirks: Partial<Record<QuirkId, number>>;
}

/** Fault injection switches of one BMC; change them at run time with `faults(set)`. */
export interface FaultSettings {
  /** Fraction (0..1) of requests answered with `errorStatus`. */
  errorRate: number;
  /** Status of injected errors (default 500). */
  errorStatus: number;
  /** Delay added to every request, in ms. */
  latencyMs: number;
  /** Random extra delay, 0..latencyJitterMs ms. */
  latencyJitterMs: number;
  /** Fraction (0..1) of requests whose connection is dropped before the BMC acts (nothing happened). */
  resetRate: number;
  /** Fraction (0..1) of requests the BMC carries out but whose response is lost (connection dropped after). */
  lostResponseRate: number;
  /** The next `burst503` requests get 503 with Retry-After. */
  burst503: number;
  /** Retry-After seconds of the 503 burst. */
  retryAfterSec: number;
  /** Refuse every credential (401), as after a password change on the BMC. */
  authFailure: boolean;
  /** Seed of the random source deciding which requests fail; set for reproducible runs. */
  seed: number;
}

/** The state of a BMC's host, as `state()` returns it. */
export interface BmcState {
  power: PowerState;
  /** What PowerState reads right now (may lag, see `stale-power-state`). */
  reportedPower: string;
  /** The power state being reached, or null. */
  transition: PowerState | null;
  boot: BootOverride;
  /** Dell OEM one-time boot device waiting for the next boot. */
  oemBootOnce: string | null;
  media: { slot: string; id: string; inserted: boolean; image: string | null; bytesRead: number; readError: string | null }[];
  /** The last boot (null until the host has booted). */
  booted: BootRecord | null;
  bootCount: number;
  bios: { current: Record<string, Json>; pending: Record<string, Json>; lastApplied: string | null };
  /** FirmwareInventory versions by public URI, plus staged ones. */
  firmware: Record<string, string>;
  stagedFirmware: Record<string, string>;
  /** Every accepted firmware update (the last 50), with its task and outcome. */
  flashes: FlashRecord[];
  /** True while the BMC reboots (after flashing itself). */
  bmcRebooting: boolean;
  /** MAC addresses this BMC reports for its host. */
  macs: string[];
}

/** Timing knobs of a BMC. */
export interface BmcTimings {
  powerDelayMs: number;
  /** Length of every time-window quirk (0 turns them off). */
  quirkWindowMs: number;
  /** Duration of firmware tasks. */
  taskDurationMs: number;
  /** When set, firmware tasks take their realistic time (FIRMWARE_SECONDS) divided by this factor. */
  firmwareCompression: number | null;
  /** How long the BMC is away when it reboots after flashing itself (without a compression factor). */
  bmcRebootMs: number;
}

/** Everything a BMC is built from. */
export interface BmcConfig {
  id: string;
  index: number;
  profile: VendorProfile;
  model: ServiceModel;
  quirks: ReadonlySet<QuirkId>;
  username: string;
  password: string;
  timings: BmcTimings;
  initialPower: PowerState;
  /** Public ids: in a shared endpoint the system, manager and chassis take the BMC's id. */
  shared: boolean;
  /** One of several systems behind one BMC (a multi-node chassis): requests are routed to it by its system path. */
  routeBySystem?: boolean;
  uniqueIdentity: boolean;
  tasks: TaskStore;
  faults: Partial<FaultSettings>;
  /** The folder holding this host's disk files. */
  diskDir: string;
  /** Test overrides of the host's disks, by position. */
  diskOverrides?: readonly (DiskOverride | undefined)[];
}

const DEFAULT_FAULTS: FaultSettings = {
  errorRate: 0,
  errorStatus: 500,
  latencyMs: 0,
  latencyJitterMs: 0,
  resetRate: 0,
  lostResponseRate: 0,
  burst503: 0,
  retryAfterSec: 1,
  authFailure: false,
  seed: 0,
};

/** ResetType values when a BMC publishes none. */
export const ALL_RESET_TYPES = [
  'On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton',
  'PowerCycle', 'Suspend', 'Pause', 'Resume', 'FullPowerCycle',
];

function zeroCounters(): BmcCounters {
  return {
    requests: {},
    responses: {},
    resetActions: {},
    powerOn: 0,
    powerOff: 0,
    boots: 0,
    bootOverrides: 0,
    mediaInserts: 0,
    mediaEjects: 0,
    mediaBytesRead: 0,
    mediaReadFailures: 0,
    biosPatches: 0,
    biosRefusals: 0,
    biosApplies: 0,
    biosResets: 0,
    firmwareUpdates: 0,
    firmwareUpdatesByImage: {},
    bmcReboots: 0,
    requestsWhileRebooting: 0,
    inFlight: 0,
    maxInFlight: 0,
    firmwareFlashes: 0,
    volumeCreates: 0,
    volumeDeletes: 0,
    volumeRefusals: 0,
    volumeChangesApplied: 0,
    firmwareBytesRead: 0,
    sessionsCreated: 0,
    sessionsDeleted: 0,
    sessionsExpired: 0,
    authFailures: 0,
    faults: { errors: 0, resets: 0, lostResponses: 0, burst503: 0, delayed: 0, auth: 0 },
    quirks: {},
  };
}

/** One simulated BMC. */
export class SimBmc {
  readonly id: string;
  readonly index: number;
  readonly profile: VendorProfile;
  readonly model: ServiceModel;
  readonly host: SimHost;
  readonly username: string;
  readonly password: string;
  readonly timings: BmcTimings;
  readonly tasks: TaskStore;
  readonly rewriter: Rewriter;
  /** Public URIs of the system, manager and chassis (with the BMC's id behind a shared endpoint). */
  readonly systemPath: string;
  readonly managerPath: string | null;
  readonly chassisPath: string | null;
  /** Public prefix pairs, used by the endpoint to route requests and to list collections. */
  readonly prefixes: readonly PrefixPair[];
  readonly macs: readonly string[];
  /** How the host's disks are named and backed (see `disks`). */
  private readonly diskOptions: Omit<Parameters<typeof hostDisks>[0], 'logical'>;
  /** Fields laid over mockup Drive resources (tree URI) for overridden disks. */
  private readonly driveOverlays = new Map<string, JsonObject>();
  quirks: Set<QuirkId>;
  counters: BmcCounters = zeroCounters();
  faultSettings: FaultSettings;
  /** Readers of inserted images, by slot URI. */
  readonly readers = new Map<string, OpenedImage>();
  /** Slots with an insert in progress (the image URL is being checked). */
  readonly inserting = new Set<string>();
  /** When the last Reset was accepted. */
  lastResetAt: number | null = null;
  /** When the last successful write happened, for `sys518-after-write`. */
  sys518ArmedAt: number | null = null;
  /** Pushed images waiting for #UpdateService.StartUpdate. */
  readonly awaitingStart: (() => void)[] = [];
  /** BIOS attributes of the mockup, the base of current values. */
  readonly baseBiosAttributes: Readonly<Record<string, Json>>;
  /** Accepted firmware updates, newest last (bounded). */
  readonly flashes: FlashRecord[] = [];
  /** Until when the BMC is rebooting (every request's connection is dropped), or null. */
  rebootingUntil: number | null = null;
  /** When the BMC last rebooted: sessions created before are gone. */
  restartedAt: number | null = null;
  private random: () => number;

  constructor(config: BmcConfig) {
    const { model } = config;
    this.id = config.id;
    this.index = config.index;
    this.profile = config.profile;
    this.model = model;
    this.username = config.username;
    this.password = config.password;
    this.timings = config.timings;
    this.tasks = config.tasks;
    this.quirks = new Set(config.quirks);
    this.faultSettings = { ...DEFAULT_FAULTS, seed: hashString(config.id), ...config.faults };
    this.random = mulberry32(this.faultSettings.seed);

    const tree = model.tree;
    const system = tree.resources.get(model.systemPath) ?? {};
    const boot = asObject(system['Boot']);
    const modes = ['UEFI', 'Legacy'];
    this.host = new SimHost({
      powerDelayMs: config.timings.powerDelayMs,
      initialPower: config.initialPower,
      boot: {
        target: 'None',
        enabled: 'Disabled',
        mode: typeof boot['BootSourceOverrideMode'] === 'string' && modes.includes(boot['BootSourceOverrideMode'])
          ? (boot['BootSourceOverrideMode'] as 'UEFI' | 'Legacy')
          : 'UEFI',
        uefiTarget: null,
        httpBootUri: null,
      },
      slots: model.slots,
      bootRules: () => ({
        virtualCdTarget: this.quirks.has('vmedia-boot-usbcd') ? 'UsbCd' : 'Cd',
        virtualCdNeedsOem: this.quirks.has('vmedia-boot-needs-oem'),
        bootableSlots: this.quirks.has('vmedia-slot1-only') ? ['1'] : null,
      }),
    });
    this.host.on((event) => {
      if (event.type === 'power') {
        if (event.state === 'On') this.counters.powerOn += 1;
        else this.counters.powerOff += 1;
      } else {
        this.counters.boots += 1;
        this.counters.biosApplies = this.host.biosApplies;
      }
    });
    this.baseBiosAttributes = asObject((model.biosPath ? tree.resources.get(model.biosPath) : undefined)?.['Attributes']) as Record<string, Json>;

    const lastSegment = (path: string): string => path.slice(0, path.lastIndexOf('/'));
    const pairs: PrefixPair[] = [];
    if (config.shared) {
      pairs.push({ base: model.systemPath, public: `${lastSegment(model.systemPath)}/${config.id}` });
      if (model.managerPath) pairs.push({ base: model.managerPath, public: `${lastSegment(model.managerPath)}/${config.id}` });
      if (model.chassisPath) pairs.push({ base: model.chassisPath, public: `${lastSegment(model.chassisPath)}/${config.id}` });
      for (const item of model.firmwareItems) {
        pairs.push({ base: item, public: `${lastSegment(item)}/${config.id}-${item.slice(item.lastIndexOf('/') + 1)}` });
      }
    } else if (config.routeBySystem) {
      // Same path outside and in: the pair only tells the endpoint which node a request is for.
      pairs.push({ base: model.systemPath, public: model.systemPath });
    }
    const values = new Map<string, string>();
    const macs = [...model.macs];
    if (config.uniqueIdentity) {
      model.macs.forEach((mac, nic) => {
        const unique = uniqueMac(mac, config.index, nic);
        values.set(mac, unique);
        macs[nic] = unique;
      });
      const uuid = system['UUID'];
      if (typeof uuid === 'string') values.set(uuid, uniqueUuid(uuid, config.index));
      mockupDrives(model).forEach((drive, position) => {
        if (drive.serial.trim() !== '') values.set(drive.serial, uniqueSerial(drive.serial, config.index, position));
      });
    }
    this.macs = macs;
    this.prefixes = pairs;
    this.rewriter = new Rewriter(pairs, values, model.caseInsensitive);
    const publicOf = (path: string | null): string | null => (path ? this.rewriter.toPublic(path) : null);
    this.systemPath = this.rewriter.toPublic(model.systemPath);
    this.managerPath = publicOf(model.managerPath);
    this.chassisPath = publicOf(model.chassisPath);
    const drives = mockupDrives(model);
    this.diskOptions = {
      bmcId: config.id,
      dir: config.diskDir,
      drives,
      ...(config.diskOverrides ? { overrides: config.diskOverrides } : {}),
      identity: (value) => this.rewriter.toPublic(value),
    };
    config.diskOverrides?.forEach((override, position) => {
      const path = drives[position]?.drivePath;
      if (override && path) this.driveOverlays.set(path, driveOverlay(override));
    });
  }

  /**
   * The host's disks as its OS sees them now (sparse files), in the order a ramdisk names them: RAID volumes and
   * the drives not in one on systems with Storage controllers, else the mockup's drives or one default disk.
   */
  get disks(): SimDisk[] {
    const logical = controllers(this.model).length > 0 ? logicalDisks(this) : undefined;
    return hostDisks({ ...this.diskOptions, ...(logical ? { logical } : {}) });
  }

  /** True when the quirk is on for this BMC. */
  has(id: QuirkId): boolean {
    return this.quirks.has(id);
  }

  /** Records that a quirk changed an answer. */
  hit(id: QuirkId): void {
    this.counters.quirks[id] = (this.counters.quirks[id] ?? 0) + 1;
  }

  /** True while a time-window quirk that started at `since` is still in effect. */
  within(since: number | null): boolean {
    return since !== null && this.timings.quirkWindowMs > 0 && Date.now() - since < this.timings.quirkWindowMs;
  }

  /** A number in [0, 1) from this BMC's seeded random source. */
  roll(): number {
    return this.random();
  }

  /** Changes fault switches (a partial update) and returns the full settings. */
  setFaults(update: Partial<FaultSettings>): FaultSettings {
    this.faultSettings = { ...this.faultSettings, ...update };
    if (update.seed !== undefined) this.random = mulberry32(update.seed);
    return { ...this.faultSettings };
  }

  /** True while the BMC reboots. */
  get rebooting(): boolean {
    if (this.rebootingUntil !== null && Date.now() >= this.rebootingUntil) this.rebootingUntil = null;
    return this.rebootingUntil !== null;
  }

  /** Reboots the BMC (not the host): unreachable for `ms`, sessions dropped. Resolves when it is back. */
  async rebootBmc(ms: number): Promise<void> {
    this.counters.bmcReboots += 1;
    this.restartedAt = Date.now();
    this.rebootingUntil = Date.now() + ms;
    await new Promise((resolve) => setTimeout(resolve, ms).unref());
    this.rebootingUntil = null;
  }

  /** Resolves at the host's next boot (a completed power-on). */
  nextBoot(): Promise<void> {
    return new Promise((resolve) => {
      const off = this.host.on((event) => {
        if (event.type === 'boot') {
          off();
          resolve();
        }
      });
    });
  }

  /** Zeroes the counters. */
  resetCounters(): void {
    this.counters = zeroCounters();
    this.host.biosApplies = 0;
  }

  /** What PowerState reads now. */
  reportedPower(): string {
    const host = this.host;
    if (this.has('stale-power-state')) {
      if (host.transition) {
        this.hit('stale-power-state');
        return host.power;
      }
      const change = host.lastPowerChange;
      if (change && this.within(change.at)) {
        this.hit('stale-power-state');
        return change.from;
      }
      return host.power;
    }
    if (host.transition) return host.transition.to === 'On' ? 'PoweringOn' : 'PoweringOff';
    return host.power;
  }

  /** The current Version of a FirmwareInventory member (tree URI). */
  firmwareVersion(path: string): string | undefined {
    const flashed = this.host.firmware.get(path);
    if (flashed !== undefined) return flashed;
    const version = this.model.tree.resources.get(path)?.['Version'];
    return typeof version === 'string' ? version : undefined;
  }

  /** The BIOS apply times this BMC supports: the mockup's `SupportedApplyTimes`, else the profile's. */
  biosApplyTimes(): string[] {
    const bios = this.model.biosPath ? this.model.tree.resources.get(this.model.biosPath) : undefined;
    const list = asObject(bios?.['@Redfish.Settings'])['SupportedApplyTimes'];
    return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [...this.profile.biosApplyTimes];
  }

  /** True while a firmware task of this BMC runs. */
  updateBusy(): boolean {
    return this.tasks.all().some((task) => task.bmcId === this.id && task.name.startsWith('Firmware') && task.final === null);
  }

  /** A snapshot of the host state. */
  state(): BmcState {
    const host = this.host;
    const current: Record<string, Json> = { ...this.baseBiosAttributes, ...host.bios.applied };
    const firmware: Record<string, string> = {};
    for (const path of this.model.firmwareItems) {
      const version = this.firmwareVersion(path);
      if (version !== undefined) firmware[this.rewriter.toPublic(path)] = version;
    }
    const staged: Record<string, string> = {};
    for (const [path, version] of host.stagedFirmware) staged[this.rewriter.toPublic(path)] = version;
    return {
      power: host.power,
      reportedPower: this.peekReportedPower(),
      transition: host.transition?.to ?? null,
      boot: { ...host.boot },
      oemBootOnce: host.oemBootOnce,
      media: host.slots.map((slot) => ({
        slot: this.rewriter.toPublic(slot.path),
        id: slot.id,
        inserted: slot.inserted,
        image: slot.image,
        bytesRead: slot.bytesRead,
        readError: slot.readError,
      })),
      booted: host.booted ? { ...host.booted, slot: host.booted.slot ? this.rewriter.toPublic(host.booted.slot) : null } : null,
      bootCount: host.bootCount,
      bios: { current, pending: { ...host.bios.pending }, lastApplied: host.bios.lastApplied },
      firmware,
      stagedFirmware: staged,
      flashes: this.flashes.map((flash) => ({ ...flash, targets: [...flash.targets] })),
      bmcRebooting: this.rebooting,
      macs: [...this.macs],
    };
  }

  /** `reportedPower` without counting a quirk hit. */
  private peekReportedPower(): string {
    const counted = this.counters.quirks['stale-power-state'];
    const value = this.reportedPower();
    if (counted === undefined) delete this.counters.quirks['stale-power-state'];
    else this.counters.quirks['stale-power-state'] = counted;
    return value;
  }

  /** Converts a resource to what this BMC shows on the wire (ids, MACs, UUID). */
  toPublic(body: JsonObject): JsonObject {
    if (this.rewriter.identity) return body;
    const out = mapStrings(body, (text) => this.rewriter.toPublic(text)) as JsonObject;
    // A renamed resource (Systems/<bmc id>) also reports the new name as its Id.
    const before = body['@odata.id'];
    const after = out['@odata.id'];
    if (typeof before === 'string' && typeof after === 'string' && before !== after) {
      const oldId = before.replace(/\/+$/, '').split('/').pop();
      const newId = after.replace(/\/+$/, '').split('/').pop();
      if (oldId !== undefined && newId !== undefined && out['Id'] === oldId) out['Id'] = newId;
    }
    return out;
  }

  /** The Allow header of a BMC resource (tree URI). */
  allow(path: string): string {
    const model = this.model;
    if (path === model.systemPath) return 'GET, HEAD, PATCH';
    if (path === model.biosSettingsPath) return 'GET, HEAD, PATCH';
    if (path === model.systemSettingsPath && this.has('boot-settings-object')) return 'GET, HEAD, PATCH';
    if (this.host.slot(path)) return this.has('vmedia-patch-only') ? 'GET, HEAD, PATCH' : 'GET, HEAD';
    return storageAllow(this, path) ?? 'GET, HEAD';
  }

  /**
   * This BMC's view of resource `path` (a tree URI), or undefined when it has none. Dynamic resources the tree
   * lacks (a synthesized BIOS settings object, the System's Pending object) are produced here.
   */
  render(path: string): JsonObject | undefined {
    const model = this.model;
    const tree = model.tree;
    const base = tree.resources.get(path);
    if (path === model.systemPath && base) return this.renderSystem(base);
    if (path === model.biosPath && base) return this.renderBios(base);
    if (path === model.biosSettingsPath) return this.renderBiosSettings(base);
    if (path === model.systemSettingsPath && this.has('boot-settings-object')) return this.renderSystemSettings();
    const firmware = renderFirmwareInventory(this, path);
    if (firmware !== null) return firmware;
    const storage = renderStorage(this, path);
    if (storage !== null) return storage;
    if (!base) return undefined;
    const slot = this.host.slot(path);
    if (slot) return this.renderSlot(base, path);
    if (path === model.managerPath) {
      const version = model.bmcFirmware ? this.host.firmware.get(model.bmcFirmware) : undefined;
      return version !== undefined && 'FirmwareVersion' in base ? { ...base, FirmwareVersion: version } : base;
    }
    if (path === model.chassisPath && 'PowerState' in base) return { ...base, PowerState: this.host.power };
    const overlay = this.driveOverlays.get(path);
    if (overlay) return { ...base, ...overlay };
    if (path === model.updateServicePath && 'HttpPushUriTargetsBusy' in base) {
      return { ...base, HttpPushUriTargetsBusy: this.has('update-service-busy') && this.updateBusy() };
    }
    return base;
  }

  private bootFields(base: Readonly<JsonObject>): JsonObject {
    const boot = this.host.boot;
    const out: JsonObject = {
      ...base,
      BootSourceOverrideTarget: boot.target,
      BootSourceOverrideEnabled: boot.enabled,
    };
    if ('BootSourceOverrideMode' in base) out['BootSourceOverrideMode'] = boot.mode;
    if ('UefiTargetBootSourceOverride' in base || boot.uefiTarget !== null) out['UefiTargetBootSourceOverride'] = boot.uefiTarget;
    if ('HttpBootUri' in base || boot.httpBootUri !== null) out['HttpBootUri'] = boot.httpBootUri;
    return out;
  }

  private renderSystem(base: Readonly<JsonObject>): JsonObject {
    const out: JsonObject = { ...base, PowerState: this.reportedPower() };
    const baseBoot = asObject(base['Boot']);
    if (this.has('boot-settings-object')) {
      const kept: JsonObject = {};
      for (const [key, value] of Object.entries(baseBoot)) {
        if (!key.startsWith('BootSourceOverride') && !key.startsWith('UefiTarget') && key !== 'HttpBootUri') kept[key] = value;
      }
      out['Boot'] = kept;
      out['@Redfish.Settings'] = {
        '@odata.type': '#Settings.v1_3_0.Settings',
        SettingsObject: { '@odata.id': this.model.systemSettingsPath },
        SupportedApplyTimes: ['OnReset'],
      };
    } else {
      out['Boot'] = this.bootFields(baseBoot);
    }
    const biosFirmware = this.model.biosFirmware;
    const flashed = biosFirmware ? this.host.firmware.get(biosFirmware) : undefined;
    if (flashed !== undefined && 'BiosVersion' in base) out['BiosVersion'] = flashed;
    if ('BootProgress' in base) {
      const state = this.host.osRunning ? 'OSRunning' : this.host.power === 'On' ? 'SystemHardwareInitializationComplete' : 'None';
      out['BootProgress'] = { ...asObject(base['BootProgress']), LastState: state };
    }
    if (this.has('managed-by-missing')) {
      const links: JsonObject = { ...asObject(base['Links']) };
      if ('ManagedBy' in links) {
        links['Managers'] = links['ManagedBy'] ?? null;
        delete links['ManagedBy'];
        delete links['ManagedBy@odata.count'];
      }
      out['Links'] = links;
    }
    return out;
  }

  private renderSystemSettings(): JsonObject {
    const system = this.model.tree.resources.get(this.model.systemPath) ?? {};
    const baseBoot = asObject(system['Boot']);
    return {
      '@odata.type': typeof system['@odata.type'] === 'string' ? system['@odata.type'] : '#ComputerSystem.v1_11_0.ComputerSystem',
      '@odata.id': this.model.systemSettingsPath,
      Id: 'Pending',
      Name: 'Pending',
      Description: 'ComputerSystem Pending Setting',
      Boot: this.bootFields(baseBoot),
    };
  }

  private renderBios(base: Readonly<JsonObject>): JsonObject {
    const model = this.model;
    const settings = asObject(base['@Redfish.Settings']);
    const settingsObject = this.renderBiosSettings(model.biosSettingsPath ? model.tree.resources.get(model.biosSettingsPath) : undefined);
    const bios = this.host.bios;
    const out: JsonObject = {
      ...base,
      Attributes: { ...asObject(base['Attributes']), ...bios.applied },
      '@Redfish.Settings': {
        '@odata.type': typeof settings['@odata.type'] === 'string' ? settings['@odata.type'] : '#Settings.v1_3_0.Settings',
        ...settings,
        SettingsObject: { '@odata.id': asObject(settings['SettingsObject'])['@odata.id'] ?? model.biosSettingsPath },
        ETag: etagOfBody(settingsObject),
        SupportedApplyTimes: this.biosApplyTimes(),
        ...(bios.lastApplied ? { Time: bios.lastApplied, Messages: [{ MessageId: 'Base.1.5.Success' }] } : {}),
      },
    };
    if ('ResetBiosToDefaultsPending' in base) out['ResetBiosToDefaultsPending'] = bios.resetPending;
    return out;
  }

  private renderBiosSettings(base: Readonly<JsonObject> | undefined): JsonObject {
    const model = this.model;
    const bios = (model.biosPath ? model.tree.resources.get(model.biosPath) : undefined) ?? {};
    const template: JsonObject = base
      ? { ...base }
      : {
          '@odata.type': typeof bios['@odata.type'] === 'string' ? bios['@odata.type'] : '#Bios.v1_1_0.Bios',
          '@odata.id': model.biosSettingsPath ?? '',
          Id: 'Settings',
          Name: 'BIOS Configuration Pending Settings',
          AttributeRegistry: bios['AttributeRegistry'] ?? null,
        };
    const state = this.host.bios;
    template['Attributes'] =
      this.profile.biosPendingView === 'full'
        ? { ...this.baseBiosAttributes, ...state.applied, ...state.pending }
        : { ...state.pending };
    return template;
  }

  private renderSlot(base: Readonly<JsonObject>, path: string): JsonObject {
    const slot = this.host.slot(path);
    if (!slot) return { ...base };
    const empty: Json = base['Image'] === '' || base['Image'] === 'None' ? base['Image'] : null;
    let image: string | null = slot.image;
    let inserted = slot.inserted;
    if (!inserted && this.has('stale-inserted-after-eject') && slot.previousImage && this.within(slot.ejectedAt)) {
      this.hit('stale-inserted-after-eject');
      image = slot.previousImage;
      inserted = true;
    }
    const out: JsonObject = {
      ...base,
      Image: image ?? empty,
      Inserted: inserted,
      WriteProtected: slot.writeProtected,
      ConnectedVia: inserted ? 'URI' : 'NotConnected',
    };
    if ('ImageName' in base) out['ImageName'] = image ? (image.split('/').pop() ?? image) : empty;
    if ('TransferProtocolType' in base || slot.transferProtocolType) out['TransferProtocolType'] = inserted ? slot.transferProtocolType : null;
    if (this.has('vmedia-dvd-only')) out['MediaTypes'] = ['DVD'];
    if (this.has('vmedia-patch-only')) {
      delete out['Actions'];
    } else {
      const actions: JsonObject = { ...asObject(base['Actions']) };
      if (!('#VirtualMedia.InsertMedia' in actions)) actions['#VirtualMedia.InsertMedia'] = { target: `${path}/Actions/VirtualMedia.InsertMedia` };
      if (!('#VirtualMedia.EjectMedia' in actions)) actions['#VirtualMedia.EjectMedia'] = { target: `${path}/Actions/VirtualMedia.EjectMedia` };
      out['Actions'] = actions;
    }
    return out;
  }

  /** Stops timers and image reads. */
  dispose(): void {
    this.host.dispose();
    for (const reader of this.readers.values()) reader.cancel();
    this.readers.clear();
  }

  /** Throws 404 unless the tree or this BMC has the resource. */
  require(path: string, publicPath: string): JsonObject {
    const body = this.render(path);
    if (!body) throw errors.notFound(publicPath);
    return body;
  }
}

/** The ETag of a rendered body (as the endpoint computes it for GET). */
export function etagOfBody(body: JsonObject): string {
  const { ['@odata.etag']: _ignored, ...rest } = body;
  return etagOf(JSON.stringify(rest));
}

function hashString(text: string): number {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 16777619);
  }
  return hash >>> 0;
}

/** A small seeded PRNG, so fault injection is reproducible with a seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
