/**
 * The Temporal side of image failures: an {@link ImageError} becomes an `ApplicationFailure` whose `type` is its
 * error code, non-retryable unless it is transient, with the expected and found values as details for the UI.
 * BMC errors on the same path go through the BMC layer's own conversion.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ImageError } from '../../lib/image-error.ts';
import { toApplicationFailure } from '../bmc/failure.ts';

/** Details attached to an image failure: never secret content. */
export interface ImageFailureDetails {
  code: string;
  status: number | undefined;
  expected: string | undefined;
  found: string | undefined;
}

/** Converts an image (or BMC) error into an ApplicationFailure; anything else is returned unchanged. */
export function toImageFailure(err: unknown): unknown {
  if (!(err instanceof ImageError)) return toApplicationFailure(err);
  const details: ImageFailureDetails = { code: err.code, status: err.status, expected: err.expected, found: err.found };
  return ApplicationFailure.create({
    type: err.code,
    message: err.message,
    nonRetryable: !err.retryable,
    details: [details],
  });
}

/** Runs `fn`, rethrowing image errors as ApplicationFailures (wrap each image activity body with it). */
export async function withImageFailures<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toImageFailure(err);
  }
}
