import { describe, expect, it } from 'vitest';
import { classifyFailure, logSummary } from '../../src/api/failures';

/** What drizzle throws: the SQL and every parameter in the message, the driver's error as the cause. */
function drizzleError(cause: Error & { code?: string }, payload = 'SECRET-USER-CONTENT'.repeat(100)): Error {
  const e = new Error(`Failed query: insert into interactions select * from jsonb_to_recordset($1)\nparams: ${payload}`, { cause });
  e.name = 'DrizzleQueryError';
  return e;
}
const pgError = (code: string, message: string) => Object.assign(new Error(message), { name: 'error', code });

describe('classifyFailure', () => {
  it('reads a lost or refused database connection as unavailable, through drizzle wrapping', () => {
    expect(classifyFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toEqual({
      kind: 'unavailable',
      reason: 'database unreachable (ECONNREFUSED)',
    });
    expect(classifyFailure(drizzleError(new Error('Connection terminated unexpectedly')))).toEqual({ kind: 'unavailable', reason: 'database connection lost' });
    expect(classifyFailure(new Error('timeout exceeded when trying to connect')).kind).toBe('unavailable');
    expect(classifyFailure(drizzleError(pgError('57P01', 'terminating connection due to administrator command')))).toEqual({
      kind: 'unavailable',
      reason: 'database unavailable (SQLSTATE 57P01)',
    });
    expect(classifyFailure(drizzleError(pgError('53300', 'too many clients'))).kind).toBe('unavailable');
  });

  it("reads a data exception as the caller's input, with a bounded reason and no SQL", () => {
    const f = classifyFailure(drizzleError(pgError('22003', 'value "99999999999" is out of range for type integer')));
    expect(f).toEqual({ kind: 'refused', reason: 'the database refused a value (SQLSTATE 22003: value "99999999999" is out of range for type integer)' });
    const long = classifyFailure(drizzleError(pgError('22P02', `invalid input syntax: ${'x'.repeat(5000)}`)));
    expect(long.kind === 'refused' && long.reason.length).toBeLessThan(250);
  });

  it('leaves everything else internal', () => {
    expect(classifyFailure(new TypeError('x is not a function'))).toEqual({ kind: 'internal' });
    expect(classifyFailure(drizzleError(pgError('42P01', 'relation "nope" does not exist')))).toEqual({ kind: 'internal' });
    expect(classifyFailure('a string')).toEqual({ kind: 'internal' });
  });
});

describe('logSummary', () => {
  it('keeps type, code, a bounded reason and stack frames, never the SQL or its parameters', () => {
    const s = logSummary(drizzleError(pgError('22003', 'value out of range')));
    const text = JSON.stringify(s);
    expect(text).not.toContain('SECRET-USER-CONTENT');
    expect(text).not.toContain('Failed query');
    expect(s).toMatchObject({ type: 'DrizzleQueryError <- error', code: '22003', reason: 'value out of range' });
    expect((s.frames as string[]).length).toBeGreaterThan(0);
    expect((s.frames as string[]).every((f) => f.startsWith('at '))).toBe(true);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    a.cause = a;
    expect(logSummary(a).reason).toBe('a');
  });
});
