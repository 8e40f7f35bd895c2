/**
 * `createActivities(deps)`: the host task queue's activities, built from their dependencies (a source of BMC
 * credentials, a pool of BMC drivers, an HTTP client for image checks). Each activity resolves the
 * credentials itself, acts through the driver boundary, reads the result back, and reports failures as
 * ApplicationFailures whose type is a Tempered error code.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { BmcTarget, HostActivities, InspectResult, RegisterReading, RegisterResult } from './contract.ts';
import type { BmcDriver } from './bmc/driver.ts';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import { bootVirtualMedia } from './boot-media.ts';
import { BmcError } from './bmc/errors.ts';
import { withBmcFailures } from './bmc/failure.ts';
import { withSharedReads } from './bmc/reads.ts';
import type { BmcConnectionPool } from './bmc/pool.ts';
import type { CredentialsSource } from './credentials.ts';
import { createFirmwareActivities, type FirmwareActivityOptions } from './firmware.ts';
import { checkImageUrl, resolveImage, withImageFailures } from './images/index.ts';

export interface ActivityDeps {
  credentials: CredentialsSource;
  /** Hands out a driver per BMC, keeping sessions across calls (bmc/pool.ts). */
  drivers: Pick<BmcConnectionPool, 'use'>;
  fetch?: typeof fetch;
  /** Firmware task polling (activities/firmware.ts). */
  firmware?: Partial<FirmwareActivityOptions>;
  /** Told of every BMC activity attempt: its duration and outcome (the worker's metrics). */
  observe?: (call: BmcCallObservation) => void;
}

/** One attempt of a BMC activity, as metrics see it: never the address, never a host. */
export interface BmcCallObservation {
  /** The activity (`registerBmc`, `setPower`, ...). */
  call: string;
  /** `redfish` or `ipmi`, from the address; `unknown` when it does not parse. */
  protocol: string;
  /** What the BMC said it is, when the driver knows (bmc/driver.ts `knownVendor`). */
  vendor: string | undefined;
  seconds: number;
  /** The error code (the failure type) when the attempt failed. */
  code?: string;
}

/** The running activity's type, as the worker's BMC metrics label it (`readFirmware` outside an activity). */
function currentActivity(): keyof HostActivities {
  try {
    return Context.current().info.activityType as keyof HostActivities;
  } catch {
    return 'readFirmware'; // called outside an activity (unit tests)
  }
}

/**
 * Whether the running activity's retry policy runs it again after `err`: a transient failure, attempts left.
 * False outside an activity.
 */
function attemptFollows(err: unknown): boolean {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return false; // called outside an activity (unit tests)
  }
  const policy = info.retryPolicy;
  if (!policy?.maximumAttempts || info.attempt >= policy.maximumAttempts) return false;
  if (!(err instanceof ApplicationFailure)) return true;
  return !err.nonRetryable && !(policy.nonRetryableErrorTypes ?? []).includes(err.type ?? '');
}

function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined; // called outside an activity (unit tests)
  }
}

