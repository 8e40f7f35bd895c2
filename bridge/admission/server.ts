/**
 * The BareMetalHost validating webhook server: HTTPS (node:https), AdmissionReview v1 in and out on BMO's
 * path, and a health endpoint. The bridge process starts it and registers it (see register.ts); it holds no
 * state, so any number of bridges (leader or not) can serve it.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MalformedReviewError, reviewAdmission } from './review.ts';

/** BMO's path for the BareMetalHost validating webhook (kubebuilder's naming), kept for drop-in manifests. */
export const VALIDATE_BAREMETALHOST_PATH = '/validate-metal3-io-v1alpha1-baremetalhost';
/** The FirmwareRollout validating webhook's path (the same naming). */
export const VALIDATE_FIRMWAREROLLOUT_PATH = '/validate-tempered-dev-v1alpha1-firmwarerollout';
const REVIEW_PATHS = [VALIDATE_BAREMETALHOST_PATH, VALIDATE_FIRMWAREROLLOUT_PATH];
/** Answers 200 "ok" while the server accepts connections. */
export const HEALTH_PATH = '/healthz';

/** The apiserver caps objects at 3 MiB; a review holds two of them plus envelope. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** The logger methods the server uses; a pino logger fits. */
export interface AdmissionLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface AdmissionServerOptions {
  /** Address to listen on. Default `127.0.0.1` (the local stack); in a cluster use `0.0.0.0`. */
  host?: string;
  /** Port to listen on; default 0 picks a free one (read it from the returned `url`). */
  port?: number;
  /** PEM serving certificate (with the chain) and its key, e.g. from `makeLocalWebhookCertificates`. */
  certFile: string;
  keyFile: string;
  /** PEM of the CA that signed `certFile`; when given, returned base64-encoded as `caBundle`. */
  caFile?: string;
  logger?: AdmissionLogger;
}

export interface AdmissionServer {
  /** Base URL, e.g. `https://127.0.0.1:40123`. */
  url: string;
  /**
   * The validating webhook's URL: `url` + {@link VALIDATE_BAREMETALHOST_PATH}; use it as `clientConfig.url`
   * when the apiserver can dial `host` (the local stack). Behind a Service, register the Service instead.
   */
  validateUrl: string;
  /** `url` + {@link HEALTH_PATH}. */
  healthUrl: string;
  port: number;
  /** Base64 PEM of `caFile`, ready for `clientConfig.caBundle`; undefined without `caFile`. */
  caBundle: string | undefined;
  /** Re-reads the certificate and key files (after a rotation) for new connections. */
  reloadCertificates(): void;
  /** Stops accepting connections and closes the open ones. */
  stop(): Promise<void>;
}

const silent: AdmissionLogger = { debug() {}, info() {}, warn() {} };

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** The body as text, or undefined when it exceeds the limit (then drained, not kept, so the reply can be read). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES;
  for await (const chunk of req) {
    if (tooLarge) continue;
    const buf = chunk as Buffer;
    size += buf.length;
    tooLarge = size > MAX_BODY_BYTES;
    if (tooLarge) chunks.length = 0;
    else chunks.push(buf);
  }
  return tooLarge ? undefined : Buffer.concat(chunks).toString('utf8');
}

async function handle(req: IncomingMessage, res: ServerResponse, logger: AdmissionLogger): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  // Bodies of requests answered without reading them are drained, so the client can read the answer.
  if (!REVIEW_PATHS.includes(path ?? '') || req.method !== 'POST') req.resume();
  if (path === HEALTH_PATH) {
    send(res, req.method === 'GET' || req.method === 'HEAD' ? 200 : 405, 'ok');
    return;
  }
  if (!REVIEW_PATHS.includes(path ?? '')) {
    send(res, 404, { error: `no handler for ${path}` });
    return;
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    send(res, 405, { error: 'use POST with an admission.k8s.io/v1 AdmissionReview' });
    return;
  }
  const raw = await readBody(req);
  if (raw === undefined) {
    send(res, 413, { error: `the body exceeds ${MAX_BODY_BYTES} bytes` });
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'admission request is not JSON');
    send(res, 400, { error: `the body is not JSON: ${(err as Error).message}` });
    return;
  }
  try {
    const outcome = reviewAdmission(body);
    const { allowed, status } = outcome.review.response;
    const fields = { operation: outcome.operation, namespace: outcome.namespace, name: outcome.name, allowed };
    const kind = path === VALIDATE_FIRMWAREROLLOUT_PATH ? 'FirmwareRollout' : 'BareMetalHost';
    if (allowed) logger.debug(fields, `${kind} admitted`);
    else logger.info({ ...fields, rules: outcome.violations.map((x) => x.rule), message: status?.message }, `${kind} refused`);
    send(res, 200, outcome.review);
  } catch (err) {
    if (!(err instanceof MalformedReviewError)) throw err;
    logger.warn({ err: err.message }, 'malformed AdmissionReview');
    send(res, 400, { error: err.message });
  }
}

/**
 * Starts the webhook server and resolves once it listens. Wire it with {@link registerAdmissionWebhook}
 * (register.ts): `clientConfig: { url: server.validateUrl, caBundle: server.caBundle }`.
 */
export async function startAdmissionServer(options: AdmissionServerOptions): Promise<AdmissionServer> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silent;
  const tls = () => ({ cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) });
  const server: Server = createServer({ ...tls(), minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res, logger).catch((err: unknown) => {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'admission request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // The apiserver gives a webhook `timeoutSeconds` (at most 30 s); nothing here should take longer.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, path: VALIDATE_BAREMETALHOST_PATH }, 'admission webhook listening');
  return {
    url,
    validateUrl: `${url}${VALIDATE_BAREMETALHOST_PATH}`,
    healthUrl: `${url}${HEALTH_PATH}`,
    port,
    caBundle: options.caFile ? readFileSync(options.caFile).toString('base64') : undefined,
    reloadCertificates() {
      server.setSecureContext({ ...tls(), minVersion: 'TLSv1.2' });
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
