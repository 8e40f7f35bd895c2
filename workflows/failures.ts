/**
 * Failures as the host sees them: a Tempered error code and a message that names the cause. Failures are
 * matched by their `type` string (the code), walking the cause chain (child → activity → application
 * failure), never by `instanceof`.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { isErrorCode, type ErrorCode } from '../domain/errors.ts';

export interface HostFailure {
  code: ErrorCode;
  message: string;
}

interface FailureLike {
  name?: string;
  message?: string;
  type?: string;
  cause?: unknown;
}

/**
 * The first coded failure in the cause chain; timeouts and cancellations get codes of their own. A failure
 * with no Tempered code (another component's type) keeps its own, innermost message: the one naming the cause.
 */
export function hostFailureOf(err: unknown): HostFailure {
  let e = err as FailureLike | undefined;
  let outermost: string | undefined;
  let innermost: string | undefined;
  while (e && typeof e === 'object') {
    outermost ??= e.message;
    if (e.message) innermost = e.type ? `${e.message} (${e.type})` : e.message;
    if (typeof e.type === 'string' && isErrorCode(e.type)) return { code: e.type, message: e.message ?? e.type };
    if (e.name === 'CancelledFailure') return { code: 'OperationAborted', message: e.message || 'operation aborted' };
    if (e.name === 'TimeoutFailure') return { code: 'OperationTimedOut', message: `timed out: ${outermost ?? 'operation'}` };
    e = e.cause as FailureLike | undefined;
  }
  return { code: 'InternalError', message: innermost ?? String(err) };
}

/** Rethrows any failure as a non-retryable ApplicationFailure carrying the host's code and message. */
export function asHostFailure(err: unknown): ApplicationFailure {
  const failure = hostFailureOf(err);
  return ApplicationFailure.create({ message: failure.message, type: failure.code, nonRetryable: true });
}
