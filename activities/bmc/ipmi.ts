/**
 * The IPMI driver: `ipmitool -I lanplus` with cipher suite 3 by default, the password in IPMI_PASSWORD (`-E`),
 * never on the command line. One command at a time per BMC with a minimum spacing (Ironic's min_command_interval),
 * every change read back (`power status`, `chassis bootparam get 5`) because BMCs lie.
 */
import { execFile } from 'node:child_process';
import type { IpmiBmcAddress } from '../../domain/bmc-address.ts';
import type {
  BmcCredentials,
  BmcDriver,
  BmcIdentity,
  BootDevice,
  BootOverride,
  BootOverrideResult,
  CallOptions,
  PowerAction,
  PowerOptions,
  PowerResult,
  PowerState,
} from './driver.ts';
import { BmcError, classifyIpmitoolFailure } from './errors.ts';
import { leaseBmcLock, sleep, type BmcLockLease } from './lock.ts';

export interface IpmiTimings {
  /** Metal3's power_state_change_timeout. */
  powerTimeoutMs: number;
  softPowerTimeoutMs: number;
  /** At least this long between two commands to one BMC (Ironic: 5 s; some BMCs crash when polled faster). */
  minCommandIntervalMs: number;
  /** Poll interval while waiting for a power state (never shorter than the command interval). */
  powerPollIntervalMs: number;
  /** A hung ipmitool is killed after this long (Ironic's kill_on_timeout). */
  commandTimeoutMs: number;
  /** Attempts on transient failures (session slots exhausted, node busy) and their spacing. */
  attempts: number;
  retryDelayMs: number;
}

export const DEFAULT_IPMI_TIMINGS: IpmiTimings = {
  powerTimeoutMs: 120_000,
  softPowerTimeoutMs: 600_000,
  minCommandIntervalMs: 5000,
  powerPollIntervalMs: 5000,
  commandTimeoutMs: 30_000,
  attempts: 3,
  retryDelayMs: 5000,
};

export interface IpmiDriverOptions {
  address: IpmiBmcAddress;
  credentials: BmcCredentials;
  /** ipmitool's path (default: `ipmitool` on PATH). */
  ipmitool?: string;
  /** `-C`: 3 by default (ipmi_sim has no 17; ipmitool's auto-negotiation costs ~10 s per command there). */
  cipherSuite?: number;
  timings?: Partial<IpmiTimings>;
  /** Observer of every ipmitool run (benchmarks, tests). */
  onCommand?: (command: { args: string[]; ok: boolean; ms: number }) => void;
}

/** ipmitool bootdev arguments and the `Boot Device Selector` text `chassis bootparam get 5` prints. */
const BOOTDEV: Record<BootDevice, { arg: string; selector: RegExp } | undefined> = {
  pxe: { arg: 'pxe', selector: /Force PXE/i },
  cd: { arg: 'cdrom', selector: /Force Boot from CD\/DVD/i },
  disk: { arg: 'disk', selector: /Force Boot from default Hard-Drive/i },
  bios: { arg: 'bios', selector: /Force Boot into BIOS Setup/i },
  usb: { arg: 'floppy', selector: /Force Boot from Floppy/i },
  'uefi-http': undefined,
};

export interface BootFlags {
  valid: boolean;
  persistent: boolean;
  efi: boolean;
  selector: string;
}

/** Parses `chassis bootparam get 5`. */
export function parseBootFlags(output: string): BootFlags {
  const selector = /Boot Device Selector\s*:\s*(.+)/i.exec(output)?.[1]?.trim() ?? '';
  return {
    valid: /Boot Flag Valid/i.test(output),
    persistent: /Options apply to all future boots/i.test(output),
    efi: /BIOS EFI boot/i.test(output),
    selector,
  };
}

/** Parses `power status`: Ironic accepts exactly these two answers. */
export function parsePowerStatus(output: string): PowerState | undefined {
  if (/Chassis Power is on/i.test(output)) return 'on';
  if (/Chassis Power is off/i.test(output)) return 'off';
  return undefined;
}

