import { ApplicationFailure, allHandlersFinished, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type DecisionResult, validateDecision } from '../src/graduation/decision';
import { decideUpdate, RETRY, type ReviewInput, type ReviewState, reviewStateQuery } from '../src/temporal/contract';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: RETRY.interactive,
});

/**
 * One candidate's review: waits for a decision through the `decide` Update, reminds on a timer, expires when nobody
 * decides. An approval with edits re-verifies the edited answer first; if the edit fails replay the Update fails
 * with the reasons and the candidate stays pending. The first accepted decision is final.
 */
export async function reviewWorkflow(input: ReviewInput): Promise<ReviewState> {
  const state: ReviewState = { candidateId: input.candidateId, status: 'pending_review', reminders: 0 };

  setHandler(reviewStateQuery, () => state);
  setHandler(
    decideUpdate,
    async (decision): Promise<DecisionResult> => {
      state.status = 'deciding';
      try {
        let version: number | undefined;
        if (decision.action === 'approve_with_edits') {
          const edit = await acts.verifyEdit({
            candidateId: input.candidateId,
            template: decision.template!,
            script: decision.script,
            author: decision.reviewer,
          });
          if (!edit.passed)
            throw ApplicationFailure.create({
              type: 'EditFailedVerification',
              message: `the edit fails verification: ${edit.reasons.join('; ')}`,
              nonRetryable: true,
            });
          version = edit.version;
        }
        const result = await acts.recordReviewDecision({ candidateId: input.candidateId, decision, version });
        state.status = result.status;
        return result;
      } catch (err) {
        state.status = 'pending_review';
        throw err;
      }
    },
    {
      validator: (decision) => {
        if (state.status !== 'pending_review')
          throw new Error(`candidate is ${state.status === 'deciding' ? 'being decided by someone else' : state.status}: no further decision taken`);
        validateDecision(decision);
      },
    },
  );

  const deadline = Date.now() + input.expireAfterMs;
  while (state.status === 'pending_review' || state.status === 'deciding') {
    const left = deadline - Date.now();
    if (left <= 0 && state.status === 'pending_review') break;
    const decided = await condition(
      () => state.status !== 'pending_review' && state.status !== 'deciding',
      Math.max(1, Math.min(input.remindEveryMs, left > 0 ? left : input.remindEveryMs)),
    );
    if (decided) break;
    if (state.status === 'pending_review' && Date.now() < deadline) {
      state.reminders++;
      await acts.remindReviewer({ candidateId: input.candidateId, reminder: state.reminders });
    }
  }
  if (state.status === 'pending_review') {
    await acts.expireCandidate({ candidateId: input.candidateId });
    state.status = 'expired';
  }
  await condition(allHandlersFinished);
  // A decision changes what should serve: the tenant's review publisher publishes once the reviewer's batch is done.
  if ((state.status === 'approved' || state.status === 'rejected') && patched('publish-after-review'))
    await acts.requestReviewPublish({ tenantId: input.tenantId, candidateId: input.candidateId, debounceMs: input.publishDebounceMs });
  return state;
}
