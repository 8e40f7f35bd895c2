/**
 * The operator's commands as an operator runs them: subprocesses of `tempered` against the real stack and the
 * real engine (payloads encrypted), with the environment an operator has (TEMPORAL_ADDRESS, KUBECONFIG) and no
 * encryption keys: `hosts` (a table, JSON, `--watch`), `host abort` (an operation running, then none), and
 * `host history`, both decoding through a `tempered codec-server` that holds the keys (`--codec-endpoint`, or
 * the Temporal CLI's `TEMPORAL_CODEC_ENDPOINT`).
 *
 * A simulated BMC fetches its ISO from an image server that answers slowly, so provisioning is an operation
 * that runs long enough to be seen and aborted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../sim/index.ts';
import type { Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { bmhClient } from '../test/bmh.ts';
import { startTestEngine } from '../test/engine-fixture.ts';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import type { HostRow } from './hosts.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN = unique('op').slice(3);
const NS = `operator-${RUN}`;
const PASSWORD = `Operator-${RUN}-pw`;
const hosts = bmhClient(stack.kube.kubeconfig, NS);

let sim: Simulator;
let images: ImageServer;
let engine: Engine;
let codecServer: ChildProcess | undefined;
let codecUrl = '';

/** What an operator's shell has: where Temporal and Kubernetes are; no encryption keys. */
const operatorEnv = (): NodeJS.ProcessEnv => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && !k.startsWith('TEMPERED_')),
  );
  return {
    ...env,
    TEMPORAL_ADDRESS: stack.temporal.address,
    TEMPORAL_NAMESPACE: stack.temporal.namespace,
    KUBECONFIG: stack.kube.kubeconfig,
  };
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tempered ARGS` to completion. */
function tempered(args: string[], env: NodeJS.ProcessEnv = operatorEnv()): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli', 'main.ts'), ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-operator-'));
  sim = await startSimulator({ bmcs: [{ profile: 'dmtf', password: PASSWORD, id: 'op-0' }] });
  images = await startImageServer({ '/slow.iso': Buffer.alloc(256 * 1024, 5) });
  await hosts.createNamespace();
  engine = await startTestEngine(stack, dir, RUN, NS, {}, { encryption: 'generate' });
  // The codec server an operator's tools decode through; it alone holds the keys.
  codecServer = spawn(
    process.execPath,
    [
      join(ROOT, 'cli', 'main.ts'),
      'codec-server',
      '--listen',
      '127.0.0.1:0',
      '--keys-file',
      engine.keysFile as string,
      '--json',
    ],
    {
      env: operatorEnv(),
    },
  );
  let out = '';
  codecServer.stdout?.on('data', (d) => (out += d));
  codecUrl = await waitFor('the codec server', () => /"url":"([^"]+)"/.exec(out)?.[1], { timeoutMs: 30_000 });
  const bmc = sim.bmc('op-0');
  await hosts.secret('op-bmc', bmc.username, PASSWORD);
  // These BMCs boot no deploy agent: automated cleaning is off (the agent's tests run it).
  await hosts.create('op-0', {
    automatedCleaningMode: 'disabled',
    online: false,
    bmc: { address: bmc.address, credentialsName: 'op-bmc' },
  });
  await hosts.inState('op-0', 'available');
});

afterAll(async () => {
  codecServer?.kill('SIGTERM');
  await engine?.stop();
  await images?.stop();
  await sim?.stop();
});

describe("the operator's CLI", () => {
  it('hosts: the table and the JSON show state, status, power; an operation running and since when', async () => {
    const idle = await tempered(['hosts', '-n', NS, '--json']);
    expect(idle.code, idle.stderr).toBe(0);
    expect(JSON.parse(idle.stdout)).toEqual([
      expect.objectContaining({
        namespace: NS,
        name: 'op-0',
        state: 'available',
        operationalStatus: 'OK',
        operation: null,
        poweredOn: false,
        errorType: '',
      }),
    ]);

    images.setDelay(60_000); // the BMC's fetch of the ISO hangs: provisioning runs until aborted
    await hosts.patchSpec('op-0', { online: true, image: { url: images.url('/slow.iso'), format: 'live-iso' } });
    const busy = await waitFor(
      'op-0 provisioning, shown with its operation',
      async () => {
        const run = await tempered(['hosts', '-n', NS, '--json']);
        const [row] = JSON.parse(run.stdout || '[]') as HostRow[];
        return row?.state === 'provisioning' && row.operation?.name === 'provision' ? row : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(busy.operation?.workflowId).toMatch(new RegExp(`^bmh/${NS}/op-0/provision/\\d+$`));
    expect(Date.now() - Date.parse(busy.operation?.startedAt ?? '')).toBeLessThan(120_000);

    const table = await tempered(['hosts', '-n', NS]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/NAMESPACE\s+NAME\s+STATE\s+STATUS\s+OPERATION \(FOR\)\s+POWER\s+ERROR/);
    expect(table.stdout).toMatch(new RegExp(`${NS}\\s+op-0\\s+provisioning\\s+OK\\s+provision \\(\\d+`));
  });

  it('host abort: aborts the running operation; the host records it; with nothing running it says so', async () => {
    const aborted = await tempered([
      'host',
      'abort',
      `${NS}/op-0`,
      '--reason',
      'the ISO server is down',
      '--codec-endpoint',
      codecUrl,
    ]);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.stdout).toMatch(/aborted the provision operation of .*op-0/);
    await waitFor(
      "the abort recorded as the host's error",
      async () => {
        const run = await tempered(['hosts', '-n', NS, '--json']);
        const [row] = JSON.parse(run.stdout || '[]') as HostRow[];
        return row?.errorType === 'provisioning error' &&
          /aborted by an operator: the ISO server is down/.test(row.errorMessage)
          ? row
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    images.setDelay(0);

    await waitFor(
      'no operation running',
      async () => {
        const run = await tempered(['hosts', '-n', NS, '--json']);
        return (JSON.parse(run.stdout || '[]') as HostRow[])[0]?.operation === null;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const withCodec = { ...operatorEnv(), TEMPORAL_CODEC_ENDPOINT: codecUrl };
    const nothing = await tempered(['host', 'abort', `${NS}/op-0`], withCodec);
    expect(nothing.code).toBe(1);
    expect(nothing.stdout).toMatch(/nothing to abort: .*op-0 runs no operation now/);
    const missing = await tempered(['host', 'abort', `${NS}/no-such-host`], withCodec);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/has no running host workflow/);
  });

  it('host history: the timeline through the codec server: operations, BMC calls, errors, the abort', async () => {
    const run = await tempered(['host', 'history', `${NS}/op-0`, '--codec-endpoint', codecUrl]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    expect(
      // Registering runs in the host workflow (patch inline-bmc-operations): its BMC call is the host's.
      lines.some((l) => /host\s+registerBmc ok/.test(l)),
      run.stdout,
    ).toBe(true);
    expect(lines.some((l) => /host\s+status available, OK, power off/.test(l))).toBe(true);
    expect(lines.some((l) => /host\s+abortOperation requested: the ISO server is down/.test(l))).toBe(true);
    expect(lines.some((l) => /operation provision\/\d+ (cancelled|failed)/.test(l))).toBe(true);
    expect(lines.some((l) => /status provisioning, error provisioning error|error provisioning error/.test(l))).toBe(
      true,
    );

    const json = await tempered(['host', 'history', `${NS}/op-0`, '--json', '--codec-endpoint', codecUrl]);
    const parsed = JSON.parse(json.stdout) as { executions: number; entries: { kind: string; where: string }[] };
    // The host's runs and the provision child (a live-ISO boot is one).
    expect(parsed.executions).toBeGreaterThanOrEqual(2);
    expect([...new Set(parsed.entries.map((e) => e.kind))]).toEqual(
      expect.arrayContaining(['workflow', 'intent', 'status', 'operation', 'bmc', 'abort']),
    );

    // Without the codec server (and without keys) the encrypted payloads cannot be read: it says so.
    const blind = await tempered(['host', 'history', `${NS}/op-0`]);
    expect(blind.code).toBe(1);
    expect(blind.stderr).toMatch(/binary\/encrypted|encrypt/i);
  });

  it('hosts --watch: a line per change as it happens, until Ctrl-C', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'hosts', '-n', NS, '--watch', '--json'], {
      env: operatorEnv(),
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const rows = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as HostRow);
    await waitFor('the first listing', () => rows().length >= 1, { timeoutMs: 30_000 });
    const before = rows().length;
    await hosts.patchSpec('op-0', { image: null, online: false });
    await waitFor(
      'a line for the change',
      () =>
        rows()
          .slice(before)
          .some((r) => r.name === 'op-0'),
      { timeoutMs: 60_000 },
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });
});
