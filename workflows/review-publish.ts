import { condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { type PublishOutput, type ReviewPublishInput, type ReviewPublishOutput, reviewDecidedSignal } from '../src/temporal/contract';
import { publishSerially } from './publish';

/**
 * The tenant's review publisher (id `review-publish:<tenant>`): approvals and rejections signal it; once no decision
 * has come for `debounceMs` it publishes through the tenant's single publisher, so what reviewers approved serves
 * within minutes and a reviewer's batch of decisions becomes one manifest version, not one per click. A decision
 * that arrives while it publishes gets another publish (its tier entry may have been read before it was written).
 */
export async function reviewPublishWorkflow(input: ReviewPublishInput): Promise<ReviewPublishOutput> {
  let decisions = input.decided.length;
  setHandler(reviewDecidedSignal, () => void decisions++);
  const publishes: PublishOutput[] = [];
  let published = 0;
  // Signal-with-start delivers the first decision with the start.
  await condition(() => decisions > 0);
  while (published < decisions) {
    // Debounce: wait until a whole quiet spell passes with no new decision.
    for (let seen = -1; seen !== decisions;) {
      seen = decisions;
      await condition(() => decisions !== seen, input.debounceMs);
    }
    const upTo = decisions;
    const { workflowId, runId } = workflowInfo();
    publishes.push(
      await publishSerially(input.tenantId, {
        tenantId: input.tenantId,
        mode: 'publish',
        runId: `${workflowId}:${runId}:${publishes.length + 1}`,
        actor: 'review',
      }),
    );
    published = upTo;
    // A long-lived publisher (a steady stream of decisions) starts afresh before its history grows large.
    if (published < decisions && workflowInfo().continueAsNewSuggested)
      await continueAsNew<typeof reviewPublishWorkflow>({ ...input, decided: Array.from({ length: decisions - published }, () => 'carried') });
  }
  return { publishes };
}
