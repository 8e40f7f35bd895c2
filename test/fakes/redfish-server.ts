/**
 * A small in-test Redfish service on 127.0.0.1 for the driver's unit tests: serves a map of resources, merges
 * PATCHes, computes ETags (checking If-Match when asked), sessions or basic auth, routes actions to handlers,
 * and records every request and the peak number in flight. Not the simulator (sim/): just enough to pin logic.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export type Json = Record<string, unknown>;

export interface FakeReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeRequest {
  method: string;
  path: string;
  body: unknown;
  headers: IncomingMessage['headers'];
  auth: 'session' | 'basic' | 'none';
}

export interface FakeRedfishOptions {
  resources: Record<string, Json>;
  username?: string;
  password?: string;
  /** Offer a SessionService (root Links.Sessions). */
  sessions?: boolean;
  /** Reject PATCHes whose If-Match does not match (412), or that have none (428). */
  requireIfMatch?: boolean;
  /** ETags are weak (`W/"..."`), as iLO sends them. */
  weakEtags?: boolean;
  /** Runs before the default handling; return a reply to override it. */
  intercept?: (req: FakeRequest, fake: FakeRedfish) => FakeReply | undefined | Promise<FakeReply | undefined>;
  /** Handles POSTs to action targets; default 204 with no effect. */
  actions?: Record<string, (body: Json, fake: FakeRedfish) => FakeReply | undefined>;
  /** Headers added to a resource's GET (e.g. `Allow`). */
  headers?: Record<string, Record<string, string>>;
  /** Delay of every answer in ms (to make overlapping requests observable). */
  latencyMs?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

export interface FakeRedfish {
  url: string;
  port: number;
  resources: Record<string, Json>;
  requests: FakeRequest[];
  /** Highest number of requests handled at the same time. */
  maxInFlight: number;
  /** Session tokens currently valid. */
  tokens: Set<string>;
  deletedSessions: string[];
  etag(path: string): string;
  close(): Promise<void>;
}

function deepMerge(target: Json, patch: Json): Json {
  for (const [k, v] of Object.entries(patch)) {
    const cur = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) deepMerge(cur as Json, v as Json);
    else target[k] = v;
  }
  return target;
}

