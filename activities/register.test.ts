// registerBmc with the firmware reading in the same call: a firmware read that fails never fails the
// registration, but a transient failure with attempts left is thrown so the retry policy runs the call again.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { checkBmcAddress } from '../domain/bmc-address.ts';
import type { ErrorCode } from '../domain/errors.ts';
import type { BmcDriver } from './bmc/driver.ts';
import { BmcError } from './bmc/errors.ts';
import type { BmcTarget, RegisterReading } from './contract.ts';
import { createActivities } from './index.ts';

const ADDRESS = 'redfish+http://bmc.example/redfish/v1/Systems/1';
const target: BmcTarget = { host: { namespace: 'ns', name: 'h', uid: 'u' }, address: ADDRESS, credentialsName: 'bmc' };

/** A driver whose system answers and whose BIOS read fails with `code` (or answers, without `code`). */
function activitiesWithBios(code?: ErrorCode) {
  const parsed = checkBmcAddress(ADDRESS);
  if (!parsed.ok) throw new Error(parsed.message);
  const driver = {
    address: parsed.address,
    identify: async () => ({ powerState: 'on', manufacturer: 'Acme', model: 'A1' }),
    bios: {
      get: async () => {
        if (code) throw new BmcError(code, `Bios answered with ${code}`);
        return { attributes: { BootMode: 'Uefi' } };
      },
      registry: async () => undefined,
    },
    firmware: { inventory: async () => ({ components: [{ component: 'bios', version: '1.2' }] }) },
  } as unknown as BmcDriver;
  return createActivities({
    credentials: { read: async () => ({ username: 'u', password: 'p', version: '7' }) },
    drivers: { use: async (_config, fn) => fn(driver) } as Parameters<typeof createActivities>[0]['drivers'],
  });
}

const attempt = (n: number) => new MockActivityEnvironment({ attempt: n, isLocal: true, retryPolicy: { maximumAttempts: 4, nonRetryableErrorTypes: [] } });

/** `registerBmc` as attempt `n` of 4. */
function register(n: number, activities: ReturnType<typeof activitiesWithBios>, request?: { firmware?: { knownSchema?: string } }): Promise<RegisterReading> {
  return attempt(n).run(activities.registerBmc, target, request) as Promise<RegisterReading>;
}

describe('registerBmc reading the firmware too', () => {
  it('returns the registration and the firmware reading of one call', async () => {
    const a = activitiesWithBios();
    const result = await register(1, a, { firmware: {} });
    expect(result).toMatchObject({ poweredOn: true, credentialsVersion: '7', manufacturer: 'Acme' });
    expect(result.firmware).toMatchObject({ vendor: 'Acme', settings: { BootMode: 'Uefi' }, components: [{ component: 'bios', version: '1.2' }] });
    expect(result.firmwareError).toBeUndefined();
    // Without `firmware`, no reading.
    expect((await register(1, a)).firmware).toBeUndefined();
  });

  it('a permanent firmware failure returns the registration with the reason, at once', async () => {
    const result = await register(1, activitiesWithBios('BmcBadRequest'), { firmware: {} });
    expect(result).toMatchObject({ poweredOn: true, credentialsVersion: '7', firmwareError: 'Bios answered with BmcBadRequest' });
    expect(result.firmware).toBeUndefined();
  });

  it('a transient firmware failure is retried while attempts are left; the last attempt registers without it', async () => {
    const a = activitiesWithBios('BmcServerError');
    const thrown = await register(2, a, { firmware: {} }).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    expect(thrown).toMatchObject({ type: 'BmcServerError', nonRetryable: false });
    const last = await register(4, a, { firmware: {} });
    expect(last).toMatchObject({ poweredOn: true, firmwareError: 'Bios answered with BmcServerError' });
  });
});
