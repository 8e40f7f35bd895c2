import { describe, expect, it } from 'vitest';
import { fakeHostActivities } from '../test/fakes/host-activities.ts';
import { bootVirtualMedia, type BootCalls } from './boot-media.ts';
import type { BmcTarget } from './contract.ts';

const target: BmcTarget = { address: 'redfish-virtualmedia://127.0.0.1:8000/redfish/v1/Systems/1', credentialsName: 'bmc', host: { namespace: 'ns', name: 'h', uid: 'uid-h' } };
const ISO = 'http://127.0.0.1:9/live.iso';

/** The fake BMC, with every call the boot makes written down in order. */
function recorded() {
  const fake = fakeHostActivities();
  const calls: string[] = [];
  const wrap = <K extends keyof BootCalls>(name: K): BootCalls[K] =>
    (async (...args: unknown[]) => {
      calls.push(name === 'setPower' ? `setPower ${(args[1] as { on: boolean }).on ? 'on' : 'off'}` : name);
      return (fake[name] as (...a: unknown[]) => unknown)(...args);
    }) as BootCalls[K];
  const boot: BootCalls = {
    checkImage: wrap('checkImage'),
    readBootState: wrap('readBootState'),
    setPower: wrap('setPower'),
    insertVirtualMedia: wrap('insertVirtualMedia'),
    setBootDevice: wrap('setBootDevice'),
  };
  return { fake, calls, boot, bmc: fake.bmc(target.address) };
}

describe('bootVirtualMedia', () => {
  it('boots a host that is off with nothing inserted: insert, one-time boot from CD, power on, read back', async () => {
    const r = recorded();
    const result = await bootVirtualMedia(r.boot, target, { url: ISO, mode: 'UEFI', check: { url: ISO, format: 'live-iso' }, verify: true });
    expect(r.calls).toEqual(['checkImage', 'readBootState', 'insertVirtualMedia', 'setBootDevice', 'setPower on', 'readBootState']);
    expect(result).toEqual({ poweredOn: true, steps: ['insert the ISO', 'one-time boot from the virtual CD (UEFI)', 'power on'] });
    expect(r.bmc.bootOverride).toBe('Cd');
  });

  it('powers a running host off before inserting, and only then', async () => {
    const r = recorded();
    r.bmc.power = true;
    r.bmc.media = 'http://127.0.0.1:9/other.iso';
    await bootVirtualMedia(r.boot, target, { url: ISO, mode: 'Legacy' });
    expect(r.calls).toEqual(['readBootState', 'setPower off', 'insertVirtualMedia', 'setBootDevice', 'setPower on']);
    expect(r.bmc.counters).toMatchObject({ powerOff: 1, powerOn: 1, inserts: 1 });
  });

  it('does nothing to a host already on with the ISO inserted (a crash after the power-on)', async () => {
    const r = recorded();
    r.bmc.power = true;
    r.bmc.media = ISO;
    const result = await bootVirtualMedia(r.boot, target, { url: ISO, mode: 'UEFI', verify: true });
    expect(r.calls).toEqual(['readBootState', 'readBootState']);
    expect(result.steps).toEqual([]);
  });

  it('run again after failing between the insert and the power-on, inserts once and powers on once', async () => {
    const r = recorded();
    r.fake.failNext(target.address, 'setPower', 'BmcTimeout');
    await expect(bootVirtualMedia(r.boot, target, { url: ISO, mode: 'UEFI' })).rejects.toMatchObject({ type: 'BmcTimeout' });
    expect(r.bmc.counters).toMatchObject({ inserts: 1, powerOn: 0 });
    const again = await bootVirtualMedia(r.boot, target, { url: ISO, mode: 'UEFI', verify: true });
    expect(again.steps).toEqual(['one-time boot from the virtual CD (UEFI)', 'power on']);
    expect(r.bmc.counters).toMatchObject({ inserts: 1, powerOn: 1, powerOff: 0 });
  });

  it('fails with VirtualMediaFailed when the read-back does not show the ISO booted', async () => {
    const r = recorded();
    // A BMC that takes the insert but never lists the medium as inserted.
    const lying: BootCalls = { ...r.boot, readBootState: async (t) => ({ ...(await r.boot.readBootState(t)), mediaInserted: false }) };
    await expect(bootVirtualMedia(lying, target, { url: ISO, mode: 'UEFI', verify: true })).rejects.toMatchObject({
      type: 'VirtualMediaFailed',
      nonRetryable: true,
      message: `after booting, the BMC reports power on and media not inserted, not the live ISO ${ISO}`,
    });
  });

  it('stops before touching the BMC when the image check fails', async () => {
    const r = recorded();
    const refused: BootCalls = {
      ...r.boot,
      checkImage: async () => {
        throw Object.assign(new Error('404'), { type: 'ImageUnreachable' });
      },
    };
    await expect(bootVirtualMedia(refused, target, { url: ISO, mode: 'UEFI', check: { url: ISO } })).rejects.toMatchObject({ type: 'ImageUnreachable' });
    expect(r.calls).toEqual([]);
  });
});
