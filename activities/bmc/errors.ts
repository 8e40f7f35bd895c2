/**
 * The one place that turns what a BMC does wrong (transport errors, HTTP statuses with Redfish error bodies,
 * ipmitool output) into a typed {@link BmcError} whose `code` comes from domain/errors.ts. Everything above the
 * drivers matches on `code`, never on messages. Passwords never reach a message: callers pass only the user name.
 */
import { ERROR_CODES, type ErrorCode } from '../../domain/errors.ts';

/** transient: retried by policy; permanent: the host records the error; benign: the outcome the caller wanted. */
export type Disposition = 'transient' | 'permanent' | 'benign';

export interface BmcErrorOptions {
  cause?: unknown;
  /** HTTP status, when the BMC answered. */
  status?: number;
  /** Redfish `MessageId`s from the error body (`Base.1.8.PropertyValueNotInList`, `iDRAC.2.8.SYS518`, ...). */
  messageIds?: string[];
  /** When to try again, from Retry-After or a known vendor pacing. */
  retryAfterMs?: number;
  /** Overrides the code's retryability (e.g. a benign failure that must not be retried). */
  disposition?: Disposition;
  /** An established connection broke mid-request (reset, closed): safe to redo after re-reading state. */
  connectionLost?: boolean;
  /** retryAfterMs came from the BMC (Retry-After), not from a known vendor pacing. */
  retryAfterFromBmc?: boolean;
}

/** A classified BMC failure. `code` is an ERROR_CODES key and becomes the Temporal failure type. */
export class BmcError extends Error {
  readonly code: ErrorCode;
  readonly disposition: Disposition;
  readonly status: number | undefined;
  readonly messageIds: string[];
  readonly retryAfterMs: number | undefined;
  readonly connectionLost: boolean;
  readonly retryAfterFromBmc: boolean;

  constructor(code: ErrorCode, message: string, options: BmcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BmcError';
    this.code = code;
    this.disposition = options.disposition ?? (ERROR_CODES[code].retryable ? 'transient' : 'permanent');
    this.status = options.status;
    this.messageIds = options.messageIds ?? [];
    this.retryAfterMs = options.retryAfterMs;
    this.connectionLost = options.connectionLost ?? false;
    this.retryAfterFromBmc = options.retryAfterFromBmc ?? false;
  }

  get retryable(): boolean {
    return this.disposition === 'transient';
  }
}

export function isBmcError(err: unknown): err is BmcError {
  return err instanceof BmcError;
}

/** The parts of a Redfish error body (`error.code`, `error.message`, `@Message.ExtendedInfo`) that matter. */
export interface RedfishErrorInfo {
  messageIds: string[];
  messages: string[];
}

/** Reads a Redfish error body; tolerates iDRAC's single-object ExtendedInfo and non-Redfish bodies. */
export function redfishErrorInfo(body: unknown): RedfishErrorInfo {
  const out: RedfishErrorInfo = { messageIds: [], messages: [] };
  if (!body || typeof body !== 'object') {
    if (typeof body === 'string' && body.trim()) out.messages.push(body.trim().slice(0, 300));
    return out;
  }
  const error = (body as Record<string, unknown>).error;
  const top = error && typeof error === 'object' ? (error as Record<string, unknown>) : (body as Record<string, unknown>);
  if (typeof top.code === 'string') out.messageIds.push(top.code);
  if (typeof top.message === 'string') out.messages.push(top.message);
  let extended = top['@Message.ExtendedInfo'];
  if (extended && !Array.isArray(extended)) extended = [extended];
  if (Array.isArray(extended)) {
    for (const info of extended) {
      if (!info || typeof info !== 'object') continue;
      const i = info as Record<string, unknown>;
      if (typeof i.MessageId === 'string') out.messageIds.push(i.MessageId);
      if (typeof i.Message === 'string') out.messages.push(i.Message);
    }
  }
  return out;
}

