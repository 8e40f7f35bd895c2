/**
 * The Ironic-side API a stock ironic-python-agent calls, served by the agent API process: version discovery
 * (`GET /`, `GET /v1`), `GET /v1/lookup`, `POST /v1/heartbeat/{node}`, `POST /v1/continue_inspection`, and
 * the per-boot deploy ISOs BMCs fetch (`GET /v1/deploy-iso/...`, signed URLs). Stateless: a host is found in
 * the index (BareMetalHosts and HardwareData), each call becomes a message to its host workflow, and the
 * agent token of a boot is derived from the installation key. No token, signature or query string is logged.
 *
 * Shapes and status codes follow Ironic (ironic/api/controllers/v1/ramdisk.py): lookup 200 with `node` and
 * `config`, heartbeat 202 with no body, inspection 202 with `{"uuid"}`, errors as Ironic's `error_message`.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { normalizeMac, type AgentBootPurpose, type AgentInspection } from '../domain/agent.ts';
import { BaseIsoError, type DeployIsoStore, type KernelParams } from './deploy-iso.ts';
import type { HostIndex, IndexedHost } from './host-index.ts';
import type { HostMessenger, Refusal } from './messenger.ts';
import type { AgentKeys } from './token.ts';

/** The Ironic API version served: 1.68 makes IPA send its token, version and auto-TLS certificate. */
export const API_VERSION = { min: '1.1', max: '1.68' } as const;

/** Image formats the agent may write (Ironic's `permitted_image_formats`, plus what qemu-img converts). */
export const PERMITTED_IMAGE_FORMATS = ['raw', 'gpt', 'qcow2', 'vdi', 'vmdk'] as const;

const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface AgentApiOptions {
  /** The URL agents and BMCs reach this API at (what goes into deploy ISOs as `ipa-api-url`). */
  publicUrl: string;
  keys: AgentKeys;
  hosts: Pick<HostIndex, 'byUid' | 'byMacs'>;
  messenger: HostMessenger;
  isos: Pick<DeployIsoStore, 'get'>;
  /** Kernel parameters every deploy ISO gets besides the agent's own (Metal3's defaults). */
  extraKernelParams: string;
  /** Translates `spec.rootDeviceHints` to Ironic's `root_device` (the lookup answer's `instance_info`). */
  rootDeviceHints?: (hints: Record<string, unknown>) => Record<string, unknown>;
  logger: Logger;
  now?: () => number;
}

/** Parses a configured command line (`nofb ipa-insecure=1`) into parameters. */
export function parseKernelParams(text: string): KernelParams {
  const params: KernelParams = {};
  for (const token of text.split(/\s+/).filter((t) => t !== '')) {
    const eq = token.indexOf('=');
    if (eq < 0) params[token] = true;
    else params[token.slice(0, eq)] = token.slice(eq + 1);
  }
  return params;
}

