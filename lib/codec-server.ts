/**
 * A Temporal codec server: the HTTP endpoint the Temporal Web UI (and `temporal --codec-endpoint`, and
 * `tempered --codec-endpoint`) calls to see encrypted payloads in clear, so people can read histories without
 * holding the keys. Temporal's protocol: `POST /encode` and `POST /decode` with `{"payloads": [...]}`
 * (protobuf JSON, bytes as base64), the namespace in `X-Namespace`. The UI calls it from the browser, so the
 * server answers CORS preflights for the UI's origin only; every call passes an authorization hook first
 * (`authorize`: the UI can forward the user's access token as `Authorization`), and its answer is logged
 * without the payloads.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PayloadCodec } from '@temporalio/common';
import { payloadFromJson, payloadToJson, type JsonPayload } from './payload-codec.ts';

/** What the authorization hook sees of a call. */
export interface CodecCall {
  operation: 'encode' | 'decode';
  /** `X-Namespace`. */
  namespace: string | undefined;
  /** The `Authorization` header, as sent. */
  authorization: string | undefined;
  /** The browser's `Origin`, absent for the CLI. */
  origin: string | undefined;
}

/** Allows a call (true), or refuses it (false, or a reason). */
export type AuthorizeCodecCall = (call: CodecCall) => boolean | string | Promise<boolean | string>;

/** Something to log to (a pino logger fits). */
interface CodecLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Origins allowed to call from a browser (the Temporal UI's, e.g. `http://127.0.0.1:8233`). */
  allowedOrigins: string[];
  /** Answer with `Access-Control-Allow-Credentials: true` (the UI's "include cross-origin credentials"). */
  includeCredentials?: boolean;
  /** Namespaces served; empty or absent: any. */
  namespaces?: string[];
  /** Runs before every encode and decode. Default: allow (bind to loopback, or set one). */
  authorize?: AuthorizeCodecCall;
  /** Request bodies beyond this are refused (default 8 MiB: the UI decodes a page of events at once). */
  maxBodyBytes?: number;
  logger?: CodecLog;
}

export interface CodecServer {
  /** `http://host:port`: what `--ui-codec-endpoint` and `TEMPORAL_CODEC_ENDPOINT` take. */
  url: string;
  stop(): Promise<void>;
}

/**
 * An authorization hook that accepts `Authorization: Bearer <token>` with one of `tokens` (compared in
 * constant time). A hook of your own can validate the UI's OIDC access token instead.
 */
export function bearerTokens(tokens: string[]): AuthorizeCodecCall {
  const wanted = tokens.map((t) => Buffer.from(t));
  return ({ authorization }) => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    if (!match?.[1]) return 'a bearer token is required';
    const given = Buffer.from(match[1].trim());
    return (
      wanted.some((w) => w.length === given.length && timingSafeEqual(w, given)) || 'the bearer token is not accepted'
    );
  };
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Starts a codec server (see the file header). */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const allowed = new Set(options.allowedOrigins.map((o) => o.replace(/\/+$/, '')));
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const namespaces = new Set(options.namespaces ?? []);

  const cors = (req: IncomingMessage): Record<string, string> => {
    const origin = req.headers.origin;
    if (!origin || !allowed.has(origin)) return {};
    return {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'content-type, x-namespace, authorization',
      'access-control-max-age': '600',
      vary: 'Origin',
      ...(options.includeCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    };
  };

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBody) {
          reject(new HttpError(413, `request body over ${maxBody} bytes`));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const origin = req.headers.origin;
    const headers = cors(req);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { ...headers, 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (origin && !allowed.has(origin)) throw new HttpError(403, `origin ${origin} is not allowed`);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, headers);
      res.end();
      return;
    }
    if (req.method === 'GET' && path === '/healthz') return reply(200, { ok: true });
    const operation = path === '/encode' ? 'encode' : path === '/decode' ? 'decode' : undefined;
    if (!operation) throw new HttpError(404, 'not found: POST /encode or /decode');
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed: POST`);
    const namespace = header(req, 'x-namespace');
    if (namespaces.size > 0 && (!namespace || !namespaces.has(namespace)))
      throw new HttpError(403, `namespace ${namespace ?? '(none)'} is not served here`);
    const verdict = options.authorize
      ? await options.authorize({ operation, namespace, authorization: header(req, 'authorization'), origin })
      : true;
    if (verdict !== true) throw new HttpError(401, typeof verdict === 'string' ? verdict : 'not authorized');
    let body: { payloads?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as { payloads?: unknown };
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, 'the body is not JSON');
    }
    if (!Array.isArray(body.payloads)) throw new HttpError(400, 'the body must be {"payloads": [...]}');
    const payloads = (body.payloads as JsonPayload[]).map(payloadFromJson);
    let result;
    try {
      result = operation === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
    } catch (error) {
      throw new HttpError(422, error instanceof Error ? error.message : String(error));
    }
    options.logger?.info({ operation, namespace, payloads: payloads.length, origin }, 'codec call');
    reply(200, { payloads: result.map(payloadToJson) });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      options.logger?.warn({ status, path: req.url, origin: req.headers.origin, error: message }, 'codec call refused');
      if (res.headersSent) return void res.end();
      res.writeHead(status, { ...cors(req), 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
