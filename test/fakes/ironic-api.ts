/**
 * A small stand-in for Ironic's side of the agent protocol, for testing deploy agents (the simulator's, and the
 * real IPA) without the engine: `GET /` version discovery, `GET /v1/lookup` by MAC or node UUID, `POST
 * /v1/heartbeat/{node}` and `POST /v1/continue_inspection`, recording every call; plus a client that commands an
 * agent the way Ironic's `agent_client.py` does (`POST <callback>/v1/commands/?wait=…&agent_token=…`, polling
 * `GET /v1/commands/`). Fakes are for tests of the agents only; the engine's real agent API replaces it in the
 * integration tier.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A node the fake knows. */
export interface FakeNode {
  uuid: string;
  macs: string[];
  /** The token handed out: given once by lookup unless `pregenerated` (then lookup says `******`). */
  token: string;
  pregenerated: boolean;
  instanceInfo?: Record<string, unknown>;
  properties?: Record<string, unknown>;
}

/** One recorded heartbeat. */
export interface Heartbeat {
  node: string;
  at: number;
  body: { callback_url?: string; agent_token?: string; agent_version?: string; [key: string]: unknown };
  versionHeader: string | undefined;
}

/** The fake API and what it saw. */
export interface FakeIronicApi {
  readonly url: string;
  readonly lookups: { query: Record<string, string>; status: number; versionHeader: string | undefined }[];
  readonly heartbeats: Heartbeat[];
  readonly inspections: { body: Record<string, unknown>; node: string | undefined }[];
  addNode(node: FakeNode): void;
  /** The last heartbeat of a node. */
  lastHeartbeat(uuid: string): Heartbeat | undefined;
  /** Answer heartbeats with this status instead of 202 (e.g. 409); undefined restores 202. */
  heartbeatStatus: number | undefined;
  /** Answer `GET /` with this maximum version. */
  maxVersion: string;
  close(): Promise<void>;
}

