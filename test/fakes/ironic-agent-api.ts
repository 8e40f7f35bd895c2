/**
 * A small stand-in for Ironic's side of the agent protocol, to drive a deploy agent (the real
 * ironic-python-agent, or the simulator's) in tests the way Ironic does (docs:
 * /work/shared/reference/ipa-protocol.md §1-2) until the engine's agent API lands: version discovery, lookup
 * with a pre-generated token ("******", as with virtual media), heartbeats that record the callback URL and the
 * auto-TLS certificate, the inspection callback, and a command client that pins that certificate (or speaks
 * plain HTTP to an agent without TLS) and sends the agent token. It records everything it received so tests can
 * check it.
 */
import { request as httpsRequest } from 'node:https';
import {
  createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntil } from '../../stack/processes.ts';

/** What IPA sent in one heartbeat. */
export interface Heartbeat {
  callback_url: string;
  agent_token?: string;
  agent_version?: string;
  agent_verify_ca?: string;
}

/** One command result as IPA reports it. */
export interface AgentCommand {
  id: string;
  command_name: string;
  command_status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CLEAN_VERSION_MISMATCH';
  command_error: { type: string; code: number; message: string; details: string } | null;
  command_result: Record<string, unknown> | null;
}

/** The node as lookup returns it (and as steps send it). */
export interface FakeNode {
  uuid: string;
  properties: Record<string, unknown>;
  instance_info: Record<string, unknown>;
  driver_internal_info: Record<string, unknown>;
}

export interface FakeIronicOptions {
  node: FakeNode;
  /** The MACs lookup matches (any of them). */
  macs: string[];
}

const API_VERSION = '1.68';

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

function reply(res: ServerResponse, status: number, payload?: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(payload === undefined ? '' : JSON.stringify(payload));
}

/** The fake Ironic API, listening on 127.0.0.1. */
export class FakeIronic {
  readonly lookups: URLSearchParams[] = [];
  /** Every request answered: its route, status and `X-OpenStack-Ironic-API-Version` header. */
  readonly calls: { method: string; path: string; status: number; version: string | undefined }[] = [];
  readonly heartbeats: Heartbeat[] = [];
  readonly inspections: Array<Record<string, unknown>> = [];
  node: FakeNode;
  private readonly macs: Set<string>;
  private readonly server: Server;

  private constructor(server: Server, options: FakeIronicOptions) {
    this.server = server;
    this.node = options.node;
    this.macs = new Set(options.macs.map((m) => m.toLowerCase()));
  }

  /** `http://127.0.0.1:<port>`: what `ipa-api-url` carries. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(options: FakeIronicOptions): Promise<FakeIronic> {
    const server = createServer((req, res) => {
      res.once('finish', () => {
        const version = req.headers['x-openstack-ironic-api-version'];
        const path = new URL(req.url ?? '/', 'http://fake').pathname;
        const method = req.method ?? 'GET';
        fake.calls.push({ method, path, status: res.statusCode, version: version as string | undefined });
      });
      void fake.handle(req, res).catch((e: unknown) => reply(res, 500, { error_message: String(e) }));
    });
    const fake = new FakeIronic(server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '')) {
      const version = { id: 'v1', links: [], status: 'CURRENT', min_version: '1.1', version: API_VERSION };
      return reply(res, 200, { name: 'OpenStack Ironic API', default_version: version, versions: [version] });
    }
    if (req.method === 'GET' && url.pathname === '/v1/lookup') {
      this.lookups.push(url.searchParams);
      const addresses = (url.searchParams.get('addresses') ?? '').toLowerCase().split(',');
      if (!addresses.some((a) => this.macs.has(a)) && url.searchParams.get('node_uuid') !== this.node.uuid) {
        return reply(res, 404, { error_message: 'Node could not be found.' });
      }
      return reply(res, 200, {
        node: this.node,
        config: { heartbeat_timeout: 300, agent_token: '******', agent_token_required: true },
      });
    }
    const heartbeat = /^\/v1\/heartbeat\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && heartbeat) {
      if (heartbeat[1] !== this.node.uuid) return reply(res, 404, { error_message: 'Node not found' });
      this.heartbeats.push((await body(req)) as Heartbeat);
      return reply(res, 202);
    }
    if (req.method === 'POST' && url.pathname === '/v1/continue_inspection') {
      this.inspections.push((await body(req)) as Record<string, unknown>);
      return reply(res, 202, { uuid: this.node.uuid });
    }
    return reply(res, 404, { error_message: `no route ${req.method} ${url.pathname}` });
  }

  /** The last heartbeat, waiting for the first one. */
  async heartbeat(timeoutMs = 120_000): Promise<Heartbeat> {
    await waitUntil('the agent to heartbeat', async () => this.heartbeats.length > 0, { timeoutMs, intervalMs: 200 });
    return this.heartbeats[this.heartbeats.length - 1] as Heartbeat;
  }

  /**
   * Calls the agent's command API as Ironic does: `?agent_token=`, TLS pinned to the heartbeat's certificate
   * (plain HTTP for an agent whose callback URL says so).
   */
  async agent(method: 'GET' | 'POST', path: string, payload?: unknown): Promise<{ status: number; body: unknown }> {
    const hb = await this.heartbeat();
    const target = new URL(`${hb.callback_url}${path}`);
    target.searchParams.set('agent_token', hb.agent_token ?? '');
    const request = target.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = request(target, {
        method,
        ca: hb.agent_verify_ca,
        headers: { 'content-type': 'application/json' },
        timeout: 60_000,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      req.end(payload === undefined ? undefined : JSON.stringify(payload));
    });
  }

  /** Runs `name` (`extension.command`) and, for async commands, waits until it leaves RUNNING. */
  async command(name: string, params: Record<string, unknown>, timeoutMs = 120_000): Promise<AgentCommand> {
    const posted = await this.agent('POST', '/v1/commands/?wait=false', { name, params });
    if (posted.status !== 200) throw new Error(`${name}: HTTP ${posted.status} ${JSON.stringify(posted.body)}`);
    let result = posted.body as AgentCommand;
    await waitUntil(`${name} to finish`, async () => {
      const listed = await this.agent('GET', '/v1/commands/');
      const commands = (listed.body as { commands: AgentCommand[] }).commands;
      result = commands.find((c) => c.id === result.id) ?? result;
      return result.command_status !== 'RUNNING';
    }, { timeoutMs, intervalMs: 250 });
    return result;
  }

  /** Runs an in-band step through `execute_<kind>_step` with the node as Ironic sends it. */
  async step(kind: 'deploy' | 'clean', step: Record<string, unknown>, timeoutMs = 120_000): Promise<AgentCommand> {
    const steps = await this.command(`${kind}.get_${kind}_steps`, { node: this.node, ports: [] });
    const versions = (steps.command_result as { hardware_manager_version: Record<string, string> })
      .hardware_manager_version;
    return this.command(`${kind}.execute_${kind}_step`, {
      step, node: this.node, ports: [], [`${kind}_version`]: versions,
    }, timeoutMs);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