export async function startFakeRedfish(options: FakeRedfishOptions): Promise<FakeRedfish> {
  const username = options.username ?? 'admin';
  const password = options.password ?? 'secret';
  const resources = options.resources;
  let inFlight = 0;
  let sessionSeq = 0;
  const fake: FakeRedfish = {
    url: '',
    port: 0,
    resources,
    requests: [],
    maxInFlight: 0,
    tokens: new Set(),
    deletedSessions: [],
    etag(path: string) {
      const hash = createHash('sha1').update(JSON.stringify(resources[path] ?? null)).digest('hex').slice(0, 8);
      return options.weakEtags ? `W/"${hash}"` : `"${hash}"`;
    },
    close: async () => undefined,
  };
  if (options.sessions) {
    const root = resources['/redfish/v1'] ?? {};
    root.Links = { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } };
    root.SessionService = { '@odata.id': '/redfish/v1/SessionService' };
    resources['/redfish/v1'] = root;
  }

  const send = (res: ServerResponse, reply: FakeReply) => {
    const headers: Record<string, string> = { ...reply.headers };
    let text = '';
    if (reply.body !== undefined) {
      text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      headers['content-type'] ??= 'application/json';
    }
    res.writeHead(reply.status, headers);
    res.end(text);
  };

  const handle = async (req: IncomingMessage, raw: string): Promise<FakeReply> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    let body: unknown = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const token = req.headers['x-auth-token'];
    const basic = req.headers.authorization;
    const auth: FakeRequest['auth'] = typeof token === 'string' ? 'session' : basic ? 'basic' : 'none';
    const request: FakeRequest = { method: req.method ?? 'GET', path: `${path}${url.search}`, body, headers: req.headers, auth };
    fake.requests.push(request);
    const override = await options.intercept?.(request, fake);
    if (override) return override;

    const sessionsPath = '/redfish/v1/SessionService/Sessions';
    if (options.sessions && path === sessionsPath && req.method === 'POST') {
      const b = (body ?? {}) as Json;
      if (b.UserName !== username || b.Password !== password) return { status: 401, body: { error: { code: 'Base.1.8.NoValidSession', message: 'bad credentials' } } };
      const id = String(++sessionSeq);
      const tok = `tok-${id}-${Math.random().toString(36).slice(2)}`;
      fake.tokens.add(tok);
      return { status: 201, headers: { 'x-auth-token': tok, location: `${sessionsPath}/${id}` }, body: { '@odata.id': `${sessionsPath}/${id}`, Id: id } };
    }
    const isRoot = path === '/redfish/v1' && req.method === 'GET';
    if (!isRoot) {
      const sessionOk = typeof token === 'string' && fake.tokens.has(token);
      const basicOk = basic === `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      if (!sessionOk && !basicOk) return { status: 401, body: { error: { code: 'Base.1.8.AccessDenied', message: 'unauthorised' } } };
    }
    if (options.sessions && path.startsWith(`${sessionsPath}/`) && req.method === 'DELETE') {
      fake.deletedSessions.push(path);
      if (typeof token === 'string') fake.tokens.delete(token);
      return { status: 204 };
    }
    if (req.method === 'POST') {
      const handler = options.actions?.[path];
      if (handler) return handler((body ?? {}) as Json, fake) ?? { status: 204 };
      if (path.includes('/Actions/')) return { status: 204 };
      return { status: 405 };
    }
    const resourcePath = resources[`${path}${url.search}`] ? `${path}${url.search}` : path;
    const resource = resources[resourcePath];
    if (!resource) return { status: 404, body: { error: { code: 'Base.1.8.ResourceMissingAtURI', message: `${path} not found` } } };
    if (req.method === 'GET') return { status: 200, body: resource, headers: { etag: fake.etag(resourcePath), ...options.headers?.[resourcePath] } };
    if (req.method === 'PATCH') {
      const ifMatch = req.headers['if-match'];
      if (options.requireIfMatch) {
        if (!ifMatch) return { status: 428, body: { error: { code: 'Base.1.8.PreconditionRequired', message: 'If-Match required' } } };
        if (ifMatch !== fake.etag(resourcePath)) return { status: 412, body: { error: { code: 'Base.1.8.PreconditionFailed', message: 'ETag mismatch' } } };
      }
      deepMerge(resource, (body ?? {}) as Json);
      return { status: 204 };
    }
    return { status: 405 };
  };

  const listener: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight++;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      const finish = (reply: FakeReply) => {
        inFlight--;
        send(res, reply);
      };
      const go = () => handle(req, Buffer.concat(chunks).toString()).then(finish, (err: unknown) => finish({ status: 500, body: String(err) }));
      if (options.latencyMs) setTimeout(go, options.latencyMs);
      else void go();
    });
  };
  const server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.port = port;
  fake.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/** A minimal, standard-conforming service: one system, one manager, a CD slot on the system. */
export function basicResources(overrides: { system?: Json; root?: Json } = {}): Record<string, Json> {
  const sys = '/redfish/v1/Systems/1';
  return {
    '/redfish/v1': { '@odata.id': '/redfish/v1/', RedfishVersion: '1.15.0', Vendor: 'Contoso', Systems: { '@odata.id': '/redfish/v1/Systems' }, Managers: { '@odata.id': '/redfish/v1/Managers' }, ...overrides.root },
    '/redfish/v1/Systems': { Members: [{ '@odata.id': sys }] },
    [sys]: {
      '@odata.id': sys,
      Id: '1',
      Manufacturer: 'Contoso',
      Model: 'R1',
      PowerState: 'Off',
      Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideMode: 'UEFI' },
      Actions: { '#ComputerSystem.Reset': { target: `${sys}/Actions/ComputerSystem.Reset` } },
      VirtualMedia: { '@odata.id': `${sys}/VirtualMedia` },
      Links: { ManagedBy: [{ '@odata.id': '/redfish/v1/Managers/BMC' }] },
      ...overrides.system,
    },
    '/redfish/v1/Managers/BMC': { '@odata.id': '/redfish/v1/Managers/BMC', Id: 'BMC', FirmwareVersion: '2.1', Model: 'Contoso BMC' },
    [`${sys}/VirtualMedia`]: { Members: [{ '@odata.id': `${sys}/VirtualMedia/CD1` }] },
    [`${sys}/VirtualMedia/CD1`]: {
      '@odata.id': `${sys}/VirtualMedia/CD1`,
      Id: 'CD1',
      MediaTypes: ['CD', 'DVD'],
      Inserted: false,
      Image: null,
      Actions: {
        '#VirtualMedia.InsertMedia': { target: `${sys}/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia` },
        '#VirtualMedia.EjectMedia': { target: `${sys}/VirtualMedia/CD1/Actions/VirtualMedia.EjectMedia` },
      },
    },
  };
}
