/** The Redfish implementation of {@link BmcDriver}: every public operation holds the BMC's mutex. */
import type { RedfishBmcAddress } from '../../../domain/bmc-address.ts';
import type {
  BiosOps,
  BmcCredentials,
  BmcDriver,
  BmcIdentity,
  BootOverride,
  BootOverrideResult,
  CallOptions,
  FirmwareOps,
  IdentifyOptions,
  InspectionOps,
  InventoryOptions,
  PowerAction,
  PowerOptions,
  PowerResult,
  PowerState,
  RaidOps,
  SecureBootOps,
  VirtualMediaOps,
} from '../driver.ts';
import { leaseBmcLock, type BmcLockLease } from '../lock.ts';
import { applyBios, getBios, getBiosRegistry, resetBios } from './bios.ts';
import { setBootOverride } from './boot.ts';
import { RedfishClient, type RedfishClientOptions } from './client.ts';
import { DEFAULT_REDFISH_TIMINGS, RedfishContext, type RedfishTimings } from './context.ts';
import {
  getTask,
  listFirmware,
  pushUpdate,
  readComponentVersion,
  readFirmwareInventory,
  readTaskAt,
  simpleUpdate,
  startFirmwareUpdate,
  waitTask,
} from './firmware.ts';
import { collectInventory, normaliseInventory } from './inventory.ts';
import { ejectAll, insert, listSlots } from './media.ts';
import { getPowerState, readPowerState, setPower } from './power.ts';
import { applyRaid, readRaid } from './raid.ts';
import { str } from './resources.ts';
import { getSecureBoot, setSecureBoot } from './secure-boot.ts';

export interface RedfishDriverOptions {
  address: RedfishBmcAddress;
  credentials: BmcCredentials;
  disableCertificateVerification?: boolean;
  /** Client knobs (auth mode, keep-alive, timeouts, CA, exchange observer). */
  client?: Omit<RedfishClientOptions, 'endpoint' | 'username' | 'password' | 'insecure'>;
  timings?: Partial<RedfishTimings>;
  /**
   * Drivers share a BMC's lock within one scope (default: this process). A test that plays two worker
   * processes against one BMC gives each its own scope.
   */
  lockScope?: string;
}

export class RedfishDriver implements BmcDriver {
  readonly address: RedfishBmcAddress;
  readonly client: RedfishClient;
  readonly context: RedfishContext;
  /** The BMC's locks, shared with the drivers of the other systems behind the same endpoint. */
  readonly #lease: BmcLockLease;
  readonly virtualMedia: VirtualMediaOps;
  readonly inspection: InspectionOps;
  readonly bios: BiosOps;
  readonly firmware: FirmwareOps;
  readonly secureBoot: SecureBootOps;
  readonly raid: RaidOps;

