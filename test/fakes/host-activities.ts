/**
 * A fake of the host task queue's activities for the workflow tier: in-memory BMCs keyed by address, with
 * counters of every side effect, and programmable failures. Fakes are for workflow-logic tests only; the
 * integration tier runs the real activities against real BMC peers.
 */
import { ApplicationFailure } from '@temporalio/common';
import { bootVirtualMedia } from '../../activities/boot-media.ts';
import type { BmcTarget, HostActivities } from '../../activities/contract.ts';
import type { ErrorCode } from '../../domain/errors.ts';

export interface FakeBmc {
  power: boolean;
  media?: string;
  bootOverride?: string;
  /** BIOS settings now, and those staged for the next power-on. */
  bios: Record<string, string>;
  pendingBios: Record<string, string>;
  /** Firmware versions by component (`bios`, `bmc`, ...), and flashes by image URL. */
  versions: Record<string, string>;
  flashes: Record<string, number>;
  /** Hardware RAID volumes (their levels), as applied. */
  raid: string[] | undefined;
  secureBoot?: boolean;
  counters: { powerOn: number; powerOff: number; inserts: number; ejects: number; bootOverrides: number; registrations: number };
}

/** The fake registry: a BIOS with two settings, like a small vendor's. */
const FAKE_SCHEMA = {
  ProcVirtualization: { attribute_type: 'Enumeration' as const, allowable_values: ['Enabled', 'Disabled'] },
  BootRetries: { attribute_type: 'Integer' as const, lower_bound: 0, upper_bound: 10 },
};

export interface FakeHostActivities extends HostActivities {
  bmc(address: string): FakeBmc;
  /** The next calls of `activity` for `address` fail with `code` (permanent or transient per the code). */
  failNext(address: string, activity: keyof HostActivities, code: ErrorCode, times?: number): void;
  /** While held, firmware tasks do not end (`waitFirmwareTask` waits), so a flash stays in flight. */
  holdFlashes(held: boolean): void;
  /** Passwords the fake "resolved": they must never appear in history. */
  readonly secret: string;
  /** resourceVersions of the fake credentials Secrets, by name (default '1'). */
  readonly secretVersions: Map<string, string>;
}

