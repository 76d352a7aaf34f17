/**
 * Errors a user can act on, typed by what went wrong, never by how it is shown: `field` names the offending input
 * (a JSON path, a setting, a parameter of the call) and the message says what to do. The API maps the kind to an
 * HTTP status (src/api/errors.ts), the CLI to an exit code and its own flag names (src/cli/errors.ts), an activity
 * to a non-retryable failure, an import to a rejected line.
 */
export type ErrorKind = 'invalid' | 'not_found' | 'conflict' | 'forbidden' | 'unauthenticated' | 'unavailable';

/** Bad input: the caller must change it (400 over HTTP). The base of every error below. */
export class InputError extends Error {
  override readonly name: string = 'InputError';
  readonly kind: ErrorKind = 'invalid';
  /** The message without the field in front of it. */
  readonly reason: string;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.reason = message;
  }
}

/** The thing named does not exist (for this tenant). */
export class NotFoundError extends InputError {
  override readonly kind: ErrorKind = 'not_found';
}

/** The request contradicts the current state: a key reused for other content, a candidate already decided. */
export class ConflictError extends InputError {
  override readonly kind: ErrorKind = 'conflict';
}

/** A workflow with this id is already running (Temporal refused a second start): wait for it, or cancel it. */
export class AlreadyRunningError extends ConflictError {
  constructor(
    readonly workflowId: string,
    field: string,
    message: string,
  ) {
    super(field, message);
  }
}

/** The caller is known but may not do this (a key without the scope, a source outside the allowed ones). */
export class ForbiddenError extends InputError {
  override readonly kind: ErrorKind = 'forbidden';
}

/** The caller is not known: no key, a bad or revoked one. */
export class UnauthenticatedError extends InputError {
  override readonly kind: ErrorKind = 'unauthenticated';
}

/** A dependency (database, Temporal, a worker) is away: nothing was done, the same request can be retried. */
export class UnavailableError extends InputError {
  override readonly kind: ErrorKind = 'unavailable';
}

/** Formats a zod issue path (["messages", 0, "role"]) as `messages[0].role`. */
export function formatPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (part === '')
      out += '[""]'; // an empty key would read as a trailing dot
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(body)';
}
