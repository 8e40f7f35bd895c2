/**
 * What ships, tested as a user gets it. `npm pack` (whose prepack is `npm run build`) once; then
 * - the CLI: the tarball installed with `npm install <tgz>` into an empty directory, `npx tempered` running
 *   from node_modules on compiled JavaScript, `--help`, `setup temporal` and the operator's commands against
 *   the stack;
 * - the image: built from the same tarball (deploy/image/build-image.ts: mmdebstrap base, buildah), its
 *   tools and user checked, and the worker and the bridge run FROM it with podman, locked down as the
 *   manifests run them, against the local stack, until a host is available.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { SEARCH_ATTRIBUTES } from '../domain/names.ts';
import { metricsUrlIn } from '../stack/engine.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import { bmhClient } from '../test/bmh.ts';
import { buildImage, packRepository, type ImageBuild } from './image/build-image.ts';
import { podmanForThisMachine, type Podman } from './image/podman.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const execFileAsync = promisify(execFile);
const RUN = unique('pkg').slice(4);
const work = mkdtempSync(join(tmpdir(), 'tempered-package-'));
const progress = (m: string) => process.stderr.write(`[package] ${m}\n`);

let tarball: string;

async function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { ...options, maxBuffer: 32 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  tarball = await packRepository(join(work, 'pack'));
}, 600_000);

describe('npm pack: the CLI as a package', () => {
  const consumer = join(work, 'consumer');
  /** No TEMPORAL_* of the caller's: the command is told where Temporal is, as a user would. */
  const { TEMPORAL_ADDRESS: _a, TEMPORAL_NAMESPACE: _n, TEMPORAL_PROFILE: _p, TEMPORAL_CONFIG_FILE: _f, ...env } = process.env;

  beforeAll(async () => {
    mkdirSync(consumer, { recursive: true });
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: consumer });
    expect(installed.code, installed.stderr).toBe(0);
  }, 600_000);

  it('holds compiled JavaScript and the workflow bundle, no TypeScript sources and no tests', async () => {
    const listing = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean);
    expect(listing).toEqual(expect.arrayContaining(['package/bin/tempered.mjs', 'package/dist/cli/main.js', 'package/dist/workers/entrypoint.js', 'package/dist/workflow-bundle.js']));
    expect(listing.filter((f) => f.endsWith('.ts') || /\.test\.js$/.test(f) || f.includes('node_modules'))).toEqual([]);
    const installed = join(consumer, 'node_modules', 'tempered');
    expect(existsSync(join(installed, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(installed, 'cli', 'main.ts'))).toBe(false);
  });

  it('npx tempered --help runs from node_modules', async () => {
    const help = await run('npx', ['--no-install', 'tempered', '--help'], { cwd: consumer, env });
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: tempered <group> <command>/);
    expect(help.stdout).toContain('setup');
  });

  it('npx tempered setup temporal registers the search attributes on the stack\'s Temporal', async () => {
    const namespace = `pkg-${RUN}`;
    const result = await run('npx', ['--no-install', 'tempered', 'setup', 'temporal', '--namespace', namespace, '--create-namespace'], {
      cwd: consumer,
      env: { ...env, TEMPORAL_ADDRESS: stack.temporal.address },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`registered ${Object.keys(SEARCH_ATTRIBUTES).join(', ')}`);
    const connection = await Connection.connect({ address: stack.temporal.address });
    try {
      const listed = await connection.operatorService.listSearchAttributes({ namespace });
      expect(Object.keys(listed.customAttributes ?? {}).sort()).toEqual(Object.keys(SEARCH_ATTRIBUTES).sort());
    } finally {
      await connection.close();
    }
  });

  it("the operator's commands run compiled: tempered hosts (Kubernetes) and tempered host history (Temporal)", async () => {
    const namespace = `pkg-hosts-${RUN}`;
    const hosts = bmhClient(stack.kube.kubeconfig, namespace);
    await hosts.createNamespace();
    // An operator's shell: where Kubernetes and Temporal are (hosts reads operations from Temporal too).
    const operator = { ...env, KUBECONFIG: stack.kube.kubeconfig, TEMPORAL_ADDRESS: stack.temporal.address };
    const listed = await run('npx', ['--no-install', 'tempered', 'hosts', '-n', namespace, '--json'], {
      cwd: consumer,
      env: operator,
    });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
    const history = await run('npx', ['--no-install', 'tempered', 'host', 'history', `${namespace}/nobody`], {
      cwd: consumer,
      env: operator,
    });
    expect(history.code).toBe(1);
    expect(history.stderr).toContain(`no workflow history for ${namespace}/nobody`);
  });
});