/** Whether any Redfish message id ends with one of `names` (registry prefixes and versions vary). */
export function hasMessageId(info: RedfishErrorInfo, ...names: string[]): boolean {
  return info.messageIds.some((id) => names.some((n) => id === n || id.endsWith(`.${n}`)));
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Messages that mean "the BMC is in a transitional state, try again" although the status is 4xx. */
const TRANSIENT_MESSAGE_IDS = [
  'SYS518', // iDRAC: data sources unavailable
  'InvalidOperationForSystemState', // iLO: power change too soon after another
  'UnableToModifyDuringSystemPOST', // iLO: boot PATCH while in POST
  'ActionParameterValueConflict', // iDRAC10: On refused for a while after an Off
  'ServiceTemporarilyUnavailable',
  'ServiceInUnknownState',
  'SessionLimitExceeded',
  'RAC0679', // iDRAC: a configuration job is already running
];

export interface HttpContext {
  /** What was being done, for the message: "GET /redfish/v1/Systems/1". */
  what: string;
  /** Where: the BMC endpoint. */
  endpoint: string;
  username?: string;
  /** Under basic auth (or on the Sessions POST) a 401 is final. */
  authMode?: 'session' | 'basic';
  headers?: Record<string, string | string[] | undefined>;
}

/** Classifies a non-2xx HTTP answer from a Redfish service. */
export function classifyHttpStatus(status: number, body: unknown, ctx: HttpContext): BmcError {
  const info = redfishErrorInfo(body);
  const detail = info.messages.length ? `: ${info.messages.join('; ').slice(0, 500)}` : '';
  const ids = info.messageIds;
  const retryAfterMs = parseRetryAfter(ctx.headers?.['retry-after']);
  const base = `${ctx.what} on the BMC at ${ctx.endpoint} answered HTTP ${status}`;
  const opts = { status, messageIds: ids, retryAfterMs, retryAfterFromBmc: retryAfterMs !== undefined };
  if (status === 401 || status === 403) {
    const user = ctx.username === undefined ? '' : ` for user '${ctx.username}'`;
    return new BmcError('BmcAuthFailed', `the BMC at ${ctx.endpoint} refused the credentials${user} (HTTP ${status} on ${ctx.what})${detail}; check the BMC credentials Secret and the account's privileges`, opts);
  }
  if (hasMessageId(info, ...TRANSIENT_MESSAGE_IDS)) {
    // Vendor pacing from Ironic when the BMC gives no Retry-After: iDRAC10's 409 on On (10 s), iLO in POST (5 s).
    const pacing = hasMessageId(info, 'ActionParameterValueConflict') ? 10_000 : hasMessageId(info, 'RAC0679') ? 15_000 : hasMessageId(info, 'UnableToModifyDuringSystemPOST') ? 5000 : 3000;
    return new BmcError('BmcBusy', `${base}, a transitional state (${ids.join(', ')})${detail}`, { ...opts, retryAfterMs: retryAfterMs ?? pacing });
  }
  if (status === 404 || status === 410) return new BmcError('BmcNotFound', `${base} (no such resource)${detail}`, opts);
  if (status === 405 || status === 501) return new BmcError('BmcUnsupported', `${base} (not supported by this BMC)${detail}`, opts);
  if (status === 429 || status === 503) return new BmcError('BmcBusy', `${base} (busy or throttling${retryAfterMs === undefined ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)} s`})${detail}`, opts);
  if (status === 409) return new BmcError('BmcBusy', `${base} (conflict with the BMC's current state)${detail}`, opts);
  if (status === 412 || status === 428) return new BmcError('BmcBusy', `${base} (the resource changed meanwhile: ETag precondition)${detail}`, opts);
  if (status === 408) return new BmcError('BmcTimeout', `${base} (request timeout)${detail}`, opts);
  if (status >= 500) return new BmcError('BmcServerError', `${base}${detail}`, opts);
  if (status === 400 || status === 415 || status === 422 || status === 406) return new BmcError('BmcBadRequest', `${base} (request rejected)${detail}`, opts);
  return new BmcError('BmcBadRequest', `${base}${detail}`, opts);
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EPIPE', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO']);
const CONNECTION_LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ESOCKETTIMEDOUT']);

/** Every `code` string on the error, its causes and, for AggregateError, its members. */
function errorCodes(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 5) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const members = Array.isArray(e.errors) ? e.errors.flatMap((m) => errorCodes(m, depth + 1)) : [];
  return [...own, ...errorCodes(e.cause, depth + 1), ...members];
}

