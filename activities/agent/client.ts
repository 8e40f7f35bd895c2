/**
 * The client of a deploy agent's command API (ironic-python-agent's `/v1/commands/`), as Ironic's
 * agent_client.py uses it: `POST` a command (`wait=true` for quick ones, `wait=false` for steps that run for
 * minutes), `GET` the list of commands to see how they went. Every call carries the boot's `agent_token`
 * query parameter; TLS is pinned to the certificate the agent sent in its heartbeat (auto TLS) and nothing
 * else. Failures are typed {@link AgentError}s with codes from domain/errors.ts; the token never appears in
 * a message (URLs in errors are shown without their query).
 */
import { Agent, fetch as undiciFetch } from 'undici';
import { ERROR_CODES, type ErrorCode } from '../../domain/errors.ts';

/** A command's state as the agent reports it (`ironic_python_agent/extensions/base.py`). */
export interface AgentCommand {
  id: string;
  command_name: string;
  command_status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CLEAN_VERSION_MISMATCH' | string;
  command_error: null | string | { type?: string; code?: number; message?: string; details?: string };
  command_result: unknown;
}

/** A classified agent failure; `code` becomes the Temporal failure type. */
export class AgentError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: { status?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.status = options.status;
  }
}

export interface AgentClientOptions {
  /** The agent's callback URL from its heartbeat: `https://<ip>:<port>`. */
  url: string;
  token: string;
  /** PEM of the agent's self-signed certificate; the only CA trusted for this agent when given. */
  verifyCa?: string;
  /** Ironic's `[agent]command_timeout`: the limit of one HTTP call. */
  timeoutMs: number;
}

/** IPA error types that name a cause the host's error should show with one of our codes. */
const ERROR_TYPE_CODES: Record<string, ErrorCode> = {
  ImageDownloadError: 'ImageFetchFailed',
  ImageDownloadTimeoutError: 'ImageFetchFailed',
  ImageDownloadFatalError: 'ImageFetchFailed',
  ImageDownloadOutofSpaceError: 'ImageFetchFailed',
  ImageChecksumError: 'ImageChecksumMismatch',
  InvalidImage: 'ImageFormatUnsupported',
  DeviceNotFound: 'RootDeviceNotFound',
};

/** The text Ironic shows for a failed command: `details`, else `message`, else the raw error. */
export function commandErrorText(command: AgentCommand): string {
  const error = command.command_error;
  if (error === null || error === undefined) return `${command.command_name} ended ${command.command_status} without an error`;
  if (typeof error === 'string') return error;
  return error.details || error.message || JSON.stringify(error);
}

/** The failure of a command that ended FAILED (or with a version mismatch), with the code of its cause. */
export function commandFailure(command: AgentCommand, what: string): AgentError {
  const type = typeof command.command_error === 'object' && command.command_error ? command.command_error.type : undefined;
  const code = (type && ERROR_TYPE_CODES[type]) || 'AgentCommandFailed';
  const status = command.command_status === 'CLEAN_VERSION_MISMATCH' ? ' (the agent changed its hardware managers during the operation)' : '';
  return new AgentError(code, `${what} failed on the deploy agent: ${commandErrorText(command)}${type ? ` (${type})` : ''}${status}`, { retryable: false });
}

function faultString(body: unknown): string | undefined {
  if (body && typeof body === 'object') {
    const f = (body as { faultstring?: unknown; description?: unknown }).faultstring ?? (body as { description?: unknown }).description;
    if (typeof f === 'string') return f;
  }
  return undefined;
}

/** One agent's command API (see the file header). Close it when done: it may hold a pinned TLS pool. */
export class AgentClient {
  readonly #o: AgentClientOptions;
  readonly #base: string;
  readonly #dispatcher: Agent;

  constructor(options: AgentClientOptions) {
    this.#o = options;
    this.#base = options.url.replace(/\/+$/, '');
    this.#dispatcher = new Agent({
      connect: options.verifyCa ? { ca: options.verifyCa } : {},
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 10_000,
    });
  }

  /** Every command the agent ran since it started, oldest first. */
  async listCommands(signal?: AbortSignal): Promise<AgentCommand[]> {
    const body = await this.#call('GET', '/v1/commands/', {}, undefined, signal);
    const commands = (body as { commands?: unknown }).commands;
    if (!Array.isArray(commands)) throw new AgentError('AgentRejected', `the agent at ${this.#base} answered its command list without 'commands'`);
    return commands as AgentCommand[];
  }

  /**
   * Starts `name` (`extension.command`) with `params`; with `wait` the agent answers when it is done. A 409
   * (another command running) is `AgentBusy`, to be retried later.
   */
  async execute(name: string, params: Record<string, unknown>, options: { wait: boolean; signal?: AbortSignal }): Promise<AgentCommand> {
    const body = await this.#call('POST', '/v1/commands/', { wait: String(options.wait) }, { name, params }, options.signal);
    return body as AgentCommand;
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async #call(method: 'GET' | 'POST', path: string, query: Record<string, string>, json: unknown, signal?: AbortSignal): Promise<unknown> {
    const search = new URLSearchParams({ ...query, agent_token: this.#o.token });
    const shown = `${method} ${this.#base}${path}`;
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    let response;
    try {
      response = await undiciFetch(`${this.#base}${path}?${search}`, {
        method,
        dispatcher: this.#dispatcher,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new AgentError('AgentUnreachable', `${shown}: ${describeTransportError(error)}`, { cause: undefined });
    }
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.status === 409) throw new AgentError('AgentBusy', `${shown}: ${faultString(body) ?? 'the agent is busy'}`, { status: 409 });
    if (response.status >= 500) throw new AgentError('AgentUnreachable', `${shown}: the agent answered ${response.status}: ${faultString(body) ?? text.slice(0, 200)}`, { status: response.status });
    if (response.status >= 400) {
      const why = response.status === 401 ? 'the agent refused the token of this boot' : (faultString(body) ?? text.slice(0, 200));
      throw new AgentError('AgentRejected', `${shown}: ${response.status}: ${why}`, { status: response.status });
    }
    if (body === undefined || typeof body !== 'object') throw new AgentError('AgentUnreachable', `${shown}: the agent answered ${response.status} without JSON`, { status: response.status });
    return body;
  }
}

/** What went wrong on the wire, in words (undici's causes: refused, reset, timeout, TLS). */
function describeTransportError(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer within the command timeout';
  const cause = e?.cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (the agent is not listening)';
  if (cause?.code?.startsWith('ERR_TLS') || cause?.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || cause?.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || cause?.code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return `TLS: the agent's certificate is not the one it sent in its heartbeat (${cause.code})`;
  }
  return cause?.message ?? e?.message ?? String(error);
}