async function body(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function send(response: ServerResponse, status: number, value?: unknown): void {
  const text = value === undefined ? '' : JSON.stringify(value);
  response.writeHead(status, { 'content-type': 'application/json' }).end(text);
}

function ironicError(message: string): { error_message: string } {
  return { error_message: JSON.stringify({ faultcode: 'Client', faultstring: message, debuginfo: null }) };
}

/** Starts the fake on 127.0.0.1. */
export async function startFakeIronicApi(): Promise<FakeIronicApi> {
  const nodes = new Map<string, FakeNode>();
  const given = new Set<string>();
  const api: FakeIronicApi = {
    url: '',
    lookups: [],
    heartbeats: [],
    inspections: [],
    addNode: (node) => nodes.set(node.uuid, node),
    lastHeartbeat: (uuid) => api.heartbeats.filter((beat) => beat.node === uuid).at(-1),
    heartbeatStatus: undefined,
    maxVersion: '1.115',
    close: async () => undefined,
  };
  const byMac = (macs: string[]) =>
    [...nodes.values()].find((node) => node.macs.some((mac) => macs.includes(mac.toLowerCase())));
  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://fake');
      const versionHeader = request.headers['x-openstack-ironic-api-version'] as string | undefined;
      if (request.method === 'GET' && url.pathname === '/') {
        const version = { id: 'v1', links: [], status: 'CURRENT', min_version: '1.1', version: api.maxVersion };
        return send(response, 200, {
          name: 'OpenStack Ironic API',
          description: 'fake',
          default_version: version,
          versions: [version],
        });
      }
      if (request.method === 'GET' && url.pathname === '/v1/lookup') {
        const query = Object.fromEntries(url.searchParams);
        const macs = (query['addresses'] ?? '')
          .toLowerCase()
          .split(',')
          .filter((mac) => mac !== '');
        const node = (query['node_uuid'] ? nodes.get(query['node_uuid']) : undefined) ?? byMac(macs);
        const status = node ? 200 : macs.length === 0 && !query['node_uuid'] ? 400 : 404;
        api.lookups.push({ query, status, versionHeader });
        if (!node) return send(response, status, ironicError('Node could not be found.'));
        const token = node.pregenerated || given.has(node.uuid) ? '******' : node.token;
        given.add(node.uuid);
        return send(response, 200, {
          node: {
            uuid: node.uuid,
            properties: node.properties ?? {},
            instance_info: node.instanceInfo ?? {},
            driver_internal_info: {},
          },
          config: {
            heartbeat_timeout: 300,
            agent_token: token,
            agent_token_required: true,
            permitted_image_formats: ['raw', 'gpt', 'qcow2'],
          },
        });
      }
      const beat = /^\/v1\/heartbeat\/([^/]+)$/.exec(url.pathname);
      if (request.method === 'POST' && beat?.[1]) {
        const uuid = decodeURIComponent(beat[1]);
        const node = nodes.get(uuid);
        const received = await body(request);
        api.heartbeats.push({ node: uuid, at: Date.now(), body: received, versionHeader });
        if (!node) return send(response, 404, ironicError('Node could not be found.'));
        if (received['agent_token'] !== node.token)
          return send(response, 400, ironicError('Invalid or missing agent token received.'));
        return send(response, api.heartbeatStatus ?? 202);
      }
      if (request.method === 'POST' && url.pathname === '/v1/continue_inspection') {
        const received = await body(request);
        const interfaces = ((received['inventory'] as Record<string, unknown> | undefined)?.['interfaces'] ?? []) as {
          mac_address?: string;
        }[];
        const node = byMac(interfaces.map((nic) => (nic.mac_address ?? '').toLowerCase()));
        api.inspections.push({ body: received, node: node?.uuid });
        if (!node) return send(response, 404, ironicError('Node could not be found.'));
        return send(response, 202, { uuid: node.uuid });
      }
      send(response, 404, ironicError(`no route ${request.method} ${url.pathname}`));
    })().catch((error: unknown) => send(response, 500, ironicError((error as Error).message)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(api, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
  return api;
}

/** An agent command result as IPA serializes it. */
export interface CommandResult {
  id: string;
  command_name: string;
  command_status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CLEAN_VERSION_MISMATCH';
  command_error: { type: string; code: number; message: string; details: string } | null;
  command_result: unknown;
}

/** Commands an agent as Ironic does. */
export interface AgentCommandClient {
  /** `POST /v1/commands/`; returns the HTTP status and body. */
  post(
    name: string,
    params: Record<string, unknown>,
    wait?: boolean,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** `POST` that must answer 200; returns the command result. */
  run(name: string, params: Record<string, unknown>, wait?: boolean): Promise<CommandResult>;
  list(): Promise<CommandResult[]>;
  /** Polls `GET /v1/commands/` until the last command named `name` leaves RUNNING (Ironic's `poll=True`). */
  waitFor(name: string, timeoutMs?: number): Promise<CommandResult>;
}

/** A client for the agent at `callbackUrl` (what the heartbeat said) with `token`. */
export function agentCommandClient(callbackUrl: string, token: string): AgentCommandClient {
  const client: AgentCommandClient = {
    async post(name, params, wait = false) {
      const response = await fetch(
        `${callbackUrl}/v1/commands/?wait=${wait}&agent_token=${encodeURIComponent(token)}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, params }),
        },
      );
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async run(name, params, wait = false) {
      const { status, body: result } = await client.post(name, params, wait);
      if (status !== 200) throw new Error(`${name}: HTTP ${status} ${JSON.stringify(result)}`);
      return result as unknown as CommandResult;
    },
    async list() {
      const response = await fetch(`${callbackUrl}/v1/commands/?agent_token=${encodeURIComponent(token)}`);
      if (response.status !== 200) throw new Error(`list commands: HTTP ${response.status}`);
      return ((await response.json()) as { commands: CommandResult[] }).commands;
    },
    async waitFor(name, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = (await client.list()).filter((command) => command.command_name === name).at(-1);
        if (last && last.command_status !== 'RUNNING') return last;
        if (Date.now() > deadline)
          throw new Error(`${name} still ${last?.command_status ?? 'absent'} after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  return client;
}