/** The kernel parameters of one boot's deploy ISO (Ironic's `build_agent_options` for virtual media). */
export function deployKernelParams(options: { publicUrl: string; token: string; purpose: AgentBootPurpose; extra: string }): KernelParams {
  const api = options.publicUrl.replace(/\/+$/, '');
  const params: KernelParams = { ...parseKernelParams(options.extra), 'ipa-api-url': api, 'ipa-agent-token': options.token, boot_method: 'vmedia' };
  if (options.purpose === 'inspect') {
    // Metal3's inspection parameters; `logs` is not collected (it would travel to the workflow for nothing).
    Object.assign(params, {
      'ipa-inspection-callback-url': `${api}/v1/continue_inspection`,
      'ipa-inspection-collectors': 'default',
      'ipa-inspection-dhcp-all-interfaces': '1',
      'ipa-collect-lldp': '1',
    });
  }
  return params;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Ironic's error body: a JSON string inside JSON. */
function ironicError(status: number, message: string): string {
  return JSON.stringify({ error_message: JSON.stringify({ faultcode: status < 500 ? 'Client' : 'Server', faultstring: message, debuginfo: null }) });
}

function versionDoc(base: string) {
  const v1 = { id: 'v1', links: [{ href: `${base}/v1/`, rel: 'self' }], status: 'CURRENT', min_version: API_VERSION.min, version: API_VERSION.max };
  return { name: 'OpenStack Ironic API', description: 'Tempered: the Ironic API a deploy agent calls', default_version: v1, versions: [v1] };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Ironic answers 404 for an unknown node and for a node in the wrong state alike, on purpose. */
const notFound = (what: string) => new HttpError(404, `Node ${what} could not be found.`);

function refusedToHttp(refusal: Refusal, what: string): HttpError {
  return refusal.refused === 'not-found' ? notFound(what) : new HttpError(404, `Node ${what} could not be found.`);
}

/**
 * A callback URL Ironic would accept: http(s) and a host. A path is kept (one server can host many agents
 * under their node UUID, as Metal3's fake-ipa and the simulator's agent do; `/v1/commands/` is appended).
 */
function checkCallbackUrl(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new HttpError(400, 'callback_url is required');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new HttpError(400, `callback_url '${value}' is not a URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.search || url.hash || url.username) {
    throw new HttpError(400, `callback_url '${value}' must be http(s)://<host>:<port>[/<path>] with no query or credentials`);
  }
  return value.replace(/\/+$/, '');
}

/** The API's request handler (exported for tests; `startAgentApi` serves it). */
export function agentApiHandler(options: AgentApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { keys, hosts, messenger, logger } = options;
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const now = options.now ?? Date.now;
  const stamp = () => new Date(now()).toISOString();

  const hostMatching = (macs: string[], nodeUuid: string | undefined, what: string): IndexedHost => {
    if (nodeUuid) {
      const host = hosts.byUid(nodeUuid);
      if (!host) throw notFound(nodeUuid);
      return host;
    }
    const found = hosts.byMacs(macs);
    if (found.length === 0) throw notFound(`with addresses ${macs.join(',')}`);
    if (found.length > 1) {
      logger.warn({ addresses: macs, hosts: found.map((h) => `${h.namespace}/${h.name}`), call: what }, 'addresses match several hosts; refusing');
      throw notFound(`with addresses ${macs.join(',')}`);
    }
    return found[0] as IndexedHost;
  };

  const lookupNode = (host: IndexedHost) => {
    const hints = host.spec.rootDeviceHints && options.rootDeviceHints ? options.rootDeviceHints(host.spec.rootDeviceHints) : undefined;
    const bootMode = host.spec.bootMode === 'legacy' ? 'bios' : 'uefi';
    return {
      uuid: host.uid,
      properties: { cpu_arch: host.spec.architecture ?? 'x86_64', capabilities: `boot_mode:${bootMode}` },
      instance_info: hints && Object.keys(hints).length > 0 ? { root_device: hints } : {},
      driver_internal_info: {},
      links: [],
    };
  };

  async function lookup(url: URL): Promise<[number, unknown]> {
    const addresses = (url.searchParams.get('addresses') ?? '').split(',').map(normalizeMac).filter((m): m is string => m !== undefined);
    const nodeUuid = url.searchParams.get('node_uuid') || undefined;
    if (addresses.length === 0 && !nodeUuid) throw new HttpError(400, 'Either node_uuid or addresses must be provided.');
    const host = hostMatching(addresses, nodeUuid, 'lookup');
    const reply = await messenger.lookup(host, { addresses, ...(nodeUuid ? { nodeUuid } : {}), receivedAt: stamp() });
    if ('refused' in reply) {
      logger.info({ host: `${host.namespace}/${host.name}`, reason: reply.reason }, 'lookup refused: the host expects no agent now');
      throw refusedToHttp(reply, nodeUuid ?? `with addresses ${addresses.join(',')}`);
    }
    logger.info({ host: `${host.namespace}/${host.name}`, bootId: reply.bootId, tokenIssued: reply.issueToken }, 'agent looked up');
    return [200, {
      node: lookupNode(host),
      config: {
        heartbeat_timeout: reply.heartbeatTimeoutSeconds,
        agent_token: reply.issueToken ? keys.tokenFor(host.uid, reply.bootId) : '******',
        agent_token_required: true,
        agent_md5_checksum_enable: true,
        permitted_image_formats: [...PERMITTED_IMAGE_FORMATS],
        disable_deep_image_inspection: false,
        // The BMC is reached over Redfish, so the agent need not look for it with ipmitool.
        agent_skip_bmc_detect: true,
      },
    }];
  }

  async function heartbeat(nodeIdent: string, req: IncomingMessage): Promise<[number, unknown]> {
    const host = hosts.byUid(nodeIdent);
    if (!host) throw notFound(nodeIdent);
    const body = await readJson(req);
    const verified = keys.verifyToken(host.uid, body['agent_token']);
    if (!verified) throw new HttpError(400, 'Invalid or missing agent token received.');
    const callbackUrl = checkCallbackUrl(body['callback_url']);
    const agentVersion = body['agent_version'];
    if (typeof agentVersion !== 'string' || agentVersion === '') throw new HttpError(400, 'agent_version is required');
    const verifyCa = body['agent_verify_ca'];
    if (verifyCa !== undefined && verifyCa !== null && (typeof verifyCa !== 'string' || !verifyCa.includes('-----BEGIN CERTIFICATE-----'))) {
      throw new HttpError(400, 'agent_verify_ca must be a PEM certificate');
    }
    const refused = await messenger.heartbeat(host, {
      bootId: verified.bootId,
      callbackUrl,
      agentVersion,
      ...(typeof verifyCa === 'string' ? { verifyCa } : {}),
      receivedAt: stamp(),
    });
    if (refused) throw refusedToHttp(refused, nodeIdent);
    logger.debug({ host: `${host.namespace}/${host.name}`, bootId: verified.bootId, callbackUrl }, 'heartbeat');
    return [202, undefined];
  }

  async function continueInspection(url: URL, req: IncomingMessage): Promise<[number, unknown]> {
    const body = await readJson(req);
    const inventory = body['inventory'];
    if (inventory === null || typeof inventory !== 'object' || Array.isArray(inventory)) throw new HttpError(400, 'inventory is required');
    const interfaces = (inventory as { interfaces?: unknown }).interfaces;
    if (!Array.isArray(interfaces) || interfaces.length === 0) throw new HttpError(400, 'inventory.interfaces must be a non-empty list');
    const macs = interfaces.map((i) => (typeof (i as { mac_address?: unknown })?.mac_address === 'string' ? normalizeMac((i as { mac_address: string }).mac_address) : undefined));
    if (macs.some((m) => m === undefined)) throw new HttpError(400, 'every inventory interface needs a mac_address');
    const nodeUuid = url.searchParams.get('node_uuid') || undefined;
    const host = hostMatching(macs as string[], nodeUuid, 'continue_inspection');
    // Everything but the inventory is plugin data; the logs stay here (a base64 tarball of no use to the engine).
    const { inventory: _inventory, logs: _logs, ...pluginData } = body;
    const data: AgentInspection = { receivedAt: stamp(), inventory: inventory as Record<string, unknown>, pluginData };
    const refused = await messenger.inspection(host, data);
    if (refused) {
      logger.info({ host: `${host.namespace}/${host.name}`, reason: refused.reason }, 'inspection data refused: the host is not inspecting');
      throw refusedToHttp(refused, nodeUuid ?? host.uid);
    }
    logger.info({ host: `${host.namespace}/${host.name}` }, 'inspection data received');
    return [202, { uuid: host.uid }];
  }

  async function deployIso(parts: string[], url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [uid = '', bootId = '', file = ''] = parts.map(decodeURIComponent);
    const purpose = file.endsWith('.iso') ? file.slice(0, -4) : '';
    const checked = keys.checkDeployIso({ hostUid: uid, bootId, purpose, query: url.searchParams }, Math.floor(now() / 1000));
    if (!checked.ok) throw new HttpError(checked.status, checked.reason);
    const { ref } = checked;
    const host = hosts.byUid(ref.hostUid);
    if (!host) throw new HttpError(404, 'no such host');
    const extra = `${options.extraKernelParams} ${ref.extraKernelParams ?? ''}`;
    const params = deployKernelParams({ publicUrl, token: keys.tokenFor(ref.hostUid, ref.bootId), purpose: ref.purpose, extra });
    let path: string;
    try {
      path = await options.isos.get(JSON.stringify([ref.hostUid, ref.bootId, ref.purpose, ref.baseIso, extra]), ref.baseIso, params);
    } catch (error) {
      if (error instanceof BaseIsoError) throw new HttpError(502, error.message);
      throw error;
    }
    logger.info({ host: `${host.namespace}/${host.name}`, bootId: ref.bootId, purpose: ref.purpose, range: req.headers.range ?? null }, 'serving deploy ISO');
    serveFile(path, req, res);
  }

  return (req, res) => {
    const started = now();
    const url = new URL(req.url ?? '/', 'http://agent-api');
    const segments = url.pathname.split('/').filter((s) => s !== '');
    const method = req.method ?? 'GET';
    let route = 'unknown';
    const done = (status: number) => {
      // The path only: query strings carry URL signatures, and no body is ever logged.
      const level = status >= 500 ? 'warn' : 'debug';
      logger[level]({ method, path: url.pathname, route, status, ms: now() - started }, 'request');
    };
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-openstack-ironic-api-minimum-version': API_VERSION.min,
        'x-openstack-ironic-api-maximum-version': API_VERSION.max,
        ...headers,
      });
      res.end(method === 'HEAD' ? undefined : text);
      done(status);
    };

    const handle = async (): Promise<void> => {
      if ((method === 'GET' || method === 'HEAD') && segments.length === 0) {
        route = 'root';
        return send(200, versionDoc(publicUrl));
      }
      if ((method === 'GET' || method === 'HEAD') && segments.length === 1 && segments[0] === 'v1') {
        route = 'v1';
        return send(200, { id: 'v1', links: [{ href: `${publicUrl}/v1/`, rel: 'self' }], media_types: [{ base: 'application/json', type: 'application/vnd.openstack.ironic.v1+json' }], lookup: [], heartbeat: [] });
      }
      if (segments[0] === 'v1' && segments[1] === 'lookup' && segments.length === 2 && method === 'GET') {
        route = 'lookup';
        const [status, body] = await lookup(url);
        return send(status, body);
      }
      if (segments[0] === 'v1' && segments[1] === 'heartbeat' && segments.length === 3 && method === 'POST') {
        route = 'heartbeat';
        const [status, body] = await heartbeat(decodeURIComponent(segments[2] ?? ''), req);
        return send(status, body);
      }
      if (segments[0] === 'v1' && segments[1] === 'continue_inspection' && segments.length === 2 && method === 'POST') {
        route = 'continue_inspection';
        const [status, body] = await continueInspection(url, req);
        return send(status, body);
      }
      if (segments[0] === 'v1' && segments[1] === 'deploy-iso' && segments.length === 5 && (method === 'GET' || method === 'HEAD')) {
        route = 'deploy-iso';
        await deployIso(segments.slice(2), url, req, res);
        done(res.statusCode);
        return;
      }
      if (segments.length === 1 && segments[0] === 'healthz') {
        route = 'healthz';
        return send(200, { ok: true });
      }
      throw new HttpError(404, 'The resource could not be found.');
    };

    handle().catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        done(res.statusCode);
        return;
      }
      if (error instanceof HttpError) return send(error.status, ironicError(error.status, error.message));
      logger.error({ route, err: (error as Error)?.message }, 'agent API call failed');
      // The agent retries on 5xx: a Temporal or apiserver outage delays it, never fails it for good.
      send(503, ironicError(503, 'the engine is unavailable; try again'), { 'retry-after': '5' });
    });
  };
}

/** Serves a file with single-range support (BMCs read virtual media with Range requests). */
function serveFile(path: string, req: IncomingMessage, res: ServerResponse): void {
  const size = statSync(path).size;
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (range && (range[1] !== '' || range[2] !== '')) {
    if (range[1] === '') {
      start = Math.max(0, size - Number(range[2]));
    } else {
      start = Number(range[1]);
      if (range[2] !== '') end = Math.min(end, Number(range[2]));
    }
    if (start > end || start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['content-length'] = end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(path, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

export interface RunningAgentApi {
  /** The address it listens on (for tests: `http://127.0.0.1:<port>`). */
  url: string;
  server: Server;
  /** Stops accepting connections, waits up to `graceMs` for requests in flight, then closes the rest. */
  stop(graceMs?: number): Promise<void>;
}

/** Listens on `host:port` (port 0: any free one), over HTTPS when a certificate is given. */
export async function startAgentApi(options: AgentApiOptions & { host: string; port: number; tls?: { cert: Buffer; key: Buffer } }): Promise<RunningAgentApi> {
  const handler = agentApiHandler(options);
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  // A deploy ISO download may take minutes over a slow BMC link; requests otherwise finish fast.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    async stop(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