export function createActivities(deps: ActivityDeps): HostActivities {
  const withDriver = async <T>(
    call: keyof HostActivities,
    target: BmcTarget,
    fn: (driver: BmcDriver, version: string) => Promise<T>,
    fresh = false,
  ): Promise<T> => {
    const started = performance.now();
    let used: BmcDriver | undefined;
    const observe = (code?: string) => {
      if (!deps.observe) return;
      const parsed = checkBmcAddress(target.address);
      deps.observe({
        call,
        protocol: parsed.ok ? parsed.address.protocol : 'unknown',
        vendor: used?.knownVendor,
        seconds: (performance.now() - started) / 1000,
        ...(code ? { code } : {}),
      });
    };
    try {
      const result = await withBmcFailures(async () => {
        const { namespace } = target.host;
        const creds = await deps.credentials.read(namespace, target.credentialsName, {
          fresh,
          ...(target.credentialsVersion ? { expectedVersion: target.credentialsVersion } : {}),
        });
        return deps.drivers.use(
          {
            address: target.address,
            credentials: { username: creds.username, password: creds.password },
            disableCertificateVerification: Boolean(target.disableCertificateVerification),
          },
          (driver) => {
            used = driver;
            return fn(driver, creds.version);
          },
        );
      });
      observe();
      return result;
    } catch (error) {
      const type = (error as { type?: unknown }).type;
      observe(type === undefined ? 'InternalError' : String(type));
      throw error;
    }
  };
  const opts = () => {
    const signal = cancellationSignal();
    return signal ? { signal } : {};
  };

  const activities: HostActivities = {
    // Metrics name a firmware call by the activity running it (the runner is shared by all of them).
    ...createFirmwareActivities((target, fn) => withDriver(currentActivity(), target, (driver) => fn(driver)), deps.firmware),

    async registerBmc(target, request = {}): Promise<RegisterReading> {
      return withSharedReads(async () => {
        const registered: RegisterResult = await withDriver('registerBmc', target, async (driver, version) => {
          const identity = await driver.identify(opts());
          return {
            poweredOn: identity.powerState === 'on',
            credentialsVersion: version,
            bmcAddress: target.address,
            driver: driver.address.type,
            ...(identity.manufacturer ? { manufacturer: identity.manufacturer } : {}),
            ...(identity.model ? { model: identity.model } : {}),
            ...(identity.serialNumber ? { serialNumber: identity.serialNumber } : {}),
          };
        }, true);
        if (!request.firmware) return registered;
        try {
          return { ...registered, firmware: await activities.readFirmware(target, request.firmware) };
        } catch (err) {
          // A transient failure is tried again with the whole call (registering only reads); the last one is told.
          if (attemptFollows(err)) throw err;
          return { ...registered, firmwareError: err instanceof Error ? err.message : String(err) };
        }
      });
    },

    async readPower(target) {
      return withDriver('readPower', target, async (driver) => ({ poweredOn: (await driver.getPowerState(opts())) === 'on' }));
    },

    async waitForPower(target, request) {
      return withDriver('waitForPower', target, async (driver) => {
        const deadline = Date.now() + request.timeoutMs;
        for (;;) {
          const poweredOn = (await driver.getPowerState(opts())) === 'on';
          if (poweredOn === request.on) return { poweredOn, reached: true };
          if (Date.now() >= deadline) return { poweredOn, reached: false };
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, Math.max(0, deadline - Date.now()))));
        }
      });
    },

    async setPower(target, request) {
      return withDriver('setPower', target, async (driver) => {
        if (request.on) {
          const r = await driver.setPower('on', opts());
          return { poweredOn: r.state === 'on', changed: r.changed };
        }
        if (request.mode === 'soft') {
          try {
            const r = await driver.setPower('soft-off', opts());
            return { poweredOn: r.state === 'on', changed: r.changed };
          } catch (err) {
            // BMO and Ironic: a soft power off that does not complete falls back to a hard one.
            if (!(err instanceof BmcError) || (err.code !== 'PowerStateNotReached' && err.code !== 'BmcUnsupported')) throw err;
          }
        }
        const r = await driver.setPower('off', opts());
        return { poweredOn: r.state === 'on', changed: r.changed };
      });
    },

    async inspectHardware(target): Promise<InspectResult> {
      return withDriver('inspectHardware', target, async (driver) => {
        if (!driver.inspection) {
          return { poweredOn: (await driver.getPowerState(opts())) === 'on', skipped: `the ${driver.address.type} driver has no out-of-band inspection` };
        }
        // The result keeps the hardware details only: the manager and BIOS attributes are not read.
        const inventory = await driver.inspection.inventory({ ...opts(), hardwareOnly: true });
        return { poweredOn: inventory.system.powerState === 'on', hardware: inventory.hardware as unknown as Record<string, unknown> };
      });
    },

    async checkImage(image) {
      return withImageFailures(() => checkImageUrl(image.url, { fetch: deps.fetch ?? fetch, ...opts() }));
    },

    async resolveImage(image) {
      return withImageFailures(() => resolveImage(image, { fetch: deps.fetch ?? fetch, ...opts() }));
    },

    async insertVirtualMedia(target, request) {
      return withDriver('insertVirtualMedia', target, async (driver) => {
        if (!driver.virtualMedia) throw new BmcError('BmcUnsupported', `the ${driver.address.type} driver has no virtual media`);
        const r = await driver.virtualMedia.insert(request.url, opts());
        return { changed: r.changed };
      });
    },

    async ejectVirtualMedia(target) {
      return withDriver('ejectVirtualMedia', target, async (driver) => {
        if (!driver.virtualMedia) return { changed: false };
        const r = await driver.virtualMedia.eject(opts());
        return { changed: r.some((x) => x.changed) };
      });
    },

    async setBootDevice(target, request) {
      return withDriver('setBootDevice', target, async (driver) => {
        const device = request.device === 'Cd' ? 'cd' : request.device === 'Pxe' ? 'pxe' : 'disk';
        const r = await driver.setBootOverride({ device, persistent: !request.once, ...(request.mode ? { mode: request.mode } : {}) }, opts());
        return { changed: r.changed };
      });
    },

    async setSecureBoot(target, request) {
      return withDriver('setSecureBoot', target, async (driver) => {
        if (!driver.secureBoot) throw new BmcError('BmcUnsupported', `the ${driver.address.type} driver cannot set UEFI secure boot; use bootMode UEFI, or a Redfish BMC`);
        const r = await driver.secureBoot.set(request.enabled, opts());
        if (r.enabled !== request.enabled) {
          throw new BmcError('BmcUnsupported', `the BMC reports secure boot ${r.enabled === undefined ? 'unknown' : r.enabled ? 'on' : 'off'} after it was asked to turn it ${request.enabled ? 'on' : 'off'} (a licence may be missing)`);
        }
        return { enabled: r.enabled, changed: r.changed };
      });
    },

    async readBootState(target) {
      return withDriver('readBootState', target, async (driver) => {
        const power = await driver.getPowerState(opts());
        const slots = driver.virtualMedia ? await driver.virtualMedia.list(opts()) : [];
        const inserted = slots.find((s) => s.inserted);
        return { poweredOn: power === 'on', mediaInserted: Boolean(inserted), ...(inserted?.image ? { mediaUrl: inserted.image } : {}) };
      });
    },

    // Made of the calls above, each with its own metrics; one activity, so one Temporal marker. The calls share
    // their reads of the BMC until one of them changes something (bmc/reads.ts).
    async bootVirtualMedia(target, request) {
      return withSharedReads(() => bootVirtualMedia(activities, target, request));
    },
  };
  return activities;
}
