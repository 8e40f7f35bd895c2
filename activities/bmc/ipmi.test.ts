import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBmcAddress, type IpmiBmcAddress } from '../../domain/bmc-address.ts';
import type { BmcError } from './errors.ts';
import { IpmiDriver, parseBootFlags, parsePowerStatus } from './ipmi.ts';

// A stand-in ipmitool: records its argv and whether the password came through the environment, keeps power and
// boot device in files, and prints what ipmitool prints. Real ipmitool against ipmi_sim is the integration tier.
const dir = mkdtempSync(join(tmpdir(), 'tempered-fake-ipmitool-'));
const tool = join(dir, 'ipmitool');
writeFileSync(
  tool,
  `#!/bin/sh
d=$(dirname "$0")
echo "$* | pw=\${IPMI_PASSWORD:+set}" >> "$d/calls"
[ "$IPMI_PASSWORD" = "secret" ] || { echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1; }
while [ $# -gt 0 ] && [ "$1" != "-E" ]; do shift; done
shift
case "$1 $2" in
"power status") if [ "$(cat "$d/power" 2>/dev/null)" = on ]; then echo "Chassis Power is on"; else echo "Chassis Power is off"; fi ;;
"power on") echo on > "$d/power"; echo "Chassis Power Control: Up/On" ;;
"power off"|"power soft") echo off > "$d/power"; echo "Chassis Power Control: Down/Off" ;;
"power cycle") echo on > "$d/power"; echo "Chassis Power Control: Cycle" ;;
"chassis bootdev") echo "$3" > "$d/boot"; echo "Set Boot Device to $3" ;;
"chassis bootparam")
  case "$(cat "$d/boot" 2>/dev/null)" in pxe) s="Force PXE" ;; cdrom) s="Force Boot from CD/DVD" ;; disk) s="Force Boot from default Hard-Drive" ;; *) s="No override" ;; esac
  printf ' Boot Flags :\\n   - Boot Flag Valid\\n   - Options apply to only next boot\\n   - BIOS EFI boot \\n   - Boot Device Selector : %s\\n' "$s" ;;
"mc info") printf 'Firmware Revision         : 9.08\\nManufacturer Name         : MontaVista Software, Inc.\\nProduct Name              : Unknown (0xF02)\\n' ;;
*) echo "Invalid command" >&2; exit 1 ;;
esac
`,
);
chmodSync(tool, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function driver(password = 'secret', address = 'ipmi://127.0.0.1:6230?privilegelevel=OPERATOR', cipherSuite?: number): IpmiDriver {
  return new IpmiDriver({
    address: parseBmcAddress(address) as IpmiBmcAddress,
    credentials: { username: 'admin', password },
    ipmitool: tool,
    ...(cipherSuite === undefined ? {} : { cipherSuite }),
    timings: { minCommandIntervalMs: 0, powerPollIntervalMs: 10, retryDelayMs: 10 },
  });
}

const calls = () => readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
const reset = () => {
  writeFileSync(join(dir, 'calls'), '');
  writeFileSync(join(dir, 'power'), 'off\n');
  writeFileSync(join(dir, 'boot'), 'none\n');
};

describe('IpmiDriver', () => {
  it('runs lanplus with cipher suite 3, the privilege level, and the password only in the environment', async () => {
    reset();
    expect(await driver().getPowerState()).toBe('off');
    const [call] = calls();
    expect(call).toBe('-I lanplus -H 127.0.0.1 -p 6230 -U admin -L OPERATOR -C 3 -R 1 -N 5 -E power status | pw=set');
    expect(call).not.toContain('secret');
  });

  it('takes another cipher suite when configured', async () => {
    reset();
    await driver('secret', 'ipmi://127.0.0.1', 17).getPowerState();
    expect(calls()[0]).toContain('-p 623 -U admin -L ADMINISTRATOR -C 17');
  });

  it('powers on once, reads it back, and sends nothing the second time', async () => {
    reset();
    const d = driver();
    expect(await d.setPower('on')).toMatchObject({ state: 'on', changed: true, sent: ['power on'] });
    expect(await d.setPower('on')).toMatchObject({ changed: false, sent: [] });
    expect(calls().filter((c) => c.includes('power on'))).toHaveLength(1);
  });

  it('reboots a running host with power cycle and a stopped one with power on', async () => {
    reset();
    const d = driver();
    expect((await d.setPower('reboot')).sent).toEqual(['power on']);
    expect((await d.setPower('reboot')).sent).toEqual(['power cycle']);
    expect((await d.setPower('soft-off')).sent).toEqual(['power soft']);
  });

  it('sets the boot device with efiboot and reads it back from bootparam 5', async () => {
    reset();
    const d = driver();
    expect(await d.setBootOverride({ device: 'cd' })).toMatchObject({ target: 'cdrom', changed: true, mode: 'UEFI' });
    expect(calls().some((c) => c.includes('chassis bootdev cdrom options=efiboot'))).toBe(true);
    // Already set (flag valid, same device, EFI, next boot only): nothing sent.
    expect((await d.setBootOverride({ device: 'cd' })).changed).toBe(false);
    expect(calls().filter((c) => c.includes('bootdev'))).toHaveLength(1);
  });

  it('refuses UEFI HTTP boot', async () => {
    reset();
    await expect(driver().setBootOverride({ device: 'uefi-http', httpBootUri: 'http://x' })).rejects.toMatchObject({ code: 'BmcUnsupported' });
  });

  it('maps a refused session to BmcAuthFailed, naming the user and not the password', async () => {
    reset();
    const err = (await driver('wrong-pw').getPowerState().catch((e: unknown) => e)) as BmcError;
    expect(err.code).toBe('BmcAuthFailed');
    expect(err.message).toContain("user 'admin'");
    expect(err.message).not.toContain('wrong-pw');
  });

  it('reports a missing ipmitool as BmcUnsupported', async () => {
    const d = new IpmiDriver({ address: parseBmcAddress('ipmi://127.0.0.1') as IpmiBmcAddress, credentials: { username: 'a', password: 'b' }, ipmitool: join(dir, 'nope') });
    await expect(d.getPowerState()).rejects.toMatchObject({ code: 'BmcUnsupported' });
  });

  it('spaces commands to one BMC by the minimum interval', async () => {
    reset();
    const d = new IpmiDriver({ address: parseBmcAddress('ipmi://127.0.0.1') as IpmiBmcAddress, credentials: { username: 'admin', password: 'secret' }, ipmitool: tool, timings: { minCommandIntervalMs: 150 } });
    const started = Date.now();
    await d.getPowerState();
    await d.getPowerState();
    await d.getPowerState();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('identifies the BMC from mc info', async () => {
    reset();
    expect(await driver().identify()).toMatchObject({ protocol: 'ipmi', manufacturer: 'MontaVista Software, Inc.', firmwareVersion: '9.08', powerState: 'off' });
  });
});

describe('ipmitool output parsers', () => {
  it('parses power status strictly', () => {
    expect(parsePowerStatus('Chassis Power is on\n')).toBe('on');
    expect(parsePowerStatus('Chassis Power is off\n')).toBe('off');
    expect(parsePowerStatus('Chassis Power is unknown')).toBeUndefined();
  });

  it('parses boot flags as ipmi_sim prints them', () => {
    const out = [
      'Boot parameter data: 0014000000',
      ' Boot Flags :',
      '   - Boot Flag Invalid',
      '   - Options apply to only next boot',
      '   - BIOS PC Compatible (legacy) boot ',
      '   - Boot Device Selector : Force Boot from CD/DVD',
    ].join('\n');
    expect(parseBootFlags(out)).toEqual({ valid: false, persistent: false, efi: false, selector: 'Force Boot from CD/DVD' });
    expect(parseBootFlags(' - Boot Flag Valid\n - Options apply to all future boots\n - BIOS EFI boot\n - Boot Device Selector : Force PXE')).toEqual({ valid: true, persistent: true, efi: true, selector: 'Force PXE' });
  });
});
