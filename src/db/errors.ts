/**
 * Database errors as the rest of the code needs them: drizzle wraps a driver error in one whose message holds the
 * whole SQL and its parameters (a batch of user content), so callers read the driver error underneath instead.
 */
export interface PgError {
  code: string;
  message: string;
}

/** The Postgres error (with its SQLSTATE `code`) inside `err`'s cause chain, if any. */
export function pgErrorOf(err: unknown): PgError | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return e as PgError;
  }
  return undefined;
}

const CONNECTION_LOST = /Connection terminated|connection error|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|timeout exceeded when trying to connect/i;

/** The connection went away (terminated backend, server restart, network): retrying on a new connection helps. */
export function isConnectionError(err: unknown): boolean {
  const code = pgErrorOf(err)?.code;
  if (code) return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (CONNECTION_LOST.test(String((e as Error).message))) return true;
  }
  return false;
}

export const SHORT_REASON_CHARS = 200;

/**
 * A one-line reason fit for logs and Temporal history: the SQLSTATE and the driver's message, never drizzle's
 * "Failed query: <sql> params: <values>"; at most SHORT_REASON_CHARS characters.
 */
export function shortReason(err: unknown): string {
  const pgErr = pgErrorOf(err);
  let text: string;
  if (pgErr) text = `${pgErr.message} (SQLSTATE ${pgErr.code})`;
  else {
    // Walk to the innermost cause: outer wrappers are the ones that quote the SQL.
    let e: unknown = err;
    while (e && typeof e === 'object' && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause: unknown }).cause;
    text = e instanceof Error ? e.message : String(e);
    if (/^Failed query:/.test(text)) text = 'database query failed';
  }
  const line = text.split('\n', 1)[0]!;
  return line.length > SHORT_REASON_CHARS ? `${line.slice(0, SHORT_REASON_CHARS - 1)}…` : line;
}
