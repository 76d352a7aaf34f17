import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideUpdate, ids, reviewDecidedSignal, reviewStateQuery } from '../../src/temporal/contract';
import { scenarios } from './scenarios';
import { TASK_QUEUE, gate, mockActivities, runWorker, timeSkippingEnv, until, workflowBundle } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  [env] = await Promise.all([timeSkippingEnv(), workflowBundle()]);
});
afterAll(async () => {
  await env?.teardown();
});

const HOUR = 3_600_000;

describe('review workflow', () => {
  it('reminds every interval while undecided, then expires the candidate at the deadline', async () => {
    const { outcome, mocks } = await scenarios['review-expired'](env);
    expect(outcome).toEqual({ ok: true, value: { candidateId: 'cand_exp', status: 'expired', reminders: 3 } });
    // Reminders at 1, 2 and 3 hours; none at the 3.5-hour deadline, which expires instead.
    expect(mocks.of('remindReviewer')).toEqual([1, 2, 3].map((reminder) => ({ candidateId: 'cand_exp', reminder })));
    expect(mocks.names().slice(-1)).toEqual(['expireCandidate']);
  });

  it('an approval with edits is verified, recorded with the new version, and ends the review', async () => {
    const { outcome, mocks } = await scenarios['review-approved'](env);
    expect(outcome).toEqual({ ok: true, value: { candidateId: 'cand_ok', status: 'approved', reminders: 1 } });
    expect(mocks.of('recordReviewDecision')).toEqual([
      { candidateId: 'cand_ok', decision: expect.objectContaining({ action: 'approve_with_edits' }), version: 2 },
    ]);
    expect(mocks.names()).not.toContain('expireCandidate');
  });

  it('an edit that fails verification is refused and the candidate stays pending for another decision', async () => {
    let verifications = 0;
    const mocks = mockActivities({
      verifyEdit: async () => ({
        version: 2 + verifications,
        passed: ++verifications > 1,
        reasons: verifications > 1 ? [] : ['answers differ on 3 of 5 held-out interactions'],
      }),
    });
    const { refused, after, result } = await runWorker(env, mocks.activities, async () => {
      const h = await env.client.workflow.start('reviewWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: ids.review('cand_edit'),
        args: [{ tenantId: 't1', candidateId: 'cand_edit', remindEveryMs: HOUR, expireAfterMs: 24 * HOUR }],
      });
      const refused = await h.executeUpdate(decideUpdate, { args: [{ action: 'approve_with_edits', reviewer: 'ana', template: 'bad' }] }).then(
        () => undefined,
        (e: Error) => e,
      );
      const after = await h.query(reviewStateQuery);
      await h.executeUpdate(decideUpdate, { args: [{ action: 'approve_with_edits', reviewer: 'ana', template: 'good' }] });
      return { refused, after, result: await h.result() };
    });
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toMatch(/fails verification: answers differ/);
    expect(after.status).toBe('pending_review');
    expect(result).toMatchObject({ status: 'approved' });
    expect(mocks.of('recordReviewDecision')).toHaveLength(1);
  });

  it('two concurrent decisions: one wins, the other is refused by the validator and records nothing', async () => {
    const recording = gate();
    const release = gate();
    const mocks = mockActivities({
      recordReviewDecision: async (i) => {
        recording.open();
        await release.promise;
        return { candidateId: i.candidateId, status: i.decision.action === 'reject' ? 'rejected' : 'approved', version: 1, routes: [] };
      },
    });
    const { settled, result } = await runWorker(env, mocks.activities, async () => {
      const h = await env.client.workflow.start('reviewWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: ids.review('cand_race'),
        args: [{ tenantId: 't1', candidateId: 'cand_race', remindEveryMs: HOUR, expireAfterMs: 24 * HOUR }],
      });
      const ana = h.executeUpdate(decideUpdate, { args: [{ action: 'approve', reviewer: 'ana' }] });
      const bo = h.executeUpdate(decideUpdate, { args: [{ action: 'reject', reviewer: 'bo', comment: 'too generic' }] });
      const both = Promise.allSettled([ana, bo]);
      // Whichever came first is being recorded; the other has been answered by then or is answered while it records.
      await recording.promise;
      await until(async () => (await h.query(reviewStateQuery)).status === 'deciding');
      release.open();
      const settled = await both;
      return { settled, result: await h.result() };
    });
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String(lost[0]!.reason.cause?.message)).toMatch(/being decided by someone else|no further decision/);
    expect(mocks.of('recordReviewDecision')).toHaveLength(1);
    expect(result.status).toBe((won[0] as PromiseFulfilledResult<{ status: string }>).value.status);
  });

  it('a decision after the review was decided is refused and records nothing', async () => {
    const mocks = mockActivities();
    const refused = await runWorker(env, mocks.activities, async () => {
      const h = await env.client.workflow.start('reviewWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: ids.review('cand_late'),
        args: [{ tenantId: 't1', candidateId: 'cand_late', remindEveryMs: HOUR, expireAfterMs: 24 * HOUR }],
      });
      await h.executeUpdate(decideUpdate, { args: [{ action: 'reject', reviewer: 'bo', comment: 'no' }] });
      // Refused either by the validator (the workflow still finishing) or by Temporal (the workflow closed).
      const late = await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', reviewer: 'ana' }] }).then(
        () => undefined,
        (e: Error) => e,
      );
      return late;
    });
    expect(refused).toBeInstanceOf(Error);
    expect(mocks.of('recordReviewDecision')).toHaveLength(1);
  });
});

