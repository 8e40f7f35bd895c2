/**
 * `npm start` as a user sees it: the main job comes up on the simulated data centre, writes stack.json,
 * `kubectl get bmh -A` shows the hosts reaching their states (the live-ISO host and the qcow2 host, whose image
 * and config drive land on a disk stack.json lists, to provisioned), a host
 * applied with kubectl goes the same way, and Ctrl-C stops everything it started. It runs as production:
 * histories encrypted, the Temporal UI decoding them through the codec server (called here as the UI's
 * browser code calls it), every process's metrics served at the URLs stack.json gives. Runs stack/start.ts
 * (what `npm start` runs) with TEMPERED_HOME pointing at a temporary directory.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { payloadToJson } from '../lib/payload-codec.ts';
import { readConfigDrive } from '../sim/index.ts';
import { isListening } from '../stack/ports.ts';
import type { StackJson } from '../stack/start.ts';
import { waitFor } from './wait.ts';

const home = mkdtempSync(join(tmpdir(), 'tempered-npm-start-'));
let child: ChildProcess | undefined;
let output = '';

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

/** Waits until `probe` gives a value; fails at once if npm start exits, showing its output either way. */
const until = <T>(what: string, probe: () => T | undefined | false, timeoutMs: number) =>
  waitFor(what, probe, {
    timeoutMs,
    intervalMs: 250,
    failIf: () => (child?.exitCode !== null ? `npm start exited (${child?.exitCode})` : undefined),
    detail: () => `output:\n${output.slice(-3000)}`,
  });

/**
 * Encryption on, the UI wired to the codec server and able to call it from its origin, metrics served: what
 * stack.json says is where it says.
 */