  constructor(options: RedfishDriverOptions) {
    this.address = options.address;
    this.#lease = leaseBmcLock(`${options.lockScope ?? 'process'}|${options.address.host.toLowerCase()}:${options.address.port}`);
    this.client = new RedfishClient({
      ...options.client,
      endpoint: options.address.endpoint,
      username: options.credentials.username,
      password: options.credentials.password,
      insecure: options.disableCertificateVerification ?? false,
    });
    const ctx = new RedfishContext(this.client, options.address, { ...DEFAULT_REDFISH_TIMINGS, ...options.timings });
    this.context = ctx;
    const x = <T>(fn: () => Promise<T>) => this.#locked(fn);
    this.virtualMedia = {
      list: (o: CallOptions = {}) => x(() => listSlots(ctx, o.signal)),
      insert: (url: string, o: CallOptions = {}) => x(() => insert(ctx, url, o)),
      eject: (o: CallOptions = {}) => x(() => ejectAll(ctx, o)),
    };
    this.inspection = {
      inventory: (o: InventoryOptions = {}) => x(async () => normaliseInventory(await collectInventory(ctx, o))),
    };
    this.bios = {
      get: (o = {}) => x(() => getBios(ctx, o)),
      registry: (o = {}) => x(() => getBiosRegistry(ctx, o)),
      apply: (changes, o = {}) => x(() => applyBios(ctx, changes, o)),
      resetToDefaults: (o = {}) => x(() => resetBios(ctx, o)),
    };
    this.firmware = {
      list: (o = {}) => x(() => listFirmware(ctx, o)),
      inventory: (o = {}) => x(() => readFirmwareInventory(ctx, o)),
      version: (component, o = {}) => x(() => readComponentVersion(ctx, component, o)),
      startUpdate: (req, o = {}) => x(() => startFirmwareUpdate(ctx, req, o)),
      readTask: (uri, o = {}) => x(() => readTaskAt(ctx, uri, o)),
      simpleUpdate: (req, o = {}) => x(() => simpleUpdate(ctx, req, o)),
      push: (req, o = {}) => x(() => pushUpdate(ctx, req, o)),
      task: (ref, o = {}) => x(async () => {
        const { retryAfterMs: _ignored, ...task } = await getTask(ctx, ref, o);
        return task;
      }),
      // Each poll holds the lock, the waits between polls do not: other operations interleave with a long task.
      waitTask: (ref, o = {}) => waitTask(ctx, ref, o, x),
    };
    this.raid = {
      read: (o = {}) => x(() => readRaid(ctx, o)),
      apply: (volumes, o = {}) => x(() => applyRaid(ctx, volumes, o)),
    };
    this.secureBoot = {
      get: (o = {}) => x(() => getSecureBoot(ctx, o)),
      set: (enabled, o = {}) => x(() => setSecureBoot(ctx, enabled, o)),
    };
  }

  /**
   * Runs `fn` as the only call in flight to this system's BMC: its Redfish Manager once this connection has
   * read it (other Managers behind the same endpoint go on), the whole endpoint before.
   */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lease.run(fn, this.context.knownManagerPath);
  }

  identify(opts: IdentifyOptions = {}): Promise<BmcIdentity> {
    return this.#locked(async () => {
      const ctx = this.context;
      const system = (await ctx.system(opts.signal, opts.shared)).body;
      const root = await ctx.root(opts.signal);
      const managerPath = await ctx.managerPath(opts.signal);
      let firmwareVersion: string | undefined;
      if (managerPath && opts.firmwareVersion) {
        const manager = await ctx.client.get(managerPath, { signal: opts.signal, accept: [404, 500, 501] });
        if (manager.status < 300) firmwareVersion = str(manager.body.FirmwareVersion);
      }
      return {
        protocol: 'redfish',
        vendor: str(root.Vendor) ?? str(system.Manufacturer),
        manufacturer: str(system.Manufacturer),
        model: str(system.Model),
        serialNumber: str(system.SerialNumber),
        firmwareVersion,
        redfishVersion: str(root.RedfishVersion),
        systemPath: await ctx.systemPath(opts.signal),
        managerPath,
        powerState: readPowerState(system) ?? 'off',
      };
    });
  }

  getPowerState(opts: CallOptions = {}): Promise<PowerState> {
    return this.#locked(() => getPowerState(this.context, opts.signal));
  }

  setPower(action: PowerAction, opts: PowerOptions = {}): Promise<PowerResult> {
    return this.#locked(() => setPower(this.context, action, opts));
  }

  setBootOverride(override: BootOverride, opts: CallOptions = {}): Promise<BootOverrideResult> {
    return this.#locked(() => setBootOverride(this.context, override, opts));
  }

  get knownVendor(): string | undefined {
    const root = this.client.cachedRoot;
    return root ? str(root.Vendor) : undefined;
  }

  /** Requests sent so far on this connection. */
  get requestCount(): number {
    return this.client.requests;
  }

  close(): Promise<void> {
    return this.#locked(() => this.client.close()).finally(() => this.#lease.release());
  }
}
