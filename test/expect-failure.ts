/** Test helper: the BmcError a promise rejects with (fails the test when it resolves). */
import type { BmcError } from '../activities/bmc/errors.ts';

export async function failure(p: Promise<unknown>): Promise<BmcError> {
  try {
    await p;
  } catch (err) {
    return err as BmcError;
  }
  throw new Error('expected a failure');
}
