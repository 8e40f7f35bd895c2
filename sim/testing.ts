/**
 * Helpers for tests that drive simulated BMCs over real HTTP: a tiny Redfish client (Basic auth or a session
 * token, plain fetch) and a file server for images (virtual media ISOs, firmware) that counts what it serves.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { SimulatedBmc, Simulator } from './index.ts';
import { waitFor } from '../test/wait.ts';

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
  close(): Promise<void>;
}

/** Starts a file server. Unknown paths answer 404. */
export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, number>();
  const hits = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const size = files.get(path);
    if (size === undefined) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    response.end(Buffer.alloc(size, 0x5a));
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export { sleep } from '../test/wait.ts';

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
