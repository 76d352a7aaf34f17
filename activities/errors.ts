import { ApplicationFailure } from '@temporalio/activity';
import { TemporalFailure } from '@temporalio/common';
import { isConnectionError, shortReason } from '../src/db/errors';
import { InputError } from '../src/errors';

/** Bad input never gets better by retrying: surface it as a non-retryable failure carrying the field and fix. */
export async function failFastOnInput<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InputError) throw ApplicationFailure.nonRetryable(err.message, 'InputError', { field: err.field });
    throw err;
  }
}

/**
 * Like failFastOnInput, and every other error becomes a retryable failure with a short reason (shortReason: at most
 * 200 characters, no SQL, no parameters, no user content): Temporal stores failures in the workflow history, where
 * a whole failed batch would exceed its size limit. A lost database connection is typed `DatabaseConnectionLost`.
 */
export async function withShortFailures<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await failFastOnInput(fn);
  } catch (err) {
    if (err instanceof TemporalFailure) throw err; // already shaped (or a cancellation): pass it on as it is
    const failure = ApplicationFailure.retryable(shortReason(err), isConnectionError(err) ? 'DatabaseConnectionLost' : ((err as Error)?.name ?? 'Error'));
    failure.stack = `${failure.name}: ${failure.message}`; // our frames add nothing to the reason, and cost history
    throw failure;
  }
}
