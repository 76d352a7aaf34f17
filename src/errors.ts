/**
 * Errors a user can act on. `field` names the offending input (a JSON path, an env variable, a CLI flag) and
 * `message` says what to do; callers turn these into 4xx responses, CLI messages or rejected-line reasons.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Thrown when an idempotency key is reused with different content. */
export class ConflictError extends InputError {
  constructor(field: string, message: string) {
    super(field, message, 409);
  }
}

/**
 * A workflow with this id is already running (Temporal refused a second start): wait for it, or cancel it. A 409
 * InputError for now, so the CLI and API map it as before; `field` names the input that chose the id.
 */
export class AlreadyRunningError extends InputError {
  constructor(
    readonly workflowId: string,
    field: string,
    message: string,
  ) {
    super(field, message, 409);
  }
}

/** Formats a zod issue path (["messages", 0, "role"]) as `messages[0].role`. */
export function formatPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (part === '') out += '[""]'; // an empty key would read as a trailing dot
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(body)';
}
