// `tempered sim`: the data centre writes its BMC list once listening and stops cleanly on SIGTERM; `redfish`
// serves a tree given on the command line; bad usage exits 2. Runs the real CLI in a child process.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tempered-sim-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [main, 'sim', ...args], { stdio: 'pipe' });
}

/** Collects JSON lines from stdout until one has `event` equal to `wanted`. */
function waitFor(child: ChildProcessWithoutNullStreams, wanted: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n').slice(0, -1)) {
        const record = JSON.parse(line) as Record<string, unknown>;
        if (record['event'] === wanted) {
          child.stdout.off('data', onData);
          resolve(record);
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before '${wanted}'`)));
  });
}

function exitCode(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = cli(args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return exitCode(child).then((code) => ({ code, stdout, stderr }));
}

describe('tempered sim', () => {
  it('datacenter writes the BMC list once listening and stops on SIGTERM', { timeout: 30_000 }, async () => {
    const file = join(scratch, 'bmcs.json');
    const child = cli(['datacenter', '--hosts', '4', '--profiles', 'idrac,ilo5', '--write', file, '--json', '--power-delay-ms', '0']);
    const listening = await waitFor(child, 'listening');
    expect(listening).toMatchObject({ count: 4, endpoints: 4, file });
    const written = JSON.parse(readFileSync(file, 'utf8')) as { layout: string; bmcs: { address: string; username: string; password: string; profile: string; bootMACAddress: string }[] };
    expect(written.layout).toBe('port-per-bmc');
    expect(written.bmcs.map((bmc) => bmc.profile)).toEqual(['idrac', 'ilo5', 'idrac', 'ilo5']);
    const [dell] = written.bmcs;
    if (!dell) throw new Error('no BMC written');
    expect(dell.address).toMatch(/^idrac-virtualmedia\+http:\/\/127\.0\.0\.1:\d+\/redfish\/v1\/Systems\/System\.Embedded\.1$/);
    const url = dell.address.replace(/^[a-z0-9-]+\+/, '');
    const response = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${dell.username}:${dell.password}`).toString('base64')}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { Manufacturer: string }).Manufacturer).toBe('Dell Inc.');

    // Every host's disks are sparse files under the state folder, listed with the BMC.
    type Disk = { name: string; serial: string; sizeBytes: number; path: string };
    type Listing = { agentUrl: string; stateDir: string; bmcs: { id: string; agent: string; disks: Disk[] }[] };
    const listing = JSON.parse(readFileSync(file, 'utf8')) as Listing;
    expect(listing.stateDir).toBe(join(scratch, 'hosts'));
    expect(listing.bmcs.map((bmc) => bmc.agent)).toEqual(['sim', 'sim', 'sim', 'sim']);
    for (const bmc of listing.bmcs) {
      expect(bmc.disks.length).toBeGreaterThan(0);
      for (const disk of bmc.disks) {
        expect(disk.path.startsWith(join(listing.stateDir, 'disks', bmc.id))).toBe(true);
        expect(statSync(disk.path)).toMatchObject({ size: disk.sizeBytes, blocks: 0 });
        expect(disk.serial).not.toBe('');
      }
    }
    // The control API reads and switches the agent of a host.
    const hostUrl = `${listing.agentUrl}/_sim/hosts/${listing.bmcs[0]?.id}`;
    const host = await (await fetch(hostUrl)).json();
    expect(host).toMatchObject({ agent: 'sim', settings: { bootDelayMs: 0 }, counters: { imageWrites: 0 } });
    const body = JSON.stringify({ diskBytesPerSec: 1024 });
    const patched = await fetch(`${hostUrl}/agent`, { method: 'PATCH', body });
    expect(await patched.json()).toMatchObject({ settings: { diskBytesPerSec: 1024 } });
    const refused = await fetch(`${hostUrl}/agent`, { method: 'PATCH', body: JSON.stringify({ kind: 'nope' }) });
    expect(refused.status).toBe(400);
    // ... and the switches of its simulated OS (the never-join switch of the Cluster API tests).
    expect(host).toMatchObject({ os: { settings: { neverJoin: false }, last: null } });
    const os = await fetch(`${hostUrl}/os`, { method: 'PATCH', body: JSON.stringify({ neverJoin: true }) });
    expect(await os.json()).toMatchObject({ settings: { neverJoin: true } });
    const mistyped = await fetch(`${hostUrl}/os`, { method: 'PATCH', body: JSON.stringify({ neverJoin: 'yes' }) });
    expect(mistyped.status).toBe(400);

    const stopped = waitFor(child, 'stopped');
    child.kill('SIGTERM');
    await stopped;
    expect(await exitCode(child)).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
    await expect(fetch(hostUrl)).rejects.toThrow();
  });

  it('redfish serves a long-form tree given on the command line', { timeout: 30_000 }, async () => {
    const mockup = fileURLToPath(new URL('../sim/mockups/lenovo-xcc', import.meta.url));
    const child = cli(['redfish', '--mockup', mockup, '--profile', 'lenovo', '--listen', '127.0.0.1:0', '--username', 'root', '--password', 's3cret', '--json']);
    const listening = await waitFor(child, 'listening');
    expect(listening).toMatchObject({ profile: 'xcc', username: 'root', password: 's3cret' });
    const root = await fetch(`${String(listening['url'])}/Systems/1`, { headers: { authorization: `Basic ${Buffer.from('root:s3cret').toString('base64')}` } });
    expect(((await root.json()) as { Model: string }).Model).toBe('ThinkSystem SR650');
    child.kill('SIGINT');
    expect(await exitCode(child)).toBe(0);
  });

  it('lists profiles and quirks as JSON', async () => {
    const { code, stdout } = await run(['profiles', '--json']);
    expect(code).toBe(0);
    const listed = JSON.parse(stdout) as { profiles: { id: string }[]; quirks: { id: string }[] };
    expect(listed.profiles.map((profile) => profile.id)).toEqual(['dmtf', 'ilo5', 'ami', 'xcc', 'idrac', 'supermicro']);
    expect(listed.quirks.length).toBeGreaterThanOrEqual(15);
  });

  it.each([
    [['datacenter', '--write', 'x.json'], /--hosts is required/],
    [['datacenter', '--hosts', '2'], /--write is required/],
    [['datacenter', '--hosts', 'two', '--write', 'x.json'], /--hosts must be an integer/],
    [['redfish'], /--mockup is required/],
    [['fly'], /unknown command 'fly'/],
    [['redfish', '--bogus'], /Unknown option/],
    [['datacenter', '--hosts', '2', '--write', 'x.json', '--agent', 'pxe'], /--agent must be sim or ipa/],
    [['redfish', '--mockup', 'dmtf-rackmount1', '--agent', 'ipa'], /--agent ipa needs --state-dir/],
  ])('exits 2 on bad usage: %j', async (args, message) => {
    const { code, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('exits 1 with the reason when the mockup is not a tree', async () => {
    const { code, stderr } = await run(['redfish', '--mockup', scratch, '--listen', '0']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/not a Redfish mockup/);
  });
});
