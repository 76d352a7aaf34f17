import { describe, expect, it } from 'vitest';
import { waitNotes } from '../../src/cli/wait-status';
import { isConnectionError, pgErrorOf, shortReason } from '../../src/db/errors';

/** What drizzle throws: the SQL and every parameter in the message, the driver's error as the cause. */
function drizzleError(cause: unknown) {
  return Object.assign(
    new Error(`Failed query: with input as (select * from jsonb_to_recordset($1::jsonb) ...\nparams: [{"k":"secret user content ${'x'.repeat(5000)}"}]`),
    { cause },
  );
}
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });

describe('shortReason', () => {
  it('names the driver error and its SQLSTATE, never the SQL or the parameters', () => {
    const r = shortReason(drizzleError(pgError('22003', 'value "99999999999" is out of range for type integer')));
    expect(r).toBe('value "99999999999" is out of range for type integer (SQLSTATE 22003)');
  });

  it('stays within 200 characters and one line', () => {
    const r = shortReason(new Error(`${'y'.repeat(1000)}\nsecond line`));
    expect(r.length).toBeLessThanOrEqual(200);
    expect(r).not.toContain('\n');
  });

  it('hides a drizzle message with no driver error under it', () => {
    expect(shortReason(drizzleError(undefined))).toBe('database query failed');
  });
});

describe('pgErrorOf and isConnectionError', () => {
  it('finds the SQLSTATE through the cause chain', () => {
    expect(pgErrorOf(drizzleError(pgError('57P01', 'terminating connection due to administrator command')))?.code).toBe('57P01');
    expect(pgErrorOf(new Error('plain'))).toBeUndefined();
  });

  it.each([
    [pgError('57P01', 'terminating connection due to administrator command'), true],
    [pgError('08006', 'connection failure'), true],
    [drizzleError(new Error('Connection terminated unexpectedly')), true],
    [new Error('Client has encountered a connection error and is not queryable'), true],
    [pgError('22003', 'out of range'), false],
    [new Error('something else'), false],
  ])('%s -> %s', (err, lost) => {
    expect(isConnectionError(err)).toBe(lost);
  });
});

describe('waitNotes', () => {
  const now = 1_000_000_000;
  const base = { taskQueue: 'distillery', pending: [], pollers: { workflow: [now - 1000], activity: [now - 5000] }, now };

  it('says nothing while a worker polls and nothing retries', () => {
    expect(waitNotes(base)).toEqual([]);
  });

  it('says when no worker polls the queue, or the only pollers are stale', () => {
    expect(waitNotes({ ...base, pollers: { workflow: [], activity: [] } })).toEqual(['no worker is polling distillery: start one with `distillery worker`']);
    expect(waitNotes({ ...base, pollers: { workflow: [now - 1000], activity: [now - 10 * 60_000] } })[0]).toMatch(/^no worker is polling distillery/);
  });

  it('shows the reason of an activity that is retrying, not of a first attempt', () => {
    const pending = [
      { name: 'importSpan', attempt: 3, lastFailure: 'Connection terminated unexpectedly\nstack…' },
      { name: 'startIngestRun', attempt: 1 },
    ];
    expect(waitNotes({ ...base, pending })).toEqual(['retrying: importSpan (attempt 3): Connection terminated unexpectedly']);
  });
});
