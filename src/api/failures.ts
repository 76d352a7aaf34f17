/**
 * What an unexpected error in a route means for the caller, and what of it may be logged. Pure: no fastify, no pg.
 *
 * A database error from drizzle is a DrizzleQueryError whose message is the whole SQL text and its parameters (for
 * a batch insert: every record of the batch, as JSON). Neither may reach a response, and logging them put 170 KB of
 * user content per failed request into the log. So responses get a short reason, and logs get the error's type,
 * code, a bounded first line of the innermost cause and the stack frames (never the message lines above them).
 */

export type Failure =
  /** The database (or the network to it) is away or overloaded: retry later (503 + Retry-After). */
  | { kind: 'unavailable'; reason: string }
  /** The database refused a value (SQLSTATE class 22): the caller's input, not our state (400). */
  | { kind: 'refused'; reason: string }
  /** A bug or an unknown failure (500). */
  | { kind: 'internal' };

/** Node socket errors that mean "cannot reach the database". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** pg / pg-pool errors without a code that mean the same. */
const NETWORK_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|connection error and is not queryable|Cannot use a pool after calling end|Connection refused/i;
/** SQLSTATEs worth a retry: connection exceptions (08), shutdown (57P0x), overload (53), timeouts and conflicts. */
const RETRYABLE_SQLSTATE = /^(08...|57P0[1-4]|53...|57014|40001|40P01)$/;

const MAX_REASON = 160;

/** Errors and their causes, outermost first (bounded: a cause cycle must not hang the error handler). */
function chain(err: unknown): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let e: unknown = err;
  while (typeof e === 'object' && e !== null && out.length < 8) {
    out.push(e as Record<string, unknown>);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

const codeOf = (e: Record<string, unknown>) => (typeof e.code === 'string' ? e.code : undefined);
const isSqlState = (code: string | undefined): code is string => code !== undefined && /^[0-9A-Z]{5}$/.test(code);

/** The first line of a message, bounded; drizzle's "Failed query: <sql>" lines are never reasons. */
function shortMessage(e: Record<string, unknown>): string | undefined {
  if (typeof e.message !== 'string' || e.message.startsWith('Failed query')) return undefined;
  const line = e.message.split('\n', 1)[0]!.trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON)}…` : line;
}

export function classifyFailure(err: unknown): Failure {
  for (const e of chain(err)) {
    const code = codeOf(e);
    const message = typeof e.message === 'string' ? e.message : '';
    if ((code && NETWORK_CODES.has(code)) || (!code && NETWORK_MESSAGES.test(message.split('\n', 1)[0]!))) {
      return { kind: 'unavailable', reason: code ? `database unreachable (${code})` : 'database connection lost' };
    }
    if (isSqlState(code) && RETRYABLE_SQLSTATE.test(code)) return { kind: 'unavailable', reason: `database unavailable (SQLSTATE ${code})` };
    if (isSqlState(code) && code.startsWith('22')) {
      return { kind: 'refused', reason: `the database refused a value (SQLSTATE ${code}${shortMessage(e) ? `: ${shortMessage(e)}` : ''})` };
    }
  }
  return { kind: 'internal' };
}

/** What the log gets of an error: enough to find the bug, no SQL, no parameters, no user content beyond a line. */
export function logSummary(err: unknown): Record<string, unknown> {
  const links = chain(err);
  const innermost = links[links.length - 1] ?? {};
  const stack = typeof (err as { stack?: unknown })?.stack === 'string' ? (err as { stack: string }).stack : '';
  return {
    type: links.map((e) => (typeof e.name === 'string' ? e.name : 'Error')).join(' <- '),
    code: links.map(codeOf).find((c) => c !== undefined),
    reason: links.map(shortMessage).find((m) => m !== undefined) ?? shortMessage(innermost),
    frames: stack
      .split('\n')
      .filter((l) => l.startsWith('    at '))
      .slice(0, 8)
      .map((l) => l.trim()),
  };
}