export function fakeHostActivities(): FakeHostActivities {
  const bmcs = new Map<string, FakeBmc>();
  const failures = new Map<string, { code: ErrorCode; times: number }>();
  const bmc = (address: string): FakeBmc => {
    let b = bmcs.get(address);
    if (!b) {
      b = {
        power: false,
        bios: { ProcVirtualization: 'Disabled', BootRetries: '3' },
        pendingBios: {},
        versions: { bios: '1.0.0', bmc: '2.0.0' },
        flashes: {},
        raid: undefined,
        counters: { powerOn: 0, powerOff: 0, inserts: 0, ejects: 0, bootOverrides: 0, registrations: 0 },
      };
      bmcs.set(address, b);
    }
    return b;
  };
  const check = (target: BmcTarget, activity: string) => {
    const key = `${target.address}#${activity}`;
    const f = failures.get(key);
    if (f && f.times > 0) {
      f.times -= 1;
      throw ApplicationFailure.create({ type: f.code, message: `injected ${f.code} for ${activity}`, nonRetryable: f.code !== 'BmcUnreachable' && f.code !== 'BmcTimeout' });
    }
  };
  let held: { promise: Promise<void>; release: () => void } | undefined;
  const secret = 'fake-bmc-password-do-not-leak';
  const secretVersions = new Map<string, string>();
  const fake: FakeHostActivities = {
    secret,
    secretVersions,
    bmc,
    failNext(address, activity, code, times = 1) {
      failures.set(`${address}#${activity}`, { code, times });
    },
    holdFlashes(hold) {
      if (hold && !held) {
        let release = () => {};
        const promise = new Promise<void>((resolve) => (release = resolve));
        held = { promise, release };
      }
      if (!hold && held) {
        held.release();
        held = undefined;
      }
    },
    async registerBmc(target, request = {}) {
      check(target, 'registerBmc');
      const b = bmc(target.address);
      b.counters.registrations += 1;
      const registered = { poweredOn: b.power, credentialsVersion: secretVersions.get(target.credentialsName) ?? '1', bmcAddress: target.address, driver: 'redfish-virtualmedia' };
      if (!request.firmware) return registered;
      try {
        return { ...registered, firmware: await fake.readFirmware(target, request.firmware) };
      } catch (err) {
        return { ...registered, firmwareError: (err as Error).message };
      }
    },
    async readPower(target) {
      check(target, 'readPower');
      return { poweredOn: bmc(target.address).power };
    },
    async waitForPower(target, request) {
      check(target, 'waitForPower');
      const poweredOn = bmc(target.address).power;
      return { poweredOn, reached: poweredOn === request.on };
    },
    async setPower(target, request) {
      check(target, 'setPower');
      const b = bmc(target.address);
      if (b.power === request.on) return { poweredOn: b.power, changed: false };
      b.power = request.on;
      if (request.on) {
        b.counters.powerOn += 1;
        // BIOS changes staged for the next boot take effect now.
        Object.assign(b.bios, b.pendingBios);
        b.pendingBios = {};
      } else b.counters.powerOff += 1;
      return { poweredOn: b.power, changed: true };
    },
    async readFirmware(target, request) {
      check(target, 'readFirmware');
      const b = bmc(target.address);
      const schemaName = 'schema-fake0001';
      return {
        settings: { ...b.bios },
        schemaName,
        ...(request.knownSchema === schemaName ? {} : { schema: FAKE_SCHEMA }),
        vendor: 'Fake',
        model: 'F1',
        components: Object.entries(b.versions).map(([component, version]) => ({ component, version })),
      };
    },
    async applyBiosSettings(target, request) {
      check(target, 'applyBiosSettings');
      const b = bmc(target.address);
      const unknown = Object.keys(request.settings).filter((k) => !(k in FAKE_SCHEMA));
      if (unknown.length > 0) throw ApplicationFailure.create({ type: 'FirmwareSettingsInvalid', message: `unknown settings ${unknown.join(', ')}`, nonRetryable: true });
      const todo = Object.entries(request.settings).filter(([k, v]) => b.bios[k] !== String(v));
      for (const [k, v] of todo) b.pendingBios[k] = String(v);
      return { changed: todo.length > 0, rebootRequired: Object.keys(b.pendingBios).length > 0 };
    },
    async readBiosSettings(target, request) {
      const b = bmc(target.address);
      const pick = (values: Record<string, string>) => Object.fromEntries(request.names.filter((n) => n in values).map((n) => [n, values[n] as string]));
      return { current: pick(b.bios), pending: pick(b.pendingBios) };
    },
    async applyRaid(target, request) {
      check(target, 'applyRaid');
      const b = bmc(target.address);
      const wanted = request.volumes?.map((v) => v.level);
      if (wanted?.includes('2')) throw ApplicationFailure.create({ type: 'RaidConfigInvalid', message: 'RAID level 2 has no Redfish RAIDType', nonRetryable: true });
      if (JSON.stringify(wanted) === JSON.stringify(b.raid)) return { state: 'unchanged' as const, rebootRequired: false, deleted: 0, created: 0 };
      b.raid = wanted;
      return { state: 'applied' as const, rebootRequired: false, deleted: 0, created: wanted?.length ?? 0 };
    },
    async startFirmwareUpdate(target, request) {
      check(target, 'startFirmwareUpdate');
      const b = bmc(target.address);
      const previousVersion = b.versions[request.update.component];
      b.flashes[request.update.url] = (b.flashes[request.update.url] ?? 0) + 1;
      // The version is the last dotted number of the file name, as in the simulator.
      b.versions[request.update.component] = /(\d+(?:\.\d+)+)/.exec(request.update.url)?.[1] ?? '9.9.9';
      return { state: 'started' as const, taskUri: `/redfish/v1/TaskService/Tasks/${Object.values(b.flashes).reduce((a, n) => a + n, 0)}`, previousVersion };
    },
    async waitFirmwareTask(target) {
      check(target, 'waitFirmwareTask');
      if (held) await held.promise;
      return { state: 'done' as const, taskState: 'Completed', messages: [] };
    },
    async readFirmwareVersion(target, request) {
      return { version: bmc(target.address).versions[request.component] };
    },
    async inspectHardware(target) {
      check(target, 'inspectHardware');
      return { poweredOn: bmc(target.address).power, hardware: { ramMebibytes: 8192, cpu: { arch: 'x86_64', count: 4 } } };
    },
    async checkImage() {
      return { sizeBytes: 1024 };
    },
    async resolveImage(image) {
      const format = image.format === 'qcow2' || image.format === 'vmdk' || image.format === 'vdi' ? image.format : 'raw';
      const checksum = { algorithm: 'sha256' as const, value: '0'.repeat(64) };
      const fileName = image.url.split('/').pop() ?? '';
      return { url: image.url, fileName, checksum, diskFormat: format, detectedFormat: format, sizeBytes: 1024 };
    },
    async insertVirtualMedia(target, request) {
      check(target, 'insertVirtualMedia');
      const b = bmc(target.address);
      if (b.media === request.url) return { changed: false };
      b.media = request.url;
      b.counters.inserts += 1;
      return { changed: true };
    },
    async ejectVirtualMedia(target) {
      const b = bmc(target.address);
      if (!b.media) return { changed: false };
      b.media = undefined;
      b.counters.ejects += 1;
      return { changed: true };
    },
    async setBootDevice(target, request) {
      const b = bmc(target.address);
      b.bootOverride = request.device;
      b.counters.bootOverrides += 1;
      return { changed: true };
    },
    async setSecureBoot(target, request) {
      check(target, 'setSecureBoot');
      const b = bmc(target.address);
      const changed = Boolean(b.secureBoot) !== request.enabled;
      b.secureBoot = request.enabled;
      return { enabled: request.enabled, changed };
    },
    async readBootState(target) {
      const b = bmc(target.address);
      return { poweredOn: b.power, mediaInserted: Boolean(b.media), ...(b.media ? { mediaUrl: b.media } : {}) };
    },
    async bootVirtualMedia(target, request) {
      return bootVirtualMedia(fake, target, request);
    },
  };
  return fake;
}
