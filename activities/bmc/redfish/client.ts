/**
 * A Redfish HTTP client for one BMC on undici: one keep-alive connection, sessions with basic-auth fallback
 * (sushy's `auto`), one re-login on 401, DELETE of the session on close, the ETag/If-Match ladder on PATCH,
 * Retry-After on 503/429, and short retries of what is safe to repeat. Every failure is a BmcError.
 *
 * The connection is an undici Client, not a Pool of one: the BMC pool keeps a client per host between power checks
 * (5,000 at 5,000 hosts), and a Pool costs about 18 KiB of heap more than a Client, used or not (its request queue
 * is preallocated). Idle, neither holds a socket: keep-alive ends after 30 s, or sooner when the BMC says so.
 */
import { Client } from 'undici';
import { BmcError, classifyHttpStatus, classifyTransportError, parseRetryAfter } from '../errors.ts';
import { sleep } from '../lock.ts';
import { sharedReads } from '../reads.ts';

export type RedfishAuthMode = 'auto' | 'session' | 'basic';

export interface RedfishClientOptions {
  /** Origin of the service: `https://10.0.0.5:443`. */
  endpoint: string;
  username: string;
  password: string;
  /** Skip TLS verification (`disableCertificateVerification`). */
  insecure?: boolean;
  /** Extra trusted CA certificates (PEM) for BMCs signed by a private CA. */
  ca?: string | string[];
  auth?: RedfishAuthMode;
  /** Keep the connection open between requests (default true; some BMCs want `Connection: close`). */
  keepAlive?: boolean;
  connectTimeoutMs?: number;
  /** Per-request timeout for headers and body (Ironic's read timeout: 60 s). */
  requestTimeoutMs?: number;
  /** Retries of GETs on 5xx and of any request on 503/429 (default 2), and the delay without Retry-After. */
  retries?: number;
  retryDelayMs?: number;
  /** Longest Retry-After honoured inside the client; longer ones surface as BmcBusy with retryAfterMs. */
  maxInlineRetryAfterMs?: number;
  /** Observer of every HTTP exchange (benchmarks, request budgets, debugging). */
  onExchange?: (exchange: { method: string; path: string; status: number | undefined; ms: number }) => void;
}

export type Headers = Record<string, string | string[] | undefined>;

export interface RedfishResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  /** ETag header, else the body's `@odata.etag`. */
  etag: string | undefined;
  location: string | undefined;
}

export interface RequestOptions {
  body?: unknown;
  /** Raw body with its own content type (multipart firmware push). */
  raw?: { data: Uint8Array; contentType: string };
  etag?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Statuses that are returned instead of thrown (e.g. 404 when probing). */
  accept?: number[];
}

/** A GET may be answered by a read kept in the activity's scope (`withSharedReads`, bmc/reads.ts). */
export interface GetOptions extends Omit<RequestOptions, 'body' | 'etag'> {
  shared?: boolean;
}

type JsonObject = Record<string, unknown>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function bodyEtag(body: unknown): string | undefined {
  if (body && typeof body === 'object' && typeof (body as JsonObject)['@odata.etag'] === 'string') return (body as JsonObject)['@odata.etag'] as string;
  return undefined;
}

/** `W/"abc"` → `"abc"`; undefined for a strong ETag. */
function strongForm(etag: string): string | undefined {
  return etag.startsWith('W/') ? etag.slice(2) : undefined;
}

export class RedfishClient {
  readonly endpoint: string;
  readonly username: string;
  readonly #password: string;
  readonly #http: Client;
  readonly #opts: Required<Pick<RedfishClientOptions, 'auth' | 'keepAlive' | 'retries' | 'retryDelayMs' | 'maxInlineRetryAfterMs'>>;
  readonly #onExchange: RedfishClientOptions['onExchange'];
  #authMode: 'session' | 'basic' | undefined;
  #token: string | undefined;
  #sessionUri: string | undefined;
  #root: JsonObject | undefined;
  #identityEncoding = true;
  #closed = false;
  /** Requests sent, for budgets and benchmarks. */
  requests = 0;

