/**
 * A fake of the host task queue's activities for the workflow tier: in-memory BMCs keyed by address, with
 * counters of every side effect, and programmable failures. Fakes are for workflow-logic tests only; the
 * integration tier runs the real activities against real BMC peers.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { BmcTarget, HostActivities } from '../../activities/contract.ts';
import type { ErrorCode } from '../../domain/errors.ts';

export interface FakeBmc {
  power: boolean;
  media?: string;
  bootOverride?: string;
  secureBoot?: boolean;
  counters: { powerOn: number; powerOff: number; inserts: number; ejects: number; bootOverrides: number; registrations: number };
}

export interface FakeHostActivities extends HostActivities {
  bmc(address: string): FakeBmc;
  /** The next calls of `activity` for `address` fail with `code` (permanent or transient per the code). */
  failNext(address: string, activity: keyof HostActivities, code: ErrorCode, times?: number): void;
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
      b = { power: false, counters: { powerOn: 0, powerOff: 0, inserts: 0, ejects: 0, bootOverrides: 0, registrations: 0 } };
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
  const secret = 'fake-bmc-password-do-not-leak';
  const secretVersions = new Map<string, string>();
  return {
    secret,
    secretVersions,
    bmc,
    failNext(address, activity, code, times = 1) {
      failures.set(`${address}#${activity}`, { code, times });
    },
    async registerBmc(target) {
      check(target, 'registerBmc');
      const b = bmc(target.address);
      b.counters.registrations += 1;
      return { poweredOn: b.power, credentialsVersion: secretVersions.get(target.credentialsName) ?? '1', bmcAddress: target.address, driver: 'redfish-virtualmedia' };
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
      if (request.on) b.counters.powerOn += 1;
      else b.counters.powerOff += 1;
      return { poweredOn: b.power, changed: true };
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
  };
}
