import { ActivityFailure, ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { decisionRefusal, parseDecision } from '../../src/temporal/starters';
import { parseFeedback } from '../../src/interactions/feedback';
import { httpStatusOf } from '../../src/api/errors';

function thrown(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('did not throw');
}

describe('strings Postgres cannot store, in feedback and decisions', () => {
  it('feedback: names corrected_answer, interaction_key and idempotency_key, with the batch prefix', () => {
    expect(thrown(() => parseFeedback({ interaction_id: 1, kind: 'edited', corrected_answer: 'a\u0000b' })).field).toBe('corrected_answer');
    expect(thrown(() => parseFeedback({ interaction_key: 'k\ud800', kind: 'accepted' }, 'feedback[2]')).field).toBe('feedback[2].interaction_key');
    expect(thrown(() => parseFeedback({ interaction_id: 1, kind: 'accepted', idempotency_key: '\u0000' })).message).toMatch(/U\+0000/);
  });

  it('decision: names reviewer and comment', () => {
    expect(thrown(() => parseDecision({ action: 'reject', reviewer: 'ada\u0000', comment: 'no' })).field).toBe('reviewer');
    const e = thrown(() => parseDecision({ action: 'reject', reviewer: 'ada', comment: 'bad \udc00 answer' }));
    expect([e.field, httpStatusOf(e)]).toEqual(['comment', 400]);
    expect(parseDecision({ action: 'approve', reviewer: ' ada ' })).toEqual({ action: 'approve', reviewer: 'ada' });
  });
});

describe('decisionRefusal', () => {
  const activityFailed = (inner: Error) =>
    new WorkflowUpdateFailedError(
      'Workflow Update failed',
      new ActivityFailure('Activity task failed', 'recordReviewDecision', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'worker', inner),
    );

  it("never passes an activity's unexpected error (SQL and parameters) to the caller", () => {
    const sqlError = ApplicationFailure.create({
      type: 'DrizzleQueryError',
      message: 'Failed query: insert into review_decisions values ($1, $2)\nparams: g_1,secret comment',
    });
    const e = decisionRefusal(activityFailed(sqlError));
    expect(httpStatusOf(e)).toBe(503);
    expect(e.field).toBe('(service)');
    expect(e.message).not.toMatch(/insert|params|secret/);
    expect(e.message).toContain('recordReviewDecision: DrizzleQueryError');
  });

  it("passes an activity's InputError with its field, and the workflow's own refusals", () => {
    const compile = ApplicationFailure.create({
      type: 'InputError',
      message: 'template: does not compile: Parse error',
      details: [{ field: 'template' }],
      nonRetryable: true,
    });
    const e = decisionRefusal(activityFailed(compile));
    expect([e.field, httpStatusOf(e), e.message]).toEqual(['template', 400, 'template: does not compile: Parse error']);
    const taken = decisionRefusal(
      new WorkflowUpdateFailedError('failed', ApplicationFailure.create({ message: 'candidate is approved: no further decision taken' })),
    );
    expect([httpStatusOf(e), httpStatusOf(taken), taken.field]).toEqual([400, 409, 'decision']);
  });
});