  constructor(options: RedfishClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.username = options.username;
    this.#password = options.password;
    this.#opts = {
      auth: options.auth ?? 'auto',
      keepAlive: options.keepAlive ?? true,
      retries: options.retries ?? 2,
      retryDelayMs: options.retryDelayMs ?? 1000,
      maxInlineRetryAfterMs: options.maxInlineRetryAfterMs ?? 10_000,
    };
    this.#onExchange = options.onExchange;
    const timeout = options.requestTimeoutMs ?? 60_000;
    this.#http = new Client(this.endpoint, {
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: {
        timeout: options.connectTimeoutMs ?? 10_000,
        rejectUnauthorized: !options.insecure,
        ...(options.ca ? { ca: options.ca } : {}),
      },
    });
  }

  /** How requests are authenticated, once known. */
  get authMode(): 'session' | 'basic' | undefined {
    return this.#authMode;
  }

  /** The service root if it was read already (never a request). */
  get cachedRoot(): JsonObject | undefined {
    return this.#root;
  }

  /** The service root (fetched once, without credentials as the spec allows; with them if the BMC insists). */
  async root(signal?: AbortSignal): Promise<JsonObject> {
    if (this.#root) return this.#root;
    const res = await this.#send('GET', '/redfish/v1/', { signal, accept: [401, 403] }, false);
    if (res.status === 401 || res.status === 403) {
      // Some BMCs want credentials even for the root: log in at the standard sessions URI (or use basic), then read it.
      await this.#authenticate(signal, { SessionService: {} });
      this.#root = (await this.request<JsonObject>('GET', '/redfish/v1/', { signal })).body;
    } else {
      this.#root = (res.body && typeof res.body === 'object' ? res.body : {}) as JsonObject;
    }
    return this.#root;
  }

  async get<T = JsonObject>(path: string, opts: GetOptions = {}): Promise<RedfishResponse<T>> {
    const { shared, ...rest } = opts;
    const reads = sharedReads();
    const key = `${this.endpoint}${path}`;
    if (shared && reads?.has(key)) return reads.get(key) as RedfishResponse<T>;
    const res = await this.request<T>('GET', path, rest);
    if (reads && res.status < 300) reads.set(key, res);
    return res;
  }

  post<T = JsonObject>(path: string, body: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<RedfishResponse<T>> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  delete<T = JsonObject>(path: string, opts: Omit<RequestOptions, 'body'> = {}): Promise<RedfishResponse<T>> {
    return this.request<T>('DELETE', path, opts);
  }

  /**
   * PATCH with If-Match (sushy's ladder): the ETag as received; on 412 a weak ETag is retried in its strong form,
   * then without If-Match; on 428 (If-Match required) the resource is re-read for its ETag.
   */
  async patch<T = JsonObject>(path: string, body: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<RedfishResponse<T>> {
    const etags: (string | undefined)[] = [];
    if (opts.etag) {
      etags.push(opts.etag);
      const strong = strongForm(opts.etag);
      if (strong) etags.push(strong);
    }
    etags.push(undefined);
    let lastError: BmcError | undefined;
    for (const etag of etags) {
      const res = await this.request<T>('PATCH', path, { ...opts, body, etag, accept: [...(opts.accept ?? []), 412, 428] });
      if (res.status === 428) {
        const fresh = await this.get(path, { signal: opts.signal });
        if (!fresh.etag) throw classifyHttpStatus(428, res.body, { what: `PATCH ${path}`, endpoint: this.endpoint });
        const again = await this.request<T>('PATCH', path, { ...opts, body, etag: fresh.etag });
        return again;
      }
      if (res.status !== 412) return res;
      lastError = classifyHttpStatus(412, res.body, { what: `PATCH ${path}`, endpoint: this.endpoint });
    }
    throw lastError ?? new BmcError('BmcBusy', `PATCH ${path} on ${this.endpoint}: precondition failed`);
  }

  /** One request with authentication, re-login on 401, Retry-After and safe retries. */
  async request<T = JsonObject>(method: string, path: string, opts: RequestOptions = {}): Promise<RedfishResponse<T>> {
    if (method === 'GET' || method === 'HEAD') return this.#request<T>(method, path, opts);
    // A change: reads kept from before it no longer say how the BMC is (bmc/reads.ts).
    sharedReads()?.clear();
    try {
      return await this.#request<T>(method, path, opts);
    } finally {
      sharedReads()?.clear();
    }
  }

  async #request<T>(method: string, path: string, opts: RequestOptions): Promise<RedfishResponse<T>> {
    await this.#ensureAuth(opts.signal);
    let relogged = false;
    for (let attempt = 0; ; attempt++) {
      let res: RedfishResponse;
      try {
        res = await this.#send(method, path, { ...opts, accept: [...(opts.accept ?? []), 401, 403, 429, 500, 502, 503, 504, 406] }, true);
      } catch (err) {
        // A GET on a connection that broke (a stale keep-alive socket, a BMC dropping it) is safe to repeat.
        const idempotent = method === 'GET' || method === 'HEAD';
        if (idempotent && err instanceof BmcError && err.connectionLost && attempt < this.#opts.retries) {
          await sleep(this.#opts.retryDelayMs, opts.signal);
          continue;
        }
        throw err;
      }
      const { status } = res;
      if ((status === 401 || status === 403) && !(opts.accept ?? []).includes(status)) {
        if (this.#authMode === 'session' && !relogged) {
          relogged = true;
          this.#token = undefined;
          this.#sessionUri = undefined;
          await this.#login(opts.signal, true);
          continue;
        }
        throw classifyHttpStatus(status, res.body, { what: `${method} ${path}`, endpoint: this.endpoint, username: this.username, authMode: this.#authMode, headers: res.headers });
      }
      if (status === 406 && method === 'GET' && this.#identityEncoding) {
        // HPE Gen10 Plus refuses Accept-Encoding: identity on some resources.
        this.#identityEncoding = false;
        continue;
      }
      const busy = status === 503 || status === 429;
      const serverError = status >= 500 && !busy;
      const retryable = busy || (serverError && (method === 'GET' || method === 'HEAD'));
      // A status the caller accepts (an optional resource's 500) is still retried once: it may be transient.
      const accepted = (opts.accept ?? []).includes(status);
      if (retryable && !(accepted && attempt >= 1)) {
        const after = parseRetryAfter(res.headers['retry-after']);
        const wait = after ?? this.#opts.retryDelayMs;
        if (attempt < this.#opts.retries && wait <= this.#opts.maxInlineRetryAfterMs) {
          await sleep(wait, opts.signal);
          continue;
        }
        if (!accepted) throw classifyHttpStatus(status, res.body, { what: `${method} ${path}`, endpoint: this.endpoint, headers: res.headers });
      }
      if (status >= 400 && !(opts.accept ?? []).includes(status)) {
        throw classifyHttpStatus(status, res.body, { what: `${method} ${path}`, endpoint: this.endpoint, username: this.username, headers: res.headers });
      }
      return res as RedfishResponse<T>;
    }
  }

  /** DELETEs the session (if any) and closes the connection. Never throws. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#sessionUri && this.#token) {
      try {
        await this.#send('DELETE', this.#sessionUri, {}, true);
      } catch {
        // The BMC may be gone; the session then expires on its own.
      }
    }
    this.#closed = true;
    this.#token = undefined;
    this.#sessionUri = undefined;
    await this.#http.close().catch(() => undefined);
  }

  async #ensureAuth(signal: AbortSignal | undefined): Promise<void> {
    if (this.#authMode) return;
    if (this.#opts.auth === 'basic') {
      this.#authMode = 'basic';
      return;
    }
    const root = await this.root(signal);
    if (this.#authMode) return;
    await this.#authenticate(signal, root);
  }

  async #authenticate(signal: AbortSignal | undefined, root: JsonObject): Promise<void> {
    if (this.#opts.auth === 'basic') {
      this.#authMode = 'basic';
      return;
    }
    const links = root.Links as JsonObject | undefined;
    const sessions = (links?.Sessions as JsonObject | undefined)?.['@odata.id'];
    const sessionsUri = typeof sessions === 'string' ? sessions : root.SessionService ? '/redfish/v1/SessionService/Sessions' : undefined;
    if (!sessionsUri) {
      if (this.#opts.auth === 'session') throw new BmcError('BmcUnsupported', `the BMC at ${this.endpoint} has no SessionService, and session authentication was required`);
      this.#authMode = 'basic';
      return;
    }
    try {
      await this.#login(signal, false, sessionsUri);
    } catch (err) {
      // sushy's `auto`: fall back to basic auth unless the BMC is unreachable or sessions were required.
      // A transient failure of the login decides nothing: it is thrown, and the next request logs in again.
      if (this.#opts.auth === 'session' || !(err instanceof BmcError) || err.disposition === 'transient' || err.code === 'BmcTlsFailed') throw err;
      this.#authMode = 'basic';
    }
  }

  #sessionsUri: string | undefined;

  async #login(signal: AbortSignal | undefined, relogin: boolean, sessionsUri?: string): Promise<void> {
    const uri = sessionsUri ?? this.#sessionsUri ?? '/redfish/v1/SessionService/Sessions';
    this.#sessionsUri = uri;
    const res = await this.#send('POST', uri, { body: { UserName: this.username, Password: this.#password }, signal, accept: [400, 401, 403, 404, 405, 500, 501, 503] }, false);
    const token = header(res.headers, 'x-auth-token');
    if (res.status >= 300 || !token) {
      // After a re-login fails the request fails: a session that once worked never degrades to basic auth.
      throw res.status >= 300
        ? classifyHttpStatus(res.status, res.body, { what: `POST ${uri} (log in${relogin ? ' again' : ''})`, endpoint: this.endpoint, username: this.username, headers: res.headers })
        : new BmcError('BmcUnsupported', `the BMC at ${this.endpoint} answered the session login without X-Auth-Token`);
    }
    this.#token = token;
    const bodyId = res.body && typeof res.body === 'object' ? (res.body as JsonObject)['@odata.id'] : undefined;
    this.#sessionUri = this.#pathOf(header(res.headers, 'location') ?? (typeof bodyId === 'string' ? bodyId : undefined));
    this.#authMode = 'session';
  }

  #pathOf(uri: string | undefined): string | undefined {
    if (!uri) return undefined;
    if (/^https?:\/\//i.test(uri)) {
      const url = new URL(uri);
      return `${url.pathname}${url.search}`;
    }
    return uri.startsWith('/') ? uri : `/${uri}`;
  }

  async #send(method: string, path: string, opts: RequestOptions, authenticated: boolean): Promise<RedfishResponse> {
    if (this.#closed) throw new BmcError('BmcUnreachable', `the connection to the BMC at ${this.endpoint} was closed`);
    const target = this.#pathOf(path) ?? '/';
    const headers: Record<string, string> = {
      accept: 'application/json',
      'odata-version': '4.0',
      ...(this.#identityEncoding ? { 'accept-encoding': 'identity' } : {}),
      ...opts.headers,
    };
    let body: string | Uint8Array | undefined;
    if (opts.raw) {
      body = opts.raw.data;
      headers['content-type'] = opts.raw.contentType;
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    if (opts.etag) headers['if-match'] = opts.etag;
    if (authenticated) {
      if (this.#authMode === 'session' && this.#token) headers['x-auth-token'] = this.#token;
      else if (this.#authMode === 'basic') headers.authorization = `Basic ${Buffer.from(`${this.username}:${this.#password}`).toString('base64')}`;
    }
    const started = performance.now();
    this.requests++;
    let status: number | undefined;
    try {
      const res = await this.#http.request({
        method: method as 'GET',
        path: target,
        headers,
        body,
        reset: !this.#opts.keepAlive,
        signal: opts.signal,
      });
      status = res.statusCode;
      const text = await res.body.text();
      const resHeaders = res.headers as Headers;
      let parsed: unknown = undefined;
      if (text) {
        const type = header(resHeaders, 'content-type') ?? '';
        if (type.includes('json') || /^\s*[[{]/.test(text)) {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
        } else {
          parsed = text;
        }
      }
      const out: RedfishResponse = {
        status: res.statusCode,
        headers: resHeaders,
        body: parsed,
        etag: header(resHeaders, 'etag') || bodyEtag(parsed) || undefined,
        location: header(resHeaders, 'location'),
      };
      return out;
    } catch (err) {
      throw classifyTransportError(err, { what: `${method} ${target}`, endpoint: this.endpoint });
    } finally {
      this.#onExchange?.({ method, path: target, status, ms: performance.now() - started });
    }
  }
}
