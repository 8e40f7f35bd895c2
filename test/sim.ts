/**
 * Helpers for tests that drive simulated BMCs over real HTTP: a tiny Redfish client (Basic auth or a session
 * token, plain fetch), a file server for images (virtual media ISOs, firmware) that counts what it serves, and
 * the per-file fixtures of simulator tests (simulators stopped after each test; for the simulated OS, a disk
 * image and a fake workload apiserver).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { writeConfigDrive } from '../sim/agent/image.ts';
import { createDiskFiles } from '../sim/disks.ts';
import { type BmcSpec, type SimulatedBmc, type Simulator, startSimulator } from '../sim/index.ts';
import { type FakeWorkloadApiserver, startFakeWorkloadApiserver } from './fakes/workload-apiserver.ts';
import { makeConfigDrive, makeRawImage } from './fixtures/disk-images.ts';
import { waitFor } from './wait.ts';

/** A response as tests look at it. */
export interface ClientResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined for an empty or non-JSON body. */
  json: Record<string, unknown> | undefined;
  text: string;
}

/** A minimal Redfish client bound to one BMC. */
export interface RedfishClient {
  readonly origin: string;
  request(method: string, path: string, options?: { body?: unknown; raw?: string | Uint8Array | FormData; headers?: Record<string, string> }): Promise<ClientResponse>;
  get(path: string, headers?: Record<string, string>): Promise<ClientResponse>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<ClientResponse>;
  patch(path: string, body: unknown, headers?: Record<string, string>): Promise<ClientResponse>;
  delete(path: string): Promise<ClientResponse>;
  /** PATCH with If-Match set from a fresh GET (converted to the strong form when `strong`). */
  patchWithEtag(path: string, body: unknown, strong?: boolean): Promise<ClientResponse>;
  /** Switches from Basic auth to a session; returns the session URI. */
  login(): Promise<string>;
}

/** A client for `bmc` using its credentials (override with `auth`). */
export function redfishClient(bmc: Pick<SimulatedBmc, 'port' | 'username' | 'password'>, auth?: { username: string; password: string }): RedfishClient {
  const origin = `http://127.0.0.1:${bmc.port}`;
  const username = auth?.username ?? bmc.username;
  const password = auth?.password ?? bmc.password;
  let authHeader: Record<string, string> = { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
  const client: RedfishClient = {
    origin,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...authHeader, ...options.headers };
      let body: string | Uint8Array | FormData | undefined = options.raw;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${origin}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await response.text();
      let json: Record<string, unknown> | undefined;
      try {
        json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, json, text };
    },
    get: (path, headers) => client.request('GET', path, headers ? { headers } : {}),
    post: (path, body, headers) => client.request('POST', path, { ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) }),
    patch: (path, body, headers) => client.request('PATCH', path, { body, ...(headers ? { headers } : {}) }),
    delete: (path) => client.request('DELETE', path),
    async patchWithEtag(path, body, strong = false) {
      const current = await client.get(path);
      let tag = current.headers.get('etag') ?? '';
      if (strong) tag = tag.replace(/^W\//, '');
      return client.patch(path, body, { 'if-match': tag });
    },
    async login() {
      const response = await client.post('/redfish/v1/SessionService/Sessions', { UserName: username, Password: password });
      const token = response.headers.get('x-auth-token');
      if (response.status !== 201 || !token) throw new Error(`login failed: ${response.status} ${response.text}`);
      authHeader = { 'x-auth-token': token };
      return response.headers.get('location') ?? '';
    },
  };
  return client;
}

/** A file server on 127.0.0.1 for images; counts requests per path. */
export interface FileServer {
  readonly origin: string;
  /** Requests received, by path. */
  readonly hits: Map<string, number>;
  /** Serves `size` bytes at `path`. */
  add(path: string, size: number): string;
  /** Serves `content` at `path` (ISOs, disk images, checksum files). */
  addBytes(path: string, content: Buffer | string): string;
  close(): Promise<void>;
}

/**
 * Starts a file server. Unknown paths answer 404. A `Range: bytes=a-b` request gets 206 with that slice, as
 * real image servers do (BMCs and the simulator read ISOs in ranges).
 */
