/**
 * `tempered bmc` as an SRE runs it: a subprocess against the shared sushy-tools, JSON on stdout, the error code on
 * stderr and a non-zero exit on failure.
 *
 * Shared-stack claim: sushy system 10 (only this file touches it).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveIso } from '../test/bmc-peers.ts';
import { sharedStack } from '../test/stack-info.ts';

const SUSHY_INDEX = 10;
const stack = sharedStack();
const repo = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tempered-cli-bmc-'));
const passwordFile = join(dir, 'password');
const wrongFile = join(dir, 'wrong');
let iso: Awaited<ReturnType<typeof serveIso>>;

const system = stack.sushy.systems[SUSHY_INDEX];
if (!system) throw new Error(`the shared sushy has no system ${SUSHY_INDEX}`);
const address = `redfish-virtualmedia+http://${new URL(stack.sushy.url).host}${system.path}`;

beforeAll(async () => {
  writeFileSync(passwordFile, `${stack.sushy.password}\n`, { mode: 0o600 });
  writeFileSync(wrongFile, 'definitely-wrong\n', { mode: 0o600 });
  iso = await serveIso();
});

afterAll(async () => {
  await iso?.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `tempered` bin (what `npx tempered` runs) or, with `viaNpx`, npx itself. */
function tempered(args: string[], options: { viaNpx?: boolean } = {}): Promise<Run> {
  const [cmd, argv] = options.viaNpx ? ['npx', ['--no-install', 'tempered', ...args]] : [process.execPath, [join(repo, 'bin/tempered.mjs'), ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { cwd: repo, timeout: 90_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const bmc = (command: string[], file = passwordFile) => ['bmc', ...command, '--address', address, '--username', stack.sushy.username, '--password-file', file];

describe('tempered bmc against sushy-tools', () => {
  it('power-on prints the power result as JSON, and power-state reads it back', async () => {
    const on = await tempered(bmc(['power-on']), { viaNpx: true });
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    expect(JSON.parse(on.stdout)).toMatchObject({ action: 'on', state: 'on' });
    const state = await tempered(bmc(['power-state']));
    expect(JSON.parse(state.stdout)).toEqual({ powerState: 'on', poweredOn: true });
  });

  it('inventory prints HardwareData plus firmware and manager facts', async () => {
    const run = await tempered(bmc(['inventory']));
    expect(run.code).toBe(0);
    const inv = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(Object.keys(inv.hardware ?? {}).sort()).toEqual(['cpu', 'firmware', 'hostname', 'nics', 'ramMebibytes', 'storage', 'systemVendor']);
    expect(inv.hardware?.systemVendor).toMatchObject({ manufacturer: 'Sushy Emulator' });
    expect(inv.hardware?.nics).toEqual([expect.objectContaining({ mac: system.mac.toLowerCase() })]);
    expect(inv.manager).toMatchObject({ path: `/redfish/v1/Managers/${system.uuid}`, firmwareVersion: '1.00' });
    expect(inv.firmware).toEqual([expect.objectContaining({ component: 'bmc', version: '1.00' })]);
    expect(inv.system).toMatchObject({ uuid: system.uuid });
  });

  it('boot-cd, insert-media and eject-media', async () => {
    const boot = await tempered(bmc(['boot-cd']));
    expect(JSON.parse(boot.stdout)).toMatchObject({ device: 'cd', target: 'Cd', enabled: 'Once' });
    const inserted = await tempered(bmc(['insert-media', iso.url]));
    expect(inserted.code).toBe(0);
    expect(JSON.parse(inserted.stdout)).toMatchObject({ image: iso.url, changed: true });
    expect(iso.downloads()).toBe(1);
    const ejected = await tempered(bmc(['eject-media']));
    expect(JSON.parse(ejected.stdout)).toEqual({ ejected: [expect.objectContaining({ image: iso.url, changed: true })] });
  });

  it('power-off', async () => {
    const off = await tempered(bmc(['power-off']));
    expect(JSON.parse(off.stdout)).toMatchObject({ state: 'off', changed: true });
  });

  it('a wrong password exits 1 with BmcAuthFailed and no password in the output', async () => {
    const run = await tempered(bmc(['power-state'], wrongFile));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^tempered bmc: BmcAuthFailed: /);
    expect(run.stderr).not.toContain('definitely-wrong');
  });

  it('a removed scheme exits 1 naming the replacement', async () => {
    const run = await tempered(['bmc', 'power-state', '--address', 'ilo4://10.0.0.1', '--username', 'u', '--password-file', passwordFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/BmcSchemeUnsupported: Unknown BMC type 'ilo4'.*ipmi:\/\//);
  });

  it('bad usage exits 2 with the usage text', async () => {
    const run = await tempered(['bmc', 'power-on', '--address', address]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/missing --username, --password-file/);
    expect(run.stderr).toMatch(/usage: tempered bmc/);
  });
});
