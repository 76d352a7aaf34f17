import type { ErrorKind, InputError } from '../errors';

/** The one mapping from a domain error's kind to its HTTP status. */
const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
};

export function httpStatusOf(err: InputError): number {
  return STATUS[err.kind];
}