async function runsLikeProduction(handle: StackJson): Promise<void> {
  expect(handle.temporal.codecServer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  // The UI's own server hands its browser code the codec endpoint (the dev server's --ui-codec-endpoint).
  const settings = (await (await fetch(`${handle.temporal.ui}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
  expect(settings.Codec?.Endpoint).toBe(handle.temporal.codecServer);

  // A host workflow's first payload as the server stores it: encrypted.
  const connection = await Connection.connect({ address: handle.temporal.address });
  try {
    const client = new Client({ connection, namespace: handle.temporal.namespace });
    const workflowId = `bmh/metal3/${handle.hosts[0]?.name}`;
    const history = await waitFor(`${workflowId} started`, () => client.workflow.getHandle(workflowId).fetchHistory().catch(() => undefined), {
      timeoutMs: 60_000,
    });
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(Buffer.from(input?.metadata?.['encoding'] ?? []).toString()).toBe('binary/encrypted');
    expect(Buffer.from(input?.data ?? []).toString('latin1')).not.toContain(handle.hosts[0]?.bmcAddress);

    // The UI's browser code: a CORS preflight from the UI's origin, then the POST with X-Namespace.
    const origin = handle.temporal.ui as string;
    const preflight = await fetch(`${handle.temporal.codecServer}/decode`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    const decoded = await fetch(`${handle.temporal.codecServer}/decode`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json', 'x-namespace': handle.temporal.namespace },
      body: JSON.stringify({ payloads: [payloadToJson(input as never)] }),
    });
    expect(decoded.status).toBe(200);
    const [payload] = ((await decoded.json()) as { payloads: { data: string }[] }).payloads;
    const value = JSON.parse(Buffer.from(payload?.data ?? '', 'base64').toString()) as { desired: { spec: { bmc: { address: string } } } };
    expect(value.desired.spec.bmc.address).toBe(handle.hosts[0]?.bmcAddress);
  } finally {
    await connection.close();
  }

  // Each process's scrape URL serves its own metrics and the Temporal SDK's.
  for (const [name, url, own] of [['worker', handle.engine.metrics.worker, 'tempered_bmc_call_duration_seconds'], ['bridge', handle.engine.metrics.bridge, 'workqueue_depth']] as const) {
    const text = await (await fetch(url)).text();
    expect(text, name).toContain(`# TYPE ${own} `);
    expect(text, name).toMatch(/^# TYPE temporal_\w+ /m);
  }
}

describe('npm start', () => {
  it('brings Tempered up on simulated hosts, shows them in kubectl, takes a kubectl-applied host, and stops on Ctrl-C', async () => {
    child = spawn(process.execPath, [fileURLToPath(new URL('../stack/start.ts', import.meta.url)), '--hosts', '2'], {
      env: { ...process.env, TEMPERED_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const stackJson = join(home, 'stack.json');
    const handle = await until('stack.json', () => existsSync(stackJson) && (JSON.parse(readFileSync(stackJson, 'utf8')) as StackJson), 240_000);
    expect(handle).toMatchObject({ kubeconfig: join(home, 'kubeconfig'), temporal: { namespace: 'default' }, bmc: { kind: 'sim' } });
    expect(handle.hosts.map((h) => h.name)).toEqual(['host-0', 'host-1']);
    // Each simulated host lists its disks: sparse files of the stated size, for tools that check what was written.
    for (const host of handle.hosts) {
      expect(host.disks?.length).toBeGreaterThan(0);
      for (const disk of host.disks ?? []) expect(statSync(disk.path).size).toBe(disk.sizeBytes);
    }
    expect(output).toContain('Temporal UI');
    expect(output).toContain(`${handle.kubectl} --kubeconfig ${handle.kubeconfig} get bmh -A`);
    expect((await fetch(`${handle.temporal.ui}/namespaces/default/workflows`)).status).toBe(200);
    // The agent API answers Ironic's version discovery where stack.json says (what deploy agents call).
    const discovery = (await (await fetch(`${handle.engine.agentApi}/`)).json()) as { default_version?: { version?: string } };
    expect(discovery.default_version?.version).toBe('1.68');
    // The stand-in base IPA ISO deploy ISOs are remastered from (docs/images.md): an ISO 9660 image.
    const ipaIso = Buffer.from(await (await fetch(handle.images.ipaIso)).arrayBuffer());
    expect(ipaIso.subarray(0x8001, 0x8006).toString('latin1')).toBe('CD001');

    await runsLikeProduction(handle);

    const kubectl = (args: string[], input?: string) => execFileSync(handle.kubectl, ['--kubeconfig', handle.kubeconfig, ...args], { encoding: 'utf8', ...(input ? { input } : {}) });
    const rows = () => kubectl(['get', 'bmh', '-A', '--no-headers']).trim().split('\n').map((l) => l.trim().split(/\s+/));
    // host-1 boots the live ISO; host-0 gets the qcow2 image npm start made, written by the simulator's agent.
    expect(handle.images.diskImage).toMatch(/\/demo\.qcow2$/);
    await until('host-0 and host-1 provisioned in kubectl get bmh -A', () => {
      const r = rows();
      return r.some((x) => x[1] === 'host-0' && x[2] === 'provisioned') && r.some((x) => x[1] === 'host-1' && x[2] === 'provisioned');
    }, 240_000);
    // The image is on one of host-0's disks as stack.json lists them, with host-0's config drive.
    const uid = kubectl(['get', 'bmh', '-n', 'metal3', 'host-0', '-o', 'jsonpath={.metadata.uid}']);
    const drives = [];
    for (const disk of handle.hosts[0]?.disks ?? []) {
      const drive = await readConfigDrive({ ...disk, model: '', vendor: '', rotational: false });
      if (drive) drives.push(JSON.parse(drive.files['openstack/latest/meta_data.json']?.toString() ?? '{}') as { uuid?: string });
    }
    expect(drives).toEqual([expect.objectContaining({ uuid: uid })]);
    expect(kubectl(['get', 'bmh', '-A'])).toMatch(/NAMESPACE\s+NAME\s+STATE\s+CONSUMER\s+ONLINE\s+ERROR\s+AGE/);

    // A user's own manifest: the first host is removed, and a new one applied on its BMC.
    kubectl(['delete', 'bmh', '-n', 'metal3', 'host-0', '--wait=true', '--timeout=90s']);
    const bmcAddress = handle.hosts[0]?.bmcAddress ?? '';
    kubectl(['apply', '-f', '-'], [
      'apiVersion: metal3.io/v1alpha1',
      'kind: BareMetalHost',
      'metadata: {name: applied, namespace: metal3}',
      'spec:',
      '  online: false',
      `  bmc: {address: "${bmcAddress}", credentialsName: ${handle.hosts[0]?.credentialsName}}`,
      '',
    ].join('\n'));
    await until('the applied host available', () => rows().some((x) => x[1] === 'applied' && x[2] === 'available'), 90_000);

    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child?.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(output).toContain('stopped');
    expect(existsSync(stackJson)).toBe(false);
    const port = Number(handle.temporal.address.split(':')[1]);
    expect(await isListening(port)).toBe(false);
    expect(await fetch(`${handle.images.liveIso}`).then(() => 'up', () => 'down')).toBe('down');
    expect(await fetch(`${handle.engine.agentApi}/`).then(() => 'up', () => 'down')).toBe('down');
  }, 480_000);
});