/** Classifies an error thrown by the HTTP client before any answer (connection, TLS, timeout, abort). */
export function classifyTransportError(err: unknown, ctx: { what: string; endpoint: string }): BmcError {
  if (err instanceof BmcError) return err;
  const codes = errorCodes(err);
  const text = err instanceof Error ? err.message : String(err);
  const where = `the BMC at ${ctx.endpoint}`;
  const find = (set: Set<string>) => codes.find((c) => set.has(c));
  let code = find(TLS_CODES);
  if (code) {
    return new BmcError('BmcTlsFailed', `${where}: the TLS certificate could not be verified (${code}); install a trusted certificate on the BMC or set spec.bmc.disableCertificateVerification (--insecure)`, { cause: err });
  }
  code = find(TIMEOUT_CODES);
  if (code) return new BmcError('BmcTimeout', `${where} did not answer ${ctx.what} in time (${code})`, { cause: err });
  code = find(UNREACHABLE_CODES);
  if (code) return new BmcError('BmcUnreachable', `${where} cannot be reached (${code} on ${ctx.what})`, { cause: err, connectionLost: CONNECTION_LOST_CODES.has(code) });
  if (codes.includes('UND_ERR_ABORTED') || (err instanceof Error && err.name === 'AbortError')) {
    return new BmcError('BmcTimeout', `${ctx.what} on ${where} was aborted (${text})`, { cause: err });
  }
  return new BmcError('BmcUnreachable', `${where} cannot be reached (${codes[0] ?? text} on ${ctx.what})`, { cause: err });
}

/** ipmitool's messages, from Ironic's IPMITOOL_RETRYABLE_FAILURES and what ipmi_sim prints. */
const IPMI_TRANSIENT = [/insufficient resources for session/i, /node busy/i, /timeout/i, /out of space/i, /BMC initialization in progress/i, /unable to get channel cipher suites/i];
const IPMI_SESSION = [/unable to establish (ipmi v2 \/ rmcp\+ |lan )?session/i, /rakp \d? ?(message|hmac) is invalid/i, /invalid user name/i, /unauthorized name/i];
const IPMI_CIPHER = [/no matching cipher suite/i, /unsupported cipher suite/i, /invalid authentication algorithm/i, /invalid role/i];
const IPMI_UNSUPPORTED = [/invalid command/i, /not supported/i, /invalid data field in request/i, /unspecified error/i];

/**
 * Classifies a failed ipmitool run. A bad password and LAN access being off print the same line ("Unable to
 * establish IPMI v2 / RMCP+ session"), so that one is BmcAuthFailed with a message naming both causes.
 */
export function classifyIpmitoolFailure(output: string, ctx: { what: string; endpoint: string; username?: string; exitCode?: number | null; timedOut?: boolean; notFound?: boolean }): BmcError {
  const where = `the IPMI BMC at ${ctx.endpoint}`;
  const line = output.trim().split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 400);
  if (ctx.notFound) return new BmcError('BmcUnsupported', `ipmitool is not installed on this worker (needed for ${ctx.what})`);
  if (ctx.timedOut) return new BmcError('BmcTimeout', `${where} did not answer '${ctx.what}' in time`);
  if (IPMI_CIPHER.some((re) => re.test(output))) {
    return new BmcError('BmcUnsupported', `${where} refused the IPMI cipher suite (${line}); set the cipher suite the BMC supports (3 or 17)`);
  }
  if (IPMI_SESSION.some((re) => re.test(output))) {
    const user = ctx.username === undefined ? '' : ` for user '${ctx.username}'`;
    return new BmcError('BmcAuthFailed', `${where} refused the IPMI session${user} (${line}): wrong credentials, or IPMI over LAN disabled on the BMC`);
  }
  if (/unable to (connect|send|receive)|no route to host|connection refused|address lookup/i.test(output)) {
    return new BmcError('BmcUnreachable', `${where} cannot be reached (${line})`);
  }
  if (IPMI_TRANSIENT.some((re) => re.test(output))) return new BmcError('BmcBusy', `${where} is busy (${line})`);
  if (IPMI_UNSUPPORTED.some((re) => re.test(output))) return new BmcError('BmcUnsupported', `${where} does not support '${ctx.what}' (${line})`);
  return new BmcError('BmcServerError', `ipmitool '${ctx.what}' against ${where} failed${ctx.exitCode == null ? '' : ` (exit ${ctx.exitCode})`}: ${line || 'no output'}`);
}

/** Wraps anything thrown below the driver into a BmcError (unknown errors become transient server errors). */
export function toBmcError(err: unknown, ctx: { what: string; endpoint: string }): BmcError {
  if (err instanceof BmcError) return err;
  return classifyTransportError(err, ctx);
}