export class IpmiDriver implements BmcDriver {
  readonly address: IpmiBmcAddress;
  readonly virtualMedia = undefined;
  readonly inspection = undefined;
  readonly bios = undefined;
  readonly firmware = undefined;
  readonly secureBoot = undefined;
  readonly raid = undefined;
  readonly timings: IpmiTimings;
  readonly #credentials: BmcCredentials;
  readonly #ipmitool: string;
  readonly #cipher: number;
  /** The BMC's lock (by host and port), shared with any other driver of the same BMC in this process. */
  readonly #lease: BmcLockLease;
  readonly #onCommand: IpmiDriverOptions['onCommand'];
  #lastCommandAt = 0;
  /** ipmitool runs so far. */
  commands = 0;

  constructor(options: IpmiDriverOptions) {
    this.address = options.address;
    this.#lease = leaseBmcLock(`${options.address.host.toLowerCase()}:${options.address.port}/ipmi`);
    this.#credentials = options.credentials;
    this.#ipmitool = options.ipmitool ?? 'ipmitool';
    this.#cipher = options.cipherSuite ?? 3;
    this.timings = { ...DEFAULT_IPMI_TIMINGS, ...options.timings };
    this.#onCommand = options.onCommand;
  }

  get #endpoint(): string {
    const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
    return `${host}:${this.address.port}`;
  }

  /** One ipmitool run, spaced from the previous one; transient failures retried. */
  async #run(args: string[], signal?: AbortSignal): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#runOnce(args, signal);
      } catch (err) {
        if (!(err instanceof BmcError) || err.code !== 'BmcBusy' || attempt >= this.timings.attempts) throw err;
        await sleep(this.timings.retryDelayMs, signal);
      }
    }
  }

  async #runOnce(args: string[], signal?: AbortSignal): Promise<string> {
    const wait = this.#lastCommandAt + this.timings.minCommandIntervalMs - Date.now();
    if (wait > 0) await sleep(wait, signal);
    const argv = [
      '-I', 'lanplus',
      '-H', this.address.host,
      '-p', String(this.address.port),
      '-U', this.#credentials.username,
      '-L', this.address.privilegeLevel,
      '-C', String(this.#cipher),
      '-R', '1',
      '-N', '5',
      '-E',
      ...args,
    ];
    const started = performance.now();
    this.commands++;
    try {
      return await new Promise<string>((resolve, reject) => {
        execFile(
          this.#ipmitool,
          argv,
          { env: { ...process.env, IPMI_PASSWORD: this.#credentials.password }, timeout: this.timings.commandTimeoutMs, killSignal: 'SIGKILL', signal, encoding: 'utf8' },
          (error, stdout, stderr) => {
            if (!error) {
              this.#onCommand?.({ args, ok: true, ms: performance.now() - started });
              resolve(stdout);
              return;
            }
            this.#onCommand?.({ args, ok: false, ms: performance.now() - started });
            const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
            reject(
              classifyIpmitoolFailure(`${stderr}\n${stdout}`, {
                what: args.join(' '),
                endpoint: this.#endpoint,
                username: this.#credentials.username,
                exitCode: typeof e.code === 'number' ? e.code : null,
                timedOut: e.killed === true && !signal?.aborted,
                notFound: e.code === 'ENOENT',
              }),
            );
          },
        );
      });
    } finally {
      this.#lastCommandAt = Date.now();
    }
  }

  async #powerState(signal?: AbortSignal): Promise<PowerState> {
    const out = await this.#run(['power', 'status'], signal);
    const state = parsePowerStatus(out);
    if (!state) throw new BmcError('BmcServerError', `the IPMI BMC at ${this.#endpoint} answered 'power status' with ${JSON.stringify(out.trim().slice(0, 200))}`);
    return state;
  }

  async #waitFor(want: PowerState, timeoutMs: number, opts: PowerOptions): Promise<void> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    for (;;) {
      const state = await this.#powerState(opts.signal);
      if (state === want) return;
      const now = Date.now();
      opts.onProgress?.({ what: `power ${want}`, elapsedMs: now - started, detail: `power is ${state}` });
      if (now >= deadline) throw new BmcError('PowerStateNotReached', `the host behind the IPMI BMC at ${this.#endpoint} did not reach power ${want} within ${Math.round(timeoutMs / 1000)} s`);
      await sleep(Math.min(this.timings.powerPollIntervalMs, Math.max(0, deadline - now)), opts.signal);
    }
  }

  identify(opts: CallOptions = {}): Promise<BmcIdentity> {
    return this.#lease.run(async () => {
      const info = await this.#run(['mc', 'info'], opts.signal);
      const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'mi').exec(info)?.[1]?.trim() || undefined;
      const manufacturer = field('Manufacturer Name');
      return {
        protocol: 'ipmi',
        vendor: manufacturer?.toLowerCase(),
        manufacturer,
        model: field('Product Name'),
        firmwareVersion: field('Firmware Revision'),
        powerState: await this.#powerState(opts.signal),
      };
    });
  }

  getPowerState(opts: CallOptions = {}): Promise<PowerState> {
    return this.#lease.run(() => this.#powerState(opts.signal));
  }

  setPower(action: PowerAction, opts: PowerOptions = {}): Promise<PowerResult> {
    return this.#lease.run(async () => {
      const started = Date.now();
      const sent: string[] = [];
      const timeout = opts.timeoutMs ?? (action.startsWith('soft') ? this.timings.softPowerTimeoutMs : this.timings.powerTimeoutMs);
      const send = async (cmd: string) => {
        await this.#run(['power', cmd], opts.signal);
        sent.push(`power ${cmd}`);
      };
      const done = (state: PowerState, changed: boolean): PowerResult => ({ action, state, changed, sent, elapsedMs: Date.now() - started });
      const state = await this.#powerState(opts.signal);
      switch (action) {
        case 'on':
          if (state === 'on') return done('on', false);
          await send('on');
          await this.#waitFor('on', timeout, opts);
          return done('on', true);
        case 'off':
        case 'soft-off':
          // Some BMCs error on `power off` when already off (Ironic checks first): never send it then.
          if (state === 'off') return done('off', false);
          await send(action === 'off' ? 'off' : 'soft');
          await this.#waitFor('off', timeout, opts);
          return done('off', true);
        case 'reboot':
        case 'soft-reboot':
          // A host that is off just needs power on; a running one gets `power cycle` (off then on, one command).
          if (state === 'off') {
            await send('on');
          } else if (action === 'reboot') {
            await send('cycle');
          } else {
            await send('soft');
            await this.#waitFor('off', this.timings.softPowerTimeoutMs, opts);
            await send('on');
          }
          await this.#waitFor('on', timeout, opts);
          return done('on', true);
      }
    });
  }

  setBootOverride(override: BootOverride, opts: CallOptions = {}): Promise<BootOverrideResult> {
    return this.#lease.run(async () => {
      const dev = BOOTDEV[override.device];
      if (!dev) throw new BmcError('BmcUnsupported', `IPMI cannot boot from ${override.device}; use a Redfish address for UEFI HTTP boot`);
      const mode = override.mode ?? 'UEFI';
      const persistent = override.persistent ?? false;
      const result = (changed: boolean, flags: BootFlags): BootOverrideResult => ({
        device: override.device,
        target: dev.arg,
        enabled: persistent ? 'Continuous' : 'Once',
        mode,
        changed,
        // The flag expires (60 s, next boot only) or persistence was ignored: re-send before each power on.
        reapplyBeforePowerOn: persistent ? !flags.persistent : false,
      });
      const before = parseBootFlags(await this.#run(['chassis', 'bootparam', 'get', '5'], opts.signal));
      if (before.valid && dev.selector.test(before.selector) && before.persistent === persistent && before.efi === (mode === 'UEFI')) return result(false, before);
      const options = [...(mode === 'UEFI' ? ['efiboot'] : []), ...(persistent ? ['persistent'] : [])];
      await this.#run(['chassis', 'bootdev', dev.arg, ...(options.length ? [`options=${options.join(',')}`] : [])], opts.signal);
      const after = parseBootFlags(await this.#run(['chassis', 'bootparam', 'get', '5'], opts.signal));
      if (!dev.selector.test(after.selector)) {
        throw new BmcError('BmcServerError', `the IPMI BMC at ${this.#endpoint} accepted bootdev ${dev.arg} but reads back '${after.selector || 'nothing'}'`);
      }
      return result(true, after);
    });
  }

  async close(): Promise<void> {
    // ipmitool opens a session per command: nothing to close but the lease on the BMC's lock.
    this.#lease.release();
  }
}