export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, number | Buffer>();
  const hits = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = files.get(path);
    if (file === undefined) {
      response.writeHead(404).end('not found');
      return;
    }
    const size = typeof file === 'number' ? file : file.length;
    const slice = (start: number, end: number) =>
      typeof file === 'number' ? Buffer.alloc(end - start, 0x5a) : file.subarray(start, end);
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(size, range[2] ? Number(range[2]) + 1 : size);
      if (start >= size) {
        response.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      response.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start),
        'content-range': `bytes ${start}-${end - 1}/${size}`,
      });
      response.end(slice(start, end));
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'accept-ranges': 'bytes',
    });
    response.end(slice(0, size));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    hits,
    add(path, size) {
      files.set(path, size);
      return `${origin}${path}`;
    },
    addBytes(path, content) {
      files.set(path, typeof content === 'string' ? Buffer.from(content) : content);
      return `${origin}${path}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Polls `check` every 10 ms (the simulator's timings are tens of ms) until it holds; throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  await waitFor('a simulator condition', check, { timeoutMs, intervalMs: 10 });
}

/** What a test file gets from {@link useSimulatorFixture}. */
export interface SimulatorFixture {
  /** The file's image server (started before its first test). */
  readonly files: FileServer;
  /** Simulators started by the current test; each is stopped after it. */
  readonly running: Simulator[];
}

/**
 * The set-up most simulator test files share: one file server for images per file, and every simulator a
 * test starts (pushed on `running`) stopped after that test. Call once at the top of a test file.
 */
export function useSimulatorFixture(): SimulatorFixture {
  let files: FileServer | undefined;
  const running: Simulator[] = [];
  beforeAll(async () => {
    files = await startFileServer();
  });
  afterAll(async () => {
    await files?.close();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sim) => sim.stop()));
  });
  return {
    get files() {
      if (!files) throw new Error('the file server starts in beforeAll: use it inside a test or hook');
      return files;
    },
    running,
  };
}

/** What a test file gets from {@link useSimulatedOsFixture}. */
export interface SimulatedOsFixture {
  /** Simulators started by the current test; each is stopped after it. */
  readonly running: Simulator[];
  /** A whole-disk image (8 MiB, raw) for a host's disk, made once per file. */
  readonly image: Buffer;
  /** The fake workload apiserver the hosts' `kubeadm join` reaches, one per file. */
  readonly apiserver: FakeWorkloadApiserver;
  /** Starts a simulator of `bmcs` whose OSes hold the apiserver's kubelet credential (stopped after the test). */
  startSimulator(bmcs: BmcSpec[]): Promise<Simulator>;
}

/**
 * The set-up of tests of the simulated OS on a booted disk: {@link useSimulatorFixture}, plus an image to write
 * to a host's disk and a fake workload apiserver to join, made before the file's first test and removed after
 * its last. Call once at the top of a test file.
 */
export function useSimulatedOsFixture(): SimulatedOsFixture {
  const { running } = useSimulatorFixture();
  let dir: string | undefined;
  let image: Buffer | undefined;
  let apiserver: FakeWorkloadApiserver | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-os-test-'));
    image = await makeRawImage(join(dir, 'node.raw'), 8);
    apiserver = await startFakeWorkloadApiserver();
  }, 120_000);
  afterAll(async () => {
    await apiserver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the OS fixture starts in beforeAll: use it inside a test or hook');
    return value;
  };
  return {
    running,
    get image() {
      return started(image);
    },
    get apiserver() {
      return started(apiserver);
    },
    async startSimulator(bmcs) {
      const sim = await startSimulator({ bmcs });
      running.push(sim);
      sim.clusters.hold(started(apiserver).credential);
      return sim;
    },
  };
}

/**
 * Boots `bmc`'s host from `image` the way a driver does over Redfish: insert it in the first CD slot, a
 * one-time `Cd` boot override in `mode`, then power on (or restart a host that is on). For profiles whose
 * quirks do not stand in the way (dmtf, or another with its virtual media and If-Match quirks removed).
 */
export async function bootIso(bmc: SimulatedBmc, image: string, mode: 'UEFI' | 'Legacy' = 'UEFI'): Promise<void> {
  const client = redfishClient(bmc);
  // A slot that says it takes CDs, else one named like a CD drive, else the first.
  const media = bmc.state().media;
  let slot = media.find((candidate) => /cd/i.test(candidate.id)) ?? media[0];
  for (const candidate of media) {
    const types = (await client.get(candidate.slot)).json?.['MediaTypes'];
    if (Array.isArray(types) && types.some((type) => type === 'CD' || type === 'DVD')) {
      slot = candidate;
      break;
    }
  }
  if (!slot) throw new Error(`${bmc.id} has no virtual media slot`);
  if (slot.inserted) await expectOk(client.post(`${slot.slot}/Actions/VirtualMedia.EjectMedia`, {}), 'eject');
  await expectOk(client.post(`${slot.slot}/Actions/VirtualMedia.InsertMedia`, { Image: image }), 'insert media');
  const boot = { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: mode };
  await expectOk(client.patch(bmc.systemPath, { Boot: boot }), 'boot override');
  await resetHost(bmc, bmc.state().power === 'On' ? 'ForceRestart' : 'On');
}

/** Boots `bmc`'s host from its disk (one-time `Hdd` override, then power on or restart). */
export async function bootDisk(bmc: SimulatedBmc): Promise<void> {
  const client = redfishClient(bmc);
  const boot = { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Once' };
  await expectOk(client.patch(bmc.systemPath, { Boot: boot }), 'boot override');
  await resetHost(bmc, bmc.state().power === 'On' ? 'ForceRestart' : 'On');
}

/**
 * Leaves on `bmc`'s first disk what a deploy leaves there, without a deploy: `image` (a whole-disk GPT image)
 * at its start and a config drive with `metaData` and `userData` in a partition at its end, written by the
 * simulated agent's own config-drive code. The host then boots it with {@link bootDisk}.
 */
export async function writeDeployedDisk(
  bmc: SimulatedBmc,
  image: Buffer,
  metaData: Record<string, unknown>,
  userData: string,
): Promise<void> {
  const [disk] = bmc.disks();
  if (!disk) throw new Error(`${bmc.id} has no disk`);
  await createDiskFiles([disk]);
  const handle = await open(disk.path, 'r+');
  try {
    await handle.write(image, 0, image.length, 0);
  } finally {
    await handle.close();
  }
  await writeConfigDrive(disk, (await makeConfigDrive(metaData, userData)).iso, bmc.id);
}

/** Sends a ComputerSystem.Reset. */
export async function resetHost(bmc: SimulatedBmc, resetType: string): Promise<void> {
  const reset = redfishClient(bmc).post(`${bmc.systemPath}/Actions/ComputerSystem.Reset`, { ResetType: resetType });
  await expectOk(reset, `reset ${resetType}`);
}

async function expectOk(pending: Promise<ClientResponse>, what: string): Promise<void> {
  const response = await pending;
  if (response.status >= 300) throw new Error(`${what}: HTTP ${response.status} ${response.text}`);
}
