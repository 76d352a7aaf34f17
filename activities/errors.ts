import { ApplicationFailure } from '@temporalio/activity';
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
