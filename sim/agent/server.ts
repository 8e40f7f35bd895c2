/**
 * The one HTTP server of every simulated agent in a simulator: each running ramdisk serves IPA's command API
 * under its node's UUID (`http://127.0.0.1:<port>/<node-uuid>/v1/commands/`), which is the callback URL it
 * sends in heartbeats, so a thousand agents share a port and an idle host costs nothing. `/_sim/` is the
 * simulator's control API (agent switches and counters per host) for processes that did not start the
 * simulator themselves.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Handles a request under a registered prefix; `path` is what follows the prefix (`/v1/commands/`). */
export type AgentHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
) => Promise<void>;

/** Writes a JSON response. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** Reads a request body as JSON; undefined when it is empty or not JSON. */
export async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The shared agent server. */
export class AgentServer {
  private readonly handlers = new Map<string, AgentHandler>();
  private control: AgentHandler | undefined;

  private readonly server: Server;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;

  private constructor(server: Server, origin: string) {
    this.server = server;
    this.origin = origin;
  }

  /** Listens on `host` (default 127.0.0.1) at a free port. */
  static async start(host = '127.0.0.1'): Promise<AgentServer> {
    const server = createServer();
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const self = new AgentServer(server, `http://${shown}:${port}`);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      self.dispatch(request, response).catch((error: unknown) => {
        if (!response.headersSent)
          sendJson(response, 500, { faultcode: 'Server', faultstring: (error as Error).message });
        else response.destroy();
      });
    });
    return self;
  }

  /** Routes `/<prefix>/...` to `handler` until the returned function is called. */
  register(prefix: string, handler: AgentHandler): () => void {
    this.handlers.set(prefix, handler);
    return () => {
      if (this.handlers.get(prefix) === handler) this.handlers.delete(prefix);
    };
  }

  /** Sets the handler of `/_sim/...`. */
  setControl(handler: AgentHandler): void {
    this.control = handler;
  }

  /** Prefixes served now (node UUIDs of running agents). */
  prefixes(): string[] {
    return [...this.handlers.keys()];
  }

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://agent');
    const [, first = '', ...rest] = url.pathname.split('/');
    const path = `/${rest.join('/')}`;
    if (first === '_sim' && this.control) return this.control(request, response, path, url.searchParams);
    const handler = this.handlers.get(decodeURIComponent(first));
    if (!handler) {
      sendJson(response, 404, { faultcode: 'Client', faultstring: `404 Not Found: no simulated agent at /${first}` });
      return;
    }
    await handler(request, response, path, url.searchParams);
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