describe('the container image', () => {
  let build: ImageBuild;
  let podman: Podman;
  let sushy: SushyEmulator;
  const containers: string[] = [];
  const NS = `image-${RUN}`;
  const PASSWORD = `Image-${RUN}-pw`;
  const hosts = bmhClient(stack.kube.kubeconfig, NS);

  beforeAll(async () => {
    build = await buildImage({ tarball, progress });
    const t = build.timings;
    progress(`built ${build.image} (${build.size}) in ${t.total} s: base ${t.base} s, node ${t.node} s, dependencies ${t.dependencies} s, build ${t.build} s`);
    podman = await podmanForThisMachine(progress);
  }, 1_200_000);

  afterAll(async () => {
    for (const name of containers) await run(podman.podman, [...podman.global, 'rm', '--force', '--time', '15', name]);
    await sushy?.stop();
  });

  const inImage = (entrypoint: string, args: string[]) => run(podman.podman, [...podman.global, 'run', '--rm', ...podman.run, '--network', 'none', '--entrypoint', entrypoint, build.image, ...args]);

  it('has Node 24, ipmitool, qemu-img and xorriso, preloads jemalloc, runs as 65532 with a read-only root, and has no dev dependencies', async () => {
    expect((await inImage('/usr/local/bin/node', ['--version'])).stdout.trim()).toMatch(/^v24\./);
    expect((await inImage('ipmitool', ['-V'])).stdout).toMatch(/^ipmitool version/);
    expect((await inImage('qemu-img', ['--version'])).stdout).toMatch(/^qemu-img version/);
    const mapped = await inImage('/usr/local/bin/node', ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))"]);
    expect(mapped.stdout).toMatch(/\/libjemalloc\.so\.2$/m);
    const xorriso = await inImage('xorriso', ['-version']);
    expect(xorriso.stdout + xorriso.stderr).toMatch(/xorriso \d/);
    const inspect = JSON.parse((await run(podman.podman, [...podman.global, 'image', 'inspect', build.image])).stdout) as { Config: { User: string; Entrypoint: string[]; Cmd: string[] } }[];
    expect(inspect[0]?.Config).toMatchObject({ User: '65532:65532', Entrypoint: ['/usr/local/bin/node', '/opt/tempered/dist/workers/entrypoint.js'], Cmd: ['worker'] });
    const shell = await inImage('/bin/sh', ['-c', 'id -u; test -e /opt/tempered/dist/workflow-bundle.js && echo bundle; for p in typescript vitest eslint @temporalio/testing; do test -e /opt/tempered/node_modules/$p && echo "dev: $p"; done; touch /opt/tempered/x 2>/dev/null || echo read-only']);
    expect(shell.stdout.trim().split('\n')).toEqual(['65532', 'bundle', 'read-only']);
    const usage = await run(podman.podman, [...podman.global, 'run', '--rm', ...podman.run, '--network', 'none', build.image, 'nope']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: entrypoint <worker|bridge|agent-api>');
  });

  it('the worker and the bridge run from it against the local stack: a host goes to available', async () => {
    sushy = await startSushy({ stateDir: join(work, 'sushy'), systems: 1, password: PASSWORD, progress: () => {} });
    await hosts.createNamespace();
    // The processes run as 65532: they get a copy of the admin kubeconfig they can read.
    const config = join(work, 'config');
    mkdirSync(config, { recursive: true, mode: 0o755 });
    chmodSync(work, 0o755);
    copyFileSync(stack.kube.kubeconfig, join(config, 'kubeconfig'));
    chmodSync(join(config, 'kubeconfig'), 0o644);
    const common = [
      '--network', 'host',
      '--volume', `${config}:/etc/tempered/config:ro`,
      '--env', 'KUBECONFIG=/etc/tempered/config/kubeconfig',
      '--env', `TEMPORAL_ADDRESS=${stack.temporal.address}`,
      '--env', `TEMPORAL_NAMESPACE=${stack.temporal.namespace}`,
      '--env', `TEMPERED_HOST_TASK_QUEUE=hosts-${RUN}`,
      '--env', `TEMPERED_BRIDGE_TASK_QUEUE=bridge-${RUN}`,
      '--env', 'TEMPERED_METRICS_PORT=0',
      '--env', 'TEMPERED_METRICS_HOST=127.0.0.1',
      '--env', 'LOG_FORMAT=json',
    ];
    const start = async (process: 'worker' | 'bridge', extra: string[]) => {
      const name = `tempered-${process}-${RUN}`;
      const started = await run(podman.podman, [...podman.global, 'run', '--detach', '--name', name, ...podman.run, ...common, ...extra, build.image, process]);
      expect(started.code, started.stderr).toBe(0);
      containers.push(name);
      return name;
    };
    const logs = async (name: string) => {
      const out = await run(podman.podman, [...podman.global, 'logs', name]);
      return out.stdout + out.stderr;
    };
    const worker = await start('worker', []);
    const bridge = await start('bridge', ['--env', `WATCH_NAMESPACE=${NS}`, '--env', `TEMPERED_LEASE_NAMESPACE=${NS}`, '--env', `TEMPERED_LEASE_IDENTITY=image-${RUN}`]);
    const polling = await waitFor('the worker polling', async () => (await logs(worker)).split('\n').find((l) => l.includes('"worker polling"')), { timeoutMs: 90_000, intervalMs: 500 });
    expect(JSON.parse(polling)).toMatchObject({ workflows: 'prebuilt bundle', temporal: { address: stack.temporal.address } });
    await waitFor('the bridge leading', async () => (await logs(bridge)).includes('leading: informers synced'), { timeoutMs: 90_000, intervalMs: 500 });

    await hosts.secret('bmc-0', sushy.username, PASSWORD);
    await hosts.create('host-0', { online: false, automatedCleaningMode: 'disabled', bootMACAddress: sushy.systems[0]?.mac, bmc: { address: `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${sushy.systems[0]?.path}`, credentialsName: 'bmc-0' } });
    await hosts.inState('host-0', 'available', (h) => h.status?.operationalStatus === 'OK');

    for (const name of [worker, bridge]) {
      const url = metricsUrlIn(await logs(name));
      expect(url, name).toBeDefined();
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status, await ready.text()).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^process_cpu_seconds_total/m);
    }
    // Stopped as a pod is: SIGTERM, drained, exit 0.
    for (const name of [bridge, worker]) {
      await run(podman.podman, [...podman.global, 'stop', '--time', '30', name]);
      const state = JSON.parse((await run(podman.podman, [...podman.global, 'inspect', name])).stdout) as { State: { ExitCode: number } }[];
      expect(state[0]?.State.ExitCode, `${name} exit code`).toBe(0);
    }
  });
});
