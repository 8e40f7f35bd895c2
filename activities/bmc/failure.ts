/**
 * The only Temporal-aware file of the BMC layer: turns a {@link BmcError} into an `ApplicationFailure` whose
 * `type` is the error code (matched by string in workflows), non-retryable when the code is permanent, with
 * `nextRetryDelay` from the BMC's Retry-After and the BENIGN category for expected outcomes.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BmcError } from './errors.ts';

/** Details attached to the failure (visible in the Temporal UI): never credentials. */
export interface BmcFailureDetails {
  code: string;
  status: number | undefined;
  messageIds: string[];
}

/** Converts a BMC error into an ApplicationFailure; anything else is returned unchanged. */
export function toApplicationFailure(err: unknown): unknown {
  if (!(err instanceof BmcError)) return err;
  const details: BmcFailureDetails = { code: err.code, status: err.status, messageIds: err.messageIds };
  return ApplicationFailure.create({
    type: err.code,
    message: err.message,
    nonRetryable: err.disposition === 'permanent',
    details: [details],
    ...(err.retryAfterMs !== undefined && err.disposition === 'transient' ? { nextRetryDelay: err.retryAfterMs } : {}),
    ...(err.disposition === 'benign' ? { category: 'BENIGN' as const } : {}),
  });
}

/** Runs `fn`, rethrowing BMC errors as ApplicationFailures (wrap each BMC activity body with it). */
export async function withBmcFailures<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err);
  }
}
