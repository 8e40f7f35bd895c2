/**
 * The typed failure of everything that handles images (download, checksum, format, config drive, ISO builds):
 * a code from domain/errors.ts, a message that names what was expected and what was found, and those two values
 * apart for callers that report them (the simulated agent's `command_error`, the Temporal failure details).
 * Plain Node, no Temporal: activities/images/failure.ts turns it into an ApplicationFailure.
 */
import { ERROR_CODES, type ErrorCode } from '../domain/errors.ts';

export interface ImageErrorOptions {
  cause?: unknown;
  /** HTTP status, when a server answered. */
  status?: number;
  expected?: string;
  found?: string;
  /** Overrides the code's retryability (e.g. a 5xx is transient where a 4xx is not). */
  retryable?: boolean;
}

export class ImageError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly expected: string | undefined;
  readonly found: string | undefined;

  constructor(code: ErrorCode, message: string, options: ImageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ImageError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.status = options.status;
    this.expected = options.expected;
    this.found = options.found;
  }
}

export function isImageError(err: unknown): err is ImageError {
  return err instanceof ImageError;
}

/** Codes of errors thrown by the HTTP client before an answer (undici and Node), all transient. */
const TRANSPORT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_ABORTED',
  'ABORT_ERR',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** The most telling `code` on an error or its causes (a known transport code first), for messages. */
export function errorCodeOf(err: unknown): string | undefined {
  const codes: string[] = [];
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    if (typeof code === 'string') codes.push(code);
    else if (name === 'AbortError' || name === 'TimeoutError') codes.push(name);
  }
  return codes.find((c) => TRANSPORT_CODES.has(c)) ?? codes[0];
}

/** A transport failure while fetching `url` (connection, TLS, timeout, reset): transient. */
export function fetchFailure(what: string, url: string, err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  const code = errorCodeOf(err);
  const text = err instanceof Error ? err.message : String(err);
  return new ImageError('ImageFetchFailed', `fetching ${what} ${url} failed: ${code ?? text}`, {
    cause: err,
    retryable: true,
  });
}

/**
 * An HTTP answer that is not a success: 4xx is the URL's fault (permanent, but 408 and 429), 5xx transient.
 * `field` names where the URL comes from, for the fix ("spec.image.url").
 */
export function httpFailure(what: string, url: string, status: number, statusText = '', field?: string): ImageError {
  const answer = `${status}${statusText ? ` ${statusText}` : ''}`;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    const fix = field ? `; fix ${field}` : '';
    return new ImageError('ImageUrlRefused', `${what} ${url} answered ${answer}${fix}`, {
      status,
      expected: '200 or 206',
      found: String(status),
    });
  }
  return new ImageError('ImageFetchFailed', `${what} ${url} answered ${answer}`, {
    status,
    retryable: true,
    expected: '200 or 206',
    found: String(status),
  });
}