describe('publish follows review', () => {
  it('an approval or a rejection asks for the review publish; an expiry does not', async () => {
    const mocks = mockActivities();
    await runWorker(env, mocks.activities, async () => {
      const start = (id: string, expireAfterMs = 24 * HOUR) =>
        env.client.workflow.start('reviewWorkflow', {
          taskQueue: TASK_QUEUE,
          workflowId: ids.review(id),
          args: [{ tenantId: 'tp', candidateId: id, remindEveryMs: HOUR, expireAfterMs, publishDebounceMs: 5_000 }],
        });
      const [a, b, c] = [await start('cand_a'), await start('cand_b'), await start('cand_c', HOUR)];
      await a.executeUpdate(decideUpdate, { args: [{ action: 'approve', reviewer: 'ana' }] });
      await b.executeUpdate(decideUpdate, { args: [{ action: 'reject', reviewer: 'ana', comment: 'too generic' }] });
      for (const h of [a, b, c]) await h.result();
    });
    expect(mocks.of('requestReviewPublish')).toEqual([
      { tenantId: 'tp', candidateId: 'cand_a', debounceMs: 5_000 },
      { tenantId: 'tp', candidateId: 'cand_b', debounceMs: 5_000 },
    ]);
  });

  it('the review publisher turns decisions within one quiet spell into one publish', async () => {
    const mocks = mockActivities();
    const out = await runWorker(env, mocks.activities, async () => {
      const signal = (candidateId: string) =>
        env.client.workflow.signalWithStart('reviewPublishWorkflow', {
          taskQueue: TASK_QUEUE,
          workflowId: ids.reviewPublish('tq'),
          args: [{ tenantId: 'tq', debounceMs: 60_000, decided: [] }],
          signal: reviewDecidedSignal,
          signalArgs: [candidateId],
        });
      const h = await signal('cand_1');
      await env.sleep(30_000);
      await signal('cand_2');
      return h.result();
    });
    expect(out.publishes).toHaveLength(1);
    const calls = mocks.of('publishManifest');
    expect(calls).toEqual([expect.objectContaining({ tenantId: 'tq', actor: 'review', runId: expect.stringMatching(/^review-publish:tq:.+:1$/) })]);
  });
});

describe('graduate workflow', () => {
  it('opens one review per passed candidate, named after the candidate', async () => {
    const { outcome, mocks } = await scenarios['graduate-completed'](env);
    expect(outcome).toEqual({ ok: true, value: { passed: 1, failed: 0, clustersConsidered: 2, reviews: [ids.review('cand_g1')] } });
    expect(mocks.of('graduateRun')).toEqual([{ tenantId: 't1', clusterRunId: 'run1', policy: undefined }]);
  });
});
