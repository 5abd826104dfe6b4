import { ApplicationFailure } from '@temporalio/common';
import { isAppError } from '../errors.ts';

/**
 * Runs an activity's work with the contract's error codes crossing into Temporal as non-retryable
 * ApplicationFailures whose type is the code (STYLE.md); the API maps them back. Anything else (the
 * database away, a timeout) is thrown as it is, and retried.
 */
export async function asActivityFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isAppError(error)) throw ApplicationFailure.create({ message: error.message, type: error.code, nonRetryable: true, details: [error.details ?? null] });
    throw error;
  }
}
